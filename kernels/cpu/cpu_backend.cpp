// CPU implementations of the Backend ops. Decode is memory-bound on the weights: matmul streams
// each weight row once against activations quantised once per call to the row's dot format.
#include "kernels/cpu/cpu_backend.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/cpu/quant.h"
#include "kernels/cpu/quant_gemm.h"
#include "kernels/cpu/simd_exp.h"
#include "kernels/error.h"
#include "kernels/logit_summary.h"

namespace gb::cpu {

namespace {

void check(bool ok, const char* op, const std::string& what) {
    if (!ok) throw Error(std::string("cpu backend: ") + op + ": " + what);
}

std::string shape(Act a) { return std::to_string(a.rows) + "x" + std::to_string(a.cols); }

// YaRN ramp (arXiv 2309.00071): 1 below the low correction dim, 0 above the high one.
float yarn_ramp(float low, float high, int i0) {
    float y = (i0 / 2 - low) / std::max(0.001f, high - low);
    return 1.0f - std::min(1.0f, std::max(0.0f, y));
}

// Dimension whose wavelength makes n_rot rotations over the original context.
float yarn_corr_dim(int n_dims, int n_ctx_orig, float n_rot, float base) {
    return n_dims * std::log(n_ctx_orig / (n_rot * 2.0f * static_cast<float>(M_PI))) /
           (2.0f * std::log(base));
}

}  // namespace

CpuBackend::CpuBackend(int n_threads) : pool_(n_threads), scratch_(pool_.size()) {}

CpuBackend::~CpuBackend() {
    for (float* p : owned_) std::free(p);
}

Act CpuBackend::alloc(int64_t rows, int64_t cols) {
    check(rows >= 0 && cols >= 0, "alloc", "negative size");
    size_t bytes = static_cast<size_t>(std::max<int64_t>(1, rows * cols)) * sizeof(float);
    bytes = (bytes + 63) / 64 * 64;
    auto* p = static_cast<float*>(std::aligned_alloc(64, bytes));
    check(p != nullptr, "alloc", "out of memory allocating " + std::to_string(bytes) + " bytes");
    std::memset(p, 0, bytes);
    owned_.push_back(p);
    return Act{p, rows, cols};
}

void CpuBackend::release(Act& a) {
    auto it = std::find(owned_.begin(), owned_.end(), a.data);
    if (it != owned_.end()) {
        std::free(*it);
        owned_.erase(it);
    }
    a = Act{};
}

void CpuBackend::to_device(const float* host, Act dst) {
    std::memcpy(dst.data, host, dst.size() * sizeof(float));
}

void CpuBackend::to_host(Act src, float* host) {
    std::memcpy(host, src.data, src.size() * sizeof(float));
}

void CpuBackend::get_rows(const Weight& table, std::span<const int32_t> ids, Act out) {
    check(out.rows == static_cast<int64_t>(ids.size()) && out.cols == table.cols, "get_rows",
          "output " + shape(out) + " does not match " + std::to_string(ids.size()) + " ids x " +
              std::to_string(table.cols));
    const size_t rb = row_bytes(table.type, table.cols);
    for (size_t i = 0; i < ids.size(); ++i) {
        check(ids[i] >= 0 && ids[i] < table.rows, "get_rows",
              "token id " + std::to_string(ids[i]) + " outside " + std::string(table.name) + " (" +
                  std::to_string(table.rows) + " rows)");
        dequantize_row(table.type, static_cast<const uint8_t*>(table.data) + ids[i] * rb,
                       out.data + i * out.cols, table.cols);
    }
}

void CpuBackend::rmsnorm(Act x, const Weight& w, float eps, Act out) {
    check(w.type == TensorType::F32 && w.rows * w.cols == x.cols, "rmsnorm",
          std::string(w.name) + " must be F32 with " + std::to_string(x.cols) + " elements");
    const auto* g = static_cast<const float*>(w.data);
    const int64_t n = x.cols;
    pool_.parallel_for(
        x.rows,
        [&](int64_t r0, int64_t r1, int) {
            for (int64_t r = r0; r < r1; ++r) {
                const float* xr = x.data + r * n;
                float* o = out.data + r * n;
                double ss = 0;
                for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(xr[i]) * xr[i];
                const float inv = 1.0f / std::sqrt(static_cast<float>(ss / n) + eps);
                for (int64_t i = 0; i < n; ++i) o[i] = xr[i] * inv * g[i];
            }
        },
        64);
}

void CpuBackend::matmul(const Weight& w, Act x, Act out) {
    check(x.cols == w.cols && out.rows == x.rows && out.cols == w.rows, "matmul",
          std::string(w.name) + " [" + std::to_string(w.rows) + "x" + std::to_string(w.cols) +
              "] with x " + shape(x) + " into " + shape(out));
    if (precise()) return matmul_precise(w, x, out);
    const TensorType dt = vec_dot_type(w.type);
    const size_t xrb = row_bytes(dt, x.cols);
    const size_t wrb = row_bytes(w.type, w.cols);
    const void* xq_base = x.data;
    if (dt != TensorType::F32) xq_base = quantize_rows(dt, x);
    const auto* wb = static_cast<const uint8_t*>(w.data);
    const auto* xb = static_cast<const uint8_t*>(xq_base);
    const int64_t n_tok = x.rows;
    // Weight rows are the parallel dimension, split into one contiguous range per thread so that
    // each core streams its own part of the matrix (the hardware prefetchers follow long runs;
    // interleaved small chunks cost decode a third of its speed on two cores). Within a range,
    // blocks of kRows weight rows stay in L1 while every token's activations stream past them
    // from L2, so a prompt reads the weights from memory once, not once per token tile.
    constexpr int64_t kRows = 16;
    const int64_t per_thread = (w.rows + pool_.size() - 1) / pool_.size();
    // Prompts use register tiles that unpack each weight block once for several tokens.
    const bool tiled = n_tok >= 2 && has_gemm_tile(w.type) && !row_invariant();
    pool_.parallel_for(
        w.rows,
        [&](int64_t o0, int64_t o1, int) {
            for (int64_t ob = o0; ob < o1; ob += kRows) {
                if (cancelled()) return;  // the caller discards this step
                const int64_t oe = std::min(o1, ob + kRows);
                if (tiled) {
                    gemm_tile(w.type, w.cols, wb + ob * wrb, wrb, oe - ob, xb, xrb, n_tok,
                              out.data + ob, static_cast<size_t>(out.cols));
                    continue;
                }
                for (int64_t t = 0; t < n_tok; ++t) {
                    const uint8_t* xt = xb + t * xrb;
                    float* ot = out.data + t * out.cols;
                    for (int64_t o = ob; o < oe; ++o)
                        ot[o] = vec_dot(w.type, w.cols, wb + o * wrb, xt);
                }
            }
        },
        std::max<int64_t>(kRows, (per_thread + kRows - 1) / kRows * kRows));
}

const uint8_t* CpuBackend::quantize_rows(TensorType dt, Act x) {
    const size_t xrb = row_bytes(dt, x.cols);
    xq_.resize(xrb * x.rows);
    pool_.parallel_for(
        x.rows,
        [&](int64_t r0, int64_t r1, int) {
            for (int64_t r = r0; r < r1; ++r)
                quantize_row(dt, x.data + r * x.cols, xq_.data() + r * xrb, x.cols);
        },
        1);
    return xq_.data();
}

// Precise mode: the activations stay F32, split once for the integer kernels (PreciseActs);
// then vec_dot_precise_rows: a block of kRows weight rows, L1-resident, against every token, with
// the bits each token would get alone.
void CpuBackend::matmul_precise(const Weight& w, Act x, Act out) {
    const size_t wrb = row_bytes(w.type, w.cols);
    const auto* wb = static_cast<const uint8_t*>(w.data);
    precise_x_.prepare(x.data, x.cols, x.rows, x.cols, has_precise_int_dot(w.type));
    if (precise_x_.split())
        pool_.parallel_for(
            x.rows, [&](int64_t r0, int64_t r1, int) { precise_x_.split_rows(r0, r1); }, 4);
    constexpr int64_t kRows = 16;
    const int64_t per_thread = (w.rows + pool_.size() - 1) / pool_.size();
    pool_.parallel_for(
        w.rows,
        [&](int64_t o0, int64_t o1, int tid) {
            for (int64_t ob = o0; ob < o1; ob += kRows) {
                if (cancelled()) return;  // the caller discards this step
                vec_dot_precise_rows(w.type, w.cols, wb + ob * wrb, wrb,
                                     std::min(o1, ob + kRows) - ob, precise_x_, 0, x.rows,
                                     out.data + ob, out.cols, scratch_[tid]);
            }
        },
        std::max<int64_t>(kRows, (per_thread + kRows - 1) / kRows * kRows));
}

void CpuBackend::add_bias(Act x, const Weight& b) {
    check(b.type == TensorType::F32 && b.rows * b.cols == x.cols, "add_bias",
          std::string(b.name) + " must be F32 with " + std::to_string(x.cols) + " elements");
    const auto* bias = static_cast<const float*>(b.data);
    for (int64_t r = 0; r < x.rows; ++r)
        for (int64_t c = 0; c < x.cols; ++c) x.data[r * x.cols + c] += bias[c];
}

void CpuBackend::add(Act x, Act y) {
    check(x.size() == y.size(), "add", shape(x) + " + " + shape(y));
    const int64_t n = x.size();
    for (int64_t i = 0; i < n; ++i) x.data[i] += y.data[i];
}

void CpuBackend::swiglu(Act gate, Act up, Act out) {
    check(gate.size() == up.size() && out.size() == gate.size(), "swiglu",
          shape(gate) + " * " + shape(up));
    pool_.parallel_for(
        gate.size(),
        [&](int64_t i0, int64_t i1, int) {
            int64_t i = i0;
#if defined(__AVX2__) && defined(__FMA__)
            // exp8 clamps its argument to [-87, 88]: beyond that SiLU is g or 0 in float.
            const __m256 one = _mm256_set1_ps(1.0f);
            for (; i + 8 <= i1; i += 8) {
                const __m256 g = _mm256_loadu_ps(gate.data + i);
                const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
                _mm256_storeu_ps(out.data + i,
                                 _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)),
                                               _mm256_loadu_ps(up.data + i)));
            }
#endif
            for (; i < i1; ++i) {
                const float g = gate.data[i];
                out.data[i] = g / (1.0f + std::exp(-g)) * up.data[i];
            }
        },
        4096);
}

