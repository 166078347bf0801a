// Precise mode through the real engine on the real SmolLM2 Q4_1 file: the trace records the mode,
// the KV cache follows it (F32 while precise, the configured type after), keys and values made in
// one mode are never reused in the other, and rescoring a reply gives the same tokens with the
// other mode's numbers. (Its accuracy against the exact float64 reference is checked by
// Precise.WithinF32RoundingOfTheExactReference; the kernels' by backend_ops_test.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "engine/model/model.h"
#include "engine/session/chat_prompt.h"
#include "engine/session/generator.h"
#include "engine/session/interventions.h"
#include "engine/tokenizer/tokenizer.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/error.h"
#include "tests/test_support.h"

namespace gb {
namespace {

struct Loaded {
    cpu::CpuBackend be{2};
    std::unique_ptr<Model> model;
    std::unique_ptr<Tokenizer> tok;
    Loaded(const std::string& path, bool precise) {
        RunSettings rs;
        rs.n_ctx = 512;
        rs.n_threads = 2;
        rs.precise = precise;
        model = Model::load(path, be, rs);
        tok = std::make_unique<Tokenizer>(Tokenizer::from_gguf(model->file()));
    }
    GenerateRequest chat(const std::string& user, int max_tokens) const {
        ChatPromptOptions opt;
        const ChatPrompt p = render_model_prompt(*tok, chat_format_of(model->file(), *tok),
                                                 {ChatMessage("user", user)}, opt);
        GenerateRequest req;
        req.prompt_text = p.text;
        req.prompt = encode_prompt(*tok, p.text);
        req.max_tokens = max_tokens;
        req.sampling.temperature = 0;
        req.top_n = 5;
        return req;
    }
};

// The largest |a - b| of the generated tokens' log-probabilities (same tokens required).
double max_logprob_diff(const Trace& a, const Trace& b) {
    EXPECT_EQ(a.tokens.size(), b.tokens.size());
    double worst = 0;
    for (size_t i = static_cast<size_t>(a.n_prompt); i < a.tokens.size() && i < b.tokens.size();
         ++i) {
        EXPECT_EQ(a.tokens[i].id, b.tokens[i].id) << "token " << i;
        worst = std::max(worst, std::fabs(double(a.tokens[i].logprob) - b.tokens[i].logprob));
    }
    return worst;
}

TEST(PreciseMode, TraceCacheAndReuseFollowTheMode) {
    GB_REQUIRE_MODEL(path, "SmolLM2-135M-Instruct.Q4_1.gguf");
    Loaded m(path, /*precise=*/true);
    EXPECT_TRUE(m.model->precise());
    EXPECT_EQ(m.model->settings().cache_type(), TensorType::F32);
    Generator gen(*m.model, *m.tok);
    GenerateRequest req = m.chat("What is 2+2?", 12);
    req.reuse_cache = true;
    const Trace precise = gen.generate(req);
    EXPECT_EQ(precise.precision, "precise");
    EXPECT_EQ(gen.cache_type(), TensorType::F32);

    // Back to fast: the configured F16 cache, and nothing of the precise run's cache reused,
    // although its records are offered (as a branch offers its parent's).
    m.model->set_precise(false);
    GenerateRequest again = req;
    again.known.assign(precise.tokens.begin(), precise.tokens.begin() + precise.n_prompt);
    const Trace fast = gen.generate(again);
    EXPECT_EQ(fast.precision, "fast");
    EXPECT_EQ(gen.cache_type(), TensorType::F16);
    EXPECT_EQ(fast.n_cached, 0);
    // The same mode again reuses the prompt.
    again.known.assign(fast.tokens.begin(), fast.tokens.begin() + fast.n_prompt);
    const Trace fast_again = gen.generate(again);
    EXPECT_GT(fast_again.n_cached, 0);
    // Fast mode's 8-bit activations move the numbers well beyond F32 rounding.
    ASSERT_EQ(fast.tokens.size(), precise.tokens.size());
    double moved = 0;
    for (size_t i = static_cast<size_t>(fast.n_prompt); i < fast.tokens.size(); ++i)
        if (fast.tokens[i].id == precise.tokens[i].id)
            moved = std::max(moved,
                             std::fabs(double(fast.tokens[i].logprob) - precise.tokens[i].logprob));
    EXPECT_GT(moved, 1e-3);
}

TEST(PreciseMode, RescoringGivesTheSameTokensWithTheOtherModesNumbers) {
    GB_REQUIRE_MODEL(path, "SmolLM2-135M-Instruct.Q4_1.gguf");
    Loaded m(path, /*precise=*/false);
    Generator gen(*m.model, *m.tok);
    const Trace fast = gen.generate(m.chat("Name a colour.", 16));
    ASSERT_EQ(fast.precision, "fast");

    m.model->set_precise(true);
    const Trace scored = gen.generate(rescore_request(fast, *m.tok));
    const Trace rescored = rescored_trace(fast, scored);
    EXPECT_EQ(rescored.precision, "precise");
    ASSERT_EQ(rescored.tokens.size(), fast.tokens.size());
    for (size_t i = 0; i < fast.tokens.size(); ++i) {
        EXPECT_EQ(rescored.tokens[i].id, fast.tokens[i].id);
        EXPECT_EQ(rescored.tokens[i].text, fast.tokens[i].text);
        EXPECT_EQ(rescored.tokens[i].phase, fast.tokens[i].phase);
    }
    ASSERT_FALSE(rescored.interventions.empty());
    EXPECT_EQ(rescored.interventions.back().kind, "rescore");
    EXPECT_EQ(generated_precision(rescored), "fast");  // how the tokens were made
    // Reproducing it does not redo a rescoring.
    for (const Intervention& in : reproduce_request(rescored, *m.tok).interventions)
        EXPECT_NE(in.kind, "rescore");

    // A precise reply has the numbers of its own precise rescoring: the prompt path and the
    // decode path of precise mode agree to F32 rounding (attention sums in another order).
    const Trace precise = gen.generate(m.chat("Name a colour.", 16));
    ASSERT_EQ(precise.precision, "precise");
    const Trace precise_again =
        rescored_trace(precise, gen.generate(rescore_request(precise, *m.tok)));
    EXPECT_LT(max_logprob_diff(precise, precise_again), 1e-5);
    // ... and the fast reply's numbers are off by far more.
    EXPECT_GT(max_logprob_diff(fast, rescored), 1e-3);

    // A rescoring of the rescoring keeps one note, of how the tokens were made.
    m.model->set_precise(false);
    const Trace back = rescored_trace(rescored, gen.generate(rescore_request(rescored, *m.tok)));
    EXPECT_EQ(back.precision, "fast");
    EXPECT_EQ(std::count_if(back.interventions.begin(), back.interventions.end(),
                            [](const Intervention& i) { return i.kind == "rescore"; }),
              1);
    EXPECT_EQ(generated_precision(back), "fast");
}

TEST(PreciseMode, RescoringRefusesAnotherReply) {
    GB_REQUIRE_MODEL(path, "SmolLM2-135M-Instruct.Q4_1.gguf");
    Loaded m(path, false);
    Generator gen(*m.model, *m.tok);
    const Trace a = gen.generate(m.chat("Hi", 4));
    Trace b = a;
    b.tokens.back().id = (b.tokens.back().id + 1) % 100;
    EXPECT_THROW(rescored_trace(a, b), Error);
    b = a;
    b.tokens.pop_back();
    EXPECT_THROW(rescored_trace(a, b), Error);
    Trace foreign = a;
    foreign.tokens[1].id = 10'000'000;  // not in this vocabulary
    try {
        rescore_request(foreign, *m.tok);
        FAIL() << "a token outside the vocabulary was accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("vocabulary"), std::string::npos) << e.what();
    }
}

TEST(PreciseMode, ACacheTypeOtherThanF32IsOverriddenNotRefused) {
    RunSettings rs;
    rs.kv_type = TensorType::Q8_0;
    EXPECT_EQ(rs.cache_type(), TensorType::Q8_0);
    rs.precise = true;
    EXPECT_EQ(rs.cache_type(), TensorType::F32);
}

}  // namespace
}  // namespace gb
