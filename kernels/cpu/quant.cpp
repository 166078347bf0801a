// Public entry points for dequantisation and quantisation: SIMD where it pays, else the
// scalar reference (which defines the exact rounding).
// The SIMD dequantisers do the reference's float operations in the same order (a multiply, then
// an add; never a fused multiply-add), so their output is bit-identical to it.
#include "kernels/cpu/quant.h"

#include <cmath>
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

// Activation rows are quantised once per matmul: a prompt's 512 rows cost a few percent of its
// matmuls in the scalar reference, so the 8-bit activation formats have SIMD quantisers that
// give the reference's bytes exactly (same products, same rounding); the rest use it directly.
#if defined(__AVX2__) && defined(__F16C__)
namespace {

inline float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

inline int hsum8i(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

// Largest |x| over n (a multiple of 8) floats; NaNs are skipped, as the reference's comparisons
// skip them (max_ps returns its second operand when either is NaN).
inline float absmax(const float* x, int n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8)
        m = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)), m);
    return hmax8(m);
}

// Four int32 vectors (32 codes in order) packed to 32 int8 in order.
inline __m256i pack32(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
    return _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd),
                                       _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// quant_8bit of the reference: d = amax / 127, codes round(x / d) half away from zero (trunc of
// x * id + copysign(0.49999997, x), exact for |x * id| < 2^23). Returns the code sum.
int quant_8bit(const float* x, uint16_t& d16, int8_t* qs, float& d_out) {
    const float amax = absmax(x, 32);
    const float d = amax / 127;
    const float id = d == 0 || !std::isfinite(1.0f / d) ? 0.0f : 1.0f / d;  // as the reference
    d16 = float_to_fp16(d);
    d_out = d;
    const __m256 vid = _mm256_set1_ps(id), sign = _mm256_set1_ps(-0.0f),
                 half = _mm256_set1_ps(0.49999997f);
    __m256i q[4];
    __m256i sum = _mm256_setzero_si256();
    for (int k = 0; k < 4; ++k) {
        const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), vid);
        const __m256 r =
            _mm256_round_ps(_mm256_add_ps(v, _mm256_or_ps(_mm256_and_ps(v, sign), half)),
                            _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        q[k] = _mm256_cvttps_epi32(r);
        sum = _mm256_add_epi32(sum, q[k]);
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs), pack32(q[0], q[1], q[2], q[3]));
    return hsum8i(sum);
}

void quant_q8_0(const float* x, BlockQ8_0* b, int64_t nb) {
    float d;
    for (int64_t i = 0; i < nb; ++i) quant_8bit(x + i * kQK, b[i].d, b[i].qs, d);
}

void quant_q8_1(const float* x, BlockQ8_1* b, int64_t nb) {
    float d;
    for (int64_t i = 0; i < nb; ++i) {
        const int sum = quant_8bit(x + i * kQK, b[i].d, b[i].qs, d);
        b[i].s = float_to_fp16(d * static_cast<float>(sum));
    }
}

// The reference's Q8_K: the first element of largest magnitude maps to -128, the rest round to
// nearest (ties to even) and clamp at 127; bsums are the sums of 16 codes.
void quant_q8_k(const float* x, BlockQ8_K* b, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQKK) {
        const float amax = absmax(x, kQKK);
        if (amax == 0 || !std::isfinite(-128.0f / amax)) {  // as the reference
            b[i] = BlockQ8_K{};
            continue;
        }
        int j = 0;
        while (std::fabs(x[j]) != amax) ++j;
        const float iscale = -128.0f / x[j];
        const __m256 vs = _mm256_set1_ps(iscale), hi = _mm256_set1_ps(127.0f);
        for (int g = 0; g < kQKK; g += 32) {
            __m256i q[4];
            for (int k = 0; k < 4; ++k) {
                const __m256 v = _mm256_round_ps(_mm256_mul_ps(vs, _mm256_loadu_ps(x + g + 8 * k)),
                                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                q[k] = _mm256_cvtps_epi32(_mm256_min_ps(v, hi));
            }
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(b[i].qs + g),
                                pack32(q[0], q[1], q[2], q[3]));
            b[i].bsums[g / 16] = static_cast<int16_t>(hsum8i(_mm256_add_epi32(q[0], q[1])));
            b[i].bsums[g / 16 + 1] = static_cast<int16_t>(hsum8i(_mm256_add_epi32(q[2], q[3])));
        }
        b[i].d = 1.0f / iscale;
    }
}

}  // namespace

void quantize_row(TensorType type, const float* src, void* dst, int64_t n) {
    switch (type) {
        case TensorType::Q8_0: return quant_q8_0(src, static_cast<BlockQ8_0*>(dst), n / kQK);
        case TensorType::Q8_1: return quant_q8_1(src, static_cast<BlockQ8_1*>(dst), n / kQK);
        case TensorType::Q8_K: return quant_q8_k(src, static_cast<BlockQ8_K*>(dst), n / kQKK);
        default: return ref::quantize_row(type, src, dst, n);
    }
}
#else
void quantize_row(TensorType type, const float* src, void* dst, int64_t n) {
    ref::quantize_row(type, src, dst, n);
}
#endif

}  // namespace gb::cpu
