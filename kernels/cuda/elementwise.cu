// Elementwise and row-shuffling ops: add, bias, SwiGLU, RoPE, the MoE weighted combine and row
// scatter. All are memory-bound with a few flops per element; consecutive threads touch
// consecutive floats so every access coalesces, and grids are capped (grid-stride loops) so a
// launch never depends on the tensor size fitting a grid dimension.
#include <algorithm>
#include <climits>
#include <cmath>

#include "kernels/cuda/backend_kernels.h"
#include "kernels/cuda/cuda_check.h"

namespace gb::cuda {
namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n) {
    return static_cast<unsigned>(std::clamp<int64_t>((n + kThreads - 1) / kThreads, 1, 65535));
}

__device__ __forceinline__ int64_t first_index() {
    return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_stride() {
    return static_cast<int64_t>(gridDim.x) * blockDim.x;
}

__global__ void add_kernel(float* x, const float* y, int64_t n) {
    for (int64_t i = first_index(); i < n; i += grid_stride()) x[i] += y[i];
}

__global__ void add_bias_kernel(float* x, const float* b, int64_t n, int64_t cols) {
    for (int64_t i = first_index(); i < n; i += grid_stride()) x[i] += b[i % cols];
}

// silu(g) * u with the CPU's formula g / (1 + e^-g) (expf, not the fast intrinsic).
__global__ void swiglu_kernel(const float* gate, const float* up, float* out, int64_t n) {
    for (int64_t i = first_index(); i < n; i += grid_stride()) {
        const float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

struct RopeConsts {
    int n_dims;
    float theta_scale, freq_scale, ext_factor, attn_factor, yarn_mscale, corr_lo, corr_hi;
    bool neox;
};

// Block r: row r; threads over (head, pair). The angle of pair i is built by the same repeated
// multiplication as the CPU (pos * theta_scale^i, i steps), so both round alike.
__global__ void rope_kernel(float* x, int64_t x_stride, int n_heads, int head_dim,
                            const int32_t* positions, RopeConsts k, const float* freq_factors) {
    const int64_t r = blockIdx.x;
    const int half = k.n_dims / 2;
    for (int idx = threadIdx.x; idx < n_heads * half; idx += blockDim.x) {
        const int h = idx / half, i = idx % half;
        float theta_extrap = static_cast<float>(positions[r]);
        for (int j = 0; j < i; ++j) theta_extrap *= k.theta_scale;
        const float ff = freq_factors ? freq_factors[i] : 1.0f;
        const float te = theta_extrap / ff;
        const float ti = k.freq_scale * te;
        float theta = ti, mscale = k.attn_factor;
        if (k.ext_factor != 0.0f) {
            // YaRN ramp (arXiv 2309.00071): 1 below the low correction dim, 0 above the high one.
            const float y =
                (static_cast<float>(i) - k.corr_lo) / fmaxf(0.001f, k.corr_hi - k.corr_lo);
            const float mix = (1.0f - fminf(1.0f, fmaxf(0.0f, y))) * k.ext_factor;
            theta = ti * (1 - mix) + te * mix;
            mscale *= k.yarn_mscale;
        }
        const float c = cosf(theta) * mscale, s = sinf(theta) * mscale;
        float* v = x + r * x_stride + static_cast<int64_t>(h) * head_dim;
        const int a = k.neox ? i : 2 * i;
        const int b = k.neox ? i + half : 2 * i + 1;
        const float x0 = v[a], x1 = v[b];
        v[a] = x0 * c - x1 * s;
        v[b] = x0 * s + x1 * c;
    }
}

__global__ void moe_combine_kernel(const float* y, const float* w, int n_used, int64_t rows,
                                   int64_t cols, float* out) {
    const int64_t n = rows * cols;
    for (int64_t i = first_index(); i < n; i += grid_stride()) {
        const int64_t t = i / cols, c = i % cols;
        const float* wt = w + t * n_used;
        const float* yt = y + t * n_used * cols + c;
        float acc = wt[0] * yt[0];
        for (int k = 1; k < n_used; ++k) acc += wt[k] * yt[k * cols];
        out[i] = acc;
    }
}

__global__ void scatter_rows_kernel(const float* src, const int32_t* order, int64_t cols,
                                    float* dst) {
    const int64_t j = blockIdx.x;
    float* d = dst + static_cast<int64_t>(order[j]) * cols;
    const float* sr = src + j * cols;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) d[c] = sr[c];
}

// YaRN's correction dimension: the dim whose wavelength makes n_rot turns over n_ctx_orig.
float yarn_corr_dim(int n_dims, int n_ctx_orig, float n_rot, float base) {
    return n_dims * std::log(n_ctx_orig / (n_rot * 2.0f * static_cast<float>(M_PI))) /
           (2.0f * std::log(base));
}

}  // namespace

void launch_add(float* x, const float* y, int64_t n, cudaStream_t s) {
    if (n == 0) return;
    add_kernel<<<blocks_for(n), kThreads, 0, s>>>(x, y, n);
    GB_CUDA_CHECK_LAUNCH("add");
}

void launch_add_bias(float* x, const float* b, int64_t rows, int64_t cols, cudaStream_t s) {
    if (rows * cols == 0) return;
    add_bias_kernel<<<blocks_for(rows * cols), kThreads, 0, s>>>(x, b, rows * cols, cols);
    GB_CUDA_CHECK_LAUNCH("add_bias");
}

void launch_swiglu(const float* gate, const float* up, float* out, int64_t n, cudaStream_t s) {
    if (n == 0) return;
    swiglu_kernel<<<blocks_for(n), kThreads, 0, s>>>(gate, up, out, n);
    GB_CUDA_CHECK_LAUNCH("swiglu");
}

void launch_rope(float* x, int64_t rows, int64_t x_stride, int n_heads, int head_dim,
                 const int32_t* positions, const RopeParams& p, const float* freq_factors,
                 cudaStream_t s) {
    const char* op = "rope";
    if (rows == 0 || p.n_dims == 0) return;
    require(rows <= INT_MAX, op, "too many rows");
    // The same float expressions as the CPU backend, evaluated once here.
    RopeConsts k{};
    k.n_dims = p.n_dims;
    k.theta_scale = std::pow(p.freq_base, -2.0f / p.n_dims);
    k.freq_scale = p.freq_scale;
    k.ext_factor = p.ext_factor;
    k.attn_factor = p.attn_factor;
    k.yarn_mscale = 1.0f + 0.1f * std::log(1.0f / p.freq_scale);
    k.neox = p.neox;
    if (p.ext_factor != 0.0f) {
        k.corr_lo = std::max(
            0.0f, std::floor(yarn_corr_dim(p.n_dims, p.n_ctx_orig, p.beta_fast, p.freq_base)));
        k.corr_hi =
            std::min(static_cast<float>(p.n_dims - 1),
                     std::ceil(yarn_corr_dim(p.n_dims, p.n_ctx_orig, p.beta_slow, p.freq_base)));
    }
    rope_kernel<<<static_cast<unsigned>(rows), 128, 0, s>>>(x, x_stride, n_heads, head_dim,
                                                            positions, k, freq_factors);
    GB_CUDA_CHECK_LAUNCH(op);
}

void launch_moe_combine(const float* y, const float* w, int n_used, int64_t rows, int64_t cols,
                        float* out, cudaStream_t s) {
    if (rows * cols == 0) return;
    moe_combine_kernel<<<blocks_for(rows * cols), kThreads, 0, s>>>(y, w, n_used, rows, cols, out);
    GB_CUDA_CHECK_LAUNCH("moe_combine");
}

void launch_scatter_rows(const float* src, const int32_t* order, int64_t rows, int64_t cols,
                         float* dst, cudaStream_t s) {
    const char* op = "moe_matmul (scatter)";
    if (rows == 0) return;
    require(rows <= INT_MAX, op, "too many rows");
    scatter_rows_kernel<<<static_cast<unsigned>(rows), 128, 0, s>>>(src, order, cols, dst);
    GB_CUDA_CHECK_LAUNCH(op);
}

}  // namespace gb::cuda
