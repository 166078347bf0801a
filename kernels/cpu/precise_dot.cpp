// Precise mode's products (Backend::set_precise): a weight row of any type with float
// activations that are never rounded to 8 bits (see quant.h for the arithmetic and its bounds).
//
// Two paths; a row's value is the same for a token alone and for a token among a prompt's on
// each (the prompt path runs the same arithmetic per token).
// - integer (AVX2, the block formats): the activations are split once per row into three signed
//   bytes per element (PreciseActs); a block's codes are decoded in registers and multiplied with
//   each of the three by the same byte products as the fast kernels (vpdpbusd, or maddubs+madd),
//   the three sums combined exactly in an int32 lane, converted to float and scaled once per
//   unit of 32. The block's minimum multiplies the unit's sum of x. (Before: codes widened to
//   float and multiplied by FMA, the block's sum scaled; on an AMD EPYC (Zen 4) that streamed
//   weights at a third of the fast kernels' rate, this at about half or better. Splitting x into
//   three bf16 parts for vdpbf16ps was slower still.)
// - dequantise (F16, BF16, F32 and anything without AVX2): each chunk dequantised into an
//   L1-resident buffer, then dot_f32, exactly as dot_f32_chunked over a row dequantised
//   beforehand.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/cpu/quant.h"
#include "kernels/cpu/quant_blocks.h"
#include "kernels/cpu/quant_simd.h"

namespace gb::cpu {

float dot_f32(const float* a, const float* b, int64_t n) {
    int64_t i = 0;
    float s = 0;
#if defined(__AVX2__) && defined(__FMA__)
    // Four accumulators hide the FMA latency.
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), a0);
    const __m256 t = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    s = _mm_cvtss_f32(h);
#endif
    for (; i < n; ++i) s += a[i] * b[i];
    return s;
}

float dot_f32_chunked(const float* w, const float* x, int64_t n) {
    double s = 0;
    for (int64_t c = 0; c < n; c += kPreciseChunk)
        s += dot_f32(w + c, x + c, n - c < kPreciseChunk ? n - c : kPreciseChunk);
    return static_cast<float>(s);
}

