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

// Precise mode (precise_dot.cpp): products of weight rows (any type dequantize_row reads) with
// float activations that are never rounded to 8 bits.
//
// Block types with an integer kernel (has_precise_int_dot; AVX2 builds) take their activations
// split: each unit of 32 floats is written exactly as
//     x = d * (16384 q1 + 128 q2 + q3) + r
// with d a power of two, |q1| <= 127 and |q2|, |q3| <= 64 signed bytes, and |r| at most 2^-21 of
// the unit's largest |x| (r is the one part left out: about 8 times F32's own rounding of that
// element). The weight codes' products with q1, q2 and q3 are exact int32 sums, combined in an
// int32 lane and converted to float once per unit; so the result is the dot product of the
// dequantised weights with x - r, with F32 rounding of the per-unit and per-chunk sums only (F32
// lanes within chunks of kPreciseChunk elements, the chunk sums in double). A unit whose largest
// |x| is below 2^-60 counts as zero.
// Other types (F16, BF16, F32, or no AVX2) dequantise each chunk and take the F32 dot product of
// the floats as they are (dot_f32_chunked).
// Either way a row's value for a token is the same bits whatever other tokens share the call.
// kPreciseChunk is a multiple of every block size (1, 32, 256): chunks start on block
// boundaries, and a row of whole blocks ends in whole blocks.
constexpr int64_t kPreciseChunk = 512;
bool has_precise_int_dot(TensorType type);

// Activation rows for the precise products: the floats, and their split units where asked.
class PreciseActs {
public:
    struct alignas(32) Unit {
        int8_t q[3][32];   // q1, q2, q3 of the 32 elements, in element order
        int32_t lanes[8];  // lane i: sum over elements 4i..4i+3 of 16384 q1 + 128 q2 + q3
        float d;           // the unit's power-of-two scale times 2^-14 (0: a zero unit)
        float sum;         // d * (the sum of the lanes): the sum of x - r over the unit
    };
    // Points at `rows` rows of n floats, x_stride apart (kept, not copied: they must outlive
    // the products). With `split` (and n a multiple of 32) the rows are also split, by
    // split_rows: call it for every row before the products read them.
    void prepare(const float* x, int64_t x_stride, int64_t rows, int64_t n, bool split);
    void split_rows(int64_t r0, int64_t r1);
    // prepare + split_rows of every row, on this thread.
    void assign(const float* x, int64_t x_stride, int64_t rows, int64_t n, bool split) {
        prepare(x, x_stride, rows, n, split);
        split_rows(0, rows);
    }
    bool split() const { return split_; }
    int64_t rows() const { return rows_; }
    const float* row(int64_t r) const { return x_ + r * stride_; }
    const Unit* units(int64_t r) const { return units_.data() + r * (n_ / 32); }

private:
    const float* x_ = nullptr;
    int64_t stride_ = 0, rows_ = 0, n_ = 0;
    bool split_ = false;
    std::vector<Unit> units_;
};

// The precise product of one weight row (`type`, n elements) with row t of x.
float vec_dot_precise(TensorType type, int64_t n, const void* w_row, const PreciseActs& x,
                      int64_t t);
// Precise products of `rows` consecutive weight rows (w, w_row_bytes apart) with the n_tok
// activation rows t0 .. t0+n_tok-1 of x: out[t * out_stride + r] is vec_dot_precise of row r and
// token t0+t, the same bits. Integer kernels decode each block once for four tokens; the other
// types dequantise the rows once into scratch (grown as needed) for all the tokens.
void vec_dot_precise_rows(TensorType type, int64_t n, const uint8_t* w, size_t w_row_bytes,
                          int64_t rows, const PreciseActs& x, int64_t t0, int64_t n_tok, float* out,
                          int64_t out_stride, std::vector<float>& scratch);
float dot_f32_chunked(const float* w, const float* x, int64_t n);

// The plain F32 dot product (SIMD, four accumulators).
float dot_f32(const float* a, const float* b, int64_t n);

}  // namespace gb::cpu
