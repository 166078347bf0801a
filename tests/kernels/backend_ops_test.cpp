// Every Backend op on every backend built here (the CPU backend with one and two threads, and
// the CUDA backend when the build has it and a GPU is present), against naive double-precision
// references written out in this file from the ops' definitions (kernels/backend.h), with one
// tolerance table for all of them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/quant.h"
#include "kernels/logit_summary.h"
#include "tests/kernels/cpu/random_weights.h"
#ifdef GLASSBOX_HAVE_CUDA
#include "kernels/cuda/cuda_backend.h"
#endif

namespace gb {
namespace {

struct BackendCase {
    const char* name;
    bool gpu;
    std::function<std::unique_ptr<Backend>()> make;
};

std::vector<BackendCase> backends() {
    std::vector<BackendCase> out = {
        {"cpu1", false, [] { return std::make_unique<cpu::CpuBackend>(1); }},
        {"cpu2", false, [] { return std::make_unique<cpu::CpuBackend>(2); }}};
#ifdef GLASSBOX_HAVE_CUDA
    out.push_back({"cuda", true, [] { return std::make_unique<cuda::CudaBackend>(); }});
#endif
    return out;
}

// How far each op may be from the float64 reference, relative (|got - want| <= tol * (1 +
// |want|)), on the CPU (float32 with float32 or wider accumulation) and on a GPU (float32
// kernels; cuBLAS may reorder the sums). Ops not listed must be exact.
struct Tolerance {
    double cpu, gpu;
};
const std::map<std::string, Tolerance> kTolerance = {
    {"rmsnorm", {1e-5, 1e-5}},
    {"matmul f32", {1e-4, 1e-3}},
    {"get_rows + bias", {1e-6, 1e-6}},
    {"add", {1e-6, 1e-6}},
    {"swiglu", {1e-5, 1e-5}},
    {"rope", {2e-4, 2e-4}},
    {"rope yarn", {2e-4, 2e-4}},
    {"attention", {1e-5, 1e-4}},
    {"moe_route weights", {1e-5, 1e-5}},
    {"moe_route probs", {1e-6, 1e-6}},
    {"moe_matmul", {1e-4, 1e-3}},
    {"moe_combine", {1e-6, 1e-6}},
    {"mla_attention", {1e-4, 1e-3}},
    {"logit_summary", {1e-5, 1e-5}},
};

std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

// Multi-head latent attention from its definition (DeepSeek-V2 sec. 2.1, absorbed form as
// backend.h states it): head h's latent context for query qh over positions 0..n_pos-1 of the
// cached c_kv (rows of kv_lora) and k_pe (rows of n_rope), with W_kb_h [kv_lora x n_nope] in kb.
std::vector<double> mla_context(const MlaShape& s, const float* qh, const std::vector<float>& kb,
                                int64_t h, const std::vector<float>& ckv,
                                const std::vector<float>& kpe, int64_t n_pos, double scale) {
    const int64_t L = s.kv_lora, R = s.n_rope;
    std::vector<double> q_abs(L, 0.0);  // W_kb_h^T q_nope
    for (int64_t i = 0; i < L; ++i)
        for (int64_t j = 0; j < s.n_nope; ++j)
            q_abs[i] += double(kb[(h * L + i) * s.n_nope + j]) * qh[j];
    std::vector<double> sc(n_pos);
    double mx = -1e300;
    for (int64_t p = 0; p < n_pos; ++p) {
        double d = 0;
        for (int64_t i = 0; i < L; ++i) d += q_abs[i] * ckv[p * L + i];
        for (int64_t i = 0; i < R; ++i) d += double(qh[s.n_nope + i]) * kpe[p * R + i];
        sc[p] = d * scale;
        mx = std::max(mx, sc[p]);
    }
    double z = 0;
    for (auto& e : sc) z += (e = std::exp(e - mx));
    std::vector<double> ctx(L, 0.0);
    for (int64_t p = 0; p < n_pos; ++p)
        for (int64_t i = 0; i < L; ++i) ctx[i] += sc[p] / z * ckv[p * L + i];
    return ctx;
}

class BackendOps : public ::testing::TestWithParam<BackendCase> {
protected:
    void SetUp() override {
#ifdef GLASSBOX_HAVE_CUDA
        std::string why;
        if (GetParam().gpu && !cuda::cuda_available(&why))
            GTEST_SKIP() << "no CUDA device: " << why;
#endif
        be = GetParam().make();
    }
    // The table's tolerance of `op` on this backend.
    double tol(const std::string& op) const {
        const auto it = kTolerance.find(op);
        if (it == kTolerance.end()) return 0.0;
        return GetParam().gpu ? it->second.gpu : it->second.cpu;
    }
    void expect_close(const std::vector<float>& got, const std::vector<double>& want,
                      const char* op) {
        ASSERT_EQ(got.size(), want.size()) << op;
        const double t = tol(op);
        for (size_t i = 0; i < got.size(); ++i)
            ASSERT_NEAR(got[i], want[i], t * (1.0 + std::fabs(want[i]))) << op << " at " << i;
    }
    Act upload(const std::vector<float>& v, int64_t rows, int64_t cols) {
        Act a = be->alloc(rows, cols);
        be->to_device(v.data(), a);
        return a;
    }
    std::vector<float> download(Act a) {
        std::vector<float> v(a.size());
        be->to_host(a, v.data());
        return v;
    }
    std::unique_ptr<Backend> be;
};

TEST_P(BackendOps, RmsNorm) {
    const int64_t rows = 5, cols = 67;
    auto x = randn(rows * cols, 1, 3.0f), g = randn(cols, 2);
    Act ax = upload(x, rows, cols), out = be->alloc(rows, cols);
    Weight w{TensorType::F32, g.data(), 1, cols, "g"};
    be->rmsnorm(ax, be->upload(w), 1e-6f, out);
    std::vector<double> want(rows * cols);
    for (int64_t r = 0; r < rows; ++r) {
        double ss = 0;
        for (int64_t c = 0; c < cols; ++c) ss += double(x[r * cols + c]) * x[r * cols + c];
        double inv = 1.0 / std::sqrt(ss / cols + 1e-6);
        for (int64_t c = 0; c < cols; ++c) want[r * cols + c] = x[r * cols + c] * inv * g[c];
    }
    expect_close(download(out), want, "rmsnorm");
}

// In place (out aliasing x), and no rows at all.
TEST_P(BackendOps, RmsNormInPlaceAndZeroRows) {
    const int64_t rows = 3, cols = 4100;  // longer than one thread block's stride
    auto x = randn(rows * cols, 12, 0.5f), g = randn(cols, 13);
    Act ax = upload(x, rows, cols);
    Weight w{TensorType::F32, g.data(), 1, cols, "g"};
    const Weight dw = be->upload(w);
    be->rmsnorm(ax, dw, 1e-5f, ax);
    std::vector<double> want(rows * cols);
    for (int64_t r = 0; r < rows; ++r) {
        double ss = 0;
        for (int64_t c = 0; c < cols; ++c) ss += double(x[r * cols + c]) * x[r * cols + c];
        const double inv = 1.0 / std::sqrt(ss / cols + 1e-5);
        for (int64_t c = 0; c < cols; ++c) want[r * cols + c] = x[r * cols + c] * inv * g[c];
    }
    expect_close(download(ax), want, "rmsnorm");
    Act none = be->alloc(0, cols);
    be->rmsnorm(none, dw, 1e-5f, none);
    be->synchronize();
    EXPECT_EQ(download(none).size(), 0u);
}

TEST_P(BackendOps, MatmulF32) {
    const int64_t rows = 37, cols = 96, n = 7;
    auto wv = randn(rows * cols, 3), x = randn(n * cols, 4);
    Weight w{TensorType::F32, wv.data(), rows, cols, "w"};
    Act ax = upload(x, n, cols), out = be->alloc(n, rows);
    be->matmul(be->upload(w), ax, out);
    std::vector<double> want(n * rows);
    for (int64_t t = 0; t < n; ++t)
        for (int64_t o = 0; o < rows; ++o) {
            double s = 0;
            for (int64_t c = 0; c < cols; ++c) s += double(wv[o * cols + c]) * x[t * cols + c];
            want[t * rows + o] = s;
        }
    expect_close(download(out), want, "matmul f32");
}

// Weights of `type`: quantised from wf where a quantiser exists, else random blocks.
std::vector<uint8_t> make_weights(TensorType type, const std::vector<float>& wf, int64_t rows,
                                  int64_t cols) {
    const size_t rb = row_bytes(type, cols);
    std::vector<uint8_t> wq(rb * rows);
    try {
        for (int64_t r = 0; r < rows; ++r)
            cpu::quantize_row(type, wf.data() + r * cols, wq.data() + r * rb, cols);
    } catch (const std::exception&) {
        wq = test::random_weights(type, rows, cols, 77);
    }
    return wq;
}

// Quantised weights: the result must equal the float product of the dequantised weights up to
// the error of quantising the activations (8-bit), bounded relative to sum |w x|.
TEST_P(BackendOps, MatmulQuantised) {
    for (TensorType type : {TensorType::Q8_0, TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0,
                            TensorType::Q5_1, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K,
                            TensorType::F16, TensorType::BF16}) {
        const int64_t rows = 19, cols = 512, n = 3;
        auto wf = randn(rows * cols, 5), x = randn(n * cols, 6);
        std::vector<uint8_t> wq = make_weights(type, wf, rows, cols);
        std::vector<float> wd(rows * cols);
        for (int64_t r = 0; r < rows; ++r)
            cpu::dequantize_row(type, wq.data() + r * row_bytes(type, cols), wd.data() + r * cols,
                                cols);
        Weight w{type, wq.data(), rows, cols, "wq"};
        Act ax = upload(x, n, cols), out = be->alloc(n, rows);
        be->matmul(be->upload(w), ax, out);
        auto got = download(out);
        for (int64_t t = 0; t < n; ++t)
            for (int64_t o = 0; o < rows; ++o) {
                double s = 0, mag = 0;
                for (int64_t c = 0; c < cols; ++c) {
                    s += double(wd[o * cols + c]) * x[t * cols + c];
                    mag += std::fabs(double(wd[o * cols + c]) * x[t * cols + c]);
                }
                ASSERT_NEAR(got[t * rows + o], s, 1e-2 * mag) << type_name(type) << " row " << o;
            }
    }
}

// Precise mode (Backend::set_precise): every weight type's product with F32 activations must
// be the float product of the dequantised weights up to F32 rounding, 1e-6 of sum |w x|, where
// the fast mode's 8-bit activations are allowed 1e-2 above (and on the 4-bit types use much of
// it). Decode (one row), a few rows, and a prompt past the GPU's GEMM threshold; every row the
// same bits as the row alone (row invariance holds by construction in this mode).
TEST_P(BackendOps, PreciseMatmulEveryTypeWithinF32Rounding) {
    const int64_t rows = 21, cols = 1536;  // 3 chunks of 512: the chunked sums are exercised
    for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q8_0,
                            TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1,
                            TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K}) {
        SCOPED_TRACE(type_name(type));
        auto wf = randn(rows * cols, 15);
        std::vector<uint8_t> wq = make_weights(type, wf, rows, cols);
        std::vector<float> wd(rows * cols);
        for (int64_t r = 0; r < rows; ++r)
            cpu::dequantize_row(type, wq.data() + r * row_bytes(type, cols), wd.data() + r * cols,
                                cols);
        const Weight w = be->upload(Weight{type, wq.data(), rows, cols, "wq"});
        const int64_t n_max = 12;
        const auto x = randn(n_max * cols, 16);
        std::vector<float> alone(size_t(n_max * rows));
        be->set_precise(true);
        for (int64_t t = 0; t < n_max; ++t) {
            const std::vector<float> xt(x.begin() + t * cols, x.begin() + (t + 1) * cols);
            Act out = be->alloc(1, rows);
            be->matmul(w, upload(xt, 1, cols), out);
            const auto got = download(out);
            std::copy(got.begin(), got.end(), alone.begin() + t * rows);
        }
        double worst = 0;
        for (int64_t n : {int64_t{1}, int64_t{3}, n_max}) {
            Act out = be->alloc(n, rows);
            be->matmul(w, upload(std::vector<float>(x.begin(), x.begin() + n * cols), n, cols),
                       out);
            const auto got = download(out);
            for (int64_t t = 0; t < n; ++t)
                for (int64_t o = 0; o < rows; ++o) {
                    double s = 0, mag = 0;
                    for (int64_t c = 0; c < cols; ++c) {
                        s += double(wd[o * cols + c]) * x[t * cols + c];
                        mag += std::fabs(double(wd[o * cols + c]) * x[t * cols + c]);
                    }
                    const float g = got[t * rows + o];
                    ASSERT_NEAR(g, s, 1e-6 * mag) << "token " << t << " of " << n << ", row " << o;
                    worst = std::max(worst, std::fabs(g - s) / mag);
                    ASSERT_EQ(g, alone[t * rows + o]) << "token " << t << " of " << n;
                }
        }
        be->set_precise(false);
        // The fast mode on the same product, for scale: its 8-bit activations cost far more.
        if (type_info(type).block_size > 1 && type != TensorType::Q8_0) {
            Act out = be->alloc(1, rows);
            be->matmul(w, upload(std::vector<float>(x.begin(), x.begin() + cols), 1, cols), out);
            const auto got = download(out);
            double fast_worst = 0;
            for (int64_t o = 0; o < rows; ++o) {
                double s = 0, mag = 0;
                for (int64_t c = 0; c < cols; ++c) {
                    s += double(wd[o * cols + c]) * x[c];
                    mag += std::fabs(double(wd[o * cols + c]) * x[c]);
                }
                fast_worst = std::max(fast_worst, std::fabs(got[o] - s) / mag);
            }
            EXPECT_GT(fast_worst, 10 * worst) << "fast " << fast_worst << ", precise " << worst;
        }
    }
}

