// Whole-row dequantisation: embedding lookups (get_rows, to float) and the bf16 copies of a
// layer's weights and activations that the prefill GEMM feeds to the tensor cores. Both are pure
// streaming: each thread decodes 8 weights per chunk and writes them with one 16-byte (bf16) or
// two 16-byte (float) stores; consecutive threads take consecutive chunks, so reads and writes
// coalesce. A 4096-wide Q4_K layer (~9.4 MB) becomes 33.5 MB of bf16 in a few microseconds,
// small beside the GEMM it feeds when the prompt has hundreds of tokens.
#include <cuda_bf16.h>

#include <climits>

#include "kernels/cuda/backend_kernels.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/quant_device.cuh"

namespace gb::cuda {
namespace {

constexpr int kThreads = 128;

// Writes element values v[0..8) of one row at dst (float).
__device__ __forceinline__ void store8(float* dst, const float* v) {
    reinterpret_cast<float4*>(dst)[0] = make_float4(v[0], v[1], v[2], v[3]);
    reinterpret_cast<float4*>(dst)[1] = make_float4(v[4], v[5], v[6], v[7]);
}
__device__ __forceinline__ void store8(__nv_bfloat16* dst, const float* v) {
    __nv_bfloat162 p[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) p[i] = __floats2bfloat162_rn(v[2 * i], v[2 * i + 1]);
    *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(p);
}
__device__ __forceinline__ void store1(float* dst, float v) { *dst = v; }
__device__ __forceinline__ void store1(__nv_bfloat16* dst, float v) {
    *dst = __float2bfloat16_rn(v);
}

// One row of `cols` elements at src into dst, by the threads of one block.
template <TensorType T, class Out>
__device__ void dequant_row(const uint8_t* src, int64_t cols, Out* dst) {
    if constexpr (kPlain<T>) {
        for (int64_t i = threadIdx.x; i < cols; i += blockDim.x)
            store1(dst + i, plain_at<T>(src, i));
    } else {
        using Q = Quant<T>;
        constexpr int kChunks = Q::kBlock / 8;
        for (int64_t c = threadIdx.x; c < cols / 8; c += blockDim.x) {
            float v[8];
            Q::dequant8(src + (c / kChunks) * Q::kBytes, static_cast<int>(c % kChunks), v);
            store8(dst + 8 * c, v);
        }
    }
}

template <TensorType T>
__global__ void get_rows_kernel(const uint8_t* table, int64_t row_bytes, int64_t cols,
                                const int32_t* ids, float* out) {
    const int64_t i = blockIdx.x;
    dequant_row<T>(table + static_cast<int64_t>(ids[i]) * row_bytes, cols, out + i * cols);
}

// Block (r, mi): row r of matrix mats[mi].
template <TensorType T>
__global__ void dequant_bf16_kernel(const uint8_t* w, int64_t row_bytes, int64_t mat_bytes,
                                    int64_t row0, int64_t rows, int64_t cols, const int32_t* mats,
                                    __nv_bfloat16* out) {
    const int64_t r = blockIdx.x, mi = blockIdx.y;
    const int64_t m = mats ? mats[mi] : 0;
    dequant_row<T>(w + m * mat_bytes + (row0 + r) * row_bytes, cols, out + (mi * rows + r) * cols);
}

__global__ void to_bf16_kernel(const float* x, int64_t x_stride, const int32_t* src_rows,
                               int64_t cols, __nv_bfloat16* out) {
    const int64_t r = blockIdx.x;
    const float* src = x + (src_rows ? src_rows[r] : r) * x_stride;
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x)
        out[r * cols + i] = __float2bfloat16_rn(src[i]);
}

}  // namespace

void launch_get_rows(TensorType type, const void* table, int64_t row_bytes, int64_t cols,
                     const int32_t* ids, int64_t n, float* out, cudaStream_t s) {
    const char* op = "get_rows";
    if (n == 0) return;
    require(n <= INT_MAX, op, "too many ids");
    const bool ok = dispatch_type(type, [&](auto tag) {
        constexpr TensorType T = decltype(tag)::value;
        get_rows_kernel<T><<<static_cast<unsigned>(n), kThreads, 0, s>>>(
            static_cast<const uint8_t*>(table), row_bytes, cols, ids, out);
    });
    require(ok, op, "no CUDA kernel for tensor type " + std::string(type_name(type)));
    GB_CUDA_CHECK_LAUNCH(op);
}

void launch_dequant_bf16(TensorType type, const void* w, int64_t row_bytes, int64_t mat_bytes,
                         int64_t row0, int64_t rows, int64_t cols, const int32_t* mats,
                         int64_t n_mat, void* out, cudaStream_t s) {
    const char* op = "matmul (dequantise to bf16)";
    if (rows == 0 || n_mat == 0) return;
    require(rows <= INT_MAX && n_mat <= 65535, op, "too many rows or matrices");
    require(type_info(type).block_size == 1 || cols % 8 == 0, op, "cols must be a multiple of 8");
    const dim3 grid(static_cast<unsigned>(rows), static_cast<unsigned>(n_mat));
    const bool ok = dispatch_type(type, [&](auto tag) {
        constexpr TensorType T = decltype(tag)::value;
        dequant_bf16_kernel<T><<<grid, kThreads, 0, s>>>(static_cast<const uint8_t*>(w), row_bytes,
                                                         mat_bytes, row0, rows, cols, mats,
                                                         static_cast<__nv_bfloat16*>(out));
    });
    require(ok, op, "no CUDA kernel for tensor type " + std::string(type_name(type)));
    GB_CUDA_CHECK_LAUNCH(op);
}

void launch_to_bf16(const float* x, int64_t x_stride, const int32_t* src_rows, int64_t rows,
                    int64_t cols, void* out, cudaStream_t s) {
    const char* op = "matmul (activations to bf16)";
    if (rows == 0) return;
    require(rows <= INT_MAX, op, "too many rows");
    to_bf16_kernel<<<static_cast<unsigned>(rows), kThreads, 0, s>>>(
        x, x_stride, src_rows, cols, static_cast<__nv_bfloat16*>(out));
    GB_CUDA_CHECK_LAUNCH(op);
}

}  // namespace gb::cuda
