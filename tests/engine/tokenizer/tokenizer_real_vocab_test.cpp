// Tokenizers of real GGUF vocabularies (SmolLM2 "smollm", Qwen2.5-Coder "qwen2",
// DeepSeek-R1-Distill-Qwen "deepseek-r1-qwen") against ids from Hugging Face `tokenizers` with the
// model's own tokenizer.json, checked with llama.cpp (tests/fixtures/tokenizer/NAME_expected.json,
// from tools/gen_tokenizer_fixtures.py). Each vocabulary skips when its file is absent.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>

#include "engine/core/utf8.h"
#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/unicode_nfc.h"
#include "kernels/error.h"
#include "tests/test_support.h"

namespace gb {
namespace {

struct RealVocab {
    const char* name;  // fixture NAME_expected.json
    const char* file;  // in the models directory (tools/fetch_models.sh)
};

const RealVocab kVocabs[] = {
    {"smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"},
    {"qwen2.5_coder", "Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf"},
    // Only the header of this 7B model is fetched: it is opened for metadata only.
    {"r1_distill_qwen", "DeepSeek-R1-Distill-Qwen-7B.part0000.gguf"},
};

const Tokenizer& tokenizer_of(const std::string& path) {
    static std::map<std::string, Tokenizer> cache;
    auto it = cache.find(path);
    if (it == cache.end())
        it = cache.emplace(path, Tokenizer::from_gguf(GgufFile::open(path, GgufOpen::MetadataOnly)))
                 .first;
    return it->second;
}

const json::Value& expected(const std::string& name) {
    static std::map<std::string, json::Value> cache;
    auto it = cache.find(name);
    if (it == cache.end())
        it = cache
                 .emplace(name,
                          test::load_json(test::fixture("tokenizer/" + name + "_expected.json")))
                 .first;
    return it->second;
}

// A case's bytes: "text", or "text_hex" for invalid UTF-8.
std::string case_bytes(const json::Value& c) {
    if (const auto* t = c.find("text")) return t->as_string();
    const std::string& hex = c.at("text_hex").as_string();
    std::string out;
    for (size_t i = 0; i + 1 < hex.size(); i += 2)
        out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    return out;
}

class RealVocabTest : public ::testing::TestWithParam<RealVocab> {};

TEST_P(RealVocabTest, IdsMatchTheReference) {
    const RealVocab& v = GetParam();
    GB_REQUIRE_MODEL(path, v.file);
    const Tokenizer& t = tokenizer_of(path);
    const json::Value& fx = expected(v.name);
    EXPECT_EQ(t.vocab().pre, fx.at("pre").as_string());
    const auto& cases = fx.at("cases").as_array();
    ASSERT_GT(cases.size(), 45u);
    size_t mismatches = 0, invalid = 0;
    for (const auto& c : cases) {
        const std::string bytes = case_bytes(c);
        // Invalid bytes are read as U+FFFD, one per maximal invalid subsequence, as the
        // reference decoded them; everything else round-trips exactly.
        const std::string text = utf8::repaired(bytes);
        invalid += text != bytes;
        const auto special = t.encode(bytes, /*add_special=*/false, /*parse_special=*/true);
        const auto plain = t.encode(bytes, false, false);
        EXPECT_EQ(special, test::json_ints(c.at("special")))
            << v.name << " parse_special on: " << text;
        EXPECT_EQ(plain, test::json_ints(c.at("plain"))) << v.name << " plain on: " << text;
        mismatches += (special != test::json_ints(c.at("special"))) +
                      (plain != test::json_ints(c.at("plain")));
        // Decoding gives the text back, NFC-normalised where the vocabulary normalises.
        const std::string back = t.vocab().nfc ? nfc(text) : text;
        EXPECT_EQ(t.decode(special, /*show_special=*/true), back);
        EXPECT_EQ(t.decode(plain, true), back);
    }
    EXPECT_GE(invalid, 2u) << "the corpus should hold invalid UTF-8 cases";
    std::printf("%s: %zu cases x 2, %zu mismatches\n", v.name, cases.size(), mismatches);
}

// BOS/EOS and the added tokens as the model's tokenizer_config.json / tokenizer.json give them.
// HF's special added tokens must be control tokens (matched only with parse_special, hidden on
// decode). Of the non-special ones the GGUF converter keeps some as user-defined (<think>,
// <tool_call>: matched and shown always) and marks those spelled like control tokens
// (<|fim_prefix|>, <｜User｜>) as control; the GGUF's types are what the engine follows.
TEST_P(RealVocabTest, SpecialTokensFollowTheHfCheckpoint) {
    const RealVocab& v = GetParam();
    GB_REQUIRE_MODEL(path, v.file);
    const json::Value& fx = expected(v.name);
    if (!fx.find("added_tokens"))
        GTEST_SKIP() << v.name << ": no tokenizer.json at hand for this vocabulary";
    const Tokenizer& t = tokenizer_of(path);
    EXPECT_EQ(t.add_bos(), fx.at("reference_add_bos").as_bool());
    if (t.add_bos()) {
        EXPECT_EQ(t.bos(), fx.at("reference_bos").as_int64());
    }
    EXPECT_EQ(t.eos(), fx.at("reference_eos").as_int64());
    EXPECT_TRUE(t.is_eog(t.eos()));
    for (const auto& a : fx.at("added_tokens").as_array()) {
        const std::string& content = a.at("content").as_string();
        const auto id = static_cast<int32_t>(a.at("id").as_int64());
        EXPECT_EQ(t.find_token(content), id) << content;
        if (a.at("special").as_bool()) {
            EXPECT_TRUE(t.is_control(id)) << content;
        }
        EXPECT_EQ(t.encode(content, false, true), std::vector<int32_t>{id}) << content;
        // Without parse_special only non-control tokens match as themselves.
        EXPECT_EQ(t.encode(content, false, false) == std::vector<int32_t>{id}, !t.is_control(id))
            << content;
    }
    const auto with_bos = t.encode("Hi", /*add_special=*/true, true);
    ASSERT_FALSE(with_bos.empty());
    EXPECT_EQ(with_bos.front() == t.bos(), t.add_bos());
}

INSTANTIATE_TEST_SUITE_P(Gguf, RealVocabTest, ::testing::ValuesIn(kVocabs), [](const auto& info) {
    std::string n = info.param.name;
    for (char& ch : n)
        if (ch == '.') ch = '_';
    return n;
});

TEST(TokenizerRealVocab, MetadataOnlyOpenRefusesTensorData) {
    GB_REQUIRE_MODEL(path, "DeepSeek-R1-Distill-Qwen-7B.part0000.gguf");
    EXPECT_THROW(GgufFile::open(path), Error);  // cut off: a full open names the tensor
    const GgufFile f = GgufFile::open(path, GgufOpen::MetadataOnly);
    EXPECT_FALSE(f.has_tensor_data());
    ASSERT_FALSE(f.tensors().empty());
    try {
        (void)f.tensor_data(f.tensors().back());
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("metadata only"), std::string::npos) << e.what();
    }
}

constexpr const char* kModel = "SmolLM2-135M-Instruct.Q4_1.gguf";

const Tokenizer& smollm2(const std::string& path) { return tokenizer_of(path); }

TEST(TokenizerSmolLM2, ReadsTheVocabularyFromGguf) {
    GB_REQUIRE_MODEL(path, kModel);
    const Tokenizer& t = smollm2(path);
    EXPECT_EQ(t.size(), 49152u);
    EXPECT_EQ(t.vocab().pre, "smollm");
    EXPECT_EQ(t.bos(), 1);  // <|im_start|>
    EXPECT_EQ(t.eos(), 2);  // <|im_end|>
    EXPECT_EQ(t.eot(), 2);
    EXPECT_FALSE(t.add_bos());
    EXPECT_TRUE(t.is_eog(2));
    EXPECT_TRUE(t.is_eog(0));  // <|endoftext|>
    EXPECT_FALSE(t.is_eog(1));
    EXPECT_NE(t.chat_template().find("<|im_start|>"), std::string::npos);
    EXPECT_EQ(t.token_text(1), "<|im_start|>");
}

TEST(TokenizerSmolLM2, StreamDecoderGivesTheSameTextPieceByPiece) {
    GB_REQUIRE_MODEL(path, kModel);
    const Tokenizer& t = smollm2(path);
    for (const auto& c : expected("smollm2").at("cases").as_array()) {
        const std::string text = utf8::repaired(case_bytes(c));
        StreamDecoder d(t, /*show_special=*/true);
        std::string streamed;
        for (int32_t id : t.encode(text, false, true)) {
            const std::string piece = d.push(id);
            EXPECT_TRUE(utf8::is_valid(piece)) << "streamed piece of: " << text;
            streamed += piece;
        }
        streamed += d.flush();
        EXPECT_EQ(streamed, text);
    }
}

TEST(TokenizerSmolLM2, TokenEndingInsideACharacterShowsNothingUntilComplete) {
    GB_REQUIRE_MODEL(path, kModel);
    const Tokenizer& t = smollm2(path);
    const std::string robot = "\xF0\x9F\xA4\x96";  // U+1F916, split over several byte tokens
    const auto ids = t.encode(robot, false, false);
    ASSERT_GT(ids.size(), 1u);
    StreamDecoder d(t);
    for (size_t i = 0; i + 1 < ids.size(); ++i) EXPECT_EQ(d.push(ids[i]), "") << "token " << i;
    EXPECT_EQ(d.push(ids.back()), robot);
    // Cut short, the unfinished character comes out as U+FFFD.
    StreamDecoder cut(t);
    EXPECT_EQ(cut.push(ids[0]), "");
    EXPECT_EQ(cut.flush(), "\xEF\xBF\xBD");
}

TEST(TokenizerSmolLM2, EncodesAMegabyteQuickly) {
    GB_REQUIRE_MODEL(path, kModel);
    const Tokenizer& t = smollm2(path);
    // Benchmark, printed not asserted: 1 MiB of the mixed-script corpus, then of fresh words
    // (every line numbered, so the word cache helps less).
    std::string corpus;
    for (const auto& c : expected("smollm2").at("cases").as_array())
        corpus += utf8::repaired(case_bytes(c)) + "\n";
    std::string text, varied;
    while (text.size() < (1u << 20)) text += corpus;
    for (int i = 0; varied.size() < (1u << 20); ++i)
        varied += "line " + std::to_string(i * 7919) + " w" + std::to_string(i) +
                  "x: " + corpus.substr(i % 500, 200) + "\n";
    for (const auto* s : {&text, &varied}) {
        const auto t0 = std::chrono::steady_clock::now();
        const auto ids = t.encode(*s, false, true);
        const double sec =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("encode: %.2f MB in %.3f s = %.1f MB/s, %zu tokens\n", s->size() / 1e6, sec,
                    s->size() / 1e6 / sec, ids.size());
        EXPECT_EQ(t.decode(ids, true), utf8::repaired(*s));
    }
}

}  // namespace
}  // namespace gb
