// Tests of the streaming reasoning/answer split: every supported reply format, markers split
// across tokens at every point, UTF-8 around the markers, empty and cut-off reasoning.
#include "engine/trace/reasoning_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernels/error.h"

namespace gb {
namespace {

constexpr Phase T = Phase::Think;
constexpr Phase A = Phase::Answer;

struct Result {
    std::vector<Phase> phases;
    std::string reasoning, answer;
    bool complete = false, saw = false;
};

// Feeds the tokens one by one, checking that each text only ever grows by appending (the
// streamed texts are prefixes of the final ones, which finish() may only extend).
Result run(bool starts_in_reasoning, const std::vector<std::string>& tokens) {
    ReasoningParser p(starts_in_reasoning);
    Result r;
    std::string prev_reasoning, prev_answer;
    for (size_t i = 0; i < tokens.size(); ++i) {
        r.phases.push_back(p.push(static_cast<int32_t>(i), tokens[i]));
        EXPECT_TRUE(p.reasoning().starts_with(prev_reasoning)) << "token " << i;
        EXPECT_TRUE(p.answer().starts_with(prev_answer)) << "token " << i;
        prev_reasoning = p.reasoning();
        prev_answer = p.answer();
    }
    p.finish();
    EXPECT_TRUE(p.reasoning().starts_with(prev_reasoning));
    EXPECT_TRUE(p.answer().starts_with(prev_answer));
    r.reasoning = p.reasoning();
    r.answer = p.answer();
    r.complete = p.reasoning_complete();
    r.saw = p.saw_reasoning();
    return r;
}

TEST(PromptOpensReasoning, OpenOnlyWhenTheLastTagIsUnclosed) {
    // DeepSeek-R1 distills end the generation prompt with "<think>\n".
    EXPECT_TRUE(prompt_opens_reasoning("<｜User｜>2+2?<｜Assistant｜><think>\n"));
    // Qwen3 with thinking off closes it again.
    EXPECT_FALSE(prompt_opens_reasoning(
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"));
    // Qwen3 with thinking on, QwQ without the pre-fill: the model opens it.
    EXPECT_FALSE(prompt_opens_reasoning("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"));
    EXPECT_FALSE(prompt_opens_reasoning(""));
    // An earlier closed block does not matter; the last one does.
    EXPECT_TRUE(prompt_opens_reasoning("<think>a</think>b<think>"));
    EXPECT_FALSE(prompt_opens_reasoning("<think>a</think>b<think>c</think>"));
    EXPECT_TRUE(prompt_opens_reasoning("[R]", "[R]", "[/R]"));
}

TEST(ReasoningParser, ModelOpensWithSpecialTokens) {
    // Qwen3 with thinking on: <think> and </think> are single added tokens.
    const Result r = run(false, {"<think>", "\n", "Okay", ",", " the", " user", ".\n", "</think>",
                                 "\n\n", "Hello", "!"});
    EXPECT_EQ(r.phases, (std::vector<Phase>{T, T, T, T, T, T, T, T, A, A, A}));
    EXPECT_EQ(r.reasoning, "Okay, the user.");
    EXPECT_EQ(r.answer, "Hello!");
    EXPECT_TRUE(r.complete);
    EXPECT_TRUE(r.saw);
}

TEST(ReasoningParser, TemplateOpenedTheReasoning) {
    // DeepSeek-R1 distill: the prompt ended with "<think>\n", the model only closes it.
    const Result r = run(
        true, {"Okay", " so", "\n\n", "</think>", "\n\n", "The", " answer", " is", " 4", ".", ""});
    EXPECT_EQ(r.phases, (std::vector<Phase>{T, T, T, T, A, A, A, A, A, A, A}));
    EXPECT_EQ(r.reasoning, "Okay so");
    EXPECT_EQ(r.answer, "The answer is 4.");
    EXPECT_TRUE(r.complete);
    EXPECT_TRUE(r.saw);
}

TEST(ReasoningParser, OpenTagRepeatedAfterThePrefillIsAMarker) {
    const Result r = run(true, {"<think>", "\n", "Hmm", "</think>", "Yes"});
    EXPECT_EQ(r.phases, (std::vector<Phase>{T, T, T, T, A}));
    EXPECT_EQ(r.reasoning, "Hmm");
    EXPECT_EQ(r.answer, "Yes");
    // Split, after leading whitespace.
    const Result s = run(true, {"\n", "<", "th", "ink>", "Hmm", "</think>", "Yes"});
    EXPECT_EQ(s.reasoning, "Hmm");
    EXPECT_EQ(s.answer, "Yes");
    // Once reasoning text has begun, an open tag is text (no nesting).
    const Result t = run(true, {"Hmm", " <think>", " x", "</think>", "A"});
    EXPECT_EQ(t.reasoning, "Hmm <think> x");
    EXPECT_EQ(t.answer, "A");
}

TEST(ReasoningParser, ThinkingDisabledIsAllAnswer) {
    // Qwen3 with thinking off: the prompt closed the block, the reply is plain answer.
    const Result r = run(false, {"Hello", " there", ".", "\n"});
    EXPECT_EQ(r.phases, (std::vector<Phase>{A, A, A, A}));
    EXPECT_EQ(r.reasoning, "");
    EXPECT_EQ(r.answer, "Hello there.");  // trailing whitespace trimmed
    EXPECT_TRUE(r.complete);
    EXPECT_FALSE(r.saw);
}

TEST(ReasoningParser, NeverOpened) {
    const Result r = run(false, {"\n", "Use", " <think>", " tags", " and", " </think>", "."});
    EXPECT_EQ(r.phases, (std::vector<Phase>{A, A, A, A, A, A, A}));
    EXPECT_EQ(r.answer, "Use <think> tags and </think>.");
    EXPECT_EQ(r.reasoning, "");
    EXPECT_FALSE(r.saw);
    EXPECT_TRUE(r.complete);
    // A reply that starts like a tag but is not one: the held token was already shown as
    // Think (documented), its bytes go to the answer.
    const Result b = run(false, {"<", "b", ">bold"});
    EXPECT_EQ(b.phases, (std::vector<Phase>{T, A, A}));
    EXPECT_EQ(b.answer, "<b>bold");
    EXPECT_FALSE(b.saw);
    // Cut off while still holding a possible tag: the bytes are answer text.
    const Result c = run(false, {"<th"});
    EXPECT_EQ(c.answer, "<th");
    EXPECT_FALSE(c.saw);
}

TEST(ReasoningParser, CutOffInsideReasoning) {
    const Result r = run(false, {"<think>", "\n", "Let", " me", " see", "\n\n"});
    EXPECT_EQ(r.phases, (std::vector<Phase>(6, T)));
    EXPECT_EQ(r.reasoning, "Let me see");
    EXPECT_EQ(r.answer, "");
    EXPECT_FALSE(r.complete);
    EXPECT_TRUE(r.saw);
    // Cut off in the middle of what might have been the close tag: those bytes are reasoning.
    const Result h = run(true, {"Let", " me", " see", "\n\n", "</th"});
    EXPECT_EQ(h.reasoning, "Let me see\n\n</th");
    EXPECT_EQ(h.answer, "");
    EXPECT_FALSE(h.complete);
}

TEST(ReasoningParser, EmptyReasoning) {
    const Result r = run(false, {"<think>", "\n\n", "</think>", "\n\n", "Hi"});
    EXPECT_EQ(r.phases, (std::vector<Phase>{T, T, T, A, A}));
    EXPECT_EQ(r.reasoning, "");
    EXPECT_EQ(r.answer, "Hi");
    EXPECT_TRUE(r.saw);
    EXPECT_TRUE(r.complete);
    const Result s = run(true, {"</think>", "Hi"});
    EXPECT_EQ(s.phases, (std::vector<Phase>{T, A}));
    EXPECT_EQ(s.reasoning, "");
    EXPECT_EQ(s.answer, "Hi");
    EXPECT_TRUE(s.complete);
}

TEST(ReasoningParser, TagsAfterTheCloseAreAnswerText) {
    const Result r = run(false, {"<think>", "a", "</think>", "b ", "<think>", "c", "</think>"});
    EXPECT_EQ(r.phases, (std::vector<Phase>{T, T, T, A, A, A, A}));
    EXPECT_EQ(r.reasoning, "a");
    EXPECT_EQ(r.answer, "b <think>c</think>");
    EXPECT_TRUE(r.complete);
}

TEST(ReasoningParser, CloseTagSplitEveryWay) {
    // "</think>" as 1, 2 or 3 ordinary tokens at every split point; the pieces are Think, the
    // tokens after them Answer.
    const std::string tag = "</think>";
    std::vector<std::vector<std::string>> splits;
    splits.push_back({tag});
    for (size_t i = 1; i < tag.size(); ++i) {
        splits.push_back({tag.substr(0, i), tag.substr(i)});
        for (size_t j = i + 1; j < tag.size(); ++j)
            splits.push_back({tag.substr(0, i), tag.substr(i, j - i), tag.substr(j)});
    }
    ASSERT_EQ(splits.size(), 1u + 7u + 21u);
    for (bool prefilled : {false, true}) {
        for (const auto& pieces : splits) {
            std::vector<std::string> tokens;
            if (!prefilled) tokens.push_back("<think>");
            for (const char* t : {"Let", " me", " think", ".\n"}) tokens.push_back(t);
            const size_t n_think = tokens.size() + pieces.size();
            tokens.insert(tokens.end(), pieces.begin(), pieces.end());
            for (const char* t : {"\n\n", "Yes", "."}) tokens.push_back(t);
            const Result r = run(prefilled, tokens);
            std::vector<Phase> want(n_think, T);
            want.resize(tokens.size(), A);
            SCOPED_TRACE(::testing::PrintToString(pieces));
            EXPECT_EQ(r.phases, want);
            EXPECT_EQ(r.reasoning, "Let me think.");
            EXPECT_EQ(r.answer, "Yes.");
            EXPECT_TRUE(r.complete);
        }
    }
}

// Cuts reply into up to max_pieces tokens at every combination of points; for each, a token is
// Think exactly when it starts before the end of the first close tag.
void check_all_splits(bool prefilled, const std::string& reply, const std::string& reasoning,
                      const std::string& answer, int max_pieces) {
    const size_t close_end = reply.find("</think>") + 8;
    const size_t n = reply.size();
    std::vector<size_t> cuts;  // inner cut points, increasing
    size_t checked = 0;
    auto check = [&] {
        std::vector<std::string> tokens;
        std::vector<Phase> want;
        size_t start = 0;
        for (size_t k = 0; k <= cuts.size(); ++k) {
            const size_t end = k < cuts.size() ? cuts[k] : n;
            tokens.push_back(reply.substr(start, end - start));
            want.push_back(start < close_end ? T : A);
            start = end;
        }
        const Result r = run(prefilled, tokens);
        SCOPED_TRACE(::testing::PrintToString(tokens));
        ASSERT_EQ(r.phases, want);
        ASSERT_EQ(r.reasoning, reasoning);
        ASSERT_EQ(r.answer, answer);
        ASSERT_TRUE(r.complete);
        ASSERT_TRUE(r.saw);
        ++checked;
    };
    check();
    for (size_t a = 1; a < n; ++a) {
        cuts = {a};
        check();
        for (size_t b = a + 1; b < n && max_pieces >= 3; ++b) {
            cuts = {a, b};
            check();
            for (size_t c = b + 1; c < n && max_pieces >= 4; ++c) {
                cuts = {a, b, c};
                check();
            }
        }
    }
    // 1 + C(n-1,1) + C(n-1,2) + C(n-1,3) splits for 4 pieces.
    const size_t m = n - 1;
    EXPECT_EQ(checked, 1 + m + m * (m - 1) / 2 + m * (m - 1) * (m - 2) / 6);
}

TEST(ReasoningParser, WholeReplySplitEveryWayWithUtf8) {
    // "é" is C3 A9 and "你" E4 BD A0: cut points fall inside them, right next to the markers.
    check_all_splits(false, "<think>\nA \xC3\xA9.\n</think>\n\n\xE4\xBD\xA0 B</think>",
                     "A \xC3\xA9.", "\xE4\xBD\xA0 B</think>", 4);
    // Prefilled, with a "<" in the reasoning that is not a tag and a tag in the answer.
    check_all_splits(true, "1 < 2 \xC3\xA9</think>\n\n<think> ok\xE4\xBD\xA0", "1 < 2 \xC3\xA9",
                     "<think> ok\xE4\xBD\xA0", 4);
}

TEST(ReasoningParser, Utf8SplitAroundTheMarkers) {
    const Result r = run(false, {"<think>", "\xC3", "\xA9</th", "ink>\n\xE4", "\xBD\xA0"});
    EXPECT_EQ(r.phases, (std::vector<Phase>{T, T, T, T, A}));
    EXPECT_EQ(r.reasoning, "\xC3\xA9");
    EXPECT_EQ(r.answer, "\xE4\xBD\xA0");
    // Non-ASCII bytes are never whitespace: nothing is trimmed from them.
    const Result s = run(true, {"\xC2\xA0x\xC2", "\xA0", "</think>", "\xC2\xA0y"});
    EXPECT_EQ(s.reasoning, "\xC2\xA0x\xC2\xA0");
    EXPECT_EQ(s.answer, "\xC2\xA0y");
}

TEST(ReasoningParser, EmptyTokensTakeTheCurrentPhase) {
    ReasoningParser p(true);
    EXPECT_EQ(p.push(0, ""), T);
    EXPECT_EQ(p.push(1, "x</think>"), T);
    EXPECT_EQ(p.push(2, ""), A);
    ReasoningParser q(false);
    EXPECT_EQ(q.push(0, ""), A);
}

TEST(ReasoningParser, TextsGrowWhileStreaming) {
    ReasoningParser p(false);
    p.push(0, "<think>");
    p.push(1, "\nstep one");
    EXPECT_EQ(p.reasoning(), "step one");
    EXPECT_FALSE(p.reasoning_complete());
    p.push(2, "\n\n");  // held back: may be trailing
    EXPECT_EQ(p.reasoning(), "step one");
    p.push(3, "step two</");  // "</" held back: may be the close tag
    EXPECT_EQ(p.reasoning(), "step one\n\nstep two");
    p.push(4, "think>\n\nDone");
    EXPECT_TRUE(p.reasoning_complete());
    EXPECT_EQ(p.answer(), "Done");
}

TEST(ReasoningParser, CustomTagsAndErrors) {
    ReasoningParser p(false, "<reasoning>", "</reasoning>");
    EXPECT_EQ(p.push(0, "<reason"), T);
    EXPECT_EQ(p.push(1, "ing>why</reasoning>"), T);
    EXPECT_EQ(p.push(2, "so"), A);
    p.finish();
    EXPECT_EQ(p.reasoning(), "why");
    EXPECT_EQ(p.answer(), "so");
    EXPECT_THROW(p.push(3, "x"), Error);
    EXPECT_THROW(ReasoningParser(false, "", "</x>"), Error);
    EXPECT_THROW(ReasoningParser(false, "<x>", "<x>"), Error);
}

// A replayed reply: after each generated token the texts are what the stream showed, worked by
// hand, and at the end exactly the stored texts (the end-of-generation marker's bytes cut).
Trace replay_trace(std::string prompt_text, std::vector<std::pair<std::string, Phase>> gen,
                   std::string reasoning, std::string answer) {
    Trace t;
    t.prompt_text = std::move(prompt_text);
    TokenRecord p;
    p.phase = Phase::Prompt;
    p.text = "x";
    t.tokens.push_back(p);
    t.n_prompt = 1;
    int id = 10;
    for (auto& [text, phase] : gen) {
        TokenRecord r;
        r.id = id++;
        r.text = text;
        r.phase = phase;
        t.tokens.push_back(r);
        ++t.n_gen;
    }
    t.stop_reason = StopReason::Eog;
    t.reasoning_text = std::move(reasoning);
    t.answer_text = std::move(answer);
    return t;
}

TEST(ReplyTextsAt, TemplateOpenedReasoningGrowsTokenByToken) {
    const Trace t = replay_trace("<|user|>1+1<|assistant|><think>\n",
                                 {{"Add", T},
                                  {" them", T},
                                  {".\n\n", T},
                                  {"Wait", T},
                                  {"\n</think>\n\n", T},
                                  {"2", A},
                                  {"<|im_end|>", A}},
                                 "Add them.\n\nWait", "2");
    const std::vector<std::pair<std::string, std::string>> want = {
        {"", ""},
        {"Add", ""},
        {"Add them", ""},
        {"Add them.", ""},  // the blank line is held back until text follows it
        {"Add them.\n\nWait", ""},
        {"Add them.\n\nWait", ""},
        {"Add them.\n\nWait", "2"},
        {"Add them.\n\nWait", "2"},  // the marker's bytes never show
    };
    int think = 0, answer = 0;
    for (size_t n = 0; n < want.size(); ++n) {
        const ReplyTexts r = reply_texts_at(t, n);
        EXPECT_EQ(r.reasoning, want[n].first) << n;
        EXPECT_EQ(r.answer, want[n].second) << n;
        EXPECT_EQ(r.n_reasoning, think) << n;
        EXPECT_EQ(r.n_answer, answer) << n;
        if (n < 7) (n < 5 ? think : answer)++;
    }
    // Past the end: the whole reply.
    EXPECT_EQ(reply_texts_at(t, 99).answer, "2");
    EXPECT_EQ(reply_texts_at(t, 99).n_answer, 2);
}

TEST(ReplyTextsAt, ModelOpensTheReasoningItselfAndOldTracesWithoutTexts) {
    Trace t = replay_trace("<|user|>hi<|assistant|>",
                           {{"<think>", T}, {"hm", T}, {"</think>", T}, {"Hi", A}, {"!", A}}, "hm",
                           "Hi!");
    EXPECT_EQ(reply_texts_at(t, 1).reasoning, "");
    EXPECT_EQ(reply_texts_at(t, 2).reasoning, "hm");
    EXPECT_EQ(reply_texts_at(t, 4).answer, "Hi");
    EXPECT_EQ(reply_texts_at(t, 5).answer, "Hi!");
    // A trace file written before the texts were stored: the parse alone, finished at the end.
    t.reasoning_text.clear();
    t.answer_text.clear();
    EXPECT_EQ(reply_texts_at(t, 5).reasoning, "hm");
    EXPECT_EQ(reply_texts_at(t, 5).answer, "Hi!");
    // No generated tokens at all.
    Trace empty;
    EXPECT_EQ(reply_texts_at(empty, 3).answer, "");
    EXPECT_EQ(reply_texts_at(empty, 3).n_answer, 0);
}

}  // namespace
}  // namespace gb
