// Batched decoding of separate sequences (Model::forward_rows): three sequences of different
// lengths, each in its own cache, take one step together. Each row must give what that sequence
// gives on its own (forward() of the same token on a cache that holds only it), route its
// token to the same experts, and leave each cache one position longer; bad calls are refused.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine/model/model.h"
#include "engine/session/kv_cache.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/error.h"
#include "tests/test_support.h"

namespace gb {
namespace {

class ForwardRows : public ::testing::TestWithParam<const char*> {};

TEST_P(ForwardRows, EachRowIsItsSequenceAlone) {
    cpu::CpuBackend be(2);
    RunSettings rs;
    rs.n_ctx = 64;
    rs.n_threads = 2;
    auto model = Model::load(test::fixture(std::string("models/") + GetParam() + ".gguf"), be, rs);
    const int64_t V = model->config().n_vocab;
    const bool moe = model->config().is_moe();
    model->set_routing_capture(moe);
    model->set_logit_summary(3);
    const std::vector<std::vector<int32_t>> prompts = {
        {1, 5, 9, 2, 7, 3}, {4, 4, 8}, {11, 3, 6, 6, 2, 9, 10, 1, 5, 12}};
    const std::vector<int32_t> next = {13, 2, 7};
    std::vector<float> logits;
    // Alone: each sequence's prompt, then its next token.
    std::vector<std::vector<float>> alone;
    std::vector<TokenRouting> alone_routing;
    std::vector<std::vector<float>> alone_summary;
    for (size_t i = 0; i < prompts.size(); ++i) {
        auto cache = model->new_cache();
        model->forward(prompts[i], *cache, 1, logits);
        const int32_t one[1] = {next[i]};
        model->forward(one, *cache, 1, logits);
        alone.push_back(logits);
        if (moe) alone_routing.push_back(model->last_routing().token(0));
        const LogitSummary& s = model->last_logit_summary();
        alone_summary.emplace_back(s.logits.begin(), s.logits.begin() + s.top_n);
    }
    // Together: the same prompts in three caches, then one step of three rows.
    std::vector<std::unique_ptr<KvCache>> caches;
    std::vector<KvCache*> ptrs;
    for (const auto& p : prompts) {
        caches.push_back(model->new_cache());
        model->forward(p, *caches.back(), 1, logits);
        ptrs.push_back(caches.back().get());
    }
    model->forward_rows(next, ptrs, logits);
    ASSERT_EQ(logits.size(), static_cast<size_t>(3 * V));
    for (size_t i = 0; i < prompts.size(); ++i) {
        EXPECT_EQ(caches[i]->n_past(), static_cast<int64_t>(prompts[i].size()) + 1);
        float lo = 1e30f, hi = -1e30f, worst = 0;
        for (int64_t j = 0; j < V; ++j) {
            const float ref = alone[i][static_cast<size_t>(j)];
            lo = std::min(lo, ref);
            hi = std::max(hi, ref);
            worst = std::max(worst, std::fabs(logits[i * V + j] - ref));
        }
        EXPECT_LE(worst, 1e-4f * (hi - lo)) << GetParam() << " row " << i;
        if (moe) {
            const TokenRouting r = model->last_routing().token(static_cast<int64_t>(i));
            EXPECT_EQ(r.layers, alone_routing[i].layers) << "row " << i;
            EXPECT_EQ(r.experts, alone_routing[i].experts) << "row " << i;
        }
        const LogitSummary& s = model->last_logit_summary();
        ASSERT_EQ(s.rows, 3);
        for (int k = 0; k < s.top_n; ++k)
            EXPECT_NEAR(s.logits[i * s.top_n + k], alone_summary[i][static_cast<size_t>(k)],
                        1e-4f * (hi - lo));
    }
    // Refused: a cache twice, fewer caches than rows, a full cache.
    std::vector<KvCache*> twice = {ptrs[0], ptrs[0], ptrs[1]};
    EXPECT_THROW(model->forward_rows(next, twice, logits), Error);
    std::vector<KvCache*> two = {ptrs[0], ptrs[1]};
    EXPECT_THROW(model->forward_rows(next, two, logits), Error);
    ptrs[2]->set_n_past(ptrs[2]->n_ctx());
    try {
        model->forward_rows(next, ptrs, logits);
        ADD_FAILURE() << "a full cache was written past its end";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("context full"), std::string::npos) << e.what();
    }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ForwardRows,
                         ::testing::Values("tiny_llama", "tiny_qwen2", "tiny_qwen3",
                                           "tiny_qwen3moe", "tiny_mixtral", "tiny_olmoe",
                                           "tiny_deepseek_v3", "tiny_deepseek_lite"),
                         [](const auto& info) { return std::string(info.param); });

// KvCache::copy_prefix: the copied positions are the source's bytes, and a cache of another
// shape or more positions than the source holds are refused.
TEST(KvCopy, APrefixIsTakenByteForByte) {
    cpu::CpuBackend be(2);
    RunSettings rs;
    rs.n_ctx = 32;
    auto model = Model::load(test::fixture("models/tiny_llama.gguf"), be, rs);
    auto a = model->new_cache(), b = model->new_cache();
    std::vector<float> logits;
    const std::vector<int32_t> p = {3, 1, 4, 1, 5, 9, 2, 6};
    model->forward(p, *a, 1, logits);
    b->copy_prefix(*a, 5);
    EXPECT_EQ(b->n_past(), 5);
    const KvLayer& la = a->layer(0);
    const KvLayer& lb = b->layer(0);
    EXPECT_EQ(0, std::memcmp(la.k.data, lb.k.data, 5 * la.k.row_bytes()));
    EXPECT_EQ(0, std::memcmp(la.v.data, lb.v.data, 5 * la.v.row_bytes()));
    // The copy continues as the source would have: the same next logits from position 5.
    auto c = model->new_cache();
    const std::vector<int32_t> first5(p.begin(), p.begin() + 5);
    model->forward(first5, *c, 1, logits);
    const int32_t t[1] = {7};
    std::vector<float> from_c, from_b;
    model->forward(t, *c, 1, from_c);
    model->forward(t, *b, 1, from_b);
    EXPECT_EQ(from_b, from_c);
    EXPECT_THROW(b->copy_prefix(*a, 9), Error);  // a holds 8
    rs.n_ctx = 16;
    auto other = Model::load(test::fixture("models/tiny_llama.gguf"), be, rs);
    auto small = other->new_cache();
    EXPECT_THROW(small->copy_prefix(*a, 20), Error);
}

}  // namespace
}  // namespace gb