namespace {

// The path without fused kernels: each chunk dequantised into a buffer, then dot_f32.
float dequant_dot(TensorType type, int64_t n, const void* w_row, const float* x) {
    if (type == TensorType::F32) return dot_f32_chunked(static_cast<const float*>(w_row), x, n);
    alignas(64) float buf[kPreciseChunk];
    const auto* w = static_cast<const uint8_t*>(w_row);
    const size_t chunk_bytes = row_bytes(type, kPreciseChunk);
    double s = 0;
    for (int64_t c = 0; c < n; c += kPreciseChunk, w += chunk_bytes) {
        const int64_t m = n - c < kPreciseChunk ? n - c : kPreciseChunk;
        dequantize_row(type, w, buf, m);
        s += dot_f32(buf, x + c, m);
    }
    return static_cast<float>(s);
}

#if defined(GB_QUANT_AVX2)
using namespace simd;

// 32 weights of a block: their codes as bytes (the weight is scale * (code - offset) + m, with
// the type's fixed offset), the scale of the first and of the last 16 (the legacy and
// Q4_K/Q5_K formats: the same; Q6_K: one per 16), and the amount added to every weight
// (Q4_1/Q5_1: the minimum; Q4_K/Q5_K: -dmin * m_j; else 0). Q8_0's codes are the block's
// signed bytes, read from memory where they lie (mem) instead of from a register.
struct Codes {
    __m256i q;
    float sa, sb, m;
    const int8_t* mem = nullptr;
};

// Each format's blocks as Codes: units(first, count, f) calls f(u, codes) for the units
// first .. first+count-1 of a row, 32 weights each. kOffset: the code offset; kSigned: the codes
// are the block's signed bytes as stored (Q8_0: Codes::mem, not decoded); kMin: m is not always
// 0.
template <class Block, int kOffset, bool kSigned, bool kMin, class Decode>
struct Legacy {
    static constexpr int offset = kOffset;
    static constexpr bool is_signed = kSigned, has_min = kMin, one_scale = true;
    const Block* b;
    Decode decode;
    template <class F>
    void operator()(int64_t u0, int64_t nu, F&& f) const {
        for (int64_t u = u0; u < u0 + nu; ++u) {
            Codes c;
            if constexpr (kSigned)
                c.mem = b[u].qs;
            else
                c.q = decode(b[u]);
            c.sa = c.sb = f16(b[u].d);
            if constexpr (kMin)
                c.m = f16(b[u].m);
            else
                c.m = 0;
            f(u, c);
        }
    }
};
template <class Block, int kOffset, bool kSigned, bool kMin, class Decode>
Legacy<Block, kOffset, kSigned, kMin, Decode> legacy(const void* row, Decode d) {
    return {static_cast<const Block*>(row), d};
}

// Q4_K / Q5_K: eight units of 32 per super-block, scale d * sc_j, added -dmin * m_j.
template <bool kFiveBit, class Block>
struct K4 {
    static constexpr int offset = 0;
    static constexpr bool is_signed = false, has_min = true, one_scale = true;
    const Block* b;
    template <class F>
    void operator()(int64_t u0, int64_t nu, F&& f) const {
        for (int64_t i = u0 / 8; i < (u0 + nu) / 8; ++i) {
            alignas(16) uint8_t sm[16];
            k4_unpack_scales(b[i].scales, sm);
            // The eight scales and minimums converted together (d * sc_j, -dmin * m_j).
            alignas(32) float sc[8], mn[8];
            const __m128i raw = _mm_load_si128(reinterpret_cast<const __m128i*>(sm));
            _mm256_store_ps(sc, _mm256_mul_ps(_mm256_set1_ps(f16(b[i].d)),
                                              _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(raw))));
            _mm256_store_ps(
                mn,
                _mm256_mul_ps(_mm256_set1_ps(-f16(b[i].dmin)),
                              _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(raw, 8)))));
            __m256i hbits = _mm256_setzero_si256();
            if constexpr (kFiveBit) hbits = load256(b[i].qh);
            for (int c = 0; c < 4; ++c) {
                __m256i lo, hi;
                k4_codes<kFiveBit>(b[i].qs + 32 * c, hbits, lo, hi);
                f(8 * i + 2 * c, Codes{lo, sc[2 * c], sc[2 * c], mn[2 * c]});
                f(8 * i + 2 * c + 1, Codes{hi, sc[2 * c + 1], sc[2 * c + 1], mn[2 * c + 1]});
            }
        }
    }
};

// Q6_K: eight units per super-block, codes 0..63 (offset 32), two scales each.
struct Q6K {
    static constexpr int offset = 32;
    static constexpr bool is_signed = false, has_min = false, one_scale = false;
    const BlockQ6_K* b;
    template <class F>
    void operator()(int64_t u0, int64_t nu, F&& f) const {
        for (int64_t i = u0 / 8; i < (u0 + nu) / 8; ++i) {
            // The sixteen scales d * sc_j converted together.
            alignas(32) float sc[16];
            const __m256 d = _mm256_set1_ps(f16(b[i].d));
            const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[i].scales));
            _mm256_store_ps(sc, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(raw))));
            _mm256_store_ps(
                sc + 8,
                _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(raw, 8)))));
            for (int h = 0; h < 2; ++h) {
                __m256i q[4];
                q6k_codes(b[i].ql + 64 * h, b[i].qh + 32 * h, q);
                const float* s = sc + 8 * h;
                for (int k = 0; k < 4; ++k)
                    f(8 * i + 4 * h + k, Codes{q[k], s[2 * k], s[2 * k + 1], 0.0f});
            }
        }
    }
};

// ---- integer products -----------------------------------------------------------------------

// Per lane: 16384 (a.b1) + 128 (a.b2) + a.b3 over the lane's four bytes, exact in int32 (|a| <=
// 128, |b1| <= 127, |b2|, |b3| <= 64: at most 1.07e9).
inline __m256i combined(__m256i a, __m256i b1, __m256i b2, __m256i b3) {
    __m256i l = dot_acc(_mm256_setzero_si256(), a, b1);
    l = dot_acc(_mm256_slli_epi32(l, 7), a, b2);
    return dot_acc(_mm256_slli_epi32(l, 7), a, b3);
}

// 2^k for -126 <= k <= 127, built from its exponent bits (ldexp is a library call).
inline float pow2(int k) { return std::bit_cast<float>(static_cast<uint32_t>(127 + k) << 23); }

