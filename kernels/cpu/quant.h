// CPU reference + SIMD kernels for the block formats: dequantise, quantise, quantised dot product.
#pragma once

#include <cstdint>
#include <vector>

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

// Precise mode (precise_dot.cpp): the dot product of one weight row (`type`, n elements, any
// type dequantize_row reads) with float activations as they are: F32 products and sums within
// chunks of kPreciseChunk elements, the chunk sums in double. dot_f32_chunked does the same for
// a row dequantised beforehand (a prompt's block of rows, dequantised once for every token) and
// gives bit-identical results, so a row's value does not depend on the batch it was in.
// kPreciseChunk is a multiple of every block size (1, 32, 256): chunks start on block
// boundaries, and a row of whole blocks ends in whole blocks.
constexpr int64_t kPreciseChunk = 512;
float vec_dot_f32(TensorType type, int64_t n, const void* w_row, const float* x);
float dot_f32_chunked(const float* w, const float* x, int64_t n);
// Precise products of `rows` consecutive weight rows (w, w_row_bytes apart) with n_tok activation
// rows (x, x_stride floats apart): out[t * out_stride + r] is vec_dot_f32 of row r and token t,
// the same bits. Types with register kernels decode each block once for four tokens; the others
// dequantise the rows once into scratch (grown as needed) for all the tokens.
void vec_dot_f32_rows(TensorType type, int64_t n, const uint8_t* w, size_t w_row_bytes,
                      int64_t rows, const float* x, int64_t x_stride, int64_t n_tok, float* out,
                      int64_t out_stride, std::vector<float>& scratch);

// The plain F32 dot product (SIMD, four accumulators).
float dot_f32(const float* a, const float* b, int64_t n);

}  // namespace gb::cpu
