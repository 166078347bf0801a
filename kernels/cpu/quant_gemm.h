// Register-blocked quantised matrix product for prompts (many tokens against the same weights):
// each weight block is unpacked once per tile of tokens instead of once per (row, token) pair.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/tensor_type.h"

namespace gb::cpu {

// True when gemm_tile has a tiled kernel for weights of `type` on this build's CPU target.
bool has_gemm_tile(TensorType type);

// out[t * out_stride + r] = vec_dot(type, n, w_rows + r * w_stride, x_rows + t * x_stride) for
// r < nr, t < nt, with the activations already quantised to vec_dot_type(type). Any nr, nt >= 0
// work (edges are tiled internally). Per-block integer sums equal vec_dot's; only the order of
// float accumulation differs. Returns false, writing nothing, when !has_gemm_tile(type).
bool gemm_tile(TensorType type, int64_t n, const void* w_rows, size_t w_stride, int64_t nr,
               const void* x_rows, size_t x_stride, int64_t nt, float* out, size_t out_stride);

}  // namespace gb::cpu