// out[t * os] = the precise product of the row with token t (xu[t]: its split units) for T
// tokens. Every token's arithmetic is the same whatever T is. Per chunk of kPreciseChunk weights
// the unit products go into F32 lanes (and the minimum terms into a float), the chunks' sums
// into a double.
template <int T, class Units>
void int_rows(int64_t n, const PreciseActs::Unit* const* xu, float* out, int64_t os,
              const Units& units) {
    constexpr int kOffset = Units::offset;
    static_assert((kOffset & (kOffset - 1)) == 0, "code offsets are powers of two");
    double s[T] = {};
    for (int64_t c0 = 0; c0 < n; c0 += kPreciseChunk) {
        const int64_t len = n - c0 < kPreciseChunk ? n - c0 : kPreciseChunk;
        __m256 acc[T];
        float mins[T];
        for (int t = 0; t < T; ++t) {
            acc[t] = _mm256_setzero_ps();
            mins[t] = 0;
        }
        units(c0 / 32, len / 32, [&](int64_t u, const Codes& c) {
            // The weights' scales as a vector, once for all the tokens: lanes 0-3 hold
            // elements 0-15, lanes 4-7 elements 16-31 (Q6_K: a scale for each half).
            const __m256 wscale = Units::one_scale
                                      ? _mm256_set1_ps(c.sa)
                                      : _mm256_set_m128(_mm_set1_ps(c.sb), _mm_set1_ps(c.sa));
            __m256i a, sgn;
            if constexpr (Units::is_signed) {
                // Signed codes: their magnitude against x with the code's sign moved onto it.
                sgn = load256(c.mem);
                a = _mm256_sign_epi8(sgn, sgn);
            } else {
                a = c.q;
            }
            for (int t = 0; t < T; ++t) {
                const PreciseActs::Unit& x = xu[t][u];
                __m256i b1 = load256(x.q[0]), b2 = load256(x.q[1]), b3 = load256(x.q[2]);
                if constexpr (Units::is_signed) {
                    b1 = _mm256_sign_epi8(b1, sgn);
                    b2 = _mm256_sign_epi8(b2, sgn);
                    b3 = _mm256_sign_epi8(b3, sgn);
                }
                __m256i l = combined(a, b1, b2, b3);
                if constexpr (kOffset != 0)  // (code - offset) . x: the offset times x's lanes
                    l = _mm256_sub_epi32(
                        l, _mm256_slli_epi32(load256(x.lanes),
                                             std::countr_zero(static_cast<unsigned>(kOffset))));
                const __m256 scale = _mm256_mul_ps(wscale, _mm256_broadcast_ss(&x.d));
                acc[t] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(l), acc[t]);
                if constexpr (Units::has_min) mins[t] = std::fma(c.m, x.sum, mins[t]);
            }
        });
        for (int t = 0; t < T; ++t) {
            s[t] += static_cast<double>(hsum(acc[t]));
            if constexpr (Units::has_min) s[t] += static_cast<double>(mins[t]);
        }
    }
    for (int t = 0; t < T; ++t) out[t * os] = static_cast<float>(s[t]);
}

