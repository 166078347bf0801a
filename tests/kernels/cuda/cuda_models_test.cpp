// Every tiny model fixture (llama, llama3 rope, qwen2, qwen2 YaRN, qwen3, qwen3moe, mixtral, olmoe,
// deepseek V3 and V2-Lite MLA) run end to end on the CUDA backend against the CPU backend and
// against the transformers goldens the CPU tests use: the prompt's logits, 16 teacher-forced
// decode steps, the greedy token at every step whose top-2 margin is clear, and for MoE models
// the experts every layer chose for every token. Skips without a CUDA device.
// Tolerances (the fixtures' weights are F32): with the matvec path both backends compute in
// fp32, so logits agree within 1e-4 of the logit range (as the CPU does with transformers); with
// the bf16 GEMM forced for every prompt (gemm_min_rows = 2) activations and weights are rounded
// to bf16 (2^-9 relative) in every projection, so the prompt's logits get 3e-2 of the range.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "engine/model/model.h"
#include "engine/session/kv_cache.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/error.h"
#include "tests/kernels/cuda/cuda_test_support.h"
#include "tests/test_support.h"

#ifdef GLASSBOX_HAVE_CUDA
#include "kernels/cuda/cuda_backend.h"

namespace gb {
namespace {

// |a - b| <= rel * range(b) over one row of logits.
void expect_row(const float* got, const float* want, int64_t n, double rel,
                const std::string& where) {
    const auto [lo, hi] = std::minmax_element(want, want + n);
    const double tol = rel * (*hi - *lo);
    double worst = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; ++i) {
        const double d = std::fabs(static_cast<double>(got[i]) - want[i]);
        if (!(d <= worst)) worst = d, at = i;
    }
    EXPECT_LE(worst, tol) << where << ": logit " << at << " is " << got[at] << ", expected "
                          << want[at];
}

int32_t argmax(const float* v, int64_t n) {
    return static_cast<int32_t>(std::max_element(v, v + n) - v);
}

class CudaTinyModel : public ::testing::TestWithParam<const char*> {};

TEST_P(CudaTinyModel, MatchesTheCpuAndTransformers) {
    GB_REQUIRE_CUDA();
    const std::string name = GetParam();
    const json::Value ref = test::load_json(test::fixture("models/" + name + ".json"));
    const std::string path = test::fixture("models/" + name + ".gguf");
    RunSettings rs;
    rs.kv_type = TensorType::F32;  // the references compute in float32
    rs.n_ctx = 64;
    rs.n_threads = 2;
    rs.n_batch = 32;
    cpu::CpuBackend cpu_be(2);
    auto cpu_model = Model::load(path, cpu_be, rs);
    const bool moe = cpu_model->config().is_moe();
    const int64_t n_vocab = cpu_model->config().n_vocab;
    cpu_model->set_routing_capture(true);
    const std::vector<int32_t> prompt = test::json_ints(ref.at("prompt_ids"));
    const std::vector<int32_t> gen = test::json_ints(ref.at("generated_ids"));
    const auto& margins = ref.at("top2_margin").as_array();
    const int64_t n_prompt = static_cast<int64_t>(prompt.size());
    const int64_t n_steps = std::min<int64_t>(16, static_cast<int64_t>(gen.size()));

    // The CPU run: prompt logits, routing, then teacher-forced steps.
    auto cpu_cache = cpu_model->new_cache();
    std::vector<float> cpu_prompt;
    cpu_model->forward(prompt, *cpu_cache, n_prompt, cpu_prompt);
    std::vector<TokenRouting> cpu_routing;
    for (int64_t t = 0; moe && t < n_prompt; ++t)
        cpu_routing.push_back(cpu_model->last_routing().token(t));
    std::vector<std::vector<float>> cpu_steps;
    for (int64_t s = 0; s < n_steps; ++s) {
        const int32_t tok = s == 0 ? prompt.back() : gen[s - 1];
        if (s == 0) {  // the first generated token comes from the prompt's last position
            cpu_steps.emplace_back(cpu_prompt.end() - n_vocab, cpu_prompt.end());
            continue;
        }
        std::vector<float> lg;
        cpu_model->forward(std::span<const int32_t>(&tok, 1), *cpu_cache, 1, lg);
        cpu_steps.push_back(lg);
        if (moe) cpu_routing.push_back(cpu_model->last_routing().token(0));
    }

    for (const int64_t gemm_min_rows : {int64_t{9}, int64_t{2}}) {
        const bool gemm = gemm_min_rows <= n_prompt;
        SCOPED_TRACE(name + (gemm ? ", bf16 GEMM prompt" : ", matvec prompt"));
        cuda::CudaBackendOptions opt;
        opt.gemm_min_rows = gemm_min_rows;
        cuda::CudaBackend gpu(opt);
        auto model = Model::load(path, gpu, rs);
        model->set_routing_capture(true);
        auto cache = model->new_cache();
        std::vector<float> lg;
        model->forward(prompt, *cache, n_prompt, lg);
        ASSERT_EQ(lg.size(), cpu_prompt.size());
        const double rel = gemm ? 3e-2 : 1e-4;
        const auto& golden = ref.at("prompt_logits").as_array();
        for (int64_t i = 0; i < n_prompt; ++i) {
            const std::string where = "prompt position " + std::to_string(i);
            expect_row(lg.data() + i * n_vocab, cpu_prompt.data() + i * n_vocab, n_vocab, rel,
                       where + " (CPU)");
            const auto& g = golden[i].as_array();
            std::vector<float> gv(g.size());
            for (size_t j = 0; j < g.size(); ++j) gv[j] = static_cast<float>(g[j].as_number());
            expect_row(lg.data() + i * n_vocab, gv.data(), n_vocab, rel + 1e-4,
                       where + " (transformers)");
            if (moe && !gemm) {
                const TokenRouting r = model->last_routing().token(i);
                EXPECT_EQ(r.experts, cpu_routing[i].experts) << where << ": experts";
            }
        }
        if (gemm) continue;  // decode runs the matvec path either way
        for (int64_t s = 0; s < n_steps; ++s) {
            const std::string where = "step " + std::to_string(s);
            std::vector<float> step(lg.end() - n_vocab, lg.end());
            if (s > 0) {
                const int32_t tok = gen[s - 1];
                model->forward(std::span<const int32_t>(&tok, 1), *cache, 1, step);
                if (moe) {
                    EXPECT_EQ(model->last_routing().token(0).experts,
                              cpu_routing[n_prompt + s - 1].experts)
                        << where << ": experts";
                }
            }
            expect_row(step.data(), cpu_steps[s].data(), n_vocab, 1e-4, where + " (CPU)");
            const auto [lo, hi] = std::minmax_element(step.begin(), step.end());
            if (margins[s].as_number() > 1e-3 * (*hi - *lo)) {
                EXPECT_EQ(argmax(step.data(), n_vocab), gen[s]) << where << ": greedy token";
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CudaTinyModel,
                         ::testing::Values("tiny_llama", "tiny_llama3_rope", "tiny_qwen2",
                                           "tiny_qwen2_yarn", "tiny_qwen3", "tiny_qwen3moe",
                                           "tiny_mixtral", "tiny_olmoe", "tiny_deepseek_v3",
                                           "tiny_deepseek_lite"));

// Batched rows on the GPU (Model::forward_rows, row-invariant products, kv_copy): three
// sequences in caches of their own, one of them a copy of another's prefix, take one step
// together; each row equals that sequence's step alone on the GPU bit for bit, and the CPU's
// within 1e-4 of the logit range.
class CudaForwardRows : public ::testing::TestWithParam<const char*> {};

TEST_P(CudaForwardRows, EachRowIsItsSequenceAlone) {
    GB_REQUIRE_CUDA();
    const std::string path = test::fixture(std::string("models/") + GetParam() + ".gguf");
    RunSettings rs;
    rs.n_ctx = 64;
    rs.n_batch = 32;
    cuda::CudaBackend gpu;
    cpu::CpuBackend cpu_be(2);
    auto model = Model::load(path, gpu, rs);
    auto cpu_model = Model::load(path, cpu_be, rs);
    const int64_t V = model->config().n_vocab;
    const std::vector<std::vector<int32_t>> prompts = {{1, 5, 9, 2, 7, 3}, {4, 4, 8}, {1, 5, 9}};
    const std::vector<int32_t> next = {13, 2, 7};
    std::vector<float> lg;
    std::vector<std::vector<float>> alone, cpu_alone;
    for (size_t i = 0; i < prompts.size(); ++i) {
        auto c = model->new_cache();
        model->forward(prompts[i], *c, 1, lg);
        model->forward(std::span<const int32_t>(&next[i], 1), *c, 1, lg);
        alone.push_back(lg);
        auto cc = cpu_model->new_cache();
        cpu_model->forward(prompts[i], *cc, 1, lg);
        cpu_model->forward(std::span<const int32_t>(&next[i], 1), *cc, 1, lg);
        cpu_alone.push_back(lg);
    }
    std::vector<std::unique_ptr<KvCache>> caches;
    for (size_t i = 0; i < 2; ++i) {
        caches.push_back(model->new_cache());
        model->forward(prompts[i], *caches.back(), 1, lg);
    }
    caches.push_back(model->new_cache(16));  // the third: the first's first 3 positions
    caches.back()->copy_prefix(*caches[0], 3);
    std::vector<KvCache*> ptrs = {caches[0].get(), caches[1].get(), caches[2].get()};
    model->forward_rows(next, ptrs, lg);
    for (size_t i = 0; i < prompts.size(); ++i) {
        const std::string where = std::string(GetParam()) + " row " + std::to_string(i);
        int differ = 0;
        for (int64_t j = 0; j < V; ++j) differ += lg[i * V + j] != alone[i][j];
        EXPECT_EQ(differ, 0) << where << ": logits differ from the row alone";
        expect_row(lg.data() + i * V, cpu_alone[i].data(), V, 1e-4, where + " (CPU)");
    }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CudaForwardRows,
                         ::testing::Values("tiny_llama", "tiny_qwen3moe", "tiny_deepseek_v3"));

// A model bigger than the free device memory is refused before anything is uploaded, with the
// sizes in the message: most of the device is taken first, so that even a tiny model's working
// memory cannot fit.
TEST(CudaModelFit, RefusesAModelThatDoesNotFit) {
    GB_REQUIRE_CUDA();
    cuda::CudaBackend gpu;
    const int64_t free = gpu.free_memory_bytes().value();
    const int64_t keep = int64_t{128} << 20;
    ASSERT_GT(free, keep);
    Act hog = gpu.alloc((free - keep) / (4 * 1024), 1024);
    RunSettings rs;
    rs.kv_type = TensorType::F32;  // the references compute in float32
    rs.n_ctx = 4096;
    rs.n_batch = 32;
    try {
        auto model = Model::load(test::fixture("models/tiny_llama.gguf"), gpu, rs);
        FAIL() << "expected the fit check to refuse the model";
    } catch (const Error& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("cuda memory"), std::string::npos) << m;
        EXPECT_NE(m.find("KV cache"), std::string::npos) << m;
        EXPECT_NE(m.find("is free"), std::string::npos) << m;
    }
    EXPECT_EQ(gpu.weight_bytes(), 0) << "nothing may be uploaded before the check";
    gpu.release(hog);
}

}  // namespace
}  // namespace gb

#else  // built without the CUDA backend

TEST(CudaTinyModel, BuiltWithoutCuda) { GTEST_SKIP() << "no CUDA device: built without CUDA"; }

#endif
