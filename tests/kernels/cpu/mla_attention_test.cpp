// The CPU MLA op (absorbed projections over the compressed cache) against a naive double-precision
// reference that decompresses every key and value the way the model is defined: K_h = [W_kb_h c_kv;
// k_pe], V_h = W_vb_h c_kv, softmax(q_h . K_h * scale) V_h. Both GGUF weight layouts, prompts and
// decode steps, several thread counts, quantised weights, and shape errors.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/quant.h"
#include "kernels/error.h"
#include "tests/kernels/cpu/random_weights.h"

namespace gb::cpu {
namespace {

struct Case {
    int H = 3, nope = 16, rope = 8, v = 12, L = 32;
};

std::vector<float> normal(size_t n, uint32_t seed, float sd = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, sd);
    std::vector<float> x(n);
    for (auto& e : x) e = nd(rng);
    return x;
}

// kv_b as transformers holds it: per head nope rows of W_kb then v rows of W_vb, L columns.
// out[t][h*v + d] for queries at positions pos0 .. pos0+T-1 over cache rows 0 .. pos0+t.
std::vector<double> reference(const Case& c, const std::vector<float>& kv_b,
                              const std::vector<float>& q, const std::vector<float>& ckv,
                              const std::vector<float>& kpe, int64_t T, int64_t pos0,
                              double scale) {
    const int qk = c.nope + c.rope;
    std::vector<double> out(T * c.H * c.v, 0.0);
    for (int64_t t = 0; t < T; ++t)
        for (int h = 0; h < c.H; ++h) {
            const int64_t n_kv = pos0 + t + 1;
            std::vector<double> s(n_kv);
            double mx = -1e300;
            for (int64_t j = 0; j < n_kv; ++j) {
                double dot = 0;
                for (int d = 0; d < c.nope; ++d) {  // decompressed key, nope part
                    double k = 0;
                    for (int l = 0; l < c.L; ++l)
                        k += double(kv_b[(h * (c.nope + c.v) + d) * c.L + l]) * ckv[j * c.L + l];
                    dot += double(q[(t * c.H + h) * qk + d]) * k;
                }
                for (int d = 0; d < c.rope; ++d)
                    dot += double(q[(t * c.H + h) * qk + c.nope + d]) * kpe[j * c.rope + d];
                s[j] = dot * scale;
                mx = std::max(mx, s[j]);
            }
            double sum = 0;
            for (auto& e : s) sum += e = std::exp(e - mx);
            for (int64_t j = 0; j < n_kv; ++j)
                for (int d = 0; d < c.v; ++d) {
                    double val = 0;
                    for (int l = 0; l < c.L; ++l)
                        val += double(kv_b[(h * (c.nope + c.v) + c.nope + d) * c.L + l]) *
                               ckv[j * c.L + l];
                    out[(t * c.H + h) * c.v + d] += s[j] / sum * val;
                }
        }
    return out;
}

// The split layout: W_kb_h^T ([L x nope]) and W_vb_h ([v x L]) per head.
void split(const Case& c, const std::vector<float>& kv_b, std::vector<float>& kb,
           std::vector<float>& vb) {
    kb.assign(c.H * c.L * c.nope, 0);
    vb.assign(c.H * c.v * c.L, 0);
    for (int h = 0; h < c.H; ++h) {
        for (int d = 0; d < c.nope; ++d)
            for (int l = 0; l < c.L; ++l)
                kb[(h * c.L + l) * c.nope + d] = kv_b[(h * (c.nope + c.v) + d) * c.L + l];
        for (int d = 0; d < c.v; ++d)
            for (int l = 0; l < c.L; ++l)
                vb[(h * c.v + d) * c.L + l] = kv_b[(h * (c.nope + c.v) + c.nope + d) * c.L + l];
    }
}

struct Run {
    std::vector<float> q, ckv, kpe;
    std::vector<float> out;
};

// Runs the op over a cache of n_ctx rows for T queries starting at pos0.
std::vector<float> run_op(CpuBackend& be, const Case& c, const Weight& kb, const Weight& vb,
                          int v_row0, const std::vector<float>& q, const std::vector<float>& ckv,
                          const std::vector<float>& kpe, int64_t T, int64_t pos0, float scale) {
    const int64_t n_ctx = 16;
    KvLayer cache{be.alloc_kv(n_ctx, c.L, TensorType::F32),
                  be.alloc_kv(n_ctx, c.rope, TensorType::F32)};
    std::copy(ckv.begin(), ckv.end(), static_cast<float*>(cache.k.data));
    std::copy(kpe.begin(), kpe.end(), static_cast<float*>(cache.v.data));
    Act qa = be.alloc(T, c.H * (c.nope + c.rope)), out = be.alloc(T, c.H * c.v);
    std::copy(q.begin(), q.end(), qa.data);
    MlaShape s{c.H, c.nope, c.rope, c.v, c.L, v_row0};
    be.mla_attention(qa, kb, vb, cache, s, pos0, scale, out);
    std::vector<float> r(out.data, out.data + out.size());
    for (Act* a : {&qa, &out}) be.release(*a);
    be.release_kv(cache.k);
    be.release_kv(cache.v);
    return r;
}

TEST(MlaAttention, MatchesDecompressedAttentionInBothLayouts) {
    const Case c;
    const std::vector<float> kv_b = normal(c.H * (c.nope + c.v) * c.L, 1, 0.3f);
    std::vector<float> kb, vb;
    split(c, kv_b, kb, vb);
    const Weight wk{TensorType::F32, kb.data(), c.L, c.nope, "k_b", c.H};
    const Weight wv{TensorType::F32, vb.data(), c.v, c.L, "v_b", c.H};
    const Weight wkv{TensorType::F32, kv_b.data(), c.nope + c.v, c.L, "kv_b", c.H};
    const float scale = 1.3f / std::sqrt(float(c.nope + c.rope));
    for (int threads : {1, 3}) {
        CpuBackend be(threads);
        // A prompt of 6 at position 0, then one decode step at position 9 over 10 cached rows.
        for (auto [T, pos0] : {std::pair<int64_t, int64_t>{6, 0}, {1, 9}, {3, 4}}) {
            const int64_t n_kv = pos0 + T;
            const auto q = normal(T * c.H * (c.nope + c.rope), 10 + T);
            const auto ckv = normal(n_kv * c.L, 20 + T), kpe = normal(n_kv * c.rope, 30 + T);
            const auto want = reference(c, kv_b, q, ckv, kpe, T, pos0, scale);
            const auto got_split = run_op(be, c, wk, wv, 0, q, ckv, kpe, T, pos0, scale);
            const auto got_kvb = run_op(be, c, wk, wkv, c.nope, q, ckv, kpe, T, pos0, scale);
            ASSERT_EQ(got_split.size(), want.size());
            for (size_t i = 0; i < want.size(); ++i) {
                EXPECT_NEAR(got_split[i], want[i], 1e-4 * (1 + std::fabs(want[i])))
                    << "threads " << threads << " T " << T << " pos0 " << pos0 << " i " << i;
                EXPECT_NEAR(got_kvb[i], want[i], 1e-4 * (1 + std::fabs(want[i]))) << i;
            }
        }
    }
}

// Quantised W_kb^T / W_vb: against the reference on the dequantised weights; the error is that
// of quantising the activations to Q8_0 (about 1% of a value's scale).
TEST(MlaAttention, QuantisedWeights) {
    Case c;
    c.nope = 32;
    c.L = 64;
    c.v = 16;
    for (TensorType t : {TensorType::Q8_0, TensorType::Q4_K, TensorType::F16}) {
        if (t == TensorType::Q4_K) c.nope = 256;  // K-quants have 256-element blocks
        if (t == TensorType::Q4_K) c.L = 256;
        const auto kraw = test::random_weights(t, c.H * c.L, c.nope, 5);
        const auto vraw = test::random_weights(t, c.H * c.v, c.L, 6);
        std::vector<float> kb(c.H * c.L * c.nope), vb(c.H * c.v * c.L);
        for (int r = 0; r < c.H * c.L; ++r)
            dequantize_row(t, kraw.data() + r * row_bytes(t, c.nope), kb.data() + r * c.nope,
                           c.nope);
        for (int r = 0; r < c.H * c.v; ++r)
            dequantize_row(t, vraw.data() + r * row_bytes(t, c.L), vb.data() + r * c.L, c.L);
        // The reference takes the transformers layout: rebuild kv_b from the two parts.
        std::vector<float> kv_b(c.H * (c.nope + c.v) * c.L);
        for (int h = 0; h < c.H; ++h) {
            for (int d = 0; d < c.nope; ++d)
                for (int l = 0; l < c.L; ++l)
                    kv_b[(h * (c.nope + c.v) + d) * c.L + l] = kb[(h * c.L + l) * c.nope + d];
            for (int d = 0; d < c.v; ++d)
                for (int l = 0; l < c.L; ++l)
                    kv_b[(h * (c.nope + c.v) + c.nope + d) * c.L + l] = vb[(h * c.v + d) * c.L + l];
        }
        const Weight wk{t, kraw.data(), c.L, c.nope, "k_b", c.H};
        const Weight wv{t, vraw.data(), c.v, c.L, "v_b", c.H};
        CpuBackend be(2);
        const int64_t T = 4, pos0 = 3;
        const auto q = normal(T * c.H * (c.nope + c.rope), 40, 0.2f);
        const auto ckv = normal((pos0 + T) * c.L, 41), kpe = normal((pos0 + T) * c.rope, 42);
        const float scale = 1.0f / std::sqrt(float(c.nope + c.rope));
        const auto want = reference(c, kv_b, q, ckv, kpe, T, pos0, scale);
        const auto got = run_op(be, c, wk, wv, 0, q, ckv, kpe, T, pos0, scale);
        double max_ref = 0, worst = 0;
        for (size_t i = 0; i < want.size(); ++i) {
            max_ref = std::max(max_ref, std::fabs(want[i]));
            worst = std::max(worst, std::fabs(got[i] - want[i]));
        }
        EXPECT_LE(worst, 0.03 * max_ref) << type_name(t);
        EXPECT_GT(max_ref, 0.0);
    }
}

TEST(MlaAttention, RejectsMismatchedShapes) {
    const Case c;
    std::vector<float> kb(c.H * c.L * c.nope), vb(c.H * c.v * c.L);
    const Weight wk{TensorType::F32, kb.data(), c.L, c.nope, "blk.1.attn_k_b.weight", c.H};
    const Weight wv{TensorType::F32, vb.data(), c.v, c.L, "blk.1.attn_v_b.weight", c.H};
    CpuBackend be(1);
    const std::vector<float> q(c.H * (c.nope + c.rope)), ckv(c.L), kpe(c.rope);
    EXPECT_NO_THROW(run_op(be, c, wk, wv, 0, q, ckv, kpe, 1, 0, 1.0f));
    Case wrong = c;
    wrong.L = 16;  // the cache and W_kb^T disagree with the weights' kv_lora
    try {
        std::vector<float> q2(c.H * (c.nope + c.rope)), ckv2(16);
        run_op(be, wrong, wk, wv, 0, q2, ckv2, kpe, 1, 0, 1.0f);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("attn_k_b"), std::string::npos) << e.what();
    }
    EXPECT_THROW(run_op(be, c, wk, wv, 4, q, ckv, kpe, 1, 0, 1.0f), Error);  // rows past W_vb
}

}  // namespace
}  // namespace gb::cpu
