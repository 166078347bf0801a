// Tiled quantised GEMM for prompt processing: an NR x NT tile of (weight row, token) outputs.
//
// A prompt multiplies every weight block by hundreds of tokens, so unlike decode it is bound by
// arithmetic, not by memory. The per-pair dot product spends most of its instructions unpacking
// the weight block (nibbles, high bits, scales) and reducing its vector to a scalar; a tile
// unpacks each weight block once into registers and reuses it for NT tokens, and each activation
// block for NR rows, keeping one vector accumulator per output and reducing it once at the end.
// Legacy formats (offset codes q - 8, q - 16, w + 128) take the offset out of the inner product:
// sum((q - o) * x) = sum(q * x) - o * sum(x), and o * sum(x) is computed once per token block.
#include "kernels/cpu/quant_gemm.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

// GCC 12's AVX-512 headers use _mm512_undefined_*() in ways that raise -Wmaybe-uninitialized
// once inlined (GCC bug 105593); the warning is about the header, not this file.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "kernels/cpu/half.h"
#include "kernels/cpu/quant_blocks.h"
#include "kernels/cpu/quant_simd.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define GB_GEMM_AVX2 1
#include <immintrin.h>
#endif

#if defined(GB_GEMM_AVX2) && defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define GB_GEMM_VNNI 1
#endif

namespace gb::cpu {

#if defined(GB_GEMM_AVX2)
namespace {

// ---- helpers ---------------------------------------------------------------------------------

using simd::dot_acc;
using simd::f16;
using simd::hsum;
using simd::load256;
using simd::madd_acc;
using simd::nibbles32;

// v, hidden from the optimiser: GCC turns broadcast(a) * broadcast(b) into a scalar multiply
// and a broadcast, two instructions per (row, token) pair where one vector multiply does.
inline __m256 opaque(__m256 v) {
#if defined(__GNUC__)
    asm("" : "+x"(v));
#endif
    return v;
}

// 0x10 in byte j where bit j of the 32 bits at p is set (bit 4 of a Q5 code).
inline __m256i bit4_bytes(const uint8_t* p) {
    uint32_t bits;
    std::memcpy(&bits, p, 4);
#if defined(__AVX512BW__) && defined(__AVX512VL__)
    return _mm256_maskz_mov_epi8(bits, _mm256_set1_epi8(0x10));
#else
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(static_cast<int>(bits)),
        _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
    const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit),
                            _mm256_set1_epi8(0x10));
#endif
}

// Each tile kernel fills res[r][t] for the rows wr[0..NR) and token rows xr[0..NT).
template <int NR, int NT>
using TileFn = void (*)(const uint8_t* const* wr, const uint8_t* const* xr, int64_t nb,
                        float (*res)[NT]);

// ---- legacy 32-element blocks ----------------------------------------------------------------
// Each format gives its codes as unsigned bytes and the offset o such that the value is q - o
// (or d * q + m when it has a min).

struct FmtQ4_0 {
    using W = BlockQ4_0;
    using X = BlockQ8_0;
    static constexpr int kOffset = 8;
    static constexpr bool kMin = false;
    static __m256i codes(const W& b) { return nibbles32(b.qs); }
};
struct FmtQ4_1 {
    using W = BlockQ4_1;
    using X = BlockQ8_1;
    static constexpr int kOffset = 0;
    static constexpr bool kMin = true;
    static __m256i codes(const W& b) { return nibbles32(b.qs); }
};
struct FmtQ5_0 {
    using W = BlockQ5_0;
    using X = BlockQ8_0;
    static constexpr int kOffset = 16;
    static constexpr bool kMin = false;
    static __m256i codes(const W& b) { return _mm256_or_si256(nibbles32(b.qs), bit4_bytes(b.qh)); }
};
struct FmtQ5_1 {
    using W = BlockQ5_1;
    using X = BlockQ8_1;
    static constexpr int kOffset = 0;
    static constexpr bool kMin = true;
    static __m256i codes(const W& b) { return _mm256_or_si256(nibbles32(b.qs), bit4_bytes(b.qh)); }
};
// Q8_0 weights are signed: w + 128 is unsigned, which only VNNI (no int16 saturation) takes;
// AVX2 without it uses q8_0_tile.
struct FmtQ8_0 {
    using W = BlockQ8_0;
    using X = BlockQ8_0;
    static constexpr int kOffset = 128;
    static constexpr bool kMin = false;
    static __m256i codes(const W& b) {
        return _mm256_xor_si256(load256(b.qs), _mm256_set1_epi8(static_cast<char>(0x80)));
    }
};

