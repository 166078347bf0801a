// Public entry points for dequantisation and quantisation: SIMD where it pays, else the
// scalar reference (which defines the exact rounding).
// The SIMD dequantisers do the reference's float operations in the same order (a multiply, then
// an add; never a fused multiply-add), so their output is bit-identical to it.
#include "kernels/cpu/quant.h"

#include <cstring>

#include "kernels/cpu/half.h"
#include "kernels/cpu/quant_blocks.h"
#include "kernels/cpu/quant_ref.h"

#if defined(__AVX2__) && defined(__F16C__)
#include <immintrin.h>
#endif

// Intrinsic multiplies and adds are plain vector operators to the compiler, which would fuse
// them into FMAs and break bit-exactness with the reference.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#elif defined(__clang__)
#pragma clang fp contract(off)
#endif

namespace gb::cpu {

#if defined(__AVX2__) && defined(__F16C__)
namespace {

// 8 int8/uint8 values at p widened to floats.
inline __m256 i8_to_f32(const int8_t* p) {
    return _mm256_cvtepi32_ps(
        _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}
inline __m256 u8_to_f32(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v)); }

// 32 codes of a 4-bit legacy block as bytes: elements 0..15 low nibbles, 16..31 high.
inline __m256i nibbles(const uint8_t* qs) {
    const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0f));
}

inline void store_codes32(__m256i q, __m256 d, __m256 m, float* y, bool add_m) {
    alignas(32) uint8_t c[32];
    _mm256_store_si256(reinterpret_cast<__m256i*>(c), q);
    for (int k = 0; k < 4; ++k) {
        __m256 v = _mm256_mul_ps(
            d, u8_to_f32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(c + 8 * k))));
        if (add_m) v = _mm256_add_ps(v, m);
        _mm256_storeu_ps(y + 8 * k, v);
    }
}

void deq_q4_0(const BlockQ4_0* b, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += kQK) {
        // d * (q - 8): the subtraction is exact in int8, so do it before converting.
        const __m256i q = _mm256_sub_epi8(nibbles(b[i].qs), _mm256_set1_epi8(8));
        alignas(32) int8_t c[32];
        _mm256_store_si256(reinterpret_cast<__m256i*>(c), q);
        const __m256 d = _mm256_set1_ps(fp16_to_float(b[i].d));
        for (int k = 0; k < 4; ++k)
            _mm256_storeu_ps(y + 8 * k, _mm256_mul_ps(d, i8_to_f32(c + 8 * k)));
    }
}

void deq_q4_1(const BlockQ4_1* b, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += kQK)
        store_codes32(nibbles(b[i].qs), _mm256_set1_ps(fp16_to_float(b[i].d)),
                      _mm256_set1_ps(fp16_to_float(b[i].m)), y, true);
}

void deq_f16(const uint16_t* x, float* y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i,
                         _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))));
    for (; i < n; ++i) y[i] = fp16_to_float(x[i]);
}

}  // namespace

void dequantize_row(TensorType type, const void* src, float* dst, int64_t n) {
    const int64_t nb = n / type_info(type).block_size;
    switch (type) {
        case TensorType::Q4_0: return deq_q4_0(static_cast<const BlockQ4_0*>(src), dst, nb);
        case TensorType::Q4_1: return deq_q4_1(static_cast<const BlockQ4_1*>(src), dst, nb);
        case TensorType::F16: return deq_f16(static_cast<const uint16_t*>(src), dst, n);
        default:
            return ref::dequantize_row(type, src, dst, n);  // the compiler vectorises these well
    }
}

#else

void dequantize_row(TensorType type, const void* src, float* dst, int64_t n) {
    ref::dequantize_row(type, src, dst, n);
}

#endif

// Activation rows are quantised once per matmul and are tiny next to the weights: the
// reference is fast enough and is the definition of the rounding.
void quantize_row(TensorType type, const float* src, void* dst, int64_t n) {
    ref::quantize_row(type, src, dst, n);
}

}  // namespace gb::cpu
