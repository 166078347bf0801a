// Tiny random-weight llama / qwen2 / qwen3 models (and rope-scaling variants) against the logits
// Hugging Face transformers computed for them (tools/gen_tiny_models.py): a prompt and 16
// greedy steps, logits within 1e-4 of the reference's logit range.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "engine/model/model.h"
#include "engine/session/kv_cache.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/engine/model/model_test_support.h"
#include "tests/test_support.h"

namespace gb {
namespace {

using test::expect_logits;

class TinyModel : public ::testing::TestWithParam<const char*> {};

// With the exact F32 cache within 1e-4 of the logit range; with the default F16 cache within
// 1e-3 (its rounding, relative 2^-11 per cached value, moves these logits by about 3e-4 of their
// range) and the same greedy tokens.
TEST_P(TinyModel, MatchesTransformersForPromptAnd16GreedySteps) {
    const std::string name = GetParam();
    const json::Value ref = test::load_json(test::fixture("models/" + name + ".json"));
    for (const auto& [kv_type, rel] : {std::pair{TensorType::F32, 1e-4}, {TensorType::F16, 1e-3}})
        for (int threads : {1, 2}) {
            SCOPED_TRACE("threads " + std::to_string(threads) + ", " + kv_cache_type_name(kv_type) +
                         " cache");
            cpu::CpuBackend be(threads);
            RunSettings rs;
            rs.kv_type = kv_type;
            rs.n_ctx = 64;
            rs.n_threads = threads;
            rs.n_batch = 32;
            auto model = Model::load(test::fixture("models/" + name + ".gguf"), be, rs);
            const int64_t n_vocab = model->config().n_vocab;
            ASSERT_EQ(n_vocab, 512);
            ASSERT_EQ(ref.at("prompt_logits").as_array().size(),
                      ref.at("prompt_ids").as_array().size());
            test::expect_golden_run(*model, ref, name, rel);
        }
}

INSTANTIATE_TEST_SUITE_P(Transformers, TinyModel,
                         ::testing::Values("tiny_llama", "tiny_llama3_rope", "tiny_qwen2",
                                           "tiny_qwen2_yarn", "tiny_qwen3", "tiny_llama_bias"),
                         [](const auto& info) { return std::string(info.param); });

// Prefill in several batches equals prefill in one.
TEST(TinyModelBatching, ChunkedPrefillMatchesOneBatch) {
    cpu::CpuBackend be(2);
    RunSettings rs;
    rs.kv_type = TensorType::F32;  // the references compute in float32
    rs.n_ctx = 64;
    rs.n_threads = 2;
    rs.n_batch = 3;
    auto model = Model::load(test::fixture("models/tiny_qwen3.gguf"), be, rs);
    const std::vector<int32_t> prompt = {510, 72, 101, 300, 7, 255, 42, 401};
    auto c1 = model->new_cache();
    std::vector<float> chunked, whole, tmp;
    for (size_t i = 0; i < prompt.size(); i += 3) {
        size_t n = std::min<size_t>(3, prompt.size() - i);
        model->forward(std::span<const int32_t>(prompt.data() + i, n), *c1, 1, chunked);
    }
    RunSettings rs8 = rs;
    rs8.n_batch = 8;
    auto model8 = Model::load(test::fixture("models/tiny_qwen3.gguf"), be, rs8);
    auto c2 = model8->new_cache();
    model8->forward(prompt, *c2, 1, whole);
    ASSERT_EQ(chunked.size(), whole.size());
    for (size_t i = 0; i < whole.size(); ++i) ASSERT_NEAR(chunked[i], whole[i], 1e-4) << i;
}

}  // namespace
}  // namespace gb
