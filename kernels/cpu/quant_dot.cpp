// SIMD dot products of one weight row with one quantised activation row (AVX2, plus AVX-512
// VNNI / AVX-512F where the compiler targets them); other CPUs use the scalar reference.
//
// Decode is memory-bound: each weight byte is read exactly once, straight from the block, and
// turned into int8/uint8 lanes with a couple of shifts and masks. Products are summed in int32
// inside a block (maddubs+madd, or one vpdpbusd with VNNI) and only the per-block sum is
// converted to float, so the float work per byte of weights stays small. Scales live in
// registers; nothing is written back to memory.
#include <cstring>

// GCC 12's AVX-512 headers use _mm512_undefined_*() in ways that raise -Wmaybe-uninitialized
// once inlined (GCC bug 105593); the warning is about the header, not this file.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "kernels/cpu/half.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/quant_blocks.h"
#include "kernels/cpu/quant_ref.h"
#include "kernels/cpu/quant_simd.h"

namespace gb::cpu {

TensorType vec_dot_type(TensorType weight_type) {
    switch (weight_type) {
        case TensorType::Q4_0:
        case TensorType::Q5_0:
        case TensorType::Q8_0: return TensorType::Q8_0;
        case TensorType::Q4_1:
        case TensorType::Q5_1: return TensorType::Q8_1;
        case TensorType::Q4_K:
        case TensorType::Q5_K:
        case TensorType::Q6_K: return TensorType::Q8_K;
        default: return weight_type;  // F32, F16, BF16 dot in their own format
    }
}

#if defined(GB_QUANT_AVX2)
namespace {

using namespace simd;

// ---- small helpers ---------------------------------------------------------------------------

// 8 int32 lanes, each the sum of 4 products of unsigned a and signed b bytes (dot_acc from 0).
inline __m256i dot_u8s8(__m256i a, __m256i b) { return dot_acc(_mm256_setzero_si256(), a, b); }

// Signed x signed: |a| times b with a's sign moved onto b. a may hold -128 (|a| = 128 as u8);
// b must not, which holds for activations: Q8_0 codes stay within [-127, 127].
inline __m256i dot_s8s8(__m256i a, __m256i b) {
    return dot_u8s8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}

// ---- legacy 32-element blocks ----------------------------------------------------------------
// Two accumulators so consecutive blocks' FMAs do not wait on each other; the loop is unrolled
// by hand, as an array indexed by i & 1 lives on the stack and chains every block through a
// store and a reload. A block's two f16 scales (d and m, or d and s) are converted together.

// [d, second] of a block whose first 4 bytes are two f16 values.
inline __m128 f16_pair(const void* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(v)));
}

// Sums step(i, acc) over the blocks into two accumulators.
template <class Step>
inline float sum_blocks(int64_t nb, Step step) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 1 < nb; i += 2) {
        acc0 = step(i, acc0);
        acc1 = step(i + 1, acc1);
    }
    if (i < nb) acc0 = step(i, acc0);
    return hsum(_mm256_add_ps(acc0, acc1));
}

float dot_q8_0(const BlockQ8_0* w, const BlockQ8_0* x, int64_t nb) {
    return sum_blocks(nb, [&](int64_t i, __m256 acc) {
        const __m256i p = dot_s8s8(load256(w[i].qs), load256(x[i].qs));
        const __m256 d = _mm256_set1_ps(f16(w[i].d) * f16(x[i].d));
        return _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
    });
}

float dot_q4_0(const BlockQ4_0* w, const BlockQ8_0* x, int64_t nb) {
    const __m256i eight = _mm256_set1_epi8(8);
    return sum_blocks(nb, [&](int64_t i, __m256 acc) {
        const __m256i q = _mm256_sub_epi8(nibbles32(w[i].qs), eight);
        const __m256i p = dot_s8s8(q, load256(x[i].qs));
        const __m256 d = _mm256_set1_ps(f16(w[i].d) * f16(x[i].d));
        return _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
    });
}

// Q4_1 and Q5_1: d_w*d_x*sum(q*x) + m_w * s_x, with s_x = d_x * sum(x codes) precomputed in
// Q8_1. [d_w, m_w] * [d_x, s_x] gives both factors in one multiply; the min terms gather in
// lane 1 of their own accumulator.
template <class Block, class Quants>
inline float dot_with_min(const Block* w, const BlockQ8_1* x, int64_t nb, Quants quants) {
    __m128 mins = _mm_setzero_ps();
    const float dots = sum_blocks(nb, [&](int64_t i, __m256 acc) {
        const __m128 wf = f16_pair(&w[i].d), xf = f16_pair(&x[i].d);
        const __m128 f = _mm_mul_ps(wf, xf);
        mins = _mm_fmadd_ps(wf, xf, mins);  // m_w * s_x added with one rounding
        const __m256i p = dot_u8s8(quants(w[i]), load256(x[i].qs));
        return _mm256_fmadd_ps(_mm256_broadcastss_ps(f), _mm256_cvtepi32_ps(p), acc);
    });
    return dots + _mm_cvtss_f32(_mm_movehdup_ps(mins));
}