// The MoE products and MLA's absorbed projections in precise mode, with quantised weights:
// F32 rounding of the dequantised weights' products, where fast mode rounds the inputs to 8 bits.
TEST_P(BackendOps, PreciseMoeMatmulAndMlaProjections) {
    const TensorType type = TensorType::Q4_K;
    const int64_t n_exp = 5, rows = 18, cols = 512, tokens = 4, k = 2;
    std::vector<uint8_t> wq = test::random_weights(type, n_exp * rows, cols, 90);
    std::vector<float> wd(size_t(n_exp * rows * cols));
    for (int64_t r = 0; r < n_exp * rows; ++r)
        cpu::dequantize_row(type, wq.data() + r * row_bytes(type, cols), wd.data() + r * cols,
                            cols);
    const Weight w = be->upload(Weight{type, wq.data(), rows, cols, "ffn_up_exps.weight", n_exp});
    const std::vector<int32_t> ids = {4, 0, 2, 2, 0, 3, 1, 2};
    const auto x = randn(size_t(tokens * cols), 91);
    be->set_precise(true);
    for (int64_t n_tok : {int64_t{1}, tokens}) {
        Act out = be->alloc(n_tok * k, rows);
        be->moe_matmul(
            w, upload(std::vector<float>(x.begin(), x.begin() + n_tok * cols), n_tok, cols),
            std::span<const int32_t>(ids.data(), size_t(n_tok * k)), static_cast<int>(k), out);
        const auto got = download(out);
        for (int64_t sl = 0; sl < n_tok * k; ++sl)
            for (int64_t o = 0; o < rows; ++o) {
                double s = 0, mag = 0;
                for (int64_t c = 0; c < cols; ++c) {
                    const double p =
                        double(wd[(ids[sl] * rows + o) * cols + c]) * x[sl / k * cols + c];
                    s += p;
                    mag += std::fabs(p);
                }
                ASSERT_NEAR(got[sl * rows + o], s, 1e-6 * mag) << "slot " << sl << " row " << o;
            }
    }

    // MLA with Q8_0 projections (the MLA shapes are multiples of 32), at a decode step.
    MlaShape s{2, 32, 8, 32, 64, 0};
    const int64_t H = s.n_head, L = s.kv_lora, R = s.n_rope, qk = s.n_nope + s.n_rope;
    const int64_t v_rows = s.n_nope + s.n_v;
    s.v_row0 = s.n_nope;
    const int64_t pos0 = 40, n_ctx = pos0 + 2;
    const auto kbf = randn(size_t(H * L * s.n_nope), 92, 0.2f);
    const auto vbf = randn(size_t(H * v_rows * L), 93, 0.2f);
    std::vector<uint8_t> kbq = make_weights(TensorType::Q8_0, kbf, H * L, s.n_nope);
    std::vector<uint8_t> vbq = make_weights(TensorType::Q8_0, vbf, H * v_rows, L);
    std::vector<float> kb(kbf.size()), vb(vbf.size());
    for (int64_t r = 0; r < H * L; ++r)
        cpu::dequantize_row(TensorType::Q8_0,
                            kbq.data() + r * row_bytes(TensorType::Q8_0, s.n_nope),
                            kb.data() + r * s.n_nope, s.n_nope);
    for (int64_t r = 0; r < H * v_rows; ++r)
        cpu::dequantize_row(TensorType::Q8_0, vbq.data() + r * row_bytes(TensorType::Q8_0, L),
                            vb.data() + r * L, L);
    const auto ckv = randn(size_t(n_ctx * L), 94), kpe = randn(size_t(n_ctx * R), 95);
    const auto q = randn(size_t(H * qk), 96);
    KvLayer cache{be->alloc_kv(n_ctx, L, TensorType::F32), be->alloc_kv(n_ctx, R, TensorType::F32)};
    be->kv_store(cache, upload(ckv, n_ctx, L), upload(kpe, n_ctx, R), 0);
    Act out = be->alloc(1, H * s.n_v);
    const double scale = 1.0 / std::sqrt(double(qk));
    be->mla_attention(upload(q, 1, H * qk),
                      be->upload(Weight{TensorType::Q8_0, kbq.data(), L, s.n_nope, "attn_k_b", H}),
                      be->upload(Weight{TensorType::Q8_0, vbq.data(), v_rows, L, "attn_kv_b", H}),
                      cache, s, pos0, static_cast<float>(scale), out);
    const auto got = download(out);
    for (int64_t h = 0; h < H; ++h) {
        const std::vector<double> ctx =
            mla_context(s, q.data() + h * qk, kb, h, ckv, kpe, pos0 + 1, scale);
        for (int64_t v = 0; v < s.n_v; ++v) {
            double acc = 0, mag = 0;
            const float* row = vb.data() + (h * v_rows + s.v_row0 + v) * L;
            for (int64_t i = 0; i < L; ++i) {
                acc += double(row[i]) * ctx[i];
                mag += std::fabs(double(row[i]) * ctx[i]);
            }
            ASSERT_NEAR(got[h * s.n_v + v], acc, 1e-5 * (mag + std::fabs(acc))) << "head " << h;
        }
    }
    be->release_kv(cache.k);
    be->release_kv(cache.v);
    be->set_precise(false);
}

