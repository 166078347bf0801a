// What the CPU attention kernels share: reading KV cache rows of any cache type as floats, a
// vectorised exp for the softmax (simd_exp.h), and the two inner products of streaming attention (a
// query against a block of keys, a block of values folded into an output row).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/backend.h"
#include "kernels/cpu/half.h"
#include "kernels/cpu/simd_exp.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define GB_ATTN_AVX2 1
#else
#define GB_ATTN_AVX2 0
#endif

namespace gb::cpu {

// The streaming kernels' work plan. A tile holds up to kTileRows query rows (tokens x the heads
// that share a KV head); the cache is read in blocks of kBlock positions.
constexpr int kBlock = 32;
constexpr int64_t kTileRows = 64;
constexpr int64_t kMinChunk = 256;  // fewest positions per split

// When `tiles` work items cannot give each of `threads` threads four, the positions [0, max_kv)
// are split too (split-K): n_split chunks of `chunk` positions (whole blocks, at least kMinChunk
// each), whose partial softmax states the kernel merges.
struct PositionSplit {
    int64_t n_split, chunk;
};
inline PositionSplit split_positions(int64_t tiles, int64_t max_kv, int threads) {
    int64_t n_split = 1;
    const int64_t want = 4 * static_cast<int64_t>(threads);
    if (tiles < want)
        n_split = std::clamp<int64_t>((want + tiles - 1) / tiles, 1,
                                      std::max<int64_t>(1, max_kv / kMinChunk));
    return {n_split, ((max_kv + n_split - 1) / n_split + kBlock - 1) / kBlock * kBlock};
}

// One (token, head)'s output from its n_split partial states, each [m, l, o[width]] (running
// maximum, running sum, unnormalised output): every split rescaled by e^(m_s - M), then divided
// by the combined sum. A split wholly past the token's position (m = -inf) adds nothing.
inline void merge_splits(const float* parts, int64_t n_split, int64_t width, float* dst) {
    const int64_t part_w = width + 2;
    float M = -INFINITY;
    for (int64_t sp = 0; sp < n_split; ++sp) M = std::max(M, parts[sp * part_w]);
    std::fill(dst, dst + width, 0.0f);
    float L = 0.0f;
    for (int64_t sp = 0; sp < n_split; ++sp) {
        const float* p = parts + sp * part_w;
        if (p[0] == -INFINITY) continue;
        const float f = std::exp(p[0] - M);
        L += p[1] * f;
        for (int64_t d = 0; d < width; ++d) dst[d] += p[2 + d] * f;
    }
    const float inv = 1.0f / L;
    for (int64_t d = 0; d < width; ++d) dst[d] *= inv;
}

// Columns c0 .. c0+n of row j of a cache tensor, as floats, into dst. For F32 the caller can
// read the row in place instead (kv_row_f32).
inline void kv_row_to_f32(const KvTensor& t, int64_t j, int64_t c0, int64_t n, float* dst) {
    const auto* row = static_cast<const uint8_t*>(t.data) + static_cast<size_t>(j) * t.row_bytes();
    switch (t.type) {
        case TensorType::F32: std::memcpy(dst, row + c0 * 4, static_cast<size_t>(n) * 4); return;
        case TensorType::F16: {
            const auto* s = reinterpret_cast<const uint16_t*>(row) + c0;
            int64_t i = 0;
#if GB_ATTN_AVX2
            for (; i + 8 <= n; i += 8)
                _mm256_storeu_ps(
                    dst + i,
                    _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i))));
#endif
            for (; i < n; ++i) dst[i] = fp16_to_float(s[i]);
            return;
        }
        case TensorType::BF16: {
            const auto* s = reinterpret_cast<const uint16_t*>(row) + c0;
            int64_t i = 0;
#if GB_ATTN_AVX2
            for (; i + 8 <= n; i += 8)
                _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(
                                              _mm256_cvtepu16_epi32(_mm_loadu_si128(
                                                  reinterpret_cast<const __m128i*>(s + i))),
                                              16)));
#endif
            for (; i < n; ++i) dst[i] = bf16_to_float(s[i]);
            return;
        }
        case TensorType::Q8_0: {
            // Blocks of 32: an fp16 scale, then 32 int8 values. c0 need not start a block.
            int64_t c = c0, i = 0;
            while (i < n) {
                const uint8_t* blk = row + (c / 32) * 34;
                const float d = fp16_to_float(static_cast<uint16_t>(blk[0] | (blk[1] << 8)));
                const auto* qs = reinterpret_cast<const int8_t*>(blk + 2);
                const int64_t in = c % 32, len = std::min<int64_t>(32 - in, n - i);
                int64_t k = 0;
#if GB_ATTN_AVX2
                const __m256 vd = _mm256_set1_ps(d);
                for (; k + 8 <= len; k += 8)
                    _mm256_storeu_ps(
                        dst + i + k,
                        _mm256_mul_ps(vd, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(
                                              reinterpret_cast<const __m128i*>(qs + in + k))))));
#endif
                for (; k < len; ++k) dst[i + k] = d * static_cast<float>(qs[in + k]);
                i += len;
                c += len;
            }
            return;
        }
        default: return;  // alloc_kv admits no other type
    }
}

// Row j's columns from c0 in place when the cache is F32, else null.
inline const float* kv_row_f32(const KvTensor& t, int64_t j, int64_t c0) {
    if (t.type != TensorType::F32) return nullptr;
    return static_cast<const float*>(t.data) + j * t.cols + c0;
}

// Stores n floats as row j of a cache tensor, in its type (round to nearest even; Q8_0 with
// the reference quantiser's rounding).
void kv_row_from_f32(const KvTensor& t, int64_t j, const float* src);