float dot_q4_1(const BlockQ4_1* w, const BlockQ8_1* x, int64_t nb) {
    return dot_with_min(w, x, nb, [](const BlockQ4_1& b) { return nibbles32(b.qs); });
}

float dot_q5_0(const BlockQ5_0* w, const BlockQ8_0* x, int64_t nb) {
    const __m256i high = _mm256_set1_epi8(static_cast<char>(0xf0));
    return sum_blocks(nb, [&](int64_t i, __m256 acc) {
        // q - 16 is the nibble when bit 4 is set, and nibble | 0xf0 (= nibble - 16) when not.
        const __m256i q =
            _mm256_or_si256(nibbles32(w[i].qs), _mm256_andnot_si256(bits_to_bytes(w[i].qh), high));
        const __m256i p = dot_s8s8(q, load256(x[i].qs));
        const __m256 d = _mm256_set1_ps(f16(w[i].d) * f16(x[i].d));
        return _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
    });
}

float dot_q5_1(const BlockQ5_1* w, const BlockQ8_1* x, int64_t nb) {
    const __m256i bit4 = _mm256_set1_epi8(0x10);
    return dot_with_min(w, x, nb, [&](const BlockQ5_1& b) {
        return _mm256_or_si256(nibbles32(b.qs), _mm256_and_si256(bits_to_bytes(b.qh), bit4));
    });
}

// ---- K formats -------------------------------------------------------------------------------

// sum_j m_j * (x codes summed over sub-block j): the min term of Q4_K/Q5_K, in int32 lanes;
// m holds the eight mins as int16.
inline __m128i k4_min_term(__m128i m, const int16_t* bsums) {
    const __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bsums));
    const __m128i b1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bsums + 8));
    const __m128i pair = _mm_hadd_epi16(b0, b1);  // sub-block sums, |.| <= 4096
    return _mm_madd_epi16(m, pair);
}

// acc + one 32-element sub-block: codes (u8, < 64) times x, weighted by its scale (int16 lanes).
inline __m256i scaled_sub_block(__m256i acc, __m256i q, const int8_t* x, __m256i scale) {
    return madd_acc(acc, _mm256_maddubs_epi16(q, load256(x)), scale);
}

template <bool kFiveBit, typename Block>
float dot_q45_k(const Block* w, const BlockQ8_K* x, int64_t nb) {
    // pshufb patterns that broadcast int16 scale j to every lane: one shuffle per sub-block
    // instead of a scalar load and broadcast.
    __m256i pick[8];
    for (int j = 0; j < 8; ++j)
        pick[j] = _mm256_set1_epi16(static_cast<short>(((2 * j + 1) << 8) | (2 * j)));
    __m256 acc = _mm256_setzero_ps();
    __m128 acc_m = _mm_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
        const __m128i sm = k4_scales_mins(w[i].scales);
        const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
        // (d, dmin) * x.d in one multiply: the same roundings as two scalar products, without
        // the scalar-to-vector moves and broadcasts.
        const __m128 dd = _mm_mul_ps(f16_pair(&w[i].d), _mm_set1_ps(x[i].d));
        const __m128i mins = k4_min_term(_mm_cvtepu8_epi16(_mm_srli_si128(sm, 8)), x[i].bsums);
        acc_m = _mm_fmadd_ps(_mm_permute_ps(dd, 0x55), _mm_cvtepi32_ps(mins), acc_m);

        __m256i hbits = _mm256_setzero_si256();
        if constexpr (kFiveBit) hbits = load256(w[i].qh);
        __m256i sum = _mm256_setzero_si256();
        for (int c = 0; c < 4; ++c) {
            __m256i lo, hi;
            k4_codes<kFiveBit>(w[i].qs + 32 * c, hbits, lo, hi);
            const int8_t* xq = x[i].qs + 64 * c;
            sum = scaled_sub_block(sum, lo, xq, _mm256_shuffle_epi8(sc16, pick[2 * c]));
            sum = scaled_sub_block(sum, hi, xq + 32, _mm256_shuffle_epi8(sc16, pick[2 * c + 1]));
        }
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(dd), _mm256_cvtepi32_ps(sum), acc);
    }
    return hsum(acc) - hsum(acc_m);
}

