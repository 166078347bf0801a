// SentencePiece-style ("llama") vocabularies: a small SentencePiece BPE model with byte
// fallback, stored as GGUF, against ids that llama.cpp and sentencepiece give for it
// (tests/fixtures/tokenizer/spm_tiny*.{gguf,json}, from tools/gen_spm_fixtures.py).
#include "engine/tokenizer/spm.h"

#include <gtest/gtest.h>

#include "engine/core/utf8.h"
#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/tokenizer.h"
#include "tests/test_support.h"

namespace gb {
namespace {

const Tokenizer& tiny() {
    static const Tokenizer tok =
        Tokenizer::from_gguf(GgufFile::open(test::fixture("tokenizer/spm_tiny.gguf")));
    return tok;
}

const json::Value& expected() {
    static const auto fx = test::load_json(test::fixture("tokenizer/spm_tiny_expected.json"));
    return fx;
}

std::string decode_stream(const Tokenizer& t, const std::vector<int32_t>& ids) {
    StreamDecoder sd(t);
    std::string out;
    for (int32_t id : ids) out += sd.push(id);
    return out + sd.flush();
}

TEST(Spm, ReadsTheVocabularyFromGguf) {
    const Tokenizer& t = tiny();
    EXPECT_EQ(t.vocab().model, "llama");
    EXPECT_EQ(t.size(), static_cast<size_t>(expected().at("vocab_size").as_int64()));
    EXPECT_EQ(t.bos(), 1);
    EXPECT_EQ(t.eos(), 2);
    EXPECT_EQ(t.vocab().unk, 0);
    EXPECT_TRUE(t.add_bos());
    EXPECT_TRUE(t.vocab().add_space_prefix);
    EXPECT_EQ(t.token_text(t.find_token("<0x0A>")), "\n");
    EXPECT_EQ(t.token_text(t.find_token("\xE2\x96\x81the")), " the");
}

// Every corpus line, with and without special-token parsing and with BOS: the same ids as
// llama.cpp reading the same GGUF file.
TEST(Spm, IdsMatchLlamaCpp) {
    const Tokenizer& t = tiny();
    const auto& cases = expected().at("cases").as_array();
    ASSERT_GT(cases.size(), 50u);
    size_t checked = 0;
    for (const auto& c : cases) {
        const std::string& text = c.at("text").as_string();
        EXPECT_EQ(t.encode(text, false, true), test::json_ints(c.at("special")))
            << "parse_special on: " << text;
        EXPECT_EQ(t.encode(text, false, false), test::json_ints(c.at("plain")))
            << "plain on: " << text;
        EXPECT_EQ(t.encode(text, true, true), test::json_ints(c.at("with_bos")))
            << "with BOS on: " << text;
        ++checked;
    }
    EXPECT_EQ(checked, cases.size());
}

// Where no special token is involved, sentencepiece itself gives the same ids (the fixture
// flags the lines where the references part: special tokens, see the generator).
TEST(Spm, PlainTextAgreesWithSentencePiece) {
    size_t agree = 0;
    for (const auto& c : expected().at("cases").as_array()) agree += c.at("agree").as_bool();
    EXPECT_GE(agree, 50u);
}

// Decoding gives the text back for text without special tokens, and what llama.cpp's
// llama_detokenize gives everywhere (but for its keeping the prefix space after a BOS).
TEST(Spm, DecodeRoundTrips) {
    const Tokenizer& t = tiny();
    for (const auto& c : expected().at("cases").as_array()) {
        const std::string& text = c.at("text").as_string();
        const auto ids = test::json_ints(c.at("special"));
        const std::string decoded = t.decode(ids, false);
        std::string reference = c.at("llama_cpp_decode").as_string();
        if (!ids.empty() && t.is_control(ids[0]) && !reference.empty() && reference[0] == ' ')
            reference.erase(0, 1);
        EXPECT_EQ(decoded, reference) << text;
        if (c.at("agree").as_bool() && text.find("\xE2\x96\x81") == std::string::npos) {
            EXPECT_EQ(t.decode(t.encode(text, false, false), false), text);
            EXPECT_EQ(t.decode(t.encode(text, true, false), false), text);  // BOS is hidden
        }
    }
}

TEST(Spm, CharactersOutsideTheVocabularyFallBackToBytes) {
    const Tokenizer& t = tiny();
    // U+1F980 (crab) is not a piece: its four UTF-8 bytes come out as <0xF0> <0x9F> ...
    ASSERT_LT(t.find_token("\xF0\x9F\xA6\x80"), 0);
    const auto ids = t.encode("\xF0\x9F\xA6\x80", false, false);
    ASSERT_EQ(ids.size(), 5u);  // the prefix space, then four bytes
    EXPECT_EQ(ids[0], t.find_token("\xE2\x96\x81"));
    EXPECT_EQ(ids[1], t.find_token("<0xF0>"));
    EXPECT_EQ(ids[2], t.find_token("<0x9F>"));
    EXPECT_EQ(ids[3], t.find_token("<0xA6>"));
    EXPECT_EQ(ids[4], t.find_token("<0x80>"));
    EXPECT_EQ(t.decode(ids, false), "\xF0\x9F\xA6\x80");
}

TEST(Spm, StreamDecoderHoldsBackPartialCharacters) {
    const Tokenizer& t = tiny();
    const std::vector<int32_t> ids = {t.find_token("<0xF0>"), t.find_token("<0x9F>"),
                                      t.find_token("<0xA6>"), t.find_token("<0x80>")};
    StreamDecoder sd(t);
    EXPECT_EQ(sd.push(ids[0]), "");
    EXPECT_EQ(sd.push(ids[1]), "");
    EXPECT_EQ(sd.push(ids[2]), "");
    EXPECT_EQ(sd.push(ids[3]), "\xF0\x9F\xA6\x80");
    // A cut-off character comes out as U+FFFD at the end.
    StreamDecoder cut(t);
    EXPECT_EQ(cut.push(ids[0]), "");
    EXPECT_EQ(cut.push(ids[1]), "");
    EXPECT_EQ(cut.flush(), "\xEF\xBF\xBD");
    // Over a whole line, streaming gives what decode gives, with the prefix space kept.
    for (const auto& c : expected().at("cases").as_array()) {
        const auto ids_line = test::json_ints(c.at("plain"));
        const std::string whole = t.decode(ids_line, false);
        const std::string streamed = decode_stream(t, ids_line);
        EXPECT_TRUE(streamed == whole || streamed == " " + whole) << c.at("text").as_string();
    }
}

TEST(Spm, SpecialTokens) {
    const Tokenizer& t = tiny();
    const int32_t think = t.find_token("<think>"), ctrl = t.find_token("<ctrl>");
    ASSERT_GE(think, 0);
    ASSERT_GE(ctrl, 0);
    // User-defined tokens are always matched; a space prefix follows them, as after BOS.
    const auto ids = t.encode("<think>hi", false, false);
    ASSERT_GE(ids.size(), 2u);
    EXPECT_EQ(ids[0], think);
    EXPECT_EQ(t.decode(ids, false), "<think> hi");
    // Control tokens only with parse_special, and hidden by decode unless show_special.
    EXPECT_EQ(t.encode("<ctrl>", false, true), (std::vector<int32_t>{ctrl}));
    EXPECT_NE(t.encode("<ctrl>", false, false), (std::vector<int32_t>{ctrl}));
    EXPECT_EQ(t.decode(std::vector<int32_t>{ctrl}, true), "<ctrl>");
    EXPECT_EQ(t.decode(std::vector<int32_t>{ctrl}, false), "");
    EXPECT_EQ(t.encode("", true, true), (std::vector<int32_t>{t.bos()}));
    EXPECT_TRUE(t.encode("", false, true).empty());
}

TEST(Spm, PiecesAndBytes) {
    EXPECT_EQ(SpmModel::byte_of("<0x0A>"), 0x0A);
    EXPECT_EQ(SpmModel::byte_of("<0xff>"), 0xFF);
    EXPECT_EQ(SpmModel::byte_of("<0xG0>"), -1);
    EXPECT_EQ(SpmModel::byte_of("0x0A"), -1);
    EXPECT_EQ(SpmModel::decode_piece("\xE2\x96\x81"
                                     "a\xE2\x96\x81\xE2\x96\x81",
                                     TokenType::Normal),
              " a  ");
    EXPECT_EQ(SpmModel::decode_piece("<0x41>", TokenType::Byte), "A");
}

// Without byte pieces a character outside the vocabulary becomes the unknown token.
TEST(Spm, UnknownWithoutBytePieces) {
    Vocab v;
    v.model = "llama";
    v.tokens = {"<unk>",
                "<s>",
                "</s>",
                "\xE2\x96\x81",
                "a",
                "b",
                "\xE2\x96\x81"
                "a",
                "ab"};
    v.scores = {0, 0, 0, -1, -2, -3, -0.5f, -0.1f};
    v.types = {TokenType::Unknown, TokenType::Control, TokenType::Control, TokenType::Normal,
               TokenType::Normal,  TokenType::Normal,  TokenType::Normal,  TokenType::Normal};
    v.unk = 0;
    v.bos = 1;
    v.eos = 2;
    const Tokenizer t(v);
    // "▁ab": "ab" (-0.1) beats "▁a" (-0.5), so ▁ | ab.
    EXPECT_EQ(t.encode("ab", false, false), (std::vector<int32_t>{3, 7}));
    EXPECT_EQ(t.encode("a", true, false), (std::vector<int32_t>{1, 6}));
    EXPECT_EQ(t.encode("a\xC3\xA9", false, false), (std::vector<int32_t>{6, 0}));
    EXPECT_EQ(t.decode(t.encode("a b", false, false), false), "a b");
    v.add_space_prefix = false;
    EXPECT_EQ(Tokenizer(v).encode("ab", false, false), (std::vector<int32_t>{7}));
}

}  // namespace
}  // namespace gb
