// Precise mode's products (Backend::set_precise): a weight row of any type with float
// activations, every product and sum in F32 (sums of chunks of kPreciseChunk elements in double),
// so the activations are never rounded: the result differs from the exact dot product of the
// dequantised weights by F32 rounding alone (a relative 1e-7 or so per chunk).
//
// Two paths; a row's value is the same for a token alone and for a token among a prompt's on
// each (the prompt path runs the same arithmetic per token).
// - F32 FMA (AVX2, those formats and Q8_0): a block's codes are widened to 32-bit lanes,
//   converted to float and multiplied with x by FMA; the block's scale is applied to the
//   block's sum, its minimum to the sum of x over the block. (Splitting x exactly into three
//   bf16 parts for vdpbf16ps was tried: on an AMD EPYC (Zen 4) it streamed 5-30% fewer GB/s.)
// - dequantise (F16, BF16, F32 and anything without AVX2): each chunk dequantised into an
//   L1-resident buffer, then dot_f32, exactly as dot_f32_chunked over a row dequantised
//   beforehand.
#include <algorithm>
#include <cstring>

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
            const float d = f16(b[i].d), dmin = f16(b[i].dmin);
            __m256i hbits = _mm256_setzero_si256();
            if constexpr (kFiveBit) hbits = load256(b[i].qh);
            for (int c = 0; c < 4; ++c) {
                __m256i lo, hi;
                k4_codes<kFiveBit>(b[i].qs + 32 * c, hbits, lo, hi);
                f(8 * i + 2 * c, Codes{lo, d * sm[2 * c], d * sm[2 * c], -dmin * sm[8 + 2 * c]});
                f(8 * i + 2 * c + 1,
                  Codes{hi, d * sm[2 * c + 1], d * sm[2 * c + 1], -dmin * sm[8 + 2 * c + 1]});
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
            const float d = f16(b[i].d);
            for (int h = 0; h < 2; ++h) {
                __m256i q[4];
                q6k_codes(b[i].ql + 64 * h, b[i].qh + 32 * h, q);
                const int8_t* sc = b[i].scales + 8 * h;
                for (int k = 0; k < 4; ++k)
                    f(8 * i + 4 * h + k, Codes{q[k], d * sc[2 * k], d * sc[2 * k + 1], 0.0f});
            }
        }
    }
};

// ---- F32 FMA ---------------------------------------------------------------------------------

// 32 codes (signed bytes) to four float vectors of 8, in element order. (AVX-512's vectors of 16
// were no faster on a Zen 4 EPYC, and 256-bit vectors give every AVX2 machine the same bits.)
inline void widen(__m256i codes, __m256* q) {
    const __m128i lo = _mm256_castsi256_si128(codes), hi = _mm256_extracti128_si256(codes, 1);
    q[0] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo));
    q[1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(lo, lo)));
    q[2] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi));
    q[3] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(hi, hi)));
}

// The same from 32 signed bytes in memory: each group of 8 widened straight from its load.
inline void widen_mem(const int8_t* codes, __m256* q) {
    for (int k = 0; k < 4; ++k)
        q[k] = _mm256_cvtepi32_ps(
            _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(codes + 8 * k))));
}

// out[t * os] = w . x_t for T tokens (x_t = x + t * xs). Every token's arithmetic is the same
// whatever T is. Per chunk of kPreciseChunk weights the unit sums go into F32 lanes, the chunks'
// sums into a double.
template <int T, class Units>
void fma_rows(int64_t n, const float* x, int64_t xs, float* out, int64_t os, const Units& units) {
    const __m256i off = _mm256_set1_epi8(static_cast<char>(Units::offset));
    double s[T] = {};
    for (int64_t c0 = 0; c0 < n; c0 += kPreciseChunk) {
        const int64_t len = n - c0 < kPreciseChunk ? n - c0 : kPreciseChunk;
        __m256 ta[T], tb[T], tm[T];
        for (int t = 0; t < T; ++t) ta[t] = tb[t] = tm[t] = _mm256_setzero_ps();
        units(c0 / 32, len / 32, [&](int64_t u, const Codes& c) {
            __m256 q[4];
            if constexpr (Units::is_signed)
                widen_mem(c.mem, q);
            else
                widen(Units::offset ? _mm256_sub_epi8(c.q, off) : c.q, q);
            for (int t = 0; t < T; ++t) {
                const float* xt = x + t * xs + u * 32;
                const __m256 x0 = _mm256_loadu_ps(xt), x1 = _mm256_loadu_ps(xt + 8);
                const __m256 x2 = _mm256_loadu_ps(xt + 16), x3 = _mm256_loadu_ps(xt + 24);
                if constexpr (Units::one_scale) {
                    // One scale for the 32: one sum, one scaled accumulation.
                    __m256 a = _mm256_fmadd_ps(q[1], x1, _mm256_mul_ps(q[0], x0));
                    a = _mm256_fmadd_ps(q[3], x3, _mm256_fmadd_ps(q[2], x2, a));
                    ta[t] = _mm256_fmadd_ps(_mm256_set1_ps(c.sa), a, ta[t]);
                } else {
                    const __m256 a = _mm256_fmadd_ps(q[1], x1, _mm256_mul_ps(q[0], x0));
                    const __m256 b = _mm256_fmadd_ps(q[3], x3, _mm256_mul_ps(q[2], x2));
                    ta[t] = _mm256_fmadd_ps(_mm256_set1_ps(c.sa), a, ta[t]);
                    tb[t] = _mm256_fmadd_ps(_mm256_set1_ps(c.sb), b, tb[t]);
                }
                if constexpr (Units::has_min)
                    tm[t] = _mm256_fmadd_ps(
                        _mm256_set1_ps(c.m),
                        _mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3)), tm[t]);
            }
        });
        for (int t = 0; t < T; ++t) {
            s[t] += static_cast<double>(hsum(_mm256_add_ps(ta[t], tb[t])));
            if constexpr (Units::has_min) s[t] += static_cast<double>(hsum(tm[t]));
        }
    }
    for (int t = 0; t < T; ++t) out[t * os] = static_cast<float>(s[t]);
}

