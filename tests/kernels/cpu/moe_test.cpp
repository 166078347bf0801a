// The CPU MoE ops: routing (every family's top-k rule, DeepSeek's sigmoid + bias + group-limited
// top-k + scaling) against hand-worked cases and a brute-force reference, and the expert matmul
// in every weight type against dequantised double-precision products.
#include "kernels/cpu/moe.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/quant_ref.h"
#include "kernels/error.h"
#include "tests/kernels/cpu/random_weights.h"

namespace gb::cpu {
namespace {

struct Routed {
    std::vector<int32_t> ids;
    std::vector<float> w;
    std::vector<float> probs;
};

Routed route(const RouterParams& p, const std::vector<float>& logits,
             const std::vector<float>* bias = nullptr) {
    Routed r{std::vector<int32_t>(p.n_used), std::vector<float>(p.n_used),
             std::vector<float>(p.n_expert)};
    route_token(p, logits.data(), bias ? bias->data() : nullptr, r.ids.data(), r.w.data(),
                r.probs.data());
    return r;
}

RouterParams softmax_topk(int n, int k, bool norm) {
    RouterParams p;
    p.n_expert = n;
    p.n_used = k;
    p.norm_topk = norm;
    return p;
}

TEST(MoeRoute, SoftmaxTopKWithAndWithoutRenormalisation) {
    const std::vector<float> logits = {0.0f, 2.0f, -1.0f, 1.0f};
    // softmax: e^0, e^2, e^-1, e^1 over their sum
    const double z = 1 + std::exp(2.0) + std::exp(-1.0) + std::exp(1.0);
    Routed plain = route(softmax_topk(4, 2, false), logits);  // olmoe
    EXPECT_EQ(plain.ids, (std::vector<int32_t>{1, 3}));
    EXPECT_NEAR(plain.w[0], std::exp(2.0) / z, 1e-7);
    EXPECT_NEAR(plain.w[1], std::exp(1.0) / z, 1e-7);
    EXPECT_NEAR(plain.probs[2], std::exp(-1.0) / z, 1e-7);
    Routed norm = route(softmax_topk(4, 2, true), logits);  // qwen3moe, mixtral
    EXPECT_EQ(norm.ids, plain.ids);
    // Renormalised top-k == softmax over the top-k logits (Mixtral's formulation).
    EXPECT_NEAR(norm.w[0], std::exp(2.0) / (std::exp(2.0) + std::exp(1.0)), 1e-7);
    EXPECT_NEAR(norm.w[0] + norm.w[1], 1.0, 1e-7);
}

TEST(MoeRoute, TiesGoToTheLowerExpert) {
    Routed r = route(softmax_topk(4, 2, false), {1.0f, 3.0f, 3.0f, 3.0f});
    EXPECT_EQ(r.ids, (std::vector<int32_t>{1, 2}));
}

TEST(MoeRoute, SigmoidBiasSteersTheChoiceButNotTheWeights) {
    RouterParams p = softmax_topk(4, 2, true);
    p.gating = Gating::Sigmoid;
    p.scale = 2.5f;
    const std::vector<float> logits = {1.0f, 0.5f, 0.0f, -0.5f};
    const std::vector<float> bias = {0.0f, 0.0f, 0.0f, 2.0f};  // lifts expert 3 to the top
    Routed r = route(p, logits, &bias);
    EXPECT_EQ(r.ids, (std::vector<int32_t>{3, 0}));
    const double s3 = 1 / (1 + std::exp(0.5)), s0 = 1 / (1 + std::exp(-1.0));
    EXPECT_NEAR(r.w[0], 2.5 * s3 / (s3 + s0), 1e-6);  // sigmoid scores, not biased ones
    EXPECT_NEAR(r.w[1], 2.5 * s0 / (s3 + s0), 1e-6);
    EXPECT_NEAR(r.probs[3], s3, 1e-7);
}

TEST(MoeRoute, GroupLimitedTopK) {
    // 8 experts in 4 groups of 2. Softmax scores follow the logits' order.
    const std::vector<float> logits = {5.0f, -3.0f, 4.0f, 3.9f, 4.5f, -3.0f, 0.0f, 0.0f};
    RouterParams p = softmax_topk(8, 2, false);
    p.n_group = 4;
    p.n_group_used = 1;
    // Ranked by their best (DeepSeek-V2): group 0 (5.0) wins, so 0 and its partner 1 are chosen
    // although 2, 3 and 4 score higher than 1.
    p.group_score = GroupScore::Max;
    EXPECT_EQ(route(p, logits).ids, (std::vector<int32_t>{0, 1}));
    // Sigmoid scores ranked by their best two summed (DeepSeek-V3): group 1 (4.0, 3.9) wins.
    p.gating = Gating::Sigmoid;
    p.group_score = GroupScore::Top2Sum;
    EXPECT_EQ(route(p, logits).ids, (std::vector<int32_t>{2, 3}));
    // Two groups by their best: groups 0 (5.0) and 2 (4.5).
    p.gating = Gating::Softmax;
    p.n_group_used = 2;
    p.group_score = GroupScore::Max;
    EXPECT_EQ(route(p, logits).ids, (std::vector<int32_t>{0, 4}));
    // All groups allowed: plain top-k.
    p.n_group_used = 4;
    EXPECT_EQ(route(p, logits).ids, (std::vector<int32_t>{0, 4}));
}

// Brute force: every allowed set of groups scored, the best set kept, then the best experts.
std::vector<int32_t> brute_force_ids(const RouterParams& p, const std::vector<float>& logits,
                                     const std::vector<float>& bias) {
    const int n = p.n_expert, per = n / p.n_group;
    std::vector<double> s(n), c(n);
    double mx = *std::max_element(logits.begin(), logits.end()), z = 0;
    for (int i = 0; i < n; ++i) z += std::exp(logits[i] - mx);
    for (int i = 0; i < n; ++i) {
        s[i] = p.gating == Gating::Softmax ? std::exp(logits[i] - mx) / z
                                           : 1 / (1 + std::exp(-double(logits[i])));
        c[i] = s[i] + bias[i];
    }
    std::vector<double> gs(p.n_group);
    for (int g = 0; g < p.n_group; ++g) {
        std::vector<double> v(c.begin() + g * per, c.begin() + (g + 1) * per);
        std::sort(v.rbegin(), v.rend());
        gs[g] = p.group_score == GroupScore::Max ? v[0] : v[0] + v[1];
    }
    std::vector<int> groups(p.n_group);
    std::iota(groups.begin(), groups.end(), 0);
    std::stable_sort(groups.begin(), groups.end(), [&](int a, int b) { return gs[a] > gs[b]; });
    std::vector<int32_t> allowed;
    for (int j = 0; j < p.n_group_used; ++j)
        for (int i = 0; i < per; ++i) allowed.push_back(groups[j] * per + i);
    std::stable_sort(allowed.begin(), allowed.end(),
                     [&](int a, int b) { return c[a] > c[b] || (c[a] == c[b] && a < b); });
    allowed.resize(p.n_used);
    return allowed;
}

TEST(MoeRoute, MatchesBruteForceOnRandomRouters) {
    std::mt19937 rng(3);
    std::normal_distribution<float> nd;
    for (int trial = 0; trial < 400; ++trial) {
        RouterParams p;
        p.n_group = 1 << (trial % 4);  // 1, 2, 4, 8
        p.n_expert = p.n_group * (2 + trial % 5);
        p.n_group_used = 1 + trial % p.n_group;
        p.n_used = 1 + trial % std::min(8, p.n_group_used * (p.n_expert / p.n_group));
        p.gating = trial % 2 ? Gating::Sigmoid : Gating::Softmax;
        p.group_score = trial % 3 ? GroupScore::Top2Sum : GroupScore::Max;
        p.norm_topk = trial % 5 != 0;
        p.scale = trial % 7 ? 1.0f : 2.5f;
        ASSERT_EQ(router_params_error(p), "") << trial;
        std::vector<float> logits(p.n_expert), bias(p.n_expert, 0.0f);
        for (auto& v : logits) v = 2 * nd(rng);
        if (p.gating == Gating::Sigmoid)
            for (auto& v : bias) v = 0.1f * nd(rng);
        Routed r = route(p, logits, &bias);
        ASSERT_EQ(r.ids, brute_force_ids(p, logits, bias)) << "trial " << trial;
        double sum = 0;
        for (int k = 0; k < p.n_used; ++k) sum += r.probs[r.ids[k]];
        for (int k = 0; k < p.n_used; ++k) {
            const double want = r.probs[r.ids[k]] * p.scale / (p.norm_topk ? sum : 1.0);
            ASSERT_NEAR(r.w[k], want, 1e-6 * p.scale) << "trial " << trial;
        }
    }
}

// Expert steering, worked by hand: forcing expert 0 of logits [1, 2, 3, 4] sets its logit to
// 4 + 1 = 5, so top-2 is {0, 3} with softmax weights e^5 : e^4 renormalised; switching expert 3
// off sets it to 1 - 1 = 0, so top-2 is {2, 1}.
TEST(MoeRoute, SteeringSwitchesExpertsOffAndForcesThemOn) {
    const RouterParams p = softmax_topk(4, 2, true);
    const std::vector<float> logits = {1, 2, 3, 4};
    auto steered = [&](const std::vector<float>& steer) {
        Routed r{std::vector<int32_t>(2), std::vector<float>(2), std::vector<float>(4)};
        route_token(p, logits.data(), nullptr, r.ids.data(), r.w.data(), r.probs.data(),
                    steer.data());
        return r;
    };
    const Routed on = steered({1, 0, 0, 0});
    EXPECT_EQ(on.ids, (std::vector<int32_t>{0, 3}));
    const double e5 = std::exp(5.0), e4 = std::exp(4.0);
    EXPECT_NEAR(on.w[0], e5 / (e5 + e4), 1e-6);
    EXPECT_NEAR(on.w[1], e4 / (e5 + e4), 1e-6);
    const Routed off = steered({0, 0, 0, -1});
    EXPECT_EQ(off.ids, (std::vector<int32_t>{2, 1}));
    EXPECT_NEAR(off.w[0], std::exp(3.0) / (std::exp(3.0) + std::exp(2.0)), 1e-6);
    // The full score vector reflects the steered logits: expert 3 now has e^0 / sum.
    const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0) + 1.0;
    EXPECT_NEAR(off.probs[3], 1.0 / z, 1e-6);
    // All zero: as without steering.
    const Routed none = steered({0, 0, 0, 0});
    const Routed plain = route(p, logits);
    EXPECT_EQ(none.ids, plain.ids);
    EXPECT_EQ(none.w, plain.w);
}

// Sigmoid gating with a bias and group-limited top-k (DeepSeek-V3): a forced expert is chosen
// even in a group the bias would drop, and a switched-off one never, whatever its bias.
TEST(MoeRoute, SteeringBeatsBiasAndGroups) {
    RouterParams p = softmax_topk(8, 2, true);
    p.gating = Gating::Sigmoid;
    p.n_group = 4;
    p.n_group_used = 2;
    p.group_score = GroupScore::Top2Sum;
    const std::vector<float> logits = {3, 2, 0, 0, -3, -3, 1, 1};
    const std::vector<float> bias = {0, 0, 0, 0, -5, 0, 0, 0};
    Routed base = route(p, logits, &bias);
    EXPECT_TRUE(std::find(base.ids.begin(), base.ids.end(), 4) == base.ids.end());
    std::vector<float> steer(8, 0);
    steer[4] = 1;   // the lowest logit and a bias of -5, in a weak group
    steer[0] = -1;  // the strongest
    Routed r{std::vector<int32_t>(2), std::vector<float>(2), std::vector<float>(8)};
    route_token(p, logits.data(), bias.data(), r.ids.data(), r.w.data(), r.probs.data(),
                steer.data());
    EXPECT_EQ(r.ids[0], 4);
    EXPECT_NE(r.ids[1], 0);
    // Its weight is the sigmoid of max + 1 = 4, renormalised with the other's.
    const double s4 = 1 / (1 + std::exp(-4.0));
    const double other = 1 / (1 + std::exp(-static_cast<double>(logits[r.ids[1]])));
    EXPECT_NEAR(r.w[0], s4 / (s4 + other), 1e-6);
}

TEST(MoeRoute, InconsistentParametersAreNamed) {
    EXPECT_NE(router_params_error(softmax_topk(8, 9, true)).find("9 must be within 1..8"),
              std::string::npos);
    RouterParams p = softmax_topk(8, 2, true);
    p.n_group = 3;
    EXPECT_NE(router_params_error(p).find("group count 3"), std::string::npos);
    p.n_group = 4;
    p.n_group_used = 1;
    p.n_used = 3;  // one group of 2 experts cannot give 3
    EXPECT_NE(router_params_error(p).find("exceed"), std::string::npos);
    CpuBackend be(1);
    std::vector<float> lg(8), w(9);
    std::vector<int32_t> ids(9);
    EXPECT_THROW(be.moe_route(Act{lg.data(), 1, 8}, Weight{}, softmax_topk(8, 9, true), ids, w, {}),
                 Error);
}

// Reference: each slot's product with its expert, from dequantised weights and the activation
// as the kernel sees it (converted to the dot format and back), in double.
void expect_moe_matmul(CpuBackend& be, TensorType t, int64_t n_expert, int64_t rows, int64_t cols,
                       int64_t n_tok, int k, bool per_slot, uint32_t seed) {
    const std::vector<uint8_t> w = test::random_weights(t, n_expert * rows, cols, seed);
    Weight wt{t, w.data(), rows, cols, "experts", n_expert};
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd;
    const int64_t n_slot = n_tok * k;
    std::vector<int32_t> ids(n_slot);
    for (int64_t tk = 0; tk < n_tok; ++tk) {  // k distinct experts per token, as a router gives
        std::vector<int32_t> all(n_expert);
        std::iota(all.begin(), all.end(), 0);
        std::shuffle(all.begin(), all.end(), rng);
        std::copy_n(all.begin(), k, ids.begin() + tk * k);
    }
    const int64_t x_rows = per_slot ? n_slot : n_tok;
    std::vector<float> x(x_rows * cols), out(n_slot * rows, -1.0f);
    for (auto& v : x) v = nd(rng);
    be.moe_matmul(wt, Act{x.data(), x_rows, cols}, ids, k, Act{out.data(), n_slot, rows});

    const TensorType dt = vec_dot_type(t);
    const size_t wrb = row_bytes(t, cols), xrb = row_bytes(dt, cols);
    std::vector<float> wd(cols), xd(cols);
    std::vector<uint8_t> xq(xrb);
    for (int64_t s = 0; s < n_slot; ++s) {
        const float* xs = x.data() + (per_slot ? s : s / k) * cols;
        ref::quantize_row(dt, xs, xq.data(), cols);
        ref::dequantize_row(dt, xq.data(), xd.data(), cols);
        for (int64_t r = 0; r < rows; ++r) {
            ref::dequantize_row(t, w.data() + (ids[s] * rows + r) * wrb, wd.data(), cols);
            double dot = 0, abs_sum = 0;
            for (int64_t i = 0; i < cols; ++i) {
                dot += double(wd[i]) * xd[i];
                abs_sum += std::fabs(double(wd[i]) * xd[i]);
            }
            ASSERT_NEAR(out[s * rows + r], dot, 3e-5 * abs_sum + 1e-5)
                << type_name(t) << " slot " << s << " (expert " << ids[s] << ") row " << r
                << " tokens " << n_tok << (per_slot ? " per-slot x" : " shared x");
        }
    }
}

TEST(MoeMatmul, EveryWeightTypeDecodeAndPrefill) {
    const TensorType types[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16,
                                TensorType::Q8_0, TensorType::Q4_0, TensorType::Q4_1,
                                TensorType::Q5_0, TensorType::Q5_1, TensorType::Q4_K,
                                TensorType::Q5_K, TensorType::Q6_K};
    for (int threads : {1, 2}) {
        CpuBackend be(threads);
        uint32_t seed = 1;
        for (TensorType t : types) {
            const int64_t cols = 256;  // one K-quant super-block
            for (int64_t n_tok : {1, 3, 21}) {
                for (bool per_slot : {false, true}) {
                    expect_moe_matmul(be, t, 8, 37, cols, n_tok, 2, per_slot, seed++);
                    if (HasFatalFailure()) return;
                }
            }
        }
    }
}

TEST(MoeMatmul, ExpertOutsideTheStackIsAnError) {
    CpuBackend be(1);
    std::vector<float> w(4 * 2 * 3, 1.0f), x(3, 1.0f), out(2 * 2);
    Weight wt{TensorType::F32, w.data(), 2, 3, "blk.0.ffn_up_exps.weight", 4};
    const std::vector<int32_t> ids = {1, 4};
    try {
        be.moe_matmul(wt, Act{x.data(), 1, 3}, ids, 2, Act{out.data(), 2, 2});
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("expert 4 outside blk.0.ffn_up_exps.weight"),
                  std::string::npos)
            << e.what();
    }
}

TEST(MoeCombine, WeightedSumPerToken) {
    CpuBackend be(2);
    // 2 tokens, top-2: y rows are (t0,k0) (t0,k1) (t1,k0) (t1,k1).
    std::vector<float> y = {1, 2, 10, 20, 3, 4, 30, 40}, out(4);
    const std::vector<float> w = {0.5f, 0.25f, 1.0f, -1.0f};
    be.moe_combine(Act{y.data(), 4, 2}, w, 2, Act{out.data(), 2, 2});
    EXPECT_EQ(out, (std::vector<float>{3.0f, 6.0f, -27.0f, -36.0f}));
}

}  // namespace
}  // namespace gb::cpu