TEST_P(BackendOps, GetRowsAddBiasAddSwiglu) {
    const int64_t vocab = 11, cols = 32;
    auto table = randn(vocab * cols, 7), bias = randn(cols, 8);
    std::vector<int32_t> ids = {3, 0, 10, 3};
    Weight t{TensorType::F32, table.data(), vocab, cols, "emb"};
    Act out = be->alloc(4, cols);
    be->get_rows(be->upload(t), ids, out);
    Weight b{TensorType::F32, bias.data(), 1, cols, "b"};
    be->add_bias(out, be->upload(b));
    std::vector<double> want(4 * cols);
    for (int i = 0; i < 4; ++i)
        for (int c = 0; c < cols; ++c) want[i * cols + c] = table[ids[i] * cols + c] + bias[c];
    expect_close(download(out), want, "get_rows + bias");

    auto y = randn(4 * cols, 9);
    Act ay = upload(y, 4, cols);
    be->add(out, ay);
    for (size_t i = 0; i < want.size(); ++i) want[i] += y[i];
    expect_close(download(out), want, "add");

    Act sw = be->alloc(4, cols);
    be->swiglu(out, ay, sw);
    std::vector<double> ws(want.size());
    for (size_t i = 0; i < ws.size(); ++i) ws[i] = want[i] / (1 + std::exp(-want[i])) * y[i];
    expect_close(download(sw), ws, "swiglu");

    // SiLU where e^-g leaves float's range or the vector exp clamps it (|g| near 87-88 and far
    // beyond), and 45 elements: a tail after the last full vector.
    std::vector<float> g = {-1e4f, -200, -100, -88.5f, -87.5f, -30, -5,  -1e-3f, 0,
                            1e-3f, 5,    30,   87.5f,  88.5f,  100, 200, 1e4f};
    while (g.size() < 45) g.push_back(static_cast<float>(g.size()) * 0.37f - 8);
    auto u = randn(g.size(), 10);
    Act ag = upload(g, 1, 45), au = upload(u, 1, 45), out2 = be->alloc(1, 45);
    be->swiglu(ag, au, out2);
    std::vector<double> w2(g.size());
    for (size_t i = 0; i < g.size(); ++i) w2[i] = g[i] / (1 + std::exp(-double(g[i]))) * u[i];
    expect_close(download(out2), w2, "swiglu");
}