template <class F, int NR, int NT>
void legacy_tile(const uint8_t* const* wr, const uint8_t* const* xr, int64_t nb, float (*res)[NT]) {
    static_assert(NT % 4 == 0, "the min term is kept in vectors of 4 tokens");
    using W = typename F::W;
    using X = typename F::X;
    __m256 acc[NR][NT];
    __m128 mins[NR][NT / 4];  // m_w * s_x per row, 4 tokens a vector
    for (int r = 0; r < NR; ++r) {
        for (int t = 0; t < NT; ++t) acc[r][t] = _mm256_setzero_ps();
        for (int t = 0; t < NT / 4; ++t) mins[r][t] = _mm_setzero_ps();
    }
    const __m256i offset = _mm256_set1_epi8(static_cast<char>(F::kOffset));
    for (int64_t i = 0; i < nb; ++i) {
        __m256i q[NR];
        __m256 dw[NR];
        [[maybe_unused]] float mw[NR];
        for (int r = 0; r < NR; ++r) {
            const W& b = reinterpret_cast<const W*>(wr[r])[i];
            q[r] = F::codes(b);
            dw[r] = opaque(_mm256_set1_ps(f16(b.d)));
            if constexpr (F::kMin) mw[r] = f16(b.m);
        }
        [[maybe_unused]] alignas(16) float sx[NT];
        for (int t = 0; t < NT; ++t) {
            const X& xb = reinterpret_cast<const X*>(xr[t])[i];
            const __m256i xv = load256(xb.qs);
            const __m256 dx = opaque(_mm256_set1_ps(f16(xb.d)));
            __m256i base = _mm256_setzero_si256();
            if constexpr (F::kOffset != 0)
                base = _mm256_sub_epi32(base, dot_acc(_mm256_setzero_si256(), offset, xv));
            for (int r = 0; r < NR; ++r) {
                const __m256i p = dot_acc(base, q[r], xv);
                // d_w * d_x rounds exactly as vec_dot's scalar product does.
                acc[r][t] =
                    _mm256_fmadd_ps(_mm256_mul_ps(dw[r], dx), _mm256_cvtepi32_ps(p), acc[r][t]);
            }
            if constexpr (F::kMin) sx[t] = f16(xb.s);
        }
        if constexpr (F::kMin) {
            for (int t4 = 0; t4 < NT / 4; ++t4) {
                const __m128 s = _mm_load_ps(sx + 4 * t4);
                for (int r = 0; r < NR; ++r)
                    mins[r][t4] = _mm_fmadd_ps(_mm_set1_ps(mw[r]), s, mins[r][t4]);
            }
        }
    }
    for (int r = 0; r < NR; ++r) {
        alignas(16) float m[NT];
        for (int t4 = 0; t4 < NT / 4; ++t4) _mm_store_ps(m + 4 * t4, mins[r][t4]);
        for (int t = 0; t < NT; ++t) res[r][t] = hsum(acc[r][t]) + m[t];
    }
}

// Q8_0 without VNNI: |w| as the unsigned operand and x with w's sign moved onto it
// (sign_epi8), so each maddubs int16 pair sum is at most 2 * 128 * 127 and cannot saturate
// (activations are quantised to -127..127). The sign costs one instruction per pair.
template <int NR, int NT>
void q8_0_tile(const uint8_t* const* wr, const uint8_t* const* xr, int64_t nb, float (*res)[NT]) {
    __m256 acc[NR][NT];
    for (int r = 0; r < NR; ++r)
        for (int t = 0; t < NT; ++t) acc[r][t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
        __m256i w[NR], aw[NR];
        float dw[NR];
        for (int r = 0; r < NR; ++r) {
            const BlockQ8_0& b = reinterpret_cast<const BlockQ8_0*>(wr[r])[i];
            w[r] = load256(b.qs);
            aw[r] = _mm256_sign_epi8(w[r], w[r]);
            dw[r] = f16(b.d);
        }
        for (int t = 0; t < NT; ++t) {
            const BlockQ8_0& xb = reinterpret_cast<const BlockQ8_0*>(xr[t])[i];
            const __m256i xv = load256(xb.qs);
            const float dx = f16(xb.d);
            for (int r = 0; r < NR; ++r) {
                const __m256i p =
                    dot_acc(_mm256_setzero_si256(), aw[r], _mm256_sign_epi8(xv, w[r]));
                acc[r][t] =
                    _mm256_fmadd_ps(_mm256_set1_ps(dw[r] * dx), _mm256_cvtepi32_ps(p), acc[r][t]);
            }
        }
    }
    for (int r = 0; r < NR; ++r)
        for (int t = 0; t < NT; ++t) res[r][t] = hsum(acc[r][t]);
}

