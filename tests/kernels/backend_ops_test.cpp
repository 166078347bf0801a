// Every Backend op on every backend built here, against naive double-precision references
// written out in this file from the ops' definitions.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/quant.h"
#include "tests/kernels/cpu/random_weights.h"

namespace gb {
namespace {

struct BackendCase {
    const char* name;
    std::function<std::unique_ptr<Backend>()> make;
};

std::vector<BackendCase> backends() {
    return {{"cpu1", [] { return std::make_unique<cpu::CpuBackend>(1); }},
            {"cpu2", [] { return std::make_unique<cpu::CpuBackend>(2); }}};
}

std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

class BackendOps : public ::testing::TestWithParam<BackendCase> {
protected:
    void SetUp() override { be = GetParam().make(); }
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

void expect_close(const std::vector<float>& got, const std::vector<double>& want, double tol,
                  const char* what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    for (size_t i = 0; i < got.size(); ++i)
        ASSERT_NEAR(got[i], want[i], tol * (1.0 + std::fabs(want[i]))) << what << " at " << i;
}

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
    expect_close(download(out), want, 1e-5, "rmsnorm");
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
    expect_close(download(out), want, 1e-4, "matmul f32");
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
    expect_close(download(out), want, 1e-6, "get_rows + bias");

    auto y = randn(4 * cols, 9);
    Act ay = upload(y, 4, cols);
    be->add(out, ay);
    for (size_t i = 0; i < want.size(); ++i) want[i] += y[i];
    expect_close(download(out), want, 1e-6, "add");

    Act sw = be->alloc(4, cols);
    be->swiglu(out, ay, sw);
    std::vector<double> ws(want.size());
    for (size_t i = 0; i < ws.size(); ++i) ws[i] = want[i] / (1 + std::exp(-want[i])) * y[i];
    expect_close(download(sw), ws, 1e-5, "swiglu");
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
                     rope_ref(x, rows, heads, hd, pos, neox, 10000.0, factor, yarn, 2048), 2e-4,
                     yarn ? "rope yarn" : "rope");
    }
}

TEST_P(BackendOps, CausalAttentionWithCacheAndGqa) {
    const int n_head = 4, n_kv = 2, hd = 16, pos0 = 5, n = 3, ctx = 16;
    const int kvw = n_kv * hd;
    auto kprev = randn(pos0 * kvw, 20), vprev = randn(pos0 * kvw, 21);
    auto k = randn(n * kvw, 22), v = randn(n * kvw, 23), q = randn(n * n_head * hd, 24);
    KvLayer cache{be->alloc(ctx, kvw), be->alloc(ctx, kvw)};
    be->kv_store(cache, upload(kprev, pos0, kvw), upload(vprev, pos0, kvw), 0);
    be->kv_store(cache, upload(k, n, kvw), upload(v, n, kvw), pos0);
    Act out = be->alloc(n, n_head * hd);
    const float scale = 1.0f / 4.0f;
    be->attention(upload(q, n, n_head * hd), cache, n_head, n_kv, hd, pos0, scale, out);

    std::vector<float> kall(kprev), vall(vprev);
    kall.insert(kall.end(), k.begin(), k.end());
    vall.insert(vall.end(), v.begin(), v.end());
    std::vector<double> want(n * n_head * hd, 0.0);
    for (int t = 0; t < n; ++t)
        for (int h = 0; h < n_head; ++h) {
            const int kh = h / (n_head / n_kv);
            std::vector<double> s(pos0 + t + 1);
            double mx = -1e300, sum = 0;
            for (int j = 0; j <= pos0 + t; ++j) {
                double d = 0;
                for (int e = 0; e < hd; ++e)
                    d += double(q[(t * n_head + h) * hd + e]) * kall[j * kvw + kh * hd + e];
                s[j] = d * scale;
                mx = std::max(mx, s[j]);
            }
            for (auto& e : s) sum += (e = std::exp(e - mx));
            for (int j = 0; j <= pos0 + t; ++j)
                for (int e = 0; e < hd; ++e)
                    want[(t * n_head + h) * hd + e] += s[j] / sum * vall[j * kvw + kh * hd + e];
        }
    expect_close(download(out), want, 1e-5, "attention");
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

INSTANTIATE_TEST_SUITE_P(All, BackendOps, ::testing::ValuesIn(backends()),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace gb