// Reference RoPE in the inverse-frequency formulation (per pair i: inv_freq_i, angle
// pos*inv_freq_i).
std::vector<double> rope_ref(const std::vector<float>& x, int rows, int heads, int hd,
                             const std::vector<int32_t>& pos, bool neox, double base, double factor,
                             bool yarn, int n_ctx_orig) {
    const int half = hd / 2;
    std::vector<double> inv(half);
    double mscale = 1.0;
    for (int i = 0; i < half; ++i) inv[i] = 1.0 / std::pow(base, 2.0 * i / hd);
    if (yarn) {
        auto corr = [&](double rot) {
            return hd * std::log(n_ctx_orig / (rot * 2 * M_PI)) / (2 * std::log(base));
        };
        double lo = std::max(0.0, std::floor(corr(32.0))),
               hi = std::min(hd - 1.0, std::ceil(corr(1.0)));
        if (lo == hi) hi += 0.001;
        for (int i = 0; i < half; ++i) {
            double ramp = std::clamp((i - lo) / (hi - lo), 0.0, 1.0);
            double extrap_weight = 1.0 - ramp;
            inv[i] = inv[i] / factor * (1 - extrap_weight) + inv[i] * extrap_weight;
        }
        mscale = 0.1 * std::log(factor) + 1.0;
    } else {
        for (auto& f : inv) f /= factor;
    }
    std::vector<double> out(x.begin(), x.end());
    for (int r = 0; r < rows; ++r)
        for (int h = 0; h < heads; ++h)
            for (int i = 0; i < half; ++i) {
                const double a = pos[r] * inv[i];
                const int ia = r * heads * hd + h * hd + (neox ? i : 2 * i);
                const int ib = r * heads * hd + h * hd + (neox ? i + half : 2 * i + 1);
                const double x0 = x[ia], x1 = x[ib];
                out[ia] = (x0 * std::cos(a) - x1 * std::sin(a)) * mscale;
                out[ib] = (x0 * std::sin(a) + x1 * std::cos(a)) * mscale;
            }
    return out;
}