namespace gb {
namespace {
// On quantised weights too, a row decoded with others is bit for bit the row decoded alone
// (row-invariant products): rollouts sample the same tokens in a batch as by themselves.
TEST(ForwardRowsReal, BitForBitOnSmolLM2) {
    GB_REQUIRE_MODEL(path, "SmolLM2-135M-Instruct.Q4_1.gguf");
    cpu::CpuBackend be(2);
    RunSettings rs;
    rs.n_ctx = 128;
    rs.n_threads = 2;
    auto model = Model::load(path, be, rs);
    model->set_logit_summary(5);
    const std::vector<std::vector<int32_t>> prompts = {{1, 5, 9, 2, 7, 3}, {4, 4, 8}};
    const std::vector<int32_t> next = {13, 2};
    std::vector<float> logits;
    std::vector<std::vector<float>> alone;
    std::vector<std::unique_ptr<KvCache>> caches;
    std::vector<KvCache*> ptrs;
    for (size_t i = 0; i < prompts.size(); ++i) {
        auto a = model->new_cache();
        model->forward(prompts[i], *a, 1, logits);
        caches.push_back(model->new_cache());
        caches.back()->copy_prefix(*a, a->n_past());
        ptrs.push_back(caches.back().get());
        const int32_t one[1] = {next[i]};
        model->forward(one, *a, 1, logits);
        alone.push_back(logits);
    }
    model->forward_rows(next, ptrs, logits);
    const size_t V = alone[0].size();
    for (size_t i = 0; i < prompts.size(); ++i) {
        size_t differ = 0;
        for (size_t j = 0; j < V; ++j) differ += logits[i * V + j] != alone[i][j];
        EXPECT_EQ(differ, 0u) << "row " << i << ": " << differ << " logits differ";
    }
}
}  // namespace
}  // namespace gb