// Calls f(units) with the units of `type`; false for a type without a fused kernel.
template <class F>
bool with_units(TensorType type, const void* w, F&& f) {
    switch (type) {
        case TensorType::Q8_0:
            f(legacy<BlockQ8_0, 0, true, false>(w, nullptr));  // widened from memory
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

// True when `type` has a kernel that decodes its blocks in registers. Its sums are not those of
// dot_f32_chunked over dequantised rows (the block scale is applied to the block's sum).
bool has_fused_f32_dot(TensorType type) {
#if defined(GB_QUANT_AVX2)
    return with_units(type, nullptr, [](const auto&) {});
#else
    (void)type;
    return false;
#endif
}

}  // namespace

float vec_dot_f32(TensorType type, int64_t n, const void* w_row, const float* x) {
#if defined(GB_QUANT_AVX2)
    float out = 0;
    if (with_units(type, w_row, [&](const auto& units) { fma_rows<1>(n, x, 0, &out, 0, units); }))
        return out;
#endif
    return dequant_dot(type, n, w_row, x);
}

namespace {

// out[t * out_stride] = vec_dot_f32(type, n, w_row, x + t * x_stride) for t < n_tok, the
// weights decoded once for four (then two) tokens at a time: the same bits as one by one.
void vec_dot_f32_tokens(TensorType type, int64_t n, const void* w_row, const float* x,
                        int64_t x_stride, int64_t n_tok, float* out, int64_t out_stride) {
    int64_t t = 0;
#if defined(GB_QUANT_AVX2)
    for (; t + 4 <= n_tok; t += 4) {
        const bool fused = with_units(type, w_row, [&](const auto& units) {
            fma_rows<4>(n, x + t * x_stride, x_stride, out + t * out_stride, out_stride, units);
        });
        if (!fused) break;
    }
    for (; t + 2 <= n_tok; t += 2) {
        const bool fused = with_units(type, w_row, [&](const auto& units) {
            fma_rows<2>(n, x + t * x_stride, x_stride, out + t * out_stride, out_stride, units);
        });
        if (!fused) break;
    }
#endif
    for (; t < n_tok; ++t) out[t * out_stride] = vec_dot_f32(type, n, w_row, x + t * x_stride);
}

}  // namespace

void vec_dot_f32_rows(TensorType type, int64_t n, const uint8_t* w, size_t w_row_bytes,
                      int64_t rows, const float* x, int64_t x_stride, int64_t n_tok, float* out,
                      int64_t out_stride, std::vector<float>& scratch) {
    if (n_tok >= 2 && type != TensorType::F32 && !has_fused_f32_dot(type)) {
        // Dequantised once for every token, summed as vec_dot_f32 sums (the same bits).
        scratch.resize(std::max(scratch.size(), static_cast<size_t>(rows * n)));
        for (int64_t r = 0; r < rows; ++r)
            dequantize_row(type, w + r * w_row_bytes, scratch.data() + r * n, n);
        for (int64_t t = 0; t < n_tok; ++t)
            for (int64_t r = 0; r < rows; ++r)
                out[t * out_stride + r] =
                    dot_f32_chunked(scratch.data() + r * n, x + t * x_stride, n);
        return;
    }
    for (int64_t t = 0; t < n_tok; t += 4)
        for (int64_t r = 0; r < rows; ++r)
            vec_dot_f32_tokens(type, n, w + r * w_row_bytes, x + t * x_stride, x_stride,
                               std::min<int64_t>(4, n_tok - t), out + t * out_stride + r,
                               out_stride);
}

}  // namespace gb::cpu