// Splits 32 floats into a unit (see quant.h): q1 = x / 2^k rounded, with k the least power that
// keeps |q1| <= 127; q2 and q3 the residuals' roundings at 2^(k-7) and 2^(k-14). Each residual is
// exact in float (a power-of-two multiple subtracted from a value within half of it).
void split_unit(const float* x, PreciseActs::Unit& u) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 inf = _mm256_set1_ps(std::numeric_limits<float>::infinity());
    __m256 v[4], mx = _mm256_setzero_ps();
    int bad = 0;
    for (int k = 0; k < 4; ++k) {
        v[k] = _mm256_loadu_ps(x + 8 * k);
        const __m256 a = _mm256_and_ps(v[k], abs_mask);
        bad |= _mm256_movemask_ps(_mm256_cmp_ps(a, inf, _CMP_NLT_UQ));  // inf or NaN
        mx = _mm256_max_ps(mx, a);
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float m = _mm_cvtss_f32(m4);
    std::memset(&u, 0, sizeof u);
    if (bad) {  // the products come out NaN, as F32 arithmetic's would be inf or NaN
        u.d = u.sum = std::numeric_limits<float>::quiet_NaN();
        return;
    }
    if (m < 0x1p-60f) return;  // a zero unit
    // m = f 2^e with 0.5 <= f < 1 (m is normal); k is then at least -67 and at most 121, so
    // every power below stays a normal float.
    const int e = static_cast<int>((std::bit_cast<uint32_t>(m) >> 23) & 0xff) - 126;
    int k = e - 7;  // m < 2^e, so 2^k * 128 > m; one step up if 127 * 2^k is still short
    if (m > 127.0f * pow2(k)) ++k;
    const __m256 d1 = _mm256_set1_ps(pow2(k)), i1 = _mm256_set1_ps(pow2(-k));
    const __m256 d2 = _mm256_set1_ps(pow2(k - 7)), i2 = _mm256_set1_ps(pow2(7 - k));
    const __m256 i3 = _mm256_set1_ps(pow2(14 - k));
    constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    __m256i q[3][4];
    for (int j = 0; j < 4; ++j) {
        const __m256 a = _mm256_round_ps(_mm256_mul_ps(v[j], i1), kRound);
        const __m256 r1 = _mm256_fnmadd_ps(a, d1, v[j]);
        const __m256 b = _mm256_round_ps(_mm256_mul_ps(r1, i2), kRound);
        const __m256 r2 = _mm256_fnmadd_ps(b, d2, r1);
        const __m256 c = _mm256_round_ps(_mm256_mul_ps(r2, i3), kRound);
        q[0][j] = _mm256_cvtps_epi32(a);
        q[1][j] = _mm256_cvtps_epi32(b);
        q[2][j] = _mm256_cvtps_epi32(c);
    }
    // int32 x 32 to bytes in element order: the packs interleave 128-bit halves, the permute
    // puts the 4-byte groups back.
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    __m256i packed[3];
    for (int l = 0; l < 3; ++l) {
        const __m256i p01 = _mm256_packs_epi32(q[l][0], q[l][1]);
        const __m256i p23 = _mm256_packs_epi32(q[l][2], q[l][3]);
        packed[l] = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p01, p23), order);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(u.q[l]), packed[l]);
    }
    const __m256i lanes = combined(_mm256_set1_epi8(1), packed[0], packed[1], packed[2]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(u.lanes), lanes);
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(lanes), _mm256_extracti128_si256(lanes, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4e));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xb1));
    u.d = pow2(k - 14);
    u.sum = static_cast<float>(_mm_cvtsi128_si32(t)) * u.d;
}

// Calls f(units) with the units of `type`; false for a type without a fused kernel.
template <class F>
bool with_units(TensorType type, const void* w, F&& f) {
    switch (type) {
        case TensorType::Q8_0:
            f(legacy<BlockQ8_0, 0, true, false>(w, nullptr));  // codes read from memory
            return true;
        case TensorType::Q4_0:
            f(legacy<BlockQ4_0, 8, false, false>(
                w, [](const BlockQ4_0& b) { return nibbles32(b.qs); }));
            return true;
        case TensorType::Q4_1:
            f(legacy<BlockQ4_1, 0, false, true>(
                w, [](const BlockQ4_1& b) { return nibbles32(b.qs); }));
            return true;
        case TensorType::Q5_0:
            f(legacy<BlockQ5_0, 16, false, false>(w, [](const BlockQ5_0& b) {
                return _mm256_or_si256(
                    nibbles32(b.qs), _mm256_and_si256(bits_to_bytes(b.qh), _mm256_set1_epi8(0x10)));
            }));
            return true;
        case TensorType::Q5_1:
            f(legacy<BlockQ5_1, 0, false, true>(w, [](const BlockQ5_1& b) {
                return _mm256_or_si256(
                    nibbles32(b.qs), _mm256_and_si256(bits_to_bytes(b.qh), _mm256_set1_epi8(0x10)));
            }));
            return true;
        case TensorType::Q4_K:
            f(K4<false, BlockQ4_K>{static_cast<const BlockQ4_K*>(w)});
            return true;
        case TensorType::Q5_K:
            f(K4<true, BlockQ5_K>{static_cast<const BlockQ5_K*>(w)});
            return true;
        case TensorType::Q6_K: f(Q6K{static_cast<const BlockQ6_K*>(w)}); return true;
        default: return false;
    }
}
#endif

}  // namespace

