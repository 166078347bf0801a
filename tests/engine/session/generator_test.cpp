// The generator on a tiny model whose reference logits come from transformers: greedy tokens,
// prompt-token scoring, stopping, cancellation and input errors.
#include "engine/session/generator.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include "engine/model/model.h"
#include "engine/tokenizer/tokenizer.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/error.h"
#include "tests/test_support.h"

namespace gb {
namespace {

struct Fixture {
    cpu::CpuBackend be{2};
    std::unique_ptr<Model> model;
    std::unique_ptr<Tokenizer> tok;
    json::Value ref;
    Fixture() {
        RunSettings rs;
        rs.kv_type = TensorType::F32;  // the references compute in float32
        rs.n_ctx = 64;
        rs.n_threads = 2;
        model = Model::load(test::fixture("models/tiny_qwen3.gguf"), be, rs);
        tok = std::make_unique<Tokenizer>(Tokenizer::from_gguf(model->file()));
        ref = test::load_json(test::fixture("models/tiny_qwen3.json"));
    }
};

// The fixture's prompt, greedy, EOS not stopping (the reference generated through it).
GenerateRequest greedy_request(const Fixture& f) {
    GenerateRequest req;
    req.prompt = test::json_ints(f.ref.at("prompt_ids"));
    req.max_tokens = 16;
    req.sampling.temperature = 0;
    req.stop_at_eog = false;
    return req;
}

std::vector<int32_t> generated(const Trace& t) {
    std::vector<int32_t> ids;
    for (const auto& r : t.tokens)
        if (r.phase != Phase::Prompt) ids.push_back(r.id);
    return ids;
}

TEST(Generator, GreedyMatchesTransformersAndScoresPromptTokens) {
    Fixture f;
    Generator gen(*f.model, *f.tok);
    GenerateRequest req = greedy_request(f);
    req.prompt_logprobs = true;
    Trace t = gen.generate(req);
    EXPECT_EQ(generated(t), test::json_ints(f.ref.at("generated_ids")));
    EXPECT_EQ(t.n_prompt, static_cast<int>(req.prompt.size()));
    EXPECT_EQ(t.stop_reason, gb::StopReason::MaxTokens);

    // Prompt token i is scored by the reference's logits at position i-1.
    const auto& pl = f.ref.at("prompt_logits").as_array();
    EXPECT_TRUE(std::isnan(t.tokens[0].logprob)) << "the first prompt token has no distribution";
    for (size_t i = 1; i < req.prompt.size(); ++i) {
        const auto& row = pl[i - 1].as_array();
        double mx = -1e300, z = 0;
        for (const auto& x : row) mx = std::max(mx, x.as_number());
        for (const auto& x : row) z += std::exp(x.as_number() - mx);
        const double want = row[req.prompt[i]].as_number() - mx - std::log(z);
        EXPECT_NEAR(t.tokens[i].logprob, want, 1e-3) << "prompt token " << i;
        EXPECT_EQ(t.tokens[i].top.size(), 5u);
    }
}

TEST(Generator, CallbackCanStopAndCancelIsHonoured) {
    Fixture f;
    Generator gen(*f.model, *f.tok);
    GenerateRequest req = greedy_request(f);
    int seen = 0;
    Trace t = gen.generate(
        req, [&](const TokenRecord* r, const std::string&) { return !r || ++seen < 4; });
    EXPECT_EQ(t.n_gen, 4);
    EXPECT_EQ(t.stop_reason, gb::StopReason::Stopped);

    std::atomic<bool> cancel{false};
    seen = 0;
    t = gen.generate(
        req,
        [&](const TokenRecord* r, const std::string&) {
            if (r && ++seen == 2) cancel = true;
            return true;
        },
        &cancel);
    EXPECT_EQ(t.n_gen, 2);
    EXPECT_EQ(t.stop_reason, gb::StopReason::Cancelled);
}

TEST(Generator, CancelBeforeThePromptKeepsThePromptAndGeneratesNothing) {
    Fixture f;
    Generator gen(*f.model, *f.tok);
    GenerateRequest req = greedy_request(f);
    std::atomic<bool> cancel{true};
    Trace t = gen.generate(req, nullptr, &cancel);
    EXPECT_EQ(t.stop_reason, gb::StopReason::Cancelled);
    EXPECT_EQ(t.n_gen, 0);
    ASSERT_EQ(t.tokens.size(), req.prompt.size());
    // The backend's flag is cleared when generate returns: the next reply runs normally.
    cancel = false;
    EXPECT_EQ(generated(gen.generate(req)), test::json_ints(f.ref.at("generated_ids")));
}

// A stop raised while a long prompt is being read lands inside the step (ops stop between row
// blocks, the model after the layer), not after the whole chunk; the state stays usable.
TEST(Generator, CancelInsideAStepOnARealModel) {
    GB_REQUIRE_MODEL(path, "SmolLM2-135M-Instruct.Q4_1.gguf");
    cpu::CpuBackend be(2);
    RunSettings rs;
    rs.kv_type = TensorType::F32;  // the references compute in float32
    rs.n_ctx = 1024;
    rs.n_threads = 2;
    rs.n_batch = 512;
    auto model = Model::load(path, be, rs);
    Tokenizer tok = Tokenizer::from_gguf(model->file());
    Generator gen(*model, tok);
    GenerateRequest req;
    std::string text;
    for (int i = 0; text.size() < 2000; ++i)
        text += "Sentence number " + std::to_string(i) + " is here. ";
    req.prompt = tok.encode(text, false, false);
    req.prompt.resize(500);
    req.max_tokens = 4;
    req.sampling.temperature = 0;
    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();
    const Trace full = gen.generate(req);
    const double full_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();

    std::atomic<bool> cancel{false};
    const auto t1 = Clock::now();
    std::thread stopper([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        cancel = true;
    });
    const Trace cut = gen.generate(req, nullptr, &cancel);
    const double cut_ms = std::chrono::duration<double, std::milli>(Clock::now() - t1).count();
    stopper.join();
    std::printf(
        "500-token prompt: full reply %.0f ms (prefill %.0f ms); stop raised at 20 ms returned at "
        "%.0f ms\n",
        full_ms, full.prefill_ms, cut_ms);
    EXPECT_EQ(cut.stop_reason, gb::StopReason::Cancelled);
    EXPECT_EQ(cut.n_gen, 0);
    EXPECT_EQ(cut.tokens.size(), req.prompt.size());
    EXPECT_LT(cut_ms, full.prefill_ms / 2) << "the stop waited for the whole prompt chunk";
    // Nothing of the abandoned step leaks into the next reply.
    const Trace again = gen.generate(req);
    EXPECT_EQ(generated(again), generated(full));
}

// A vocabulary of another size than the embedding rows was accepted: ids past the rows read
// outside the table, ids past the vocabulary decoded to nothing.
TEST(Generator, VocabularyMustMatchTheEmbeddingRows) {
    Fixture f;
    for (const int64_t delta : {-1, +1}) {
        Vocab v = f.tok->vocab();
        if (delta < 0)
            v.tokens.pop_back(), v.types.pop_back();
        else
            v.tokens.push_back("extra"), v.types.push_back(TokenType::Normal);
        if (!v.scores.empty()) v.scores.resize(v.tokens.size());
        for (int32_t* id : {&v.bos, &v.eos, &v.eot, &v.pad, &v.unk})
            if (*id >= static_cast<int32_t>(v.tokens.size())) *id = -1;
        const Tokenizer other(v);
        try {
            Generator gen(*f.model, other);
            FAIL() << "a vocabulary of " << other.size() << " tokens was accepted";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("token_embd.weight) has " +
                                                 std::to_string(f.model->config().n_vocab)),
                      std::string::npos)
                << e.what();
        }
    }
}

TEST(Generator, BadRequestsAreRefused) {
    Fixture f;
    Generator gen(*f.model, *f.tok);
    GenerateRequest req;
    EXPECT_THROW(gen.generate(req), Error);  // empty prompt
    req.prompt = {1, 2, 999999};
    try {
        gen.generate(req);
        FAIL() << "an out-of-vocabulary id was accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("999999"), std::string::npos) << e.what();
    }
    req.prompt.assign(64, 5);
    try {
        gen.generate(req);
        FAIL() << "a prompt longer than the context was accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("context length"), std::string::npos) << e.what();
    }
    req.prompt = {1, 2};
    req.sampling.top_p = 2.0f;
    EXPECT_THROW(gen.generate(req), Error);
    // Alternatives per token come from settings a history file may hold: a huge count would
    // size the per-step summary buffers by it.
    req.sampling = SamplerSettings{};
    for (int top_n : {-1, 101, 2000000000}) {
        req.top_n = top_n;
        try {
            gen.generate(req);
            FAIL() << "top_n " << top_n << " was accepted";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("0..100"), std::string::npos) << e.what();
        }
    }
}

}  // namespace
}  // namespace gb