TEST_P(BackendOps, Rope) {
    const int rows = 4, heads = 3, hd = 64;
    std::vector<int32_t> pos = {0, 1, 17, 3000};
    for (int variant = 0; variant < 4; ++variant) {
        const bool neox = variant % 2 == 1, yarn = variant >= 2;
        auto x = randn(rows * heads * hd, 10 + variant);
        Act a = upload(x, rows, heads * hd);
        RopeParams p;
        p.n_dims = hd;
        p.freq_base = 10000.0f;
        p.neox = neox;
        double factor = 1.0;
        if (yarn) {
            factor = 4.0;
            p.freq_scale = 0.25f;
            p.ext_factor = 1.0f;
            p.n_ctx_orig = 2048;
        }
        be->rope(a, heads, hd, pos, p);
        expect_close(download(a),
                     rope_ref(x, rows, heads, hd, pos, neox, 10000.0, factor, yarn, 2048),
                     yarn ? "rope yarn" : "rope");
    }
}

// The values a cache of `type` holds for rows of `cols` floats: what kv_store rounds them to
// (the CPU reference quantiser; F16/BF16 round to nearest even).
std::vector<float> as_cached(const std::vector<float>& x, int64_t cols, TensorType type) {
    std::vector<float> out(x.size());
    std::vector<uint8_t> row(row_bytes(type, cols));
    for (size_t r = 0; r < x.size() / cols; ++r) {
        cpu::quantize_row(type, x.data() + r * cols, row.data(), cols);
        cpu::dequantize_row(type, row.data(), out.data() + r * cols, cols);
    }
    return out;
}

// Causal attention from its definition (backend.h) in float64, over the values as cached.
std::vector<double> attention_want(const std::vector<float>& q, const std::vector<float>& kall,
                                   const std::vector<float>& vall, int n, int n_head, int n_kv,
                                   int hd, int pos0, double scale) {
    const int kvw = n_kv * hd;
    std::vector<double> want(size_t(n) * n_head * hd, 0.0);
    for (int t = 0; t < n; ++t)
        for (int h = 0; h < n_head; ++h) {
            const int kh = h / (n_head / n_kv);
            std::vector<double> s(pos0 + t + 1);
            double mx = -1e300, sum = 0;
            for (int j = 0; j <= pos0 + t; ++j) {
                double d = 0;
                for (int e = 0; e < hd; ++e)
                    d += double(q[(size_t(t) * n_head + h) * hd + e]) *
                         kall[size_t(j) * kvw + kh * hd + e];
                s[j] = d * scale;
                mx = std::max(mx, s[j]);
            }
            for (auto& e : s) sum += (e = std::exp(e - mx));
            for (int j = 0; j <= pos0 + t; ++j)
                for (int e = 0; e < hd; ++e)
                    want[(size_t(t) * n_head + h) * hd + e] +=
                        s[j] / sum * vall[size_t(j) * kvw + kh * hd + e];
        }
    return want;
}

