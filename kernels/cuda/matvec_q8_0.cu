// Q8_0 matrix-vector product y = W x for decoding, dequantising in registers (never in memory).
// Bandwidth: each weight is used once, so the op is bound by reading W (34 bytes per 32 weights,
// 1.06 B/weight); x (4 B per column) is shared by all rows and stays in L1/L2. One warp per row:
// 8 lanes split a 34-byte block, 4 quants each, so a warp reads 4 consecutive blocks (136 bytes)
// per step and the row streams through in order. The fp16 scale is a broadcast load, quants come
// in as 16-bit loads (blocks are only 2-byte aligned), x as one float4 per lane.
#include <cuda_fp16.h>

#include <climits>
#include <cstdint>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/warp_reduce.cuh"

namespace gb::cuda {
namespace {

constexpr int kWarpsPerBlock = 4;   // rows per CUDA block
constexpr int kLanesPerQBlock = 8;  // 32 quants / 4 per lane
constexpr int kQBlocksPerStep = 32 / kLanesPerQBlock;

__device__ __forceinline__ float dot4(unsigned short lo, unsigned short hi, float4 xv) {
    // Little-endian: the lower-addressed quant is the low byte.
    return static_cast<float>(static_cast<int8_t>(lo & 0xff)) * xv.x +
           static_cast<float>(static_cast<int8_t>(lo >> 8)) * xv.y +
           static_cast<float>(static_cast<int8_t>(hi & 0xff)) * xv.z +
           static_cast<float>(static_cast<int8_t>(hi >> 8)) * xv.w;
}

__global__ void matvec_q8_0_kernel(const uint8_t* __restrict__ w, int64_t rows,
                                   int64_t blocks_per_row, const float* __restrict__ x,
                                   float* __restrict__ y) {
    const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
    if (row >= rows) return;  // whole warps leave together, so the shuffles below stay full
    const int lane = threadIdx.x % 32;
    const int part = lane % kLanesPerQBlock;  // which 4 quants of the block
    const uint8_t* wr = w + row * blocks_per_row * kQ8_0BlockBytes;
    float acc = 0.0f;
    for (int64_t b = lane / kLanesPerQBlock; b < blocks_per_row; b += kQBlocksPerStep) {
        const uint8_t* blk = wr + b * kQ8_0BlockBytes;
        const float d =
            __half2float(__ushort_as_half(*reinterpret_cast<const unsigned short*>(blk)));
        const auto* q = reinterpret_cast<const unsigned short*>(blk + 2 + 4 * part);
        const float4 xv = *reinterpret_cast<const float4*>(x + b * kQ8_0BlockWeights + 4 * part);
        acc += d * dot4(q[0], q[1], xv);
    }
    acc = warp_sum(acc);
    if (lane == 0) y[row] = acc;
}

void check_shape(const char* op, int64_t rows, int64_t cols) {
    require(rows >= 0 && rows <= static_cast<int64_t>(INT_MAX) * kWarpsPerBlock, op,
            "rows " + std::to_string(rows) + " out of range");
    require(cols > 0 && cols % kQ8_0BlockWeights == 0, op,
            "cols must be a positive multiple of 32 for Q8_0, got " + std::to_string(cols));
}

}  // namespace

void matvec_q8_0(Context& ctx, const void* w, int64_t rows, int64_t cols, const float* x,
                 float* y) {
    const char* op = "matvec_q8_0";
    check_shape(op, rows, cols);
    require(reinterpret_cast<uintptr_t>(w) % 2 == 0, op, "weights must be 2-byte aligned");
    require(reinterpret_cast<uintptr_t>(x) % 16 == 0, op,
            "x must be 16-byte aligned (float4 loads)");
    if (rows == 0) return;
    const auto grid = static_cast<unsigned>((rows + kWarpsPerBlock - 1) / kWarpsPerBlock);
    matvec_q8_0_kernel<<<grid, 32 * kWarpsPerBlock, 0, as_stream(ctx.stream())>>>(
        static_cast<const uint8_t*>(w), rows, cols / kQ8_0BlockWeights, x, y);
    GB_CUDA_CHECK_LAUNCH(op);
}

void matvec_q8_0_host(Context& ctx, const void* w, int64_t rows, int64_t cols, const float* x,
                      float* y) {
    const char* op = "matvec_q8_0";
    check_shape(op, rows, cols);
    cudaStream_t s = as_stream(ctx.stream());
    DeviceBuffer<uint8_t> dw(
        op, static_cast<size_t>(rows * (cols / kQ8_0BlockWeights) * kQ8_0BlockBytes));
    DeviceBuffer<float> dx(op, static_cast<size_t>(cols));
    DeviceBuffer<float> dy(op, static_cast<size_t>(rows));
    dw.upload(op, static_cast<const uint8_t*>(w), s);
    dx.upload(op, x, s);
    matvec_q8_0(ctx, dw.get(), rows, cols, dx.get(), dy.get());
    dy.download(op, y, s);
    ctx.synchronize(op);
}

}  // namespace gb::cuda