namespace gb {
namespace {

// One complete record per step: on a real MoE model every streamed token already carries its
// experts in every MoE layer when the callback sees it, and the stored trace holds the same.
TEST(Generator, EveryStreamedTokenCarriesItsRouting) {
    cpu::CpuBackend be{2};
    RunSettings rs;
    rs.kv_type = TensorType::F32;  // the references compute in float32
    rs.n_ctx = 64;
    rs.n_threads = 2;
    auto model = Model::load(test::fixture("models/tiny_qwen3moe.gguf"), be, rs);
    Tokenizer tok = Tokenizer::from_gguf(model->file());
    GenerateRequest req;
    req.prompt = tok.encode("hello there", true, false);
    req.max_tokens = 12;
    req.sampling.temperature = 0;
    req.stop_at_eog = false;
    Generator gen(*model, tok);
    std::vector<TokenRouting> streamed;
    const Trace t = gen.generate(req, [&](const TokenRecord* rec, const std::string&) {
        if (rec) {
            EXPECT_EQ(rec->routing.n_layers(), static_cast<size_t>(model->config().n_moe_layers()))
                << "token " << streamed.size() << " streamed without its routing";
            streamed.push_back(rec->routing);
        }
        return true;
    });
    ASSERT_EQ(streamed.size(), 12u);
    size_t i = 0;
    for (const TokenRecord& r : t.tokens) {
        if (r.phase == Phase::Prompt) continue;
        EXPECT_EQ(r.routing.experts, streamed[i].experts)
            << "token " << i << " changed after its callback";
        ++i;
    }
}

}  // namespace
}  // namespace gb
