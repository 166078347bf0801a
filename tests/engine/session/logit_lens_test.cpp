// The logit lens checked against independent computations with the real engine: the lens
// after layer l equals the final logits of the same model cut to its first l+1 layers (a GGUF
// rewritten without the later blocks), the last layer equals the model's own distribution, and
// a span's probabilities equal the single-position lens's. On a dense (llama), an MoE
// (qwen3moe) and an MLA + MoE (deepseek2) fixture.
#include "engine/session/logit_lens.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <optional>
#include <regex>

#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/model/model.h"
#include "engine/session/kv_cache.h"
#include "engine/tokenizer/tokenizer.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/error.h"
#include "tests/engine/model/model_test_support.h"
#include "tests/test_support.h"

namespace gb {
namespace {

RunSettings settings() {
    RunSettings rs;
    rs.n_ctx = 64;
    rs.n_threads = 2;
    rs.kv_type = TensorType::F32;
    return rs;
}

// log-softmax of a row, for comparing distributions.
std::vector<double> log_softmax(const float* row, int64_t n) {
    double m = -1e300;
    for (int64_t i = 0; i < n; ++i) m = std::max(m, static_cast<double>(row[i]));
    double z = 0;
    for (int64_t i = 0; i < n; ++i) z += std::exp(row[i] - m);
    std::vector<double> out(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = row[i] - m - std::log(z);
    return out;
}

class LogitLensFixtures : public ::testing::TestWithParam<std::string> {};

TEST_P(LogitLensFixtures, EachLayerIsTheModelCutThere) {
    const std::string name = GetParam();
    cpu::CpuBackend be(2);
    auto model = Model::load(test::fixture("models/" + name + ".gguf"), be, settings());
    Tokenizer tok = Tokenizer::from_gguf(model->file());
    const ModelConfig& c = model->config();
    std::vector<int32_t> tokens = tok.encode("the quick brown fox jumps", true, false);
    ASSERT_GE(tokens.size(), 4u);
    const int pos = static_cast<int>(tokens.size()) - 2;
    const LogitLens lens = logit_lens(*model, tok, tokens, pos, 5);
    ASSERT_EQ(lens.layers.size(), static_cast<size_t>(c.n_layer));
    EXPECT_EQ(lens.target, tokens[static_cast<size_t>(pos) + 1]);

    const std::string arch = model->file().get_string("general.architecture").value_or("");
    // A DeepSeek file must keep an MoE layer after its leading dense ones: cut past them.
    const int64_t leading = model->file().get_int(arch + ".leading_dense_block_count").value_or(0);
    int checked = 0;
    for (int64_t keep = leading + 1; keep <= c.n_layer; ++keep, ++checked) {
        // The same file with only blocks 0 .. keep-1.
        std::string path = test::fixture("models/" + name + ".gguf");
        std::optional<test::TempPath> cut_file;
        if (keep < c.n_layer) {
            cut_file.emplace(test::rewrite_fixture(
                name, "lens" + std::to_string(keep),
                [&](GgufWriter& w) {
                    w.set(arch + ".block_count", GgufValue::u32(static_cast<uint32_t>(keep)));
                },
                [&](const GgufTensorInfo& t, std::vector<int64_t>&) {
                    std::smatch m;
                    static const std::regex blk(R"(^blk\.(\d+)\.)");
                    return !std::regex_search(t.name, m, blk) || std::stoll(m[1]) < keep;
                }));
            path = *cut_file;
        }
        auto cut = Model::load(path, be, settings());
        auto cache = cut->new_cache();
        std::vector<float> logits;
        cut->forward(std::span<const int32_t>(tokens.data(), static_cast<size_t>(pos) + 1), *cache,
                     1, logits);
        const std::vector<double> ref = log_softmax(logits.data(), c.n_vocab);
        const LensLayer& L = lens.layers[static_cast<size_t>(keep - 1)];
        for (const LensPrediction& p : L.top)
            EXPECT_NEAR(p.logprob, ref[static_cast<size_t>(p.id)], 2e-4)
                << name << " layer " << keep - 1 << " token " << p.id;
        EXPECT_NEAR(L.target_logprob, ref[static_cast<size_t>(lens.target)], 2e-4);
        // The top list is the reference's top, in order.
        std::vector<int32_t> order(static_cast<size_t>(c.n_vocab));
        for (int32_t i = 0; i < c.n_vocab; ++i) order[static_cast<size_t>(i)] = i;
        std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
            return ref[static_cast<size_t>(a)] > ref[static_cast<size_t>(b)];
        });
        EXPECT_EQ(L.top[0].id, order[0]) << name << " layer " << keep - 1;
        int rank = 0;
        while (order[static_cast<size_t>(rank)] != lens.target) ++rank;
        EXPECT_NEAR(L.target_rank, rank, 1) << name << " layer " << keep - 1;  // ties may swap
    }
    EXPECT_EQ(checked, c.n_layer - leading) << name;
    // A span: the same probabilities as the single-position lens.
    const LensSpan span = logit_lens_span(*model, tokens, 1, static_cast<int>(tokens.size()));
    ASSERT_EQ(span.targets.size(), tokens.size() - 2);
    ASSERT_EQ(span.prob.size(), static_cast<size_t>(c.n_layer));
    for (int l = 0; l < c.n_layer; ++l)
        EXPECT_NEAR(span.prob[static_cast<size_t>(l)][static_cast<size_t>(pos - 1)],
                    std::exp(lens.layers[static_cast<size_t>(l)].target_logprob), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LogitLensFixtures,
                         ::testing::Values("tiny_llama", "tiny_qwen3moe", "tiny_deepseek_lite",
                                           "tiny_deepseek_v3"),
                         [](const auto& info) { return info.param; });

TEST(LogitLens, BadRequestsAreRefused) {
    cpu::CpuBackend be(2);
    auto model = Model::load(test::fixture("models/tiny_llama.gguf"), be, settings());
    Tokenizer tok = Tokenizer::from_gguf(model->file());
    const std::vector<int32_t> tokens = tok.encode("hello world", true, false);
    EXPECT_THROW(logit_lens(*model, tok, tokens, static_cast<int>(tokens.size()), 5), Error);
    EXPECT_THROW(logit_lens(*model, tok, tokens, -1, 5), Error);
    EXPECT_THROW(logit_lens(*model, tok, tokens, 0, 0), Error);
    std::vector<int32_t> bad = tokens;
    bad[0] = 1 << 30;
    EXPECT_THROW(logit_lens(*model, tok, bad, 1, 5), Error);
    std::vector<int32_t> longer(100, tokens[0]);  // past the context of 64
    EXPECT_THROW(logit_lens(*model, tok, longer, 80, 5), Error);
    EXPECT_THROW(logit_lens_span(*model, tokens, static_cast<int>(tokens.size()), 2), Error);
    // The last position has no next token: the target is the last layer's top.
    const LogitLens end = logit_lens(*model, tok, tokens, static_cast<int>(tokens.size()) - 1, 3);
    EXPECT_EQ(end.target, end.layers.back().top[0].id);
    EXPECT_EQ(end.layers.back().target_rank, 0);
}

}  // namespace
}  // namespace gb