// Every cache type, through decode (split over positions at depth), short and long prompts at
// depth (tiles, causal masks inside a block), grouped and plain heads, head widths that the
// vector path takes (64, 128) and ones it does not (12, 20), and a group of 20 heads (more than
// one tile of heads sharing a KV head, the last one partial).
TEST_P(BackendOps, CausalAttentionEveryCacheTypeAndShape) {
    struct Shape {
        int n_head, n_kv, hd, pos0, n;
    };
    const Shape shapes[] = {{4, 2, 16, 5, 3},     {9, 3, 64, 0, 1},    {9, 3, 64, 700, 1},
                            {14, 2, 64, 1500, 1}, {9, 3, 64, 300, 40}, {4, 4, 128, 33, 70},
                            {6, 2, 12, 90, 5},    {8, 8, 20, 0, 37},   {2, 1, 64, 2100, 2},
                            {40, 2, 64, 900, 2}};
    for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q8_0}) {
        for (const Shape& sh : shapes) {
            const int kvw = sh.n_kv * sh.hd;
            if (!kv_cache_type_error(type, kvw).empty()) continue;  // Q8_0: whole blocks only
            const std::string what = kv_cache_type_name(type) + " " + std::to_string(sh.n_head) +
                                     "/" + std::to_string(sh.n_kv) + "x" + std::to_string(sh.hd) +
                                     " at " + std::to_string(sh.pos0) + " +" + std::to_string(sh.n);
            SCOPED_TRACE(what);
            const int ctx = sh.pos0 + sh.n + 3;
            const uint32_t seed = static_cast<uint32_t>(sh.pos0 * 31 + sh.hd + sh.n);
            auto kprev = randn(size_t(sh.pos0) * kvw, seed + 1),
                 vprev = randn(size_t(sh.pos0) * kvw, seed + 2);
            auto k = randn(size_t(sh.n) * kvw, seed + 3), v = randn(size_t(sh.n) * kvw, seed + 4);
            auto q = randn(size_t(sh.n) * sh.n_head * sh.hd, seed + 5);
            KvLayer cache{be->alloc_kv(ctx, kvw, type), be->alloc_kv(ctx, kvw, type)};
            if (sh.pos0 > 0)
                be->kv_store(cache, upload(kprev, sh.pos0, kvw), upload(vprev, sh.pos0, kvw), 0);
            be->kv_store(cache, upload(k, sh.n, kvw), upload(v, sh.n, kvw), sh.pos0);
            Act out = be->alloc(sh.n, sh.n_head * sh.hd);
            const double scale = 1.0 / std::sqrt(double(sh.hd));
            be->attention(upload(q, sh.n, sh.n_head * sh.hd), cache, sh.n_head, sh.n_kv, sh.hd,
                          sh.pos0, static_cast<float>(scale), out);
            std::vector<float> kall(kprev), vall(vprev);
            kall.insert(kall.end(), k.begin(), k.end());
            vall.insert(vall.end(), v.begin(), v.end());
            expect_close(download(out),
                         attention_want(q, as_cached(kall, kvw, type), as_cached(vall, kvw, type),
                                        sh.n, sh.n_head, sh.n_kv, sh.hd, sh.pos0, scale),
                         "attention");
            be->release_kv(cache.k);
            be->release_kv(cache.v);
        }
    }
}

// kv_store rounds each value as the type's reference conversion does (Q8_0: the quantiser's
// scale and integers), checked through attention with one position, which returns V itself.
TEST_P(BackendOps, KvStoreRoundsLikeTheReference) {
    const int kvw = 64;
    for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q8_0}) {
        SCOPED_TRACE(kv_cache_type_name(type));
        auto v = randn(kvw, 90, 3.0f);
        v[5] = 1e-6f, v[6] = 70000.0f, v[7] = -0.0f;  // fp16 subnormal, fp16 overflow, signed zero
        KvLayer cache{be->alloc_kv(4, kvw, type), be->alloc_kv(4, kvw, type)};
        be->kv_store(cache, upload(randn(kvw, 91), 1, kvw), upload(v, 1, kvw), 0);
        Act out = be->alloc(1, kvw);
        be->attention(upload(randn(kvw, 92), 1, kvw), cache, 1, 1, kvw, 0, 0.125f, out);
        const std::vector<float> want = as_cached(v, kvw, type), got = download(out);
        for (int i = 0; i < kvw; ++i)
            if (std::isinf(want[i]))
                EXPECT_EQ(got[i], want[i]) << i;
            else
                EXPECT_NEAR(got[i], want[i], 1e-6 * (1 + std::fabs(want[i]))) << i;
        be->release_kv(cache.k);
        be->release_kv(cache.v);
    }
}

// The router from its definition (kernels/backend.h, RouterParams): scores by softmax or
// sigmoid, the bias added for the choice only, groups ranked by their best score or best two,
// top-k by the biased score (ties to the lower id), weights from the unbiased scores,
// renormalised when norm_topk, times the scale.
struct RouteRef {
    std::vector<int32_t> ids;
    std::vector<double> weights, probs;
};
RouteRef route_ref(const std::vector<float>& logits, int tokens, const std::vector<float>& bias,
                   const RouterParams& p) {
    RouteRef r;
    const int n = p.n_expert;
    for (int t = 0; t < tokens; ++t) {
        const float* l = logits.data() + t * n;
        std::vector<double> sc(n), choice(n);
        if (p.gating == Gating::Softmax) {
            const double mx = *std::max_element(l, l + n);
            double z = 0;
            for (int e = 0; e < n; ++e) z += std::exp(double(l[e]) - mx);
            for (int e = 0; e < n; ++e) sc[e] = std::exp(double(l[e]) - mx) / z;
        } else {
            for (int e = 0; e < n; ++e) sc[e] = 1.0 / (1.0 + std::exp(-double(l[e])));
        }
        for (int e = 0; e < n; ++e) choice[e] = sc[e] + (bias.empty() ? 0.0 : bias[e]);
        std::vector<bool> allowed(n, true);
        if (p.n_group > 1) {
            const int g_size = n / p.n_group;
            std::vector<double> gs(p.n_group);
            for (int g = 0; g < p.n_group; ++g) {
                std::vector<double> v(choice.begin() + g * g_size,
                                      choice.begin() + (g + 1) * g_size);
                std::sort(v.rbegin(), v.rend());
                gs[g] = p.group_score == GroupScore::Max ? v[0] : v[0] + v[1];
            }
            std::vector<int> order(p.n_group);
            std::iota(order.begin(), order.end(), 0);
            std::stable_sort(order.begin(), order.end(),
                             [&](int a, int b) { return gs[a] > gs[b]; });
            std::vector<bool> keep(p.n_group, false);
            for (int i = 0; i < p.n_group_used; ++i) keep[order[i]] = true;
            for (int e = 0; e < n; ++e) allowed[e] = keep[e / g_size];
        }
        std::vector<int> order;
        for (int e = 0; e < n; ++e)
            if (allowed[e]) order.push_back(e);
        std::stable_sort(order.begin(), order.end(),
                         [&](int a, int b) { return choice[a] > choice[b]; });
        double sum = 0;
        for (int k = 0; k < p.n_used; ++k) sum += sc[order[k]];
        for (int k = 0; k < p.n_used; ++k) {
            r.ids.push_back(order[k]);
            r.weights.push_back(sc[order[k]] / (p.norm_topk ? sum : 1.0) * p.scale);
        }
        r.probs.insert(r.probs.end(), sc.begin(), sc.end());
    }
    return r;
}

