// The tiny model fixtures (dense llama with llama3 RoPE factors, qwen3moe, deepseek V3 and
// V2-Lite MLA) decoded greedily on the CUDA backend with decode-step graphs on and off: the same
// kernels run in the same order on the same inputs, so logits, tokens and the routing of every
// MoE layer must be identical, bit for bit; with graphs on every decode step after the first
// must run as one graph. Skips without a CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "engine/model/model.h"
#include "engine/session/kv_cache.h"
#include "kernels/error.h"
#include "tests/kernels/cuda/cuda_test_support.h"
#include "tests/test_support.h"

#ifdef GLASSBOX_HAVE_CUDA
#include "kernels/cuda/cuda_backend.h"

namespace gb {
namespace {

struct Decode {
    std::vector<std::vector<float>>
        logits;  // one row per step: the prompt's last, then each step's
    std::vector<int32_t> tokens;
    std::vector<TokenRouting> routing;    // per step (empty for a dense model)
    std::vector<LogitSummary> summaries;  // per step: the trace's top-5 summary
};

// Greedy decode of n_steps tokens after the fixture's prompt on a fresh backend (left in be, so
// its graph counters can be read; the model is gone by then).
Decode greedy(const std::string& path, bool graphs, int64_t n_steps,
              std::unique_ptr<cuda::CudaBackend>& be) {
    const json::Value ref = test::load_json(path.substr(0, path.size() - 5) + ".json");
    const std::vector<int32_t> prompt = test::json_ints(ref.at("prompt_ids"));
    cuda::CudaBackendOptions opt;
    opt.graphs = graphs;
    be = std::make_unique<cuda::CudaBackend>(opt);
    RunSettings rs;
    rs.kv_type = TensorType::F32;  // the references compute in float32
    rs.n_ctx = 64;
    rs.n_batch = 32;
    auto model = Model::load(path, *be, rs);
    model->set_routing_capture(true, true);
    model->set_logit_summary(5);  // as the generator records every token
    const bool moe = model->config().is_moe();
    const int64_t n_vocab = model->config().n_vocab;
    auto cache = model->new_cache();
    Decode d;
    std::vector<float> lg;
    model->forward(prompt, *cache, 1, lg);
    for (int64_t s = 0; s < n_steps; ++s) {
        d.logits.push_back(lg);
        const auto tok = static_cast<int32_t>(std::max_element(lg.begin(), lg.end()) - lg.begin());
        d.tokens.push_back(tok);
        model->forward(std::span<const int32_t>(&tok, 1), *cache, 1, lg);
        EXPECT_EQ(static_cast<int64_t>(lg.size()), n_vocab);
        if (moe) d.routing.push_back(model->last_routing().token(0));
        d.summaries.push_back(model->last_logit_summary());
    }
    d.logits.push_back(lg);
    return d;
}

class CudaGraphModel : public ::testing::TestWithParam<const char*> {};

TEST_P(CudaGraphModel, GreedyDecodeIsIdenticalWithAndWithoutGraphs) {
    GB_REQUIRE_CUDA();
    if (std::getenv("GLASSBOX_CUDA_GRAPHS"))
        GTEST_SKIP() << "GLASSBOX_CUDA_GRAPHS is set: it overrides the graphs option compared here";
    const std::string name = GetParam();
    const std::string path = test::fixture("models/" + name + ".gguf");
    const int64_t n_steps = 16;
    std::unique_ptr<cuda::CudaBackend> on_be, off_be;
    const Decode off = greedy(path, false, n_steps, off_be);
    const Decode on = greedy(path, true, n_steps, on_be);
    ASSERT_EQ(on.logits.size(), off.logits.size());
    for (size_t s = 0; s < on.logits.size(); ++s) {
        ASSERT_EQ(on.logits[s], off.logits[s]) << name << ": logits after step " << s;
    }
    EXPECT_EQ(on.tokens, off.tokens) << name;
    // The logit summary comes back with the step's routing in its one copy when graphs are on.
    ASSERT_EQ(on.summaries.size(), off.summaries.size());
    for (size_t s = 0; s < on.summaries.size(); ++s) {
        EXPECT_EQ(on.summaries[s].rows, 1) << name << ": step " << s;
        EXPECT_EQ(on.summaries[s].stats, off.summaries[s].stats) << name << ": step " << s;
        EXPECT_EQ(on.summaries[s].ids, off.summaries[s].ids) << name << ": step " << s;
        EXPECT_EQ(on.summaries[s].logits, off.summaries[s].logits) << name << ": step " << s;
        // and it describes the logits the step returned
        EXPECT_EQ(on.summaries[s].ids[0],
                  on.tokens.size() > s + 1 ? on.tokens[s + 1] : on.summaries[s].ids[0])
            << name << ": step " << s << ": the summary's best token is not the greedy one";
    }
    ASSERT_EQ(on.routing.size(), off.routing.size());
    for (size_t s = 0; s < on.routing.size(); ++s) {
        EXPECT_EQ(on.routing[s].layers, off.routing[s].layers) << name << ": step " << s;
        EXPECT_EQ(on.routing[s].experts, off.routing[s].experts) << name << ": step " << s;
        EXPECT_EQ(on.routing[s].weights, off.routing[s].weights) << name << ": step " << s;
        EXPECT_EQ(on.routing[s].probs, off.routing[s].probs) << name << ": step " << s;
        EXPECT_FALSE(on.routing[s].experts.empty())
            << name << ": step " << s << " recorded nothing";
    }
    std::printf(
        "%s: %lld graph launches (%lld updates, %lld instantiations), %lld fallbacks over "
        "%lld decode steps\n",
        name.c_str(), static_cast<long long>(on_be->graph_launches()),
        static_cast<long long>(on_be->graph_updates()),
        static_cast<long long>(on_be->graph_instantiations()),
        static_cast<long long>(on_be->graph_fallbacks()), static_cast<long long>(n_steps));
    // The prompt sizes most scratch buffers; the first decode step may still grow one (and fall
    // back), every later step must run as one graph.
    EXPECT_GE(on_be->graph_launches(), n_steps - 1)
        << name << ": decode steps not run as graphs (does the forward call begin_step/end_step?)";
    EXPECT_LE(on_be->graph_fallbacks(), 1) << name;
    EXPECT_EQ(off_be->graph_launches() + off_be->graph_fallbacks(), 0) << name;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CudaGraphModel,
                         ::testing::Values("tiny_llama3_rope", "tiny_qwen2", "tiny_qwen3moe",
                                           "tiny_mixtral", "tiny_deepseek_v3",
                                           "tiny_deepseek_lite"));

}  // namespace
}  // namespace gb

#else  // built without the CUDA backend

TEST(CudaGraphModel, BuiltWithoutCuda) { GTEST_SKIP() << "no CUDA device: built without CUDA"; }

#endif