#if GB_ATTN_AVX2
// The 8 horizontal sums of a0..a7, in order.
inline __m256 hsum8x8(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 a4, __m256 a5, __m256 a6,
                      __m256 a7) {
    const __m256 t0 = _mm256_hadd_ps(a0, a1), t1 = _mm256_hadd_ps(a2, a3);
    const __m256 t2 = _mm256_hadd_ps(a4, a5), t3 = _mm256_hadd_ps(a6, a7);
    const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20),
                         _mm256_permute2f128_ps(u0, u1, 0x31));
}

inline float hsum8(__m256 a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif

// Rows of floats read in place: row j starts at p + j * stride.
struct F32Rows {
    const float* p;
    int64_t stride;
    const float* row(int64_t j) const { return p + j * stride; }
    float at(int64_t j, int c) const { return p[j * stride + c]; }
#if GB_ATTN_AVX2
    __m256 load8(int64_t j, int c) const { return _mm256_loadu_ps(p + j * stride + c); }
#endif
};

// Rows of fp16 values converted as they are loaded (a cache read once per row of queries:
// converting into a buffer first would cost a store per value).
struct F16Rows {
    const uint16_t* p;
    int64_t stride;
    float at(int64_t j, int c) const { return fp16_to_float(p[j * stride + c]); }
#if GB_ATTN_AVX2
    __m256 load8(int64_t j, int c) const {
        return _mm256_cvtph_ps(
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + j * stride + c)));
    }
#endif
};

// s[j] = q . K_j for the n rows K_j of k (d values each).
template <class Rows>
inline void dot_rows(const float* q, const Rows& k, int n, int d, float* s) {
    int j = 0;
#if GB_ATTN_AVX2
    if (d % 8 == 0) {
        for (; j + 8 <= n; j += 8) {
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
                   a7 = a0;
            for (int c = 0; c < d; c += 8) {
                const __m256 qc = _mm256_loadu_ps(q + c);
                a0 = _mm256_fmadd_ps(qc, k.load8(j, c), a0);
                a1 = _mm256_fmadd_ps(qc, k.load8(j + 1, c), a1);
                a2 = _mm256_fmadd_ps(qc, k.load8(j + 2, c), a2);
                a3 = _mm256_fmadd_ps(qc, k.load8(j + 3, c), a3);
                a4 = _mm256_fmadd_ps(qc, k.load8(j + 4, c), a4);
                a5 = _mm256_fmadd_ps(qc, k.load8(j + 5, c), a5);
                a6 = _mm256_fmadd_ps(qc, k.load8(j + 6, c), a6);
                a7 = _mm256_fmadd_ps(qc, k.load8(j + 7, c), a7);
            }
            _mm256_storeu_ps(s + j, hsum8x8(a0, a1, a2, a3, a4, a5, a6, a7));
        }
        for (; j < n; ++j) {
            __m256 a = _mm256_setzero_ps();
            for (int c = 0; c < d; c += 8)
                a = _mm256_fmadd_ps(_mm256_loadu_ps(q + c), k.load8(j, c), a);
            s[j] = hsum8(a);
        }
        return;
    }
#endif
    for (; j < n; ++j) {
        float a = 0;
        for (int c = 0; c < d; ++c) a += q[c] * k.at(j, c);
        s[j] = a;
    }
}

// p[j] = e^(s[j] - m) for j < n (p may alias s); returns their sum.
inline float exp_shifted(const float* s, int n, float m, float* p) {
    int j = 0;
    float sum = 0;
#if GB_ATTN_AVX2
    const __m256 vm = _mm256_set1_ps(m);
    __m256 acc = _mm256_setzero_ps();
    for (; j + 8 <= n; j += 8) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + j), vm));
        _mm256_storeu_ps(p + j, e);
        acc = _mm256_add_ps(acc, e);
    }
    sum = hsum8(acc);
#endif
    for (; j < n; ++j) sum += p[j] = std::exp(s[j] - m);
    return sum;
}

#if GB_ATTN_AVX2
// o[0 .. 8W) = o * alpha + sum_j p[j] * V_j[c0 ..]: W independent accumulators, so the FMAs of
// consecutive positions do not wait on each other.
template <int W, class Rows>
inline void fold_cols(float* o, __m256 va, const float* p, const Rows& v, int n, int c0) {
    __m256 acc[W];
    for (int w = 0; w < W; ++w) acc[w] = _mm256_mul_ps(_mm256_loadu_ps(o + c0 + 8 * w), va);
    for (int j = 0; j < n; ++j) {
        const __m256 pj = _mm256_set1_ps(p[j]);
        for (int w = 0; w < W; ++w) acc[w] = _mm256_fmadd_ps(pj, v.load8(j, c0 + 8 * w), acc[w]);
    }
    for (int w = 0; w < W; ++w) _mm256_storeu_ps(o + c0 + 8 * w, acc[w]);
}
#endif

// o = o * alpha + sum_j p[j] * V_j over the n rows V_j of v (d values each).
template <class Rows>
inline void fold_rows(float* o, float alpha, const float* p, const Rows& v, int n, int d) {
    int c = 0;
#if GB_ATTN_AVX2
    const __m256 va = _mm256_set1_ps(alpha);
    for (; c + 64 <= d; c += 64) fold_cols<8>(o, va, p, v, n, c);
    for (; c + 32 <= d; c += 32) fold_cols<4>(o, va, p, v, n, c);
    for (; c + 8 <= d; c += 8) fold_cols<1>(o, va, p, v, n, c);
#endif
    for (; c < d; ++c) {
        float a = o[c] * alpha;
        for (int j = 0; j < n; ++j) a += p[j] * v.at(j, c);
        o[c] = a;
    }
}

}  // namespace gb::cpu
