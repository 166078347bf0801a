// The tokenizer of a real model (SmolLM2-135M-Instruct, "smollm" pre-tokenizer) against ids made
// by Hugging Face `tokenizers` and checked with llama.cpp (tests/fixtures/tokenizer/
// smollm2_expected.json, from tools/gen_tokenizer_fixtures.py). Skips when the model is absent.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/core/utf8.h"
#include "tests/test_support.h"

namespace gb {
namespace {

constexpr const char* kModel = "SmolLM2-135M-Instruct.Q4_1.gguf";

const Tokenizer& smollm2(const std::string& path) {
    static const Tokenizer tok = Tokenizer::from_gguf(GgufFile::open(path));
    return tok;
}

const json::Value& expected() {
    static const auto fx = test::load_json(test::fixture("tokenizer/smollm2_expected.json"));
    return fx;
}

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

TEST(TokenizerSmolLM2, IdsMatchTheReference) {
    GB_REQUIRE_MODEL(path, kModel);
    const Tokenizer& t = smollm2(path);
    const auto& cases = expected().at("cases").as_array();
    ASSERT_GT(cases.size(), 40u);
    size_t mismatches = 0;
    for (const auto& c : cases) {
        const std::string& text = c.at("text").as_string();
        const auto special = t.encode(text, /*add_special=*/false, /*parse_special=*/true);
        const auto plain = t.encode(text, false, false);
        EXPECT_EQ(special, test::json_ints(c.at("special"))) << "parse_special on: " << text;
        EXPECT_EQ(plain, test::json_ints(c.at("plain"))) << "plain on: " << text;
        mismatches += (special != test::json_ints(c.at("special"))) + (plain != test::json_ints(c.at("plain")));
        // Byte-level BPE loses nothing: decoding gives the text back.
        EXPECT_EQ(t.decode(special, /*show_special=*/true), text);
        EXPECT_EQ(t.decode(plain, true), text);
    }
    std::printf("SmolLM2: %zu cases x 2, %zu mismatches\n", cases.size(), mismatches);
}

TEST(TokenizerSmolLM2, StreamDecoderGivesTheSameTextPieceByPiece) {
    GB_REQUIRE_MODEL(path, kModel);
    const Tokenizer& t = smollm2(path);
    for (const auto& c : expected().at("cases").as_array()) {
        const std::string& text = c.at("text").as_string();
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
    for (const auto& c : expected().at("cases").as_array()) corpus += c.at("text").as_string() + "\n";
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
