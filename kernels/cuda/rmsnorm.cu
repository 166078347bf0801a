// RMSNorm (Zhang & Sennrich 2019) over the rows of a float matrix: one CUDA block per row.
// Bandwidth: ~3 flops per element against 12 bytes moved (read x twice, write once), so the op is
// memory-bound; what matters is coalescing and not touching DRAM twice. Consecutive threads read
// consecutive floats; the row's second read (a 4096-float row is 16 KiB) hits L1/L2, not DRAM;
// the sum of squares is reduced with warp shuffles, one shared-memory slot per warp.
#include <climits>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/warp_reduce.cuh"

namespace gb::cuda {
namespace {

// No __restrict__ on x and out: they may alias. Safe because each thread rewrites only elements
// it read itself, and every read of the first pass is done before block_sum's barrier.
__global__ void rmsnorm_kernel(const float* x, const float* __restrict__ w, int64_t cols, float eps,
                               float* out) {
    const float* xr = x + static_cast<int64_t>(blockIdx.x) * cols;
    float* o = out + static_cast<int64_t>(blockIdx.x) * cols;
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) ss += xr[i] * xr[i];
    const float scale = rsqrtf(block_sum(ss) / static_cast<float>(cols) + eps);
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) o[i] = xr[i] * scale * w[i];
}

void check_shape(const char* op, int64_t rows, int64_t cols) {
    require(rows >= 0 && rows <= INT_MAX, op, "rows " + std::to_string(rows) + " out of range");
    require(cols > 0, op, "cols must be positive, got " + std::to_string(cols));
}

}  // namespace

void rmsnorm(Context& ctx, const float* x, const float* w, int64_t rows, int64_t cols, float eps,
             float* out) {
    const char* op = "rmsnorm";
    check_shape(op, rows, cols);
    if (rows == 0) return;
    // Short rows get one warp (a wide block would leave most threads idle); long rows 8 warps.
    const int threads = cols <= 256 ? 32 : 256;
    rmsnorm_kernel<<<static_cast<unsigned>(rows), threads, 0, as_stream(ctx.stream())>>>(x, w, cols,
                                                                                         eps, out);
    GB_CUDA_CHECK_LAUNCH(op);
}

}  // namespace gb::cuda
