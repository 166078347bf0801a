// CPU reference + SIMD kernels for the block formats: dequantise, quantise, quantised dot product.
#pragma once

#include <cstdint>

#include "kernels/tensor_type.h"

namespace gb::cpu {

// Decodes n elements (a multiple of the block size) of `type` at src into floats.
void dequantize_row(TensorType type, const void* src, float* dst, int64_t n);

// Encodes n floats into `type` (reference quantisers, same rounding as the gguf package / ggml:
// used for activations (Q8_0, Q8_1, Q8_K) and by tests and tools to make weights).
void quantize_row(TensorType type, const float* src, void* dst, int64_t n);

// The format a weight type's dot product takes its activations in (e.g. Q4_K -> Q8_K,
// Q4_1 -> Q8_1, F16 -> F16, F32 -> F32).
TensorType vec_dot_type(TensorType weight_type);

// Dot product of one weight row (`type`, n elements) with one activation row that was quantised
// to vec_dot_type(type).
float vec_dot(TensorType type, int64_t n, const void* w_row, const void* x_row);

}  // namespace gb::cpu
