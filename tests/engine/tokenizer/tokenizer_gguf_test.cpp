// Tokenizer::from_gguf on small GGUF files made in memory: which keys it reads, and the errors
// it gives for vocabularies it cannot run or metadata of the wrong shape.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/tokenizer.h"
#include "kernels/error.h"

namespace gb {
namespace {

// A byte-level vocabulary: ids 0..255 are the bytes, then "ab", then three control tokens.
GgufWriter tiny_vocab() {
    std::vector<std::string> tokens;
    for (int b = 0; b < 256; ++b) tokens.push_back(byte_level::symbol(static_cast<uint8_t>(b)));
    tokens.push_back("ab");
    tokens.push_back("<|im_start|>");
    tokens.push_back("<|im_end|>");
    tokens.push_back("<|endoftext|>");
    std::vector<int32_t> types(tokens.size(), 1);
    types[257] = types[258] = types[259] = 3;
    GgufWriter w;
    w.set("general.architecture", GgufValue::str("qwen2"));
    w.set("tokenizer.ggml.model", GgufValue::str("gpt2"));
    w.set("tokenizer.ggml.pre", GgufValue::str("qwen2"));
    w.set("tokenizer.ggml.tokens", GgufValue::str_array(tokens));
    w.set("tokenizer.ggml.token_type", GgufValue::i32_array(types));
    w.set("tokenizer.ggml.merges", GgufValue::str_array({"a b"}));
    w.set("tokenizer.ggml.bos_token_id", GgufValue::u32(259));
    w.set("tokenizer.ggml.eos_token_id", GgufValue::u32(258));
    w.set("tokenizer.ggml.padding_token_id", GgufValue::u32(0xFFFFFFFFu));  // "none"
    w.set("tokenizer.ggml.add_bos_token", GgufValue::boolean(true));
    w.set("tokenizer.chat_template", GgufValue::str("{{ messages }}"));
    return w;
}

Tokenizer load(const GgufWriter& w) {
    const std::vector<uint8_t> bytes = w.to_bytes();
    return Tokenizer::from_gguf(GgufFile::parse(bytes, "tiny.gguf"));
}

std::string error_of(const GgufWriter& w) {
    try {
        load(w);
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(TokenizerGguf, ReadsTheTokenizerKeys) {
    const Tokenizer t = load(tiny_vocab());
    EXPECT_EQ(t.size(), 260u);
    EXPECT_EQ(t.vocab().pre, "qwen2");
    EXPECT_EQ(t.bos(), 259);
    EXPECT_EQ(t.eos(), 258);
    EXPECT_EQ(t.eot(), 258);  // <|im_end|>, found by its text
    EXPECT_EQ(t.vocab().pad, -1);
    EXPECT_TRUE(t.add_bos());
    EXPECT_TRUE(t.is_eog(258));
    EXPECT_TRUE(t.is_eog(259));  // <|endoftext|>
    EXPECT_EQ(t.chat_template(), "{{ messages }}");
    EXPECT_EQ(t.encode("ab<|im_start|>", true, true), (std::vector<int32_t>{259, 256, 257}));
}

TEST(TokenizerGguf, UnknownModelIsNamed) {
    GgufWriter w = tiny_vocab();
    w.set("tokenizer.ggml.model", GgufValue::str("bert"));
    EXPECT_NE(error_of(w).find("'bert'"), std::string::npos) << error_of(w);
}

TEST(TokenizerGguf, UnknownPreTokenizerIsNamed) {
    GgufWriter w = tiny_vocab();
    w.set("tokenizer.ggml.pre", GgufValue::str("brand-new-pre"));
    EXPECT_NE(error_of(w).find("brand-new-pre"), std::string::npos) << error_of(w);
}

TEST(TokenizerGguf, MissingPreMeansDefault) {
    GgufWriter w;
    w.set("tokenizer.ggml.model", GgufValue::str("gpt2"));
    std::vector<std::string> tokens;
    for (int b = 0; b < 256; ++b) tokens.push_back(byte_level::symbol(static_cast<uint8_t>(b)));
    w.set("tokenizer.ggml.tokens", GgufValue::str_array(tokens));
    w.set("tokenizer.ggml.merges", GgufValue::str_array({}));
    const Tokenizer t = load(w);
    EXPECT_EQ(t.vocab().pre, "default");
    EXPECT_EQ(t.encode("hi", true, true), (std::vector<int32_t>{'h', 'i'}));
}

TEST(TokenizerGguf, BadMetadataIsRefusedWithTheKeyNamed) {
    {
        GgufWriter w = tiny_vocab();
        w.set("tokenizer.ggml.tokens", GgufValue::i32_array({1, 2, 3}));
        EXPECT_NE(error_of(w).find("tokenizer.ggml.tokens"), std::string::npos) << error_of(w);
    }
    {
        GgufWriter w = tiny_vocab();
        w.set("tokenizer.ggml.eos_token_id", GgufValue::u32(5000));
        EXPECT_NE(error_of(w).find("eos_token_id"), std::string::npos) << error_of(w);
    }
    {
        GgufWriter w = tiny_vocab();
        w.set("tokenizer.ggml.token_type", GgufValue::i32_array({1, 1}));
        EXPECT_NE(error_of(w).find("token_type"), std::string::npos) << error_of(w);
    }
    {
        GgufWriter w = tiny_vocab();
        w.set("tokenizer.ggml.merges", GgufValue::u32(3));
        EXPECT_NE(error_of(w).find("tokenizer.ggml.merges"), std::string::npos) << error_of(w);
    }
}

// Values that used to be accepted: token types outside 0..6 (taken as "undefined", then merged as
// ordinary tokens) and merges that are not two tokens of the vocabulary (skipped without a word).
TEST(TokenizerGguf, BadTokenTypesAndMergesAreRefused) {
    for (int32_t bad : {99, -5, 7}) {
        GgufWriter w = tiny_vocab();
        std::vector<int32_t> types(260, 1);
        types[257] = types[258] = types[259] = 3;
        types[42] = bad;
        w.set("tokenizer.ggml.token_type", GgufValue::i32_array(types));
        const std::string e = error_of(w);
        EXPECT_NE(e.find("tokenizer.ggml.token_type[42] = " + std::to_string(bad)),
                  std::string::npos)
            << e;
    }
    struct Case {
        std::string merge, expect;
    } cases[] = {
        {"onlyone", "not two tokens"},   {"a b c", "not two tokens"},    {"a ", "not two tokens"},
        {"a zz", "'zz' is not a token"}, {"b a", "'ba' is not a token"},
    };
    for (const auto& c : cases) {
        GgufWriter w = tiny_vocab();
        w.set("tokenizer.ggml.merges", GgufValue::str_array({"a b", c.merge}));
        const std::string e = error_of(w);
        EXPECT_NE(e.find("tokenizer.ggml.merges[1] = '" + c.merge + "'"), std::string::npos) << e;
        EXPECT_NE(e.find(c.expect), std::string::npos) << c.merge << " -> " << e;
    }
}

// Token ids outside int32 other than the two spellings of "none" (-1, UINT32_MAX) were taken as
// "none" too: a BOS of -5 quietly disappeared from every prompt.
TEST(TokenizerGguf, TokenIdsOutsideInt32AreRefusedNotDropped) {
    for (const GgufValue& bad : {GgufValue::i32(-5), GgufValue::i64(-2),
                                 GgufValue::u64(uint64_t{1} << 40), GgufValue::i64(INT64_MIN)}) {
        GgufWriter w = tiny_vocab();
        w.set("tokenizer.ggml.bos_token_id", bad);
        const std::string e = error_of(w);
        EXPECT_NE(e.find("tokenizer.ggml.bos_token_id = "), std::string::npos) << e;
        EXPECT_NE(e.find("is not a token id"), std::string::npos) << e;
    }
    for (const GgufValue& none : {GgufValue::i32(-1), GgufValue::u32(0xFFFFFFFFu)}) {
        GgufWriter w = tiny_vocab();
        w.set("tokenizer.ggml.bos_token_id", none);
        EXPECT_EQ(load(w).bos(), -1);
    }
}

TEST(TokenizerGguf, NanScoresAndMistypedFlagsAreRefused) {
    {
        GgufWriter w = tiny_vocab();
        std::vector<float> scores(260, 0.0f);
        scores[7] = std::nanf("");
        w.set("tokenizer.ggml.scores", GgufValue::f32_array(scores));
        const std::string e = error_of(w);
        EXPECT_NE(e.find("tokenizer.ggml.scores[7] is NaN"), std::string::npos) << e;
    }
    {
        GgufWriter w = tiny_vocab();
        w.set("tokenizer.ggml.add_bos_token", GgufValue::str("yes"));
        const std::string e = error_of(w);
        EXPECT_NE(e.find("tokenizer.ggml.add_bos_token"), std::string::npos) << e;
    }
}

}  // namespace
}  // namespace gb