// The routers of the families we run: Qwen3-MoE / Mixtral / OLMoE (softmax, top-k, with and
// without renormalising) and DeepSeek-V2 (softmax, groups ranked by their best) and V3 (sigmoid,
// correction bias, groups ranked by their best two, scaled).
TEST_P(BackendOps, MoeRouteEveryFamily) {
    const int tokens = 5;
    struct Case {
        const char* name;
        RouterParams p;
        bool bias;
    };
    Case cases[4];
    cases[0] = {"qwen3moe", {}, false};
    cases[0].p.n_expert = 16, cases[0].p.n_used = 4, cases[0].p.norm_topk = true;
    cases[1] = {"olmoe", {}, false};
    cases[1].p.n_expert = 12, cases[1].p.n_used = 3;
    cases[2] = {"deepseek-v2", {}, false};
    cases[2].p.n_expert = 16, cases[2].p.n_used = 4, cases[2].p.n_group = 4;
    cases[2].p.n_group_used = 2, cases[2].p.group_score = GroupScore::Max;
    cases[2].p.scale = 1.5f;
    cases[3] = {"deepseek-v3", {}, true};
    cases[3].p.n_expert = 32, cases[3].p.n_used = 8, cases[3].p.n_group = 8;
    cases[3].p.n_group_used = 4, cases[3].p.gating = Gating::Sigmoid, cases[3].p.norm_topk = true;
    cases[3].p.scale = 2.5f;
    uint32_t seed = 60;
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        const RouterParams& p = c.p;
        const auto logits = randn(size_t(tokens) * p.n_expert, ++seed, 2.0f);
        const auto bias = c.bias ? randn(p.n_expert, ++seed, 0.3f) : std::vector<float>{};
        Weight b{TensorType::F32, bias.empty() ? nullptr : bias.data(), bias.empty() ? 0 : 1,
                 static_cast<int64_t>(bias.size()), "exp_probs_b.bias"};
        std::vector<int32_t> ids(size_t(tokens) * p.n_used);
        std::vector<float> w(ids.size()), probs(size_t(tokens) * p.n_expert);
        be->moe_route(upload(logits, tokens, p.n_expert), bias.empty() ? Weight{} : be->upload(b),
                      p, ids, w, probs);
        be->synchronize();
        const RouteRef want = route_ref(logits, tokens, bias, p);
        ASSERT_EQ(ids, want.ids);
        expect_close(w, want.weights, "moe_route weights");
        expect_close(probs, want.probs, "moe_route probs");
    }
}

// Expert matrices picked per slot, from one input per token (the gate/up projections) or one
// per slot (the down projection), then the slots combined by their weights.
TEST_P(BackendOps, MoeMatmulAndCombine) {
    const int64_t n_exp = 6, rows = 24, cols = 64, tokens = 3, k = 2;
    const auto wv = randn(size_t(n_exp * rows * cols), 70);
    Weight w{TensorType::F32, wv.data(), rows, cols, "ffn_up_exps.weight", n_exp};
    const Weight dw = be->upload(w);
    const std::vector<int32_t> ids = {5, 0, 2, 2, 0, 3};
    for (bool per_slot : {false, true}) {
        SCOPED_TRACE(per_slot ? "one input per slot" : "one input per token");
        const int64_t n_in = per_slot ? tokens * k : tokens;
        const auto x = randn(size_t(n_in * cols), per_slot ? 71 : 72);
        Act out = be->alloc(tokens * k, rows);
        be->moe_matmul(dw, upload(x, n_in, cols), ids, static_cast<int>(k), out);
        std::vector<double> want(size_t(tokens * k * rows));
        for (int64_t sl = 0; sl < tokens * k; ++sl) {
            const float* xs = x.data() + (per_slot ? sl : sl / k) * cols;
            const float* m = wv.data() + ids[sl] * rows * cols;
            for (int64_t o = 0; o < rows; ++o) {
                double acc = 0;
                for (int64_t c = 0; c < cols; ++c) acc += double(m[o * cols + c]) * xs[c];
                want[sl * rows + o] = acc;
            }
        }
        expect_close(download(out), want, "moe_matmul");
    }
    const auto y = randn(size_t(tokens * k * rows), 73);
    const std::vector<float> gw = {0.7f, 0.3f, 0.5f, 0.5f, 1.25f, -0.25f};
    Act combined = be->alloc(tokens, rows);
    be->moe_combine(upload(y, tokens * k, rows), gw, static_cast<int>(k), combined);
    std::vector<double> want(size_t(tokens * rows), 0.0);
    for (int64_t t = 0; t < tokens; ++t)
        for (int64_t j = 0; j < k; ++j)
            for (int64_t o = 0; o < rows; ++o)
                want[t * rows + o] += double(gw[t * k + j]) * y[(t * k + j) * rows + o];
    expect_close(download(combined), want, "moe_combine");
}