bool has_precise_int_dot(TensorType type) {
#if defined(GB_QUANT_AVX2)
    return with_units(type, nullptr, [](const auto&) {});
#else
    (void)type;
    return false;
#endif
}

void PreciseActs::prepare(const float* x, int64_t x_stride, int64_t rows, int64_t n, bool split) {
    x_ = x;
    stride_ = x_stride;
    rows_ = rows;
    n_ = n;
#if defined(GB_QUANT_AVX2)
    split_ = split && n % 32 == 0;
#else
    (void)split;
    split_ = false;
#endif
    if (split_) units_.resize(static_cast<size_t>(rows * (n / 32)));
}

void PreciseActs::split_rows(int64_t r0, int64_t r1) {
#if defined(GB_QUANT_AVX2)
    if (!split_) return;
    for (int64_t r = r0; r < r1; ++r) {
        Unit* u = units_.data() + r * (n_ / 32);
        for (int64_t i = 0; i < n_ / 32; ++i) split_unit(row(r) + 32 * i, u[i]);
    }
#else
    (void)r0;
    (void)r1;
#endif
}

float vec_dot_precise(TensorType type, int64_t n, const void* w_row, const PreciseActs& x,
                      int64_t t) {
#if defined(GB_QUANT_AVX2)
    if (x.split()) {
        float out = 0;
        const PreciseActs::Unit* xu[1] = {x.units(t)};
        if (with_units(type, w_row, [&](const auto& units) { int_rows<1>(n, xu, &out, 0, units); }))
            return out;
    }
#endif
    return dequant_dot(type, n, w_row, x.row(t));
}

namespace {

// out[t * out_stride] = vec_dot_precise(type, n, w_row, x, t0 + t) for t < n_tok, the weights
// decoded once for four (then two) tokens at a time: the same bits as one by one.
void vec_dot_precise_tokens(TensorType type, int64_t n, const void* w_row, const PreciseActs& x,
                            int64_t t0, int64_t n_tok, float* out, int64_t out_stride) {
    int64_t t = 0;
#if defined(GB_QUANT_AVX2)
    if (x.split()) {
        for (; t + 4 <= n_tok; t += 4) {
            const PreciseActs::Unit* xu[4] = {x.units(t0 + t), x.units(t0 + t + 1),
                                              x.units(t0 + t + 2), x.units(t0 + t + 3)};
            const bool fused = with_units(type, w_row, [&](const auto& units) {
                int_rows<4>(n, xu, out + t * out_stride, out_stride, units);
            });
            if (!fused) break;
        }
        for (; t + 2 <= n_tok; t += 2) {
            const PreciseActs::Unit* xu[2] = {x.units(t0 + t), x.units(t0 + t + 1)};
            const bool fused = with_units(type, w_row, [&](const auto& units) {
                int_rows<2>(n, xu, out + t * out_stride, out_stride, units);
            });
            if (!fused) break;
        }
    }
#endif
    for (; t < n_tok; ++t) out[t * out_stride] = vec_dot_precise(type, n, w_row, x, t0 + t);
}

}  // namespace

void vec_dot_precise_rows(TensorType type, int64_t n, const uint8_t* w, size_t w_row_bytes,
                          int64_t rows, const PreciseActs& x, int64_t t0, int64_t n_tok, float* out,
                          int64_t out_stride, std::vector<float>& scratch) {
    const bool integer = x.split() && has_precise_int_dot(type);
    if (n_tok >= 2 && type != TensorType::F32 && !integer) {
        // Dequantised once for every token, summed as vec_dot_precise sums (the same bits).
        scratch.resize(std::max(scratch.size(), static_cast<size_t>(rows * n)));
        for (int64_t r = 0; r < rows; ++r)
            dequantize_row(type, w + r * w_row_bytes, scratch.data() + r * n, n);
        for (int64_t t = 0; t < n_tok; ++t)
            for (int64_t r = 0; r < rows; ++r)
                out[t * out_stride + r] = dot_f32_chunked(scratch.data() + r * n, x.row(t0 + t), n);
        return;
    }
    for (int64_t t = 0; t < n_tok; t += 4)
        for (int64_t r = 0; r < rows; ++r)
            vec_dot_precise_tokens(type, n, w + r * w_row_bytes, x, t0 + t,
                                   std::min<int64_t>(4, n_tok - t), out + t * out_stride + r,
                                   out_stride);
}

}  // namespace gb::cpu
