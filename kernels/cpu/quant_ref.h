// Scalar reference versions of the quant.h kernels: plain loops, always compiled, the oracle the
// SIMD kernels are tested against (and the fallback on CPUs without AVX2).
#pragma once

#include <cstdint>

#include "kernels/tensor_type.h"

namespace gb::cpu::ref {

// Same contracts as gb::cpu::dequantize_row / quantize_row / vec_dot. quantize_row supports
// F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1 and Q8_K.
void dequantize_row(TensorType type, const void* src, float* dst, int64_t n);
void quantize_row(TensorType type, const float* src, void* dst, int64_t n);
float vec_dot(TensorType type, int64_t n, const void* w_row, const void* x_row);

}  // namespace gb::cpu::ref
