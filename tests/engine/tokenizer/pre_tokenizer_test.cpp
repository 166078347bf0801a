// Pre-tokenizer splits against the Hugging Face `tokenizers` Split pre-tokenizer run on the
// same strings with the same regexes (tests/fixtures/tokenizer/pretokenizer_splits.json, made
// by tools/gen_tokenizer_fixtures.py).
#include "engine/tokenizer/pre_tokenizer.h"

#include <gtest/gtest.h>

#include "kernels/error.h"
#include "tests/test_support.h"

namespace gb {
namespace {

std::vector<std::string> split(const PreTokenizer& p, std::string_view text) {
    std::vector<std::string_view> pieces;
    p.split(text, pieces);
    return {pieces.begin(), pieces.end()};
}

TEST(PreTokenizer, MatchesReferenceSplits) {
    const auto fx = test::load_json(test::fixture("tokenizer/pretokenizer_splits.json"));
    ASSERT_FALSE(fx.as_object().empty());
    for (const auto& [pre, cases] : fx.as_object()) {
        PreTokenizer p(pre);
        for (const auto& c : cases.as_array()) {
            const std::string text = c.at("text").as_string();
            EXPECT_EQ(split(p, text), test::json_strings(c.at("pieces")))
                << "pre-tokenizer " << pre << " on: " << text;
        }
    }
}

TEST(PreTokenizer, EveryKnownTypeCompilesAndCoversItsInput) {
    const std::string text = "Mixed 123 text\n\n  with \xE4\xBD\xA0\xE5\xA5\xBD and 'quotes' ...  ";
    for (std::string_view name : pre_tokenizer_names()) {
        PreTokenizer p(name);
        std::string joined;
        for (const auto& piece : split(p, text)) {
            EXPECT_FALSE(piece.empty()) << name;
            joined += piece;
        }
        EXPECT_EQ(joined, text) << name;
    }
}

TEST(PreTokenizer, UnknownTypeIsNamed) {
    try {
        PreTokenizer p("chameleon-9000");
        FAIL() << "expected gb::Error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("chameleon-9000"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("qwen2"), std::string::npos) << e.what();
    }
}

TEST(PreTokenizer, LongRunsDoNotExhaustTheMatcher) {
    // A megabyte of one character class: the regexes backtrack over \s+(?!\S) and friends.
    for (std::string_view name :
         {"gpt2", "llama-bpe", "qwen2", "deepseek-v3", "deepseek-llm", "smollm"}) {
        PreTokenizer p(name);
        for (char c : {' ', 'a', '7', '!', '\n'}) {
            const std::string text(1 << 20, c);
            std::vector<std::string_view> pieces;
            ASSERT_NO_THROW(p.split(text, pieces)) << name << " on a run of '" << c << "'";
            size_t total = 0;
            for (auto piece : pieces) total += piece.size();
            EXPECT_EQ(total, text.size()) << name;
        }
    }
}

}  // namespace
}  // namespace gb
