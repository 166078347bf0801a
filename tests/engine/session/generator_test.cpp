// The generator on a tiny model whose reference logits come from transformers: greedy tokens,
// prompt-token scoring, stopping, cancellation and input errors.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>

#include "engine/core/error.h"
#include "engine/model/model.h"
#include "engine/session/generator.h"
#include "engine/tokenizer/tokenizer.h"
#include "kernels/cpu/cpu_backend.h"
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
    EXPECT_EQ(t.stop_reason, "max tokens");

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
    Trace t = gen.generate(req, [&](const TokenRecord* r, const std::string&) { return !r || ++seen < 4; });
    EXPECT_EQ(t.n_gen, 4);
    EXPECT_EQ(t.stop_reason, "stopped");

    std::atomic<bool> cancel{false};
    seen = 0;
    t = gen.generate(req, [&](const TokenRecord* r, const std::string&) {
        if (r && ++seen == 2) cancel = true;
        return true;
    }, &cancel);
    EXPECT_EQ(t.n_gen, 2);
    EXPECT_EQ(t.stop_reason, "cancelled");
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
}

}  // namespace
}  // namespace gb
