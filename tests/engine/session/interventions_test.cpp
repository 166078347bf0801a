// Interventions in the engine: a branch from any token (reusing the cache of the shared prefix,
// and continuing exactly as the original when the original token is put back), the thinking
// budget and the stop-thinking controls on a real reasoning model, and reproduce.
#include "engine/session/interventions.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>

#include "engine/model/expert_steering.h"
#include "engine/model/model.h"
#include "engine/session/chat_prompt.h"
#include "engine/session/generator.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/trace/reasoning_parser.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/error.h"
#include "tests/test_support.h"

namespace gb {
namespace {

struct Loaded {
    cpu::CpuBackend be{2};
    std::unique_ptr<Model> model;
    std::unique_ptr<Tokenizer> tok;
    explicit Loaded(const std::string& path, int64_t n_ctx = 512) {
        RunSettings rs;
        rs.n_ctx = n_ctx;
        rs.n_threads = 2;
        model = Model::load(path, be, rs);
        tok = std::make_unique<Tokenizer>(Tokenizer::from_gguf(model->file()));
    }
    GenerateRequest chat(const std::string& user) const {
        ChatPromptOptions opt;
        const ChatPrompt p = render_model_prompt(*tok, chat_format_of(model->file(), *tok),
                                                 {ChatMessage("user", user)}, opt);
        GenerateRequest req;
        req.prompt_text = p.text;
        req.prompt = encode_prompt(*tok, p.text);
        req.starts_in_reasoning = prompt_opens_reasoning(p.text);
        req.prompt_logprobs = true;
        return req;
    }
};

std::vector<int32_t> ids_of(const Trace& t) {
    std::vector<int32_t> out;
    for (const TokenRecord& r : t.tokens)
        if (r.phase != Phase::Prompt) out.push_back(r.id);
    return out;
}

const TokenRecord& gen_at(const Trace& t, int i) {
    return t.tokens[static_cast<size_t>(t.n_prompt + i)];
}

// Seeded sampling: the original token put back at position 9 continues exactly as the original
// did (the random stream is where it was), after running only 2 tokens: the last kept one and
// the new one.
TEST(Branch, ThePutBackOriginalTokenContinuesAsTheOriginalWithTheCacheReused) {
    Loaded m(test::fixture("models/tiny_qwen3moe.gguf"), 128);
    GenerateRequest req;
    req.prompt = m.tok->encode("hello there, how are you", true, false);
    req.max_tokens = 30;
    req.sampling.temperature = 0.9f;
    req.sampling.seed = 1234;
    req.stop_at_eog = false;
    req.prompt_logprobs = true;
    Generator gen(*m.model, *m.tok);
    const Trace parent = gen.generate(req);
    ASSERT_EQ(parent.n_gen, 30);
    const int at = 9;
    const GenerateRequest b =
        branch_request(parent, at, gen_at(parent, at).id, parent.n_gen - at - 1, *m.tok);
    std::vector<int32_t> streamed;
    const Trace same = gen.generate(b, [&](const TokenRecord* r, const std::string&) {
        if (r) streamed.push_back(r->id);
        return true;
    });
    EXPECT_EQ(same.n_cached, parent.n_prompt + at - 1);
    EXPECT_EQ(ids_of(same), ids_of(parent));
    EXPECT_EQ(streamed, ids_of(parent));  // the kept tokens are streamed first
    const TokenDiff d = compare_generated(parent, same);
    EXPECT_TRUE(d.identical);
    EXPECT_LT(d.max_logprob_diff, 1e-3);
    // Kept tokens keep their records (routing included) and are not forced; the branch token is.
    for (int i = 0; i < at; ++i) {
        EXPECT_FALSE(gen_at(same, i).forced) << i;
        EXPECT_EQ(gen_at(same, i).routing.experts, gen_at(parent, i).routing.experts) << i;
    }
    EXPECT_TRUE(gen_at(same, at).forced);
    ASSERT_EQ(same.interventions.size(), 1u);
    EXPECT_EQ(same.interventions[0].kind, "branch");
    EXPECT_EQ(same.interventions[0].at, at);
    EXPECT_EQ(same.interventions[0].replaced, gen_at(parent, at).id);
    // And from a generator whose cache holds nothing of it: the same tokens, all run again.
    Generator fresh(*m.model, *m.tok);
    const Trace again = fresh.generate(b);
    EXPECT_EQ(again.n_cached, 0);
    EXPECT_EQ(ids_of(again), ids_of(parent));
}

// Another token at position 6 (greedy): its record has the probability the model gave it there
// (the parent's alternatives say what that was), and the continuation is what a fresh run of
// the same tokens gives.
TEST(Branch, AnotherTokenIsScoredAndContinuesLikeAFreshRun) {
    Loaded m(test::fixture("models/tiny_qwen3moe.gguf"), 128);
    GenerateRequest req;
    req.prompt = m.tok->encode("the cat sat on", true, false);
    req.max_tokens = 20;
    req.sampling.temperature = 0;
    req.stop_at_eog = false;
    req.prompt_logprobs = true;
    req.top_n = 5;
    Generator gen(*m.model, *m.tok);
    const Trace parent = gen.generate(req);
    const int at = 6;
    const Alternative alt = gen_at(parent, at).top.at(2);  // the third most likely
    ASSERT_NE(alt.id, gen_at(parent, at).id);
    const GenerateRequest b = branch_request(parent, at, alt.id, 8, *m.tok);
    const Trace branch = gen.generate(b);
    EXPECT_EQ(branch.n_cached, parent.n_prompt + at - 1);
    ASSERT_EQ(branch.n_gen, at + 1 + 8);
    EXPECT_EQ(gen_at(branch, at).id, alt.id);
    EXPECT_NEAR(gen_at(branch, at).logprob, alt.logprob, 1e-4);
    EXPECT_NEAR(gen_at(branch, at).entropy, gen_at(parent, at).entropy, 1e-4);
    for (int i = 0; i < at; ++i) EXPECT_EQ(gen_at(branch, i).id, gen_at(parent, i).id);
    // The same request on a fresh generator (everything run again, in one prompt pass).
    Generator fresh(*m.model, *m.tok);
    const Trace ref = fresh.generate(b);
    EXPECT_EQ(ids_of(branch), ids_of(ref));
    EXPECT_LT(compare_generated(ref, branch).max_logprob_diff, 1e-3);
    // A branch of the branch, at the end of it: the whole reply is kept.
    const GenerateRequest bb = branch_request(branch, branch.n_gen, alt.id, 2, *m.tok);
    const Trace longer = gen.generate(bb);
    EXPECT_EQ(longer.n_cached, branch.n_prompt + branch.n_gen - 1);
    EXPECT_EQ(longer.n_gen, branch.n_gen + 3);
    ASSERT_EQ(longer.interventions.size(), 2u);
    EXPECT_EQ(longer.interventions[1].replaced, -1);
}

TEST(Branch, BadRequestsAreRefused) {
    Loaded m(test::fixture("models/tiny_qwen3moe.gguf"), 64);
    GenerateRequest req;
    req.prompt = m.tok->encode("hi", true, false);
    req.max_tokens = 4;
    req.sampling.temperature = 0;
    req.stop_at_eog = false;
    Generator gen(*m.model, *m.tok);
    const Trace parent = gen.generate(req);
    auto error = [&](auto f) {
        try {
            f();
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_NE(error([&] { branch_request(parent, 5, 1, 1, *m.tok); }).find("outside the reply's 4"),
              std::string::npos);
    EXPECT_NE(error([&] { branch_request(parent, -1, 1, 1, *m.tok); }).find("branch position"),
              std::string::npos);
    EXPECT_NE(error([&] { branch_request(parent, 1, 1 << 30, 1, *m.tok); }).find("vocabulary"),
              std::string::npos);
    // Known records that are not the tokens run are refused by the generator.
    GenerateRequest b = branch_request(parent, 2, 1, 1, *m.tok);
    b.known[1].id += 1;
    EXPECT_NE(error([&] { gen.generate(b); }).find("known record 1"), std::string::npos);
    // A trace of another vocabulary.
    Trace other = parent;
    other.tokens[0].id = 1 << 30;
    EXPECT_NE(error([&] { reproduce_request(other, *m.tok); }).find("another model"),
              std::string::npos);
}

// The demo reasoning model with a thinking budget: after exactly N reasoning tokens the
// end-of-thinking marker is put in (forced) and an answer follows.
TEST(Thinking, BudgetClosesTheReasoningAfterNTokens) {
    const std::string path = GB_RESOURCES_DIR "/models/glassbox-demo-moe.gguf";
    Loaded m(path, 1024);
    GenerateRequest req = m.chat("48213+9077");
    req.max_tokens = 400;
    req.sampling.temperature = 0;
    Generator gen(*m.model, *m.tok);
    const Trace free_run = gen.generate(req);
    int free_think = 0;
    for (const TokenRecord& r : free_run.tokens) free_think += r.phase == Phase::Think;
    ASSERT_GT(free_think, 40) << "the demo model should reason at length";
    req.think_budget = 20;
    const Trace capped = gen.generate(req);
    const std::vector<int32_t> marker = gen.close_thinking_tokens();
    ASSERT_FALSE(marker.empty());
    int n_think = 0, first_forced = -1;
    for (int i = 0; i < capped.n_gen; ++i) {
        const TokenRecord& r = gen_at(capped, i);
        if (r.forced && first_forced < 0) first_forced = i;
        if (first_forced < 0) n_think += r.phase == Phase::Think;
    }
    EXPECT_EQ(n_think, 20);
    ASSERT_GE(first_forced, 0);
    for (size_t j = 0; j < marker.size(); ++j) {
        EXPECT_EQ(gen_at(capped, first_forced + static_cast<int>(j)).id, marker[j]);
        EXPECT_TRUE(gen_at(capped, first_forced + static_cast<int>(j)).forced);
        EXPECT_FALSE(std::isnan(gen_at(capped, first_forced + static_cast<int>(j)).logprob));
    }
    EXPECT_TRUE(capped.reasoning_complete);
    EXPECT_FALSE(capped.answer_text.empty());
    ASSERT_EQ(capped.interventions.size(), 1u);
    EXPECT_EQ(capped.interventions[0].kind, "think-budget");
    EXPECT_EQ(capped.interventions[0].at, first_forced);
    EXPECT_EQ(capped.interventions[0].value, 20);
    // The first 20 reasoning tokens are the free run's.
    for (int i = 0; i < first_forced; ++i) EXPECT_EQ(gen_at(capped, i).id, gen_at(free_run, i).id);
    // Reproduce redoes the budget: the same tokens.
    Generator other(*m.model, *m.tok);
    const Trace again = other.generate(reproduce_request(capped, *m.tok));
    EXPECT_TRUE(compare_generated(capped, again).identical);
    EXPECT_EQ(again.interventions, capped.interventions);
}

// "Stop thinking now", raised from the stream after 15 tokens: the reasoning closes at the next
// token; reproduce closes it at the recorded place.
TEST(Thinking, StopThinkingFlagAndItsReproduction) {
    const std::string path = GB_RESOURCES_DIR "/models/glassbox-demo-moe.gguf";
    Loaded m(path, 1024);
    GenerateRequest req = m.chat("742*38");
    req.max_tokens = 300;
    req.sampling.temperature = 0.7f;
    req.sampling.seed = 99;
    std::atomic<bool> stop{false};
    req.stop_thinking = &stop;
    Generator gen(*m.model, *m.tok);
    int seen = 0;
    const Trace t = gen.generate(req, [&](const TokenRecord* r, const std::string&) {
        if (r && ++seen == 15) stop = true;
        return true;
    });
    ASSERT_EQ(t.interventions.size(), 1u);
    EXPECT_EQ(t.interventions[0].kind, "stop-thinking");
    EXPECT_EQ(t.interventions[0].at, 15);
    EXPECT_TRUE(gen_at(t, 15).forced);
    EXPECT_TRUE(t.reasoning_complete);
    const Trace again = gen.generate(reproduce_request(t, *m.tok));
    const TokenDiff d = compare_generated(t, again);
    EXPECT_TRUE(d.identical) << "first difference at " << d.first_difference;
}

// Reproduce, greedy and seeded, and a reply that is not reproduced is located.
TEST(Reproduce, SameTokensAndTheFirstDifferenceOtherwise) {
    Loaded m(test::fixture("models/tiny_qwen3moe.gguf"), 128);
    GenerateRequest req;
    req.prompt = m.tok->encode("one two three", true, false);
    req.max_tokens = 24;
    req.sampling.temperature = 1.0f;
    req.sampling.seed = 7;
    req.stop_at_eog = false;
    Generator gen(*m.model, *m.tok);
    const Trace t = gen.generate(req);
    const GenerateRequest r = reproduce_request(t, *m.tok);
    EXPECT_EQ(r.prompt, req.prompt);
    EXPECT_EQ(r.sampling.seed, 7u);
    EXPECT_FALSE(r.stop_at_eog);
    EXPECT_TRUE(compare_generated(t, gen.generate(r)).identical);
    // Another seed: the difference is found and located.
    GenerateRequest other = r;
    other.sampling.seed = 8;
    const Trace o = gen.generate(other);
    const TokenDiff d = compare_generated(t, o);
    ASSERT_NE(ids_of(o), ids_of(t));  // 24 tokens at temperature 1 of a random tiny model
    EXPECT_FALSE(d.identical);
    ASSERT_GE(d.first_difference, 0);
    EXPECT_EQ(d.expected, gen_at(t, d.first_difference).id);
    EXPECT_EQ(d.got, gen_at(o, d.first_difference).id);
    for (int i = 0; i < d.first_difference; ++i) EXPECT_EQ(gen_at(t, i).id, gen_at(o, i).id);
    // A shorter reply differs where it ends.
    Trace cut = t;
    cut.tokens.pop_back();
    --cut.n_gen;
    const TokenDiff e = compare_generated(t, cut);
    EXPECT_FALSE(e.identical);
    EXPECT_EQ(e.first_difference, t.n_gen - 1);
    EXPECT_EQ(e.got, -1);
}

TEST(Resample, FinalAnswersAndTheirCounts) {
    EXPECT_EQ(final_answer("The answer is 28196."), "28196");
    EXPECT_EQ(final_answer("So 48213+9077=57290.\n\nThe answer is 57,290"), "57290");
    EXPECT_EQ(final_answer("It is -42, I think"), "-42");
    EXPECT_EQ(final_answer("  no number here \n"), "no number here");
    EXPECT_EQ(final_answer(""), "");
    EXPECT_EQ(final_answer("1, 2 and 3"), "3");  // ", " is a list, not a separator
    const auto c = count_answers({"5", "7", "5", "", "7", "5"});
    ASSERT_EQ(c.size(), 3u);
    EXPECT_EQ(c[0].answer, "5");
    EXPECT_EQ(c[0].count, 3);
    EXPECT_DOUBLE_EQ(c[0].share, 0.5);
    EXPECT_EQ(c[1].answer, "7");  // 2, before "" with 1
    EXPECT_EQ(c[2].answer, "");
    EXPECT_TRUE(count_answers({}).empty());
}

// Rollouts from a position keep the reply's tokens before it (from the cache), sample afresh
// from there with their own seeds, record the resampling, and reproduce.
TEST(Resample, RolloutsKeepThePrefixAndDifferAfterIt) {
    Loaded m(test::fixture("models/tiny_qwen3moe.gguf"), 128);
    GenerateRequest req;
    req.prompt = m.tok->encode("a b c d", true, false);
    req.max_tokens = 24;
    req.sampling.temperature = 0;  // greedy: rollouts then sample at 0.8
    req.stop_at_eog = false;
    Generator gen(*m.model, *m.tok);
    const Trace parent = gen.generate(req);
    const int at = 8;
    EXPECT_NEAR(resample_estimate_ms(parent, at, 4, 100),
                4 * (parent.n_gen - at) * parent.decode_ms / parent.n_gen, 1e-9);
    std::vector<std::vector<int32_t>> tails;
    for (int r = 0; r < 4; ++r) {
        const GenerateRequest rq = resample_request(parent, at, r, 100 + r, 16, -1, *m.tok);
        EXPECT_FLOAT_EQ(rq.sampling.temperature, 0.8f);
        const Trace t = gen.generate(rq);
        EXPECT_EQ(t.n_gen, at + 16);
        EXPECT_GE(t.n_cached, parent.n_prompt + at - 1);
        for (int i = 0; i < at; ++i) EXPECT_EQ(gen_at(t, i).id, gen_at(parent, i).id);
        for (int i = 0; i < at; ++i) EXPECT_FALSE(gen_at(t, i).forced);
        ASSERT_EQ(t.interventions.size(), 1u);
        EXPECT_EQ(t.interventions[0].kind, "resample");
        EXPECT_EQ(t.interventions[0].value, r);
        std::vector<int32_t> tail;
        for (int i = at; i < t.n_gen; ++i) tail.push_back(gen_at(t, i).id);
        tails.push_back(tail);
        // Each rollout reproduces.
        Generator other(*m.model, *m.tok);
        EXPECT_TRUE(compare_generated(t, other.generate(reproduce_request(t, *m.tok))).identical)
            << "rollout " << r;
    }
    // Different seeds: not all rollouts alike (the tiny random model is far from confident).
    bool differ = false;
    for (const auto& t : tails) differ = differ || t != tails[0];
    EXPECT_TRUE(differ);
}

// resample_at runs exactly the rollouts resample_request describes (checked against them run one
// by one on another generator), counts their answers, stops early when told, and its JSON form
// reads back to the same result.
TEST(Resample, AWholeResamplingCountsTheRolloutsAndRoundTripsThroughJson) {
    Loaded m(test::fixture("models/tiny_qwen3moe.gguf"), 128);
    GenerateRequest req;
    req.prompt = m.tok->encode("a b c d", true, false);
    req.max_tokens = 20;
    req.sampling.temperature = 0;
    req.stop_at_eog = false;
    Generator gen(*m.model, *m.tok);
    const Trace parent = gen.generate(req);
    ResampleOptions opt;
    opt.k = 3;
    opt.max_new = 6;
    opt.first_seed = 40;
    opt.temperature = 1.2f;
    std::vector<int> seen;
    const ResampleResult r =
        resample_at(gen, parent, 5, opt, *m.tok, [&](int done, const Trace& t) {
            seen.push_back(done);
            EXPECT_EQ(t.n_gen, 5 + 6);
            return true;
        });
    EXPECT_EQ(seen, (std::vector<int>{1, 2, 3}));
    ASSERT_EQ(r.rollouts.size(), 3u);
    EXPECT_EQ(r.at, 5);
    EXPECT_EQ(r.token, gen_at(parent, 5).text);
    EXPECT_FLOAT_EQ(r.temperature, 1.2f);
    EXPECT_EQ(r.original_answer, final_answer(parent.answer_text));
    std::vector<std::string> answers;
    Generator other(*m.model, *m.tok);
    for (int i = 0; i < 3; ++i) {
        const Trace t = other.generate(resample_request(parent, 5, i, 40 + i, 6, 1.2f, *m.tok));
        EXPECT_EQ(r.rollouts[static_cast<size_t>(i)].seed, static_cast<uint64_t>(40 + i));
        EXPECT_EQ(r.rollouts[static_cast<size_t>(i)].answer, final_answer(t.answer_text));
        EXPECT_EQ(r.rollouts[static_cast<size_t>(i)].tokens, 6);
        answers.push_back(final_answer(t.answer_text));
    }
    EXPECT_EQ(r.answers.size(), count_answers(answers).size());
    double same = 0;
    for (const std::string& a : answers) same += a == r.original_answer ? 1.0 / 3 : 0;
    EXPECT_NEAR(r.share, same, 1e-12);
    // The tiny model's answers hold bytes that are not UTF-8, which JSON keeps as U+FFFD: the
    // text reads back once replaced, everything else exactly.
    const ResampleResult back = resampling_from_json(resampling_json(r));
    EXPECT_EQ(resampling_from_json(resampling_json(back)), back);
    ResampleResult texts_as_read = r;
    texts_as_read.original_answer = back.original_answer;
    for (size_t i = 0; i < r.answers.size(); ++i)
        texts_as_read.answers[i].answer = back.answers[i].answer;
    for (size_t i = 0; i < r.rollouts.size(); ++i)
        texts_as_read.rollouts[i].answer = back.rollouts[i].answer;
    EXPECT_EQ(back, texts_as_read);

    // Stopped after two rollouts by the callback, or before the first by the cancel flag.
    const ResampleResult two =
        resample_at(gen, parent, 5, opt, *m.tok, [](int done, const Trace&) { return done < 2; });
    EXPECT_EQ(two.rollouts.size(), 2u);
    EXPECT_EQ(two.k, 3);
    std::atomic<bool> cancel{true};
    EXPECT_TRUE(resample_at(gen, parent, 5, opt, *m.tok, {}, &cancel).rollouts.empty());
    opt.k = 0;
    EXPECT_THROW(resample_at(gen, parent, 5, opt, *m.tok), Error);
}

// Rollouts decoded together (Generator::generate_batch) are the rollouts decoded one by one,
// each by a fresh generator of its own: the same tokens, probabilities and routing. On quantised
// weights this needs the batched products to be row-invariant (Backend::set_row_invariant): with
// the multi-row tiles of a prompt, SmolLM2's rollouts went elsewhere after a few tokens.
void expect_batched_rollouts_alike(const std::string& path, const std::string& chat, int max_gen,
                                   int back, int each) {
    Loaded m(path, 512);
    GenerateRequest req = chat.empty() ? GenerateRequest{} : m.chat(chat);
    if (chat.empty()) req.prompt = m.tok->encode("a b c d", true, false);
    req.max_tokens = max_gen;
    req.sampling.temperature = 0;
    req.stop_at_eog = !chat.empty();
    Generator gen(*m.model, *m.tok);
    const Trace parent = gen.generate(req);
    const int at = std::max(1, parent.n_gen - back);
    std::vector<GenerateRequest> reqs;
    for (int r = 0; r < 5; ++r)
        reqs.push_back(resample_request(parent, at, r, 70 + r, each + 3 * r, 1.3f, *m.tok));
    // A fresh generator, as each one alone is: keys and values made by a prompt's multi-row
    // products are not bit for bit those made one token at a time (the reply's own, which the
    // generator that made it still holds), so both sides start from the same cache state.
    Generator batch_gen(*m.model, *m.tok);
    const std::vector<Trace> together = batch_gen.generate_batch(reqs);
    ASSERT_EQ(together.size(), reqs.size());
    bool some_differ = false;
    for (size_t r = 0; r < reqs.size(); ++r) {
        Generator alone_gen(*m.model, *m.tok);
        const Trace alone = alone_gen.generate(reqs[r]);
        const Trace& t = together[r];
        ASSERT_EQ(t.n_gen, alone.n_gen) << path << " rollout " << r;
        EXPECT_EQ(t.stop_reason, alone.stop_reason);
        EXPECT_EQ(t.answer_text, alone.answer_text) << path << " rollout " << r;
        EXPECT_EQ(t.interventions.size(), alone.interventions.size());
        for (size_t i = 0; i < t.tokens.size(); ++i) {
            ASSERT_EQ(t.tokens[i].id, alone.tokens[i].id)
                << path << " rollout " << r << " token " << i;
            if (std::isnan(alone.tokens[i].logprob))  // a prompt token: unscored
                EXPECT_TRUE(std::isnan(t.tokens[i].logprob));
            else
                EXPECT_NEAR(t.tokens[i].logprob, alone.tokens[i].logprob, 1e-4)
                    << "rollout " << r << " token " << i << " of " << t.tokens.size()
                    << " (generated from " << t.n_prompt + at << ")";
            EXPECT_EQ(t.tokens[i].routing.experts, alone.tokens[i].routing.experts);
            EXPECT_EQ(t.tokens[i].phase, alone.tokens[i].phase);
        }
        some_differ =
            some_differ || t.answer_text != together[0].answer_text || t.n_gen != together[0].n_gen;
    }
    EXPECT_TRUE(some_differ) << "the rollouts were all alike: the test shows nothing";
    // Requests that do not share their start are refused.
    std::vector<GenerateRequest> mixed = {reqs[0],
                                          resample_request(parent, at - 1, 0, 1, 5, 1.0f, *m.tok)};
    EXPECT_THROW(gen.generate_batch(mixed), Error);
}

TEST(Resample, BatchedRolloutsAreTheRolloutsOneByOne) {
    expect_batched_rollouts_alike(test::fixture("models/tiny_qwen3moe.gguf"), "", 30, 20, 12);
    expect_batched_rollouts_alike(GB_RESOURCES_DIR "/models/glassbox-demo-moe.gguf", "987*89", 300,
                                  60, 80);
}

TEST(Resample, BatchedRolloutsAreTheRolloutsOneByOneOnSmolLM2) {
    GB_REQUIRE_MODEL(path, "SmolLM2-135M-Instruct.Q4_1.gguf");
    expect_batched_rollouts_alike(path, "What is 17 times 23?", 60, 50, 120);
}

TEST(Resample, BadStoredResultsAreRefusedWithTheField) {
    auto message = [](const std::string& text) {
        try {
            resampling_from_json(text);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    EXPECT_NE(message("not json").find("not valid"), std::string::npos);
    EXPECT_NE(message(R"({"at":3})").find("token"), std::string::npos);
    ResampleResult r;
    r.k = 2;
    std::string ok = resampling_json(r);
    EXPECT_EQ(message(ok), "accepted");
    std::string bad = ok;
    bad.replace(bad.find("\"k\":2"), 5, "\"k\":0");
    EXPECT_NE(message(bad).find("out of range"), std::string::npos);
}

// Step mode: the chooser sees each token's alternatives and the sampler's pick; what it picks
// instead is used, recorded as forced with the model's probability, and reproduced.
TEST(Manual, PickedTokensAreUsedRecordedAndReproduced) {
    Loaded m(test::fixture("models/tiny_qwen3moe.gguf"), 128);
    GenerateRequest req;
    req.prompt = m.tok->encode("step by step", true, false);
    req.max_tokens = 12;
    req.sampling.temperature = 0.9f;
    req.sampling.seed = 3;
    req.stop_at_eog = false;
    req.top_n = 4;
    std::vector<std::vector<Alternative>> offered;
    std::vector<int32_t> picks;
    req.choose = [&](int position, const std::vector<Alternative>& top, int32_t sampled) {
        EXPECT_EQ(position, static_cast<int>(offered.size()));
        offered.push_back(top);
        // Positions 3 and 7: the second most likely (or the first, if that was sampled).
        int32_t id = sampled;
        if (position == 3 || position == 7) id = top[0].id == sampled ? top[1].id : top[0].id;
        picks.push_back(id);
        return id;
    };
    Generator gen(*m.model, *m.tok);
    const Trace t = gen.generate(req);
    ASSERT_EQ(t.n_gen, 12);
    ASSERT_EQ(offered.size(), 12u);
    for (int i = 0; i < 12; ++i) {
        const TokenRecord& r = gen_at(t, i);
        EXPECT_EQ(r.id, picks[static_cast<size_t>(i)]) << i;
        EXPECT_EQ(r.forced, i == 3 || i == 7) << i;
        // What was offered is what the trace records for the token.
        ASSERT_EQ(r.top.size(), offered[static_cast<size_t>(i)].size());
        for (size_t j = 0; j < r.top.size(); ++j) {
            EXPECT_EQ(r.top[j].id, offered[static_cast<size_t>(i)][j].id);
            EXPECT_FLOAT_EQ(r.top[j].logprob, offered[static_cast<size_t>(i)][j].logprob);
        }
        if (r.forced)
            for (const Alternative& a : r.top)
                if (a.id == r.id) EXPECT_NEAR(r.logprob, a.logprob, 1e-6);
    }
    ASSERT_EQ(t.interventions.size(), 1u);
    EXPECT_EQ(t.interventions[0].kind, "manual");
    const Trace again = gen.generate(reproduce_request(t, *m.tok));
    EXPECT_TRUE(compare_generated(t, again).identical);
    // A pick outside the vocabulary ends the reply with a clear error.
    GenerateRequest bad = req;
    bad.choose = [](int, const std::vector<Alternative>&, int32_t) { return 1 << 30; };
    EXPECT_THROW(gen.generate(bad), Error);
}

// An edited thought on the demo reasoning model: the reply starts inside its reasoning with the
// edit (forced), the model thinks on from there and answers; the prompt's cache is reused; the
// reply reproduces. A slip planted in the edit (5936 -> 6936) carries into the answer.
TEST(EditThought, TheModelThinksOnFromTheEdit) {
    const std::string path = GB_RESOURCES_DIR "/models/glassbox-demo-moe.gguf";
    Loaded m(path, 1024);
    GenerateRequest req = m.chat("742*38");
    req.max_tokens = 400;
    req.sampling.temperature = 0;
    Generator gen(*m.model, *m.tok);
    const Trace parent = gen.generate(req);
    ASSERT_EQ(final_answer(parent.answer_text), "28196");
    const std::string edit =
        "742*38: multiply 742 by each digit of 38, then add.\n742*8:\n"
        "units of 742: 2*8=16, carry 1 \u2192 6\n"
        "tens of 74: 4*8=32, +1=33, carry 3 \u2192 36\n"
        "hundreds of 7: 7*8=56, +3=59 \u2192 6936\n";
    const GenerateRequest e = edit_thought_request(parent, edit, 400, *m.tok);
    const Trace t = gen.generate(e);
    EXPECT_EQ(t.n_cached, parent.n_prompt - 1);
    ASSERT_EQ(t.interventions.size(), 1u);
    EXPECT_EQ(t.interventions[0].kind, "edit-thought");
    const int n_edit = t.interventions[0].at;
    ASSERT_EQ(n_edit, static_cast<int>(e.reply_start.size()));
    for (int i = 0; i < n_edit; ++i) {
        EXPECT_TRUE(gen_at(t, i).forced) << i;
        EXPECT_EQ(gen_at(t, i).phase, Phase::Think) << i;
    }
    EXPECT_FALSE(gen_at(t, n_edit).forced);
    // The reasoning is the edit and what the model thought on.
    EXPECT_EQ(t.reasoning_text.rfind(edit.substr(0, edit.size() - 1), 0), 0u) << t.reasoning_text;
    EXPECT_GT(t.reasoning_text.size(), edit.size());
    EXPECT_TRUE(t.reasoning_complete);
    const std::string answer = final_answer(t.answer_text);
    EXPECT_FALSE(answer.empty());
    std::printf("edited thought (5936 -> 6936): answer %s (unedited: %s)\n", answer.c_str(),
                final_answer(parent.answer_text).c_str());
    // Reproduce redoes the edit.
    Generator other(*m.model, *m.tok);
    EXPECT_TRUE(compare_generated(t, other.generate(reproduce_request(t, *m.tok))).identical);
    // An empty edit on a prompt that opened the reasoning is refused.
    if (prompt_opens_reasoning(parent.prompt_text))
        EXPECT_THROW(edit_thought_request(parent, "", 10, *m.tok), Error);
}

// Steering the experts of a real MoE model (its routing is recorded, so the effect is checked
// token by token): the most used expert switched off everywhere is never routed to, prompt
// included; an expert forced on in one layer is every token's first choice there; the trace
// records the steering and the reply reproduces; bad specs name the problem.
TEST(Steering, ExpertsOffAndOnInTheRealRouter) {
    Loaded m(test::fixture("models/tiny_qwen3moe.gguf"), 128);
    const ModelConfig& c = m.model->config();
    GenerateRequest req;
    req.prompt = m.tok->encode("route these tokens somewhere", true, false);
    req.max_tokens = 16;
    req.sampling.temperature = 0;
    req.stop_at_eog = false;
    Generator gen(*m.model, *m.tok);
    const Trace plain = gen.generate(req);
    std::vector<int> uses(static_cast<size_t>(c.n_expert), 0);
    for (const TokenRecord& r : plain.tokens)
        for (uint16_t e : r.routing.experts) ++uses[e];
    const int busiest = static_cast<int>(std::max_element(uses.begin(), uses.end()) - uses.begin());
    ASSERT_GT(uses[static_cast<size_t>(busiest)], 0);

    req.steering = parse_expert_steering("*:" + std::to_string(busiest), "", c).describe();
    const Trace off = gen.generate(req);
    for (const TokenRecord& r : off.tokens)
        for (uint16_t e : r.routing.experts) ASSERT_NE(e, busiest);
    ASSERT_EQ(off.interventions.size(), 1u);
    EXPECT_EQ(off.interventions[0].kind, "steer");
    EXPECT_EQ(off.interventions[0].spec, "disable *:" + std::to_string(busiest));
    EXPECT_TRUE(compare_generated(off, gen.generate(reproduce_request(off, *m.tok))).identical);

    // Forced on in the first MoE layer: first choice there, for every token.
    int64_t first_moe = 0;
    while (!c.is_moe_layer(first_moe)) ++first_moe;
    const int rare = static_cast<int>(std::min_element(uses.begin(), uses.end()) - uses.begin());
    req.steering =
        parse_expert_steering("", std::to_string(first_moe) + ":" + std::to_string(rare), c)
            .describe();
    const Trace on = gen.generate(req);
    for (const TokenRecord& r : on.tokens) {
        ASSERT_FALSE(r.routing.empty());
        EXPECT_EQ(r.routing.experts_of(0)[0], rare);
        EXPECT_EQ(r.routing.layers[0], first_moe);
    }
    // Back to plain: the same tokens as before steering (nothing lingers).
    req.steering.clear();
    EXPECT_TRUE(compare_generated(plain, gen.generate(req)).identical);

    auto error = [&](const std::string& d, const std::string& f) {
        try {
            parse_expert_steering(d, f, c);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_NE(error("99:1", "").find("does not exist"), std::string::npos);
    EXPECT_NE(error("*:999", "").find("expert 999 does not exist"), std::string::npos);
    EXPECT_NE(error("*:1", "*:1").find("both switched off and forced on"), std::string::npos);
    EXPECT_NE(error("*1", "").find("LAYER:EXPERT"), std::string::npos);
    EXPECT_NE(error("x:1", "").find("not a number"), std::string::npos);
    std::string many;
    for (int e = 0; e <= c.n_expert_used; ++e)
        many += (many.empty() ? "" : ",") + std::to_string(e);
    EXPECT_NE(error("", "*:" + many).find("forced on"), std::string::npos);
    std::string most;
    for (int e = 0; e < c.n_expert; ++e) most += (most.empty() ? "" : ",") + std::to_string(e);
    EXPECT_NE(error("*:" + most, "").find("leave fewer"), std::string::npos);
    // A dense model has nothing to steer.
    Loaded dense(test::fixture("models/tiny_llama.gguf"), 64);
    EXPECT_THROW(parse_expert_steering("*:1", "", dense.model->config()), Error);
}

}  // namespace
}  // namespace gb