// Q6_K: sum_g sc_g * sum (q - 32) * x over groups of 16, computed as sc_g * q * x minus
// 32 * sc_g * bsum_g so the codes stay unsigned (0..63) for maddubs.
float dot_q6_k(const BlockQ6_K* w, const BlockQ8_K* x, int64_t nb) {
    // pshufb patterns that pick scale g (low 8 bytes) and g+1 (high 8 bytes).
    __m128i pick[8];
    for (int k = 0; k < 8; ++k)
        pick[k] =
            _mm_set_epi64x(0x0101010101010101ll * (2 * k + 1), 0x0101010101010101ll * (2 * k));
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
        const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[i].scales));
        const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
        const __m256i offset =
            _mm256_madd_epi16(sc16, load256(x[i].bsums));  // sum_g sc_g * bsum_g, 8 lanes
        __m256i sum = _mm256_slli_epi32(offset, 5);
        sum = _mm256_sub_epi32(_mm256_setzero_si256(), sum);
        for (int h = 0; h < 2; ++h) {
            __m256i q[4];
            q6k_codes(w[i].ql + 64 * h, w[i].qh + 32 * h, q);
            const int8_t* xq = x[i].qs + 128 * h;
            for (int k = 0; k < 4; ++k) {
                const __m256i s = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, pick[4 * h + k]));
                sum = scaled_sub_block(sum, q[k], xq + 32 * k, s);
            }
        }
        const float d = f16(w[i].d) * x[i].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sum), acc);
    }
    return hsum(acc);
}

// ---- plain floats ----------------------------------------------------------------------------
// Four independent accumulators hide the FMA latency; the tail is scalar.

#if defined(__AVX512F__)
inline __m512 load16_f32(const float* p) { return _mm512_loadu_ps(p); }
inline __m512 load16_f16(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
inline __m512 load16_bf16(const uint16_t* p) {
    const __m512i v =
        _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}
template <typename T, typename Load, typename Conv>
float dot_plain(const T* w, const T* x, int64_t n, Load load, Conv conv) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_fmadd_ps(load(w + i), load(x + i), a0);
        a1 = _mm512_fmadd_ps(load(w + i + 16), load(x + i + 16), a1);
        a2 = _mm512_fmadd_ps(load(w + i + 32), load(x + i + 32), a2);
        a3 = _mm512_fmadd_ps(load(w + i + 48), load(x + i + 48), a3);
    }
    for (; i + 16 <= n; i += 16) a0 = _mm512_fmadd_ps(load(w + i), load(x + i), a0);
    float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
    for (; i < n; ++i) s += conv(w[i]) * conv(x[i]);
    return s;
}
#else
inline __m256 load16_f32(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load16_f16(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline __m256 load16_bf16(const uint16_t* p) {
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}
template <typename T, typename Load, typename Conv>
float dot_plain(const T* w, const T* x, int64_t n, Load load, Conv conv) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(load(w + i), load(x + i), a0);
        a1 = _mm256_fmadd_ps(load(w + i + 8), load(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(load(w + i + 16), load(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(load(w + i + 24), load(x + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load(w + i), load(x + i), a0);
    float s = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; ++i) s += conv(w[i]) * conv(x[i]);
    return s;
}
#endif

}  // namespace

float vec_dot(TensorType type, int64_t n, const void* w, const void* x) {
    const int64_t nb = n / type_info(type).block_size;
    switch (type) {
        case TensorType::F32:
            return dot_plain(static_cast<const float*>(w), static_cast<const float*>(x), n,
                             load16_f32, [](float v) { return v; });
        case TensorType::F16:
            return dot_plain(static_cast<const uint16_t*>(w), static_cast<const uint16_t*>(x), n,
                             load16_f16, fp16_to_float);
        case TensorType::BF16:
            return dot_plain(static_cast<const uint16_t*>(w), static_cast<const uint16_t*>(x), n,
                             load16_bf16, bf16_to_float);
        case TensorType::Q4_0:
            return dot_q4_0(static_cast<const BlockQ4_0*>(w), static_cast<const BlockQ8_0*>(x), nb);
        case TensorType::Q4_1:
            return dot_q4_1(static_cast<const BlockQ4_1*>(w), static_cast<const BlockQ8_1*>(x), nb);
        case TensorType::Q5_0:
            return dot_q5_0(static_cast<const BlockQ5_0*>(w), static_cast<const BlockQ8_0*>(x), nb);
        case TensorType::Q5_1:
            return dot_q5_1(static_cast<const BlockQ5_1*>(w), static_cast<const BlockQ8_1*>(x), nb);
        case TensorType::Q8_0:
            return dot_q8_0(static_cast<const BlockQ8_0*>(w), static_cast<const BlockQ8_0*>(x), nb);
        case TensorType::Q4_K:
            return dot_q45_k<false>(static_cast<const BlockQ4_K*>(w),
                                    static_cast<const BlockQ8_K*>(x), nb);
        case TensorType::Q5_K:
            return dot_q45_k<true>(static_cast<const BlockQ5_K*>(w),
                                   static_cast<const BlockQ8_K*>(x), nb);
        case TensorType::Q6_K:
            return dot_q6_k(static_cast<const BlockQ6_K*>(w), static_cast<const BlockQ8_K*>(x), nb);
        default: return ref::vec_dot(type, n, w, x);  // throws for unsupported types
    }
}

#else  // no AVX2: the scalar reference is the kernel

float vec_dot(TensorType type, int64_t n, const void* w, const void* x) {
    return ref::vec_dot(type, n, w, x);
}

#endif

}  // namespace gb::cpu