void CpuBackend::rope(Act x, int n_heads, int head_dim, std::span<const int32_t> positions,
                      const RopeParams& p) {
    check(x.cols == static_cast<int64_t>(n_heads) * head_dim &&
              x.rows == static_cast<int64_t>(positions.size()) && p.n_dims <= head_dim &&
              p.n_dims % 2 == 0,
          "rope",
          "x " + shape(x) + " for " + std::to_string(n_heads) + " heads of " +
              std::to_string(head_dim));
    const int n_dims = p.n_dims;
    float corr_lo = 0, corr_hi = 0;
    if (p.ext_factor != 0.0f) {
        corr_lo = std::max(
            0.0f, std::floor(yarn_corr_dim(n_dims, p.n_ctx_orig, p.beta_fast, p.freq_base)));
        corr_hi =
            std::min(static_cast<float>(n_dims - 1),
                     std::ceil(yarn_corr_dim(n_dims, p.n_ctx_orig, p.beta_slow, p.freq_base)));
    }
    const float theta_scale = std::pow(p.freq_base, -2.0f / n_dims);
    pool_.parallel_for(
        x.rows,
        [&](int64_t r0, int64_t r1, int) {
            std::vector<float> cs(n_dims);
            for (int64_t r = r0; r < r1; ++r) {
                // cos/sin per pair for this position, shared by all heads.
                float theta_extrap = static_cast<float>(positions[r]);
                for (int i0 = 0; i0 < n_dims; i0 += 2) {
                    const float ff = p.freq_factors ? p.freq_factors[i0 / 2] : 1.0f;
                    const float te = theta_extrap / ff;
                    const float ti = p.freq_scale * te;
                    float theta = ti, mscale = p.attn_factor;
                    if (p.ext_factor != 0.0f) {
                        const float mix = yarn_ramp(corr_lo, corr_hi, i0) * p.ext_factor;
                        theta = ti * (1 - mix) + te * mix;
                        mscale *= 1.0f + 0.1f * std::log(1.0f / p.freq_scale);
                    }
                    cs[i0] = std::cos(theta) * mscale;
                    cs[i0 + 1] = std::sin(theta) * mscale;
                    theta_extrap *= theta_scale;
                }
                for (int h = 0; h < n_heads; ++h) {
                    float* v = x.data + r * x.cols + static_cast<int64_t>(h) * head_dim;
                    for (int i0 = 0; i0 < n_dims; i0 += 2) {
                        const int a = p.neox ? i0 / 2 : i0;
                        const int b = p.neox ? i0 / 2 + n_dims / 2 : i0 + 1;
                        const float x0 = v[a], x1 = v[b];
                        v[a] = x0 * cs[i0] - x1 * cs[i0 + 1];
                        v[b] = x0 * cs[i0 + 1] + x1 * cs[i0];
                    }
                }
            }
        },
        1);
}

void CpuBackend::logit_summary(Act logits, int top_n, std::span<float> stats,
                               std::span<int32_t> top_ids, std::span<float> top_logits) {
    const std::string bad =
        logit_summary_error(logits, top_n, stats.size(), top_ids.size(), top_logits.size());
    check(bad.empty(), "logit_summary", bad);
    pool_.parallel_for(logits.rows, [&](int64_t r0, int64_t r1, int) {
        for (int64_t r = r0; r < r1; ++r)
            logit_summary_row(logits.data + r * logits.cols, logits.cols, top_n,
                              stats.data() + r * kLogitStats, top_ids.data() + r * top_n,
                              top_logits.data() + r * top_n);
    });
}

}  // namespace gb::cpu