// Multi-head latent attention from its definition (DeepSeek-V2 sec. 2.1, absorbed form as
// backend.h states it), with v_b in attn_kv_b's layout (nope rows then v rows per head). Short
// and long contexts: a decode step deep in the cache (positions split between threads, partial
// states merged), a few tokens there, and a prompt of several tiles of tokens x heads; a small
// latent, and DeepSeek-V3's 512 + 64 (a GPU tile of heads then needs over 48 KiB of shared
// memory) with 20 heads (more than one tile of heads, the last one partial).
TEST_P(BackendOps, MlaAttention) {
    struct At {
        int64_t pos0, n;
    };
    for (const MlaShape shape : {MlaShape{3, 16, 8, 12, 32, 0}, MlaShape{20, 16, 64, 12, 512, 0}})
        for (const At at : {At{4, 3}, At{700, 1}, At{600, 3}, At{90, 45}})
            for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::BF16}) {
                SCOPED_TRACE(kv_cache_type_name(type) + " at " + std::to_string(at.pos0) + " x " +
                             std::to_string(at.n) + ", " + std::to_string(shape.n_head) +
                             " heads, latent " + std::to_string(shape.kv_lora));
                MlaShape s = shape;
                const int64_t H = s.n_head, L = s.kv_lora, R = s.n_rope, qk = s.n_nope + s.n_rope;
                const int64_t v_rows = s.n_nope + s.n_v;
                s.v_row0 = s.n_nope;
                const int64_t pos0 = at.pos0, n = at.n, n_ctx = pos0 + n + 1;
                const auto kb = randn(size_t(H * L * s.n_nope), 80, 0.2f);
                const auto vb = randn(size_t(H * v_rows * L), 81, 0.2f);
                const auto ckv_in = randn(size_t(n_ctx * L), 82),
                           kpe_in = randn(size_t(n_ctx * R), 83);
                // The reference reads the values as the cache holds them.
                const auto ckv = as_cached(ckv_in, L, type), kpe = as_cached(kpe_in, R, type);
                const auto q = randn(size_t(n * H * qk), 84);
                Weight hk{TensorType::F32, kb.data(), L, s.n_nope, "attn_k_b", H};
                Weight hv{TensorType::F32, vb.data(), v_rows, L, "attn_kv_b", H};
                KvLayer cache{be->alloc_kv(n_ctx, L, type), be->alloc_kv(n_ctx, R, type)};
                be->kv_store(cache, upload(ckv_in, n_ctx, L), upload(kpe_in, n_ctx, R), 0);
                Act out = be->alloc(n, H * s.n_v);
                const double scale = 1.0 / std::sqrt(double(qk));
                be->mla_attention(upload(q, n, H * qk), be->upload(hk), be->upload(hv), cache, s,
                                  pos0, static_cast<float>(scale), out);
                std::vector<double> want(size_t(n * H * s.n_v), 0.0);
                for (int64_t t = 0; t < n; ++t)
                    for (int64_t h = 0; h < H; ++h) {
                        const std::vector<double> ctx = mla_context(
                            s, q.data() + (t * H + h) * qk, kb, h, ckv, kpe, pos0 + t + 1, scale);
                        for (int64_t v = 0; v < s.n_v; ++v) {
                            double acc = 0;
                            const float* row = vb.data() + (h * v_rows + s.v_row0 + v) * L;
                            for (int64_t i = 0; i < L; ++i) acc += double(row[i]) * ctx[i];
                            want[(t * H + h) * s.n_v + v] = acc;
                        }
                    }
                expect_close(download(out), want, "mla_attention");
                be->release_kv(cache.k);
                be->release_kv(cache.v);
            }
}

// {max, log Z, entropy} and the top-N of each row, from the definition in
// kernels/logit_summary.h.
TEST_P(BackendOps, LogitSummary) {
    const int64_t rows = 3, n = 1000;
    const int top_n = 5;
    auto logits = randn(size_t(rows * n), 90, 3.0f);
    logits[n + 17] = 40.0f;  // one row with a clear winner
    std::vector<float> stats(size_t(rows * kLogitStats)), top(size_t(rows * top_n));
    std::vector<int32_t> ids(size_t(rows * top_n));
    be->logit_summary(upload(logits, rows, n), top_n, stats, ids, top);
    be->synchronize();
    std::vector<double> want_stats, want_top;
    for (int64_t r = 0; r < rows; ++r) {
        const float* l = logits.data() + r * n;
        const double mx = *std::max_element(l, l + n);
        double z = 0;
        for (int64_t i = 0; i < n; ++i) z += std::exp(double(l[i]) - mx);
        double h = 0;
        for (int64_t i = 0; i < n; ++i) {
            const double lp = double(l[i]) - mx - std::log(z);
            h -= std::exp(lp) * lp;
        }
        want_stats.insert(want_stats.end(), {mx, std::log(z), h});
        std::vector<int32_t> order(n);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return l[a] > l[b]; });
        for (int k = 0; k < top_n; ++k) {
            EXPECT_EQ(ids[size_t(r * top_n + k)], order[k]) << "row " << r << " rank " << k;
            want_top.push_back(l[order[k]]);
        }
    }
    expect_close(stats, want_stats, "logit_summary");
    expect_close(top, want_top, "logit_summary");
    EXPECT_EQ(ids[top_n], 17);
}

TEST_P(BackendOps, ShapeErrorsNameTheOp) {
    std::vector<float> wv(8 * 16, 0.0f);
    Weight w{TensorType::F32, wv.data(), 8, 16, "blk.0.attn_q.weight"};
    Act x = be->alloc(2, 15), out = be->alloc(2, 8);
    try {
        be->matmul(be->upload(w), x, out);
        FAIL() << "mismatched matmul was accepted";
    } catch (const std::exception& e) {
        EXPECT_NE(std::string(e.what()).find("matmul"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("blk.0.attn_q.weight"), std::string::npos) << e.what();
    }
}

void PrintTo(const BackendCase& c, std::ostream* os) { *os << c.name; }

INSTANTIATE_TEST_SUITE_P(All, BackendOps, ::testing::ValuesIn(backends()),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace gb
