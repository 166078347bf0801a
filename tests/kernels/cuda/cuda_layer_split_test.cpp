// Layers split between the CPU and the GPU (RunSettings::n_cpu_layers) on the tiny models: the
// prompt and 12 greedy decode steps against the CPU backend alone, with the first layer, all
// but one and every layer on the CPU, graphs on (the GPU part of each decode step is one
// graph). fp32 on both sides (decode and short prompts use the matvec path), so logits agree
// within 1e-4 of the logit range and the greedy tokens and experts are the same. Skips without
// a CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "engine/model/model.h"
#include "engine/session/kv_cache.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/kernels/cuda/cuda_test_support.h"
#include "tests/test_support.h"

#ifdef GLASSBOX_HAVE_CUDA
#include "kernels/cuda/cuda_backend.h"

namespace gb {
namespace {

struct GreedyRun {
    std::vector<std::vector<float>> logits;
    std::vector<int32_t> tokens;
    std::vector<std::vector<int32_t>> experts;
};

GreedyRun greedy(Model& m, const std::vector<int32_t>& prompt, int steps) {
    GreedyRun r;
    m.set_routing_capture(true);
    auto cache = m.new_cache();
    std::vector<float> lg;
    m.forward(prompt, *cache, 1, lg);
    for (int s = 0; s < steps; ++s) {
        r.logits.push_back(lg);
        r.experts.push_back(m.last_routing().experts);
        const auto t = static_cast<int32_t>(std::max_element(lg.begin(), lg.end()) - lg.begin());
        r.tokens.push_back(t);
        m.forward(std::span<const int32_t>(&t, 1), *cache, 1, lg);
    }
    return r;
}

class CudaLayerSplit : public ::testing::TestWithParam<const char*> {};

TEST_P(CudaLayerSplit, MatchesTheCpuForEverySplit) {
    GB_REQUIRE_CUDA();
    const std::string name = GetParam();
    const std::string path = test::fixture("models/" + name + ".gguf");
    const std::vector<int32_t> prompt = test::json_ints(
        test::load_json(test::fixture("models/" + name + ".json")).at("prompt_ids"));
    RunSettings rs;
    rs.kv_type = TensorType::F32;  // the references compute in float32
    rs.n_ctx = 64;
    rs.n_threads = 2;
    rs.n_batch = 32;
    cpu::CpuBackend cpu(2);
    auto base_model = Model::load(path, cpu, rs);
    const int64_t n_layer = base_model->config().n_layer;
    const GreedyRun base = greedy(*base_model, prompt, 12);
    for (int64_t k : {int64_t{1}, n_layer - 1, n_layer}) {
        SCOPED_TRACE(name + " with " + std::to_string(k) + " CPU layers");
        cuda::CudaBackend gpu;
        cpu::CpuBackend host(2);
        RunSettings split = rs;
        split.n_cpu_layers = k;
        auto m = Model::load(path, gpu, split, &host);
        const GreedyRun r = greedy(*m, prompt, 12);
        EXPECT_EQ(r.tokens, base.tokens);
        for (size_t s = 0; s < r.logits.size(); ++s) {
            const auto [lo, hi] = std::minmax_element(base.logits[s].begin(), base.logits[s].end());
            test::expect_close(r.logits[s], base.logits[s], 1e-4 * (*hi - *lo),
                               "step " + std::to_string(s));
            EXPECT_EQ(r.experts[s], base.experts[s]) << "step " << s;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CudaLayerSplit,
                         ::testing::Values("tiny_llama3_rope", "tiny_qwen2", "tiny_qwen3moe",
                                           "tiny_deepseek_v3"));

}  // namespace
}  // namespace gb

#else  // built without the CUDA backend

TEST(CudaLayerSplit, BuiltWithoutCuda) { GTEST_SKIP() << "no CUDA device: built without CUDA"; }

#endif
