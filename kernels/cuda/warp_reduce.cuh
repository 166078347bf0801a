// Warp- and block-level sums for the CUDA kernels: register shuffles, no shared memory inside a
// warp.
#pragma once

namespace gb::cuda {

__device__ __forceinline__ float warp_sum(float v) {
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024); every thread gets it.
// At most once per kernel: the shared slots are not guarded against a second call.
// One shared slot per warp: a 256-thread block touches shared memory 8 times, not 256.
__device__ __forceinline__ float block_sum(float v) {
    __shared__ float partial[32];
    const int lane = threadIdx.x % 32;
    const int warp = threadIdx.x / 32;
    v = warp_sum(v);
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = lane < static_cast<int>(blockDim.x / 32) ? partial[lane] : 0.0f;
    v = warp_sum(v);  // every warp reduces the per-warp sums itself: no second barrier needed
    return v;
}

}  // namespace gb::cuda
