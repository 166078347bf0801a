// F16-weight GEMM for prefill, out = x W^T, through cublasGemmEx with FP32 accumulation.
// Bandwidth: with m tokens each weight is reused m times, so for prefill-sized m the op is
// compute-bound and belongs on the tensor cores, which cuBLAS drives better than a hand kernel.
// Tensor cores want both operands in fp16, so x is first rounded to fp16 by a one-pass kernel
// (4 B read + 2 B written per element: negligible beside the GEMM's m*n*k work).
#include <cuda_fp16.h>

#include <algorithm>
#include <climits>
#include <cstdint>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"

namespace gb::cuda {
namespace {

__global__ void float_to_half_kernel(const float* __restrict__ in, int64_t n,
                                     __half* __restrict__ out) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
         i += stride)
        out[i] = __float2half_rn(in[i]);
}

void check_shape(const char* op, int64_t n, int64_t k, int64_t m) {
    auto in_int = [](int64_t v) { return v > 0 && v <= INT_MAX; };
    require(in_int(n) && in_int(k) && in_int(m), op,
            "n, k, m must be in 1..INT_MAX, got n=" + std::to_string(n) +
                " k=" + std::to_string(k) + " m=" + std::to_string(m));
}

}  // namespace

void gemm_f16(Context& ctx, const uint16_t* w, int64_t n, int64_t k, const float* x, int64_t m,
              uint16_t* x_half, float* out) {
    const char* op = "gemm_f16";
    check_shape(op, n, k, m);
    cudaStream_t s = as_stream(ctx.stream());
    const int64_t xn = m * k;
    const int threads = 256;
    const auto blocks =
        static_cast<unsigned>(std::min<int64_t>((xn + threads - 1) / threads, 4096));
    float_to_half_kernel<<<blocks, threads, 0, s>>>(x, xn, reinterpret_cast<__half*>(x_half));
    GB_CUDA_CHECK_LAUNCH(op);

    // cuBLAS is column-major. Row-major W [n x k] is column-major W^T (k x n), row-major x [m x k]
    // is column-major x^T (k x m), and row-major out [m x n] is column-major out^T (n x m):
    // out^T = W x^T, i.e. op(A) = A^T with A = W^T, B = x^T.
    const float alpha = 1.0f, beta = 0.0f;
    GB_CUBLAS_CHECK(
        op, cublasGemmEx(as_blas(ctx.blas()), CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n),
                         static_cast<int>(m), static_cast<int>(k), &alpha, w, CUDA_R_16F,
                         static_cast<int>(k), x_half, CUDA_R_16F, static_cast<int>(k), &beta, out,
                         CUDA_R_32F, static_cast<int>(n), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

void gemm_f16_host(Context& ctx, const uint16_t* w, int64_t n, int64_t k, const float* x, int64_t m,
                   float* out) {
    const char* op = "gemm_f16";
    check_shape(op, n, k, m);
    cudaStream_t s = as_stream(ctx.stream());
    DeviceBuffer<uint16_t> dw(op, static_cast<size_t>(n * k));
    DeviceBuffer<float> dx(op, static_cast<size_t>(m * k));
    DeviceBuffer<uint16_t> dxh(op, static_cast<size_t>(m * k));
    DeviceBuffer<float> dout(op, static_cast<size_t>(m * n));
    dw.upload(op, w, s);
    dx.upload(op, x, s);
    gemm_f16(ctx, dw.get(), n, k, dx.get(), m, dxh.get(), dout.get());
    dout.download(op, out, s);
    ctx.synchronize(op);
}

}  // namespace gb::cuda