// ---- Q4_K / Q5_K -----------------------------------------------------------------------------

template <bool kFive, int NR, int NT>
void q45k_tile(const uint8_t* const* wr, const uint8_t* const* xr, int64_t nb, float (*res)[NT]) {
    using W = std::conditional_t<kFive, BlockQ5_K, BlockQ4_K>;
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const __m256i bit4 = _mm256_set1_epi8(0x10);
    __m256i pick[8];  // pshufb patterns broadcasting int16 scale j
    for (int j = 0; j < 8; ++j)
        pick[j] = _mm256_set1_epi16(static_cast<short>(((2 * j + 1) << 8) | (2 * j)));
    __m256 acc[NR][NT];
    for (int r = 0; r < NR; ++r)
        for (int t = 0; t < NT; ++t) acc[r][t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
        const W* b[NR];
        __m256i sc16[NR];
        __m128i m16[NR];
        __m256 dw[NR], dmw[NR];
        for (int r = 0; r < NR; ++r) {
            b[r] = reinterpret_cast<const W*>(wr[r]) + i;
            const __m128i sm = simd::k4_scales_mins(b[r]->scales);  // sc[0..7], m[0..7]
            sc16[r] = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
            m16[r] = _mm_cvtepu8_epi16(_mm_srli_si128(sm, 8));
            dw[r] = opaque(_mm256_set1_ps(f16(b[r]->d)));
            dmw[r] = opaque(_mm256_set1_ps(f16(b[r]->dmin)));
        }
        const BlockQ8_K* x[NT];
        for (int t = 0; t < NT; ++t) x[t] = reinterpret_cast<const BlockQ8_K*>(xr[t]) + i;
        __m256i sum[NR][NT];
        for (int r = 0; r < NR; ++r)
            for (int t = 0; t < NT; ++t) sum[r][t] = _mm256_setzero_si256();
        [[maybe_unused]] __m256i hbits[NR];
        if constexpr (kFive)
            for (int r = 0; r < NR; ++r) hbits[r] = load256(b[r]->qh);
        for (int c = 0; c < 4; ++c) {
            __m256i lo[NR], hi[NR], s_lo[NR], s_hi[NR];
            for (int r = 0; r < NR; ++r) {
                const __m256i raw = load256(b[r]->qs + 32 * c);
                lo[r] = _mm256_and_si256(raw, low4);
                hi[r] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
                if constexpr (kFive) {
                    // Bit 2c of qh[l] is bit 4 of sub-block 2c's element l, bit 2c+1 of 2c+1's.
                    lo[r] = _mm256_or_si256(lo[r],
                                            _mm256_and_si256(_mm256_slli_epi16(hbits[r], 4), bit4));
                    hi[r] = _mm256_or_si256(hi[r],
                                            _mm256_and_si256(_mm256_slli_epi16(hbits[r], 3), bit4));
                    hbits[r] = _mm256_srli_epi16(hbits[r], 2);
                }
                s_lo[r] = _mm256_shuffle_epi8(sc16[r], pick[2 * c]);
                s_hi[r] = _mm256_shuffle_epi8(sc16[r], pick[2 * c + 1]);
            }
            for (int t = 0; t < NT; ++t) {
                const __m256i x0 = load256(x[t]->qs + 64 * c), x1 = load256(x[t]->qs + 64 * c + 32);
                for (int r = 0; r < NR; ++r) {
                    sum[r][t] = madd_acc(sum[r][t], _mm256_maddubs_epi16(lo[r], x0), s_lo[r]);
                    sum[r][t] = madd_acc(sum[r][t], _mm256_maddubs_epi16(hi[r], x1), s_hi[r]);
                }
            }
        }
        // Scale, and subtract dmin * sum_j m_j * (x codes of sub-block j).
        for (int t = 0; t < NT; ++t) {
            const __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[t]->bsums));
            const __m128i b1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[t]->bsums + 8));
            const __m128i pair = _mm_hadd_epi16(b0, b1);  // sub-block sums, |.| <= 4096
            const __m256 dx = opaque(_mm256_set1_ps(x[t]->d));
            for (int r = 0; r < NR; ++r) {
                const __m256 mins =
                    _mm256_zextps128_ps256(_mm_cvtepi32_ps(_mm_madd_epi16(m16[r], pair)));
                acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(dw[r], dx), _mm256_cvtepi32_ps(sum[r][t]),
                                            acc[r][t]);
                acc[r][t] = _mm256_fnmadd_ps(_mm256_mul_ps(dmw[r], dx), mins, acc[r][t]);
            }
        }
    }
    for (int r = 0; r < NR; ++r)
        for (int t = 0; t < NT; ++t) res[r][t] = hsum(acc[r][t]);
}

