// The CUDA ops, callable from plain C++. Each op comes twice: on device pointers, queued on a
// Context's stream (what the CUDA backend calls), and on host arrays (upload, run, download,
// synchronise; what the tests and the benchmark call). Shapes are validated here, at the boundary.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_device.h"

namespace gb::cuda {

// Q8_0 weights: per 32 weights an fp16 scale d, then 32 int8 quants; 34 bytes, no padding.
constexpr int64_t kQ8_0BlockWeights = 32;
constexpr int64_t kQ8_0BlockBytes = 34;

// out[r][c] = x[r][c] / sqrt(mean_c(x[r][c]^2) + eps) * w[c], for rows x cols float rows.
// out may alias x.
void rmsnorm(Context& ctx, const float* x, const float* w, int64_t rows, int64_t cols, float eps,
             float* out);
void rmsnorm_host(Context& ctx, const float* x, const float* w, int64_t rows, int64_t cols,
                  float eps, float* out);

// y[r] = sum_c W[r][c] * x[c], W [rows x cols] in Q8_0 (cols a multiple of 32, each row
// cols/32 blocks), x and y float. The decode-time matvec.
void matvec_q8_0(Context& ctx, const void* w, int64_t rows, int64_t cols, const float* x, float* y);
void matvec_q8_0_host(Context& ctx, const void* w, int64_t rows, int64_t cols, const float* x,
                      float* y);

// out[m][n] = sum_k x[m][k] * W[n][k]: x [m x k] float, W [n x k] fp16 (IEEE binary16 bits),
// out [m x n] float. Runs cublasGemmEx with FP32 accumulation after rounding x to fp16, so x is
// only good to ~2^-11 relative. `x_half` is device scratch of m*k halves (2 bytes each). The
// prefill matmul.
void gemm_f16(Context& ctx, const uint16_t* w, int64_t n, int64_t k, const float* x, int64_t m,
              uint16_t* x_half, float* out);
void gemm_f16_host(Context& ctx, const uint16_t* w, int64_t n, int64_t k, const float* x, int64_t m,
                   float* out);

}  // namespace gb::cuda
