// AVX2 helpers shared by the quantised dot products (quant_dot.cpp), the GEMM tiles
// (quant_gemm.cpp) and precise mode's products (precise_dot.cpp): horizontal sums, byte
// products, block code unpacking, the K formats' scales.
// Only for translation units compiled with AVX2, FMA and F16C (GB_QUANT_AVX2).
#pragma once

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define GB_QUANT_AVX2 1
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/cpu/half.h"

namespace gb::cpu::simd {

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

inline float hsum(__m128 s) {
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// acc plus, per int32 lane, the sum of four products of unsigned a and signed b bytes. Without
// VNNI maddubs makes int16 pair sums: callers keep |a*b| pairs below 32767 (|a| <= 128 and
// |b| <= 127 do), so it never saturates.
inline __m256i dot_acc(__m256i acc, __m256i a, __m256i b) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpbusd_epi32(acc, a, b);
#else
    return _mm256_add_epi32(acc,
                            _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1)));
#endif
}

// acc + pairwise int16 products p * scale (VNNI fuses the multiply-add and the add).
inline __m256i madd_acc(__m256i acc, __m256i p, __m256i scale) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpwssd_epi32(acc, p, scale);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, scale));
#endif
}

// 32 nibbles of a legacy block: low nibbles are elements 0..15, high nibbles 16..31.
inline __m256i nibbles32(const uint8_t* qs) {
    const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
    const __m256i v = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

// 0xff in byte j where bit j of the 32 bits at p is set.
inline __m256i bits_to_bytes(const uint8_t* p) {
    uint32_t bits;
    std::memcpy(&bits, p, 4);
#if defined(__AVX512BW__) && defined(__AVX512VL__)
    return _mm256_movm_epi8(bits);
#else
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(static_cast<int>(bits)),
        _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
    const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
#endif
}

inline float f16(uint16_t h) { return fp16_to_float(h); }  // half.h: no false dependency

// Unpacks the 12-byte Q4_K/Q5_K scale field into sc[0..7] (bytes 0..7) and m[0..7] (8..15),
// four 6-bit values per 32-bit word at a time (see k4_scale_min for the layout).
inline void k4_unpack_scales(const uint8_t* packed, uint8_t* out16) {
    uint32_t w[3];
    std::memcpy(w, packed, 12);
    const uint32_t low6 = 0x3f3f3f3f, low4 = 0x0f0f0f0f, low2 = 0x03030303;
    const uint32_t sc_lo = w[0] & low6;
    const uint32_t m_lo = w[1] & low6;
    const uint32_t sc_hi = (w[2] & low4) | (((w[0] >> 6) & low2) << 4);
    const uint32_t m_hi = ((w[2] >> 4) & low4) | (((w[1] >> 6) & low2) << 4);
    const uint32_t r[4] = {sc_lo, sc_hi, m_lo, m_hi};
    std::memcpy(out16, r, 16);
}

// k4_unpack_scales in a register: sc[0..7] in bytes 0..7, m[0..7] in bytes 8..15. Reads 16 bytes
// at packed: the 12 of the scale field and 4 after it, which every Q4_K/Q5_K block has (its
// codes follow the scales).
inline __m128i k4_scales_mins(const uint8_t* packed) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(packed));  // w0 w1 w2 .
    const __m128i low4 = _mm_set1_epi8(0x0f);
    const __m128i lo = _mm_and_si128(v, _mm_set1_epi8(0x3f));  // sc_lo (lane 0), m_lo (lane 1)
    const __m128i top = _mm_slli_epi32(_mm_and_si128(_mm_srli_epi32(v, 6), _mm_set1_epi8(0x03)), 4);
    const __m128i w2 = _mm_srlv_epi32(_mm_shuffle_epi32(v, 0xaa), _mm_setr_epi32(0, 4, 0, 0));
    const __m128i hi = _mm_or_si128(_mm_and_si128(w2, low4), top);  // sc_hi (lane 0), m_hi (1)
    return _mm_unpacklo_epi32(lo, hi);                              // sc_lo sc_hi m_lo m_hi
}

// The codes of chunk c (0..3) of a Q4_K (kFiveBit false) or Q5_K block: lo holds sub-block 2c,
// hi sub-block 2c+1 (32 codes each). For Q5_K, hbits starts as the block's 32 qh bytes and is
// shifted on by each call: bit 2c of qh[l] is bit 4 of sub-block 2c's element l, bit 2c+1 of
// 2c+1's.
template <bool kFiveBit>
inline void k4_codes(const uint8_t* qs_chunk, __m256i& hbits, __m256i& lo, __m256i& hi) {
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const __m256i raw = load256(qs_chunk);
    lo = _mm256_and_si256(raw, low4);
    hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
    if constexpr (kFiveBit) {
        const __m256i bit4 = _mm256_set1_epi8(0x10);
        lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(hbits, 4), bit4));
        hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(hbits, 3), bit4));
        hbits = _mm256_srli_epi16(hbits, 2);
    }
}

// The codes (0..63, before the -32 offset) of half h of a Q6_K block: q[k] holds elements
// 32k .. 32k+31 of the half, 4 low bits from ql and 2 high bits from qh.
inline void q6k_codes(const uint8_t* ql_half, const uint8_t* qh_half, __m256i* q) {
    const __m256i low4 = _mm256_set1_epi8(0x0f), two = _mm256_set1_epi8(0x30);
    const __m256i qh = load256(qh_half);
    const __m256i l0 = load256(ql_half), l1 = load256(ql_half + 32);
    q[0] = _mm256_or_si256(_mm256_and_si256(l0, low4),
                           _mm256_and_si256(_mm256_slli_epi16(qh, 4), two));
    q[1] = _mm256_or_si256(_mm256_and_si256(l1, low4),
                           _mm256_and_si256(_mm256_slli_epi16(qh, 2), two));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4),
                           _mm256_and_si256(qh, two));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                           _mm256_and_si256(_mm256_srli_epi16(qh, 2), two));
}

}  // namespace gb::cpu::simd

#endif
