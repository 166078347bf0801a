// Pre-tokenizer splits against the Hugging Face `tokenizers` Split pre-tokenizer run on the
// same strings with the same regexes (tests/fixtures/tokenizer/pretokenizer_splits.json, made
// by tools/gen_tokenizer_fixtures.py).
#include "engine/tokenizer/pre_tokenizer.h"

#include <gtest/gtest.h>

#include <cstdio>

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

// The work budget (PCRE2 match-limit units per text) must never stop a real regex: on a
// quarter megabyte of the texts that make the most matches per byte (every character its own piece,
// long runs that backtrack), the known pre-tokenizers use under half of it.
TEST(PreTokenizer, RealRegexesStayWellInsideTheWorkBudget) {
    const std::vector<std::string> units = {
        "a,", "1", " ", "\n", "a b ", "\xE4\xBD\xA0,", "'s", "!\n", " \t\n", "\xC3\xA9 1",
    };
    uint64_t max_per_byte = 0;
    for (std::string_view name : pre_tokenizer_names()) {
        PreTokenizer p(name);
        for (const std::string& u : units) {
            std::string text;
            while (text.size() < (1 << 18)) text += u;
            PreTokenizer::Budget budget = p.budget_for(text.size());
            const uint64_t total = budget.left;
            std::vector<std::string_view> pieces;
            ASSERT_NO_THROW(p.split(text, pieces, budget)) << name << " on '" << u << "'...";
            const uint64_t per_byte = (total - budget.left) / text.size();
            max_per_byte = std::max(max_per_byte, per_byte);
            EXPECT_GT(budget.left, total / 2)
                << name << " on '" << u << "'... used " << total - budget.left << " of " << total;
        }
    }
    std::printf("most work units used per byte: %llu\n",
                static_cast<unsigned long long>(max_per_byte));
}

// A regex that backtracks catastrophically runs out of the budget, quickly and with an error
// naming it, whether the text is one piece or many.
TEST(PreTokenizer, CatastrophicRegexRunsOutOfTheWorkBudget) {
    const PreTokenizer a({"(a+)+c|."}, {"test regex a"}), x({"(x+x+)+y"}, {"test regex x"});
    for (const auto& [p, text] :
         {std::pair{&a, std::string(30, 'a')}, std::pair{&a, std::string(100000, 'a')},
          std::pair{&x, std::string(24, 'x') + "zy"}}) {
        try {
            std::vector<std::string_view> pieces;
            p->split(text, pieces);
            ADD_FAILURE() << "finished on " << text.size() << " bytes";
        } catch (const Error& e) {
            const std::string what = e.what();
            EXPECT_NE(what.find("ran out of its work budget"), std::string::npos) << what;
            EXPECT_NE(what.find("test regex"), std::string::npos) << what;
        }
    }
}

}  // namespace
}  // namespace gb