// ---- Q6_K ------------------------------------------------------------------------------------
// sum_g sc_g * sum (q - 32) * x as sc_g * q * x minus 32 * sc_g * bsum_g, codes unsigned 0..63.

template <int NR, int NT>
void q6k_tile(const uint8_t* const* wr, const uint8_t* const* xr, int64_t nb, float (*res)[NT]) {
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const __m256i two = _mm256_set1_epi8(0x30);
    __m128i pick[8];  // pshufb patterns picking scale g (low 8 bytes) and g+1 (high 8 bytes)
    for (int k = 0; k < 8; ++k)
        pick[k] =
            _mm_set_epi64x(0x0101010101010101ll * (2 * k + 1), 0x0101010101010101ll * (2 * k));
    __m256 acc[NR][NT];
    for (int r = 0; r < NR; ++r)
        for (int t = 0; t < NT; ++t) acc[r][t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
        const BlockQ6_K* b[NR];
        __m128i sc8[NR];
        const BlockQ8_K* x[NT];
        for (int t = 0; t < NT; ++t) x[t] = reinterpret_cast<const BlockQ8_K*>(xr[t]) + i;
        __m256i sum[NR][NT];
        for (int r = 0; r < NR; ++r) {
            b[r] = reinterpret_cast<const BlockQ6_K*>(wr[r]) + i;
            sc8[r] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[r]->scales));
            const __m256i sc16 = _mm256_cvtepi8_epi16(sc8[r]);
            for (int t = 0; t < NT; ++t) {
                const __m256i offset = _mm256_madd_epi16(sc16, load256(x[t]->bsums));
                sum[r][t] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(offset, 5));
            }
        }
        for (int h = 0; h < 2; ++h) {
            for (int k = 0; k < 4; ++k) {
                __m256i q[NR], s[NR];
                for (int r = 0; r < NR; ++r) {
                    const __m256i l = load256(b[r]->ql + 64 * h + 32 * (k & 1));
                    const __m256i qh = load256(b[r]->qh + 32 * h);
                    // Element group k takes qh bits 2k..2k+1 as bits 4..5 of its code.
                    const __m256i hb = k == 0   ? _mm256_slli_epi16(qh, 4)
                                       : k == 1 ? _mm256_slli_epi16(qh, 2)
                                       : k == 2 ? qh
                                                : _mm256_srli_epi16(qh, 2);
                    const __m256i nib = k < 2 ? l : _mm256_srli_epi16(l, 4);
                    q[r] = _mm256_or_si256(_mm256_and_si256(nib, low4), _mm256_and_si256(hb, two));
                    s[r] = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8[r], pick[4 * h + k]));
                }
                for (int t = 0; t < NT; ++t) {
                    const __m256i xv = load256(x[t]->qs + 128 * h + 32 * k);
                    for (int r = 0; r < NR; ++r)
                        sum[r][t] = madd_acc(sum[r][t], _mm256_maddubs_epi16(q[r], xv), s[r]);
                }
            }
        }
        for (int r = 0; r < NR; ++r)
            for (int t = 0; t < NT; ++t)
                acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(f16(b[r]->d) * x[t]->d),
                                            _mm256_cvtepi32_ps(sum[r][t]), acc[r][t]);
    }
    for (int r = 0; r < NR; ++r)
        for (int t = 0; t < NT; ++t) res[r][t] = hsum(acc[r][t]);
}

// ---- driver ----------------------------------------------------------------------------------

// Walks the nr x nt outputs in NR x NT tiles, tokens outer so one tile of activations stays in
// L1 while the rows (a block the caller sized to stay in L1 too) pass it. Partial tiles repeat
// the last row / token and drop the extra results: cheaper than a kernel per edge shape.
template <int NR, int NT>
void run_tiles(TileFn<NR, NT> fn, int64_t nb, const uint8_t* w, size_t ws, int64_t nr,
               const uint8_t* x, size_t xs, int64_t nt, float* out, size_t os) {
    for (int64_t t0 = 0; t0 < nt; t0 += NT) {
        const uint8_t* xr[NT];
        for (int t = 0; t < NT; ++t) xr[t] = x + std::min<int64_t>(t0 + t, nt - 1) * xs;
        const int tn = static_cast<int>(std::min<int64_t>(NT, nt - t0));
        for (int64_t r0 = 0; r0 < nr; r0 += NR) {
            const uint8_t* wr[NR];
            for (int r = 0; r < NR; ++r) wr[r] = w + std::min<int64_t>(r0 + r, nr - 1) * ws;
            float res[NR][NT];
            fn(wr, xr, nb, res);
            const int rn = static_cast<int>(std::min<int64_t>(NR, nr - r0));
            for (int t = 0; t < tn; ++t)
                for (int r = 0; r < rn; ++r) out[(t0 + t) * os + r0 + r] = res[r][t];
        }
    }
}

// Tile shapes: legacy blocks keep NR*NT float accumulators plus NR unpacked blocks live; the K
// formats also keep NR*NT integer sums per super-block, so they take half as many rows.
#if defined(__AVX512VL__)
constexpr int kLegR = 4, kLegT = 4, kKR = 2, kKT = 4;  // 32 vector registers
#else
constexpr int kLegR = 2, kLegT = 4, kKR = 1, kKT = 4;  // 16 vector registers
#endif

}  // namespace

bool has_gemm_tile(TensorType type) {
    switch (type) {
        case TensorType::Q4_0:
        case TensorType::Q4_1:
        case TensorType::Q5_0:
        case TensorType::Q5_1:
        case TensorType::Q4_K:
        case TensorType::Q5_K:
        case TensorType::Q6_K:
        case TensorType::Q8_0: return true;
        default: return false;
    }
}

bool gemm_tile(TensorType type, int64_t n, const void* w_rows, size_t w_stride, int64_t nr,
               const void* x_rows, size_t x_stride, int64_t nt, float* out, size_t out_stride) {
    if (!has_gemm_tile(type)) return false;
    if (nr <= 0 || nt <= 0) return true;
    const int64_t nb = n / type_info(type).block_size;
    const auto* w = static_cast<const uint8_t*>(w_rows);
    const auto* x = static_cast<const uint8_t*>(x_rows);
    auto legacy = [&](TileFn<kLegR, kLegT> fn) {
        run_tiles<kLegR, kLegT>(fn, nb, w, w_stride, nr, x, x_stride, nt, out, out_stride);
    };
    auto kquant = [&](TileFn<kKR, kKT> fn) {
        run_tiles<kKR, kKT>(fn, nb, w, w_stride, nr, x, x_stride, nt, out, out_stride);
    };
    switch (type) {
        case TensorType::Q4_0: legacy(legacy_tile<FmtQ4_0, kLegR, kLegT>); break;
        case TensorType::Q4_1: legacy(legacy_tile<FmtQ4_1, kLegR, kLegT>); break;
        case TensorType::Q5_0: legacy(legacy_tile<FmtQ5_0, kLegR, kLegT>); break;
        case TensorType::Q5_1: legacy(legacy_tile<FmtQ5_1, kLegR, kLegT>); break;
#if defined(GB_GEMM_VNNI)
        case TensorType::Q8_0: legacy(legacy_tile<FmtQ8_0, kLegR, kLegT>); break;
#else
        case TensorType::Q8_0: legacy(q8_0_tile<kLegR, kLegT>); break;
#endif
        case TensorType::Q4_K: kquant(q45k_tile<false, kKR, kKT>); break;
        case TensorType::Q5_K: kquant(q45k_tile<true, kKR, kKT>); break;
        case TensorType::Q6_K: kquant(q6k_tile<kKR, kKT>); break;
        default: return false;
    }
    return true;
}

#else  // no AVX2: callers use vec_dot per pair

bool has_gemm_tile(TensorType) { return false; }

bool gemm_tile(TensorType, int64_t, const void*, size_t, int64_t, const void*, size_t, int64_t,
               float*, size_t) {
    return false;
}

#endif

}  // namespace gb::cpu
