// CPU attention over the typed KV cache, streaming: each cached K and V row is read once per
// tile of queries, in blocks of kBlock positions converted to float in L1, with an online softmax
// (running max m, running sum l, unnormalised output o per query row), so no row of scores is
// ever materialised. A tile is up to kTileRows query rows: tokens x the grouped-query heads that
// share one KV head, so a decode step reads the cache once for all heads of a group. When tiles
// alone cannot keep the threads busy (decode: one tile per KV head), the positions are split
// too (split-K) and the partial states merged by their maxima afterwards.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "kernels/cpu/attention_simd.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/quant.h"
#include "kernels/error.h"

namespace gb::cpu {

namespace {

void check(bool ok, const char* op, const std::string& what) {
    if (!ok) throw Error(std::string("cpu backend: ") + op + ": " + what);
}

std::string dims(int64_t r, int64_t c) { return std::to_string(r) + "x" + std::to_string(c); }

}  // namespace

void kv_row_from_f32(const KvTensor& t, int64_t j, const float* src) {
    auto* row = static_cast<uint8_t*>(t.data) + static_cast<size_t>(j) * t.row_bytes();
    const int64_t n = t.cols;
    switch (t.type) {
        case TensorType::F32: std::memcpy(row, src, static_cast<size_t>(n) * 4); return;
        case TensorType::F16: {
            auto* d = reinterpret_cast<uint16_t*>(row);
            int64_t i = 0;
#if GB_ATTN_AVX2
            for (; i + 8 <= n; i += 8)
                _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i),
                                 _mm256_cvtps_ph(_mm256_loadu_ps(src + i),
                                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#endif
            for (; i < n; ++i) d[i] = float_to_fp16(src[i]);
            return;
        }
        case TensorType::BF16: {
            auto* d = reinterpret_cast<uint16_t*>(row);
            for (int64_t i = 0; i < n; ++i) d[i] = float_to_bf16(src[i]);
            return;
        }
        default: quantize_row(t.type, src, row, n); return;  // Q8_0
    }
}

void CpuBackend::kv_store(KvLayer& cache, Act k, Act v, int64_t pos0) {
    check(k.cols == cache.k.cols && v.cols == cache.v.cols && k.rows == v.rows && pos0 >= 0 &&
              pos0 + k.rows <= cache.k.rows && pos0 + v.rows <= cache.v.rows,
          "kv_store",
          "k " + dims(k.rows, k.cols) + " / v " + dims(v.rows, v.cols) + " at position " +
              std::to_string(pos0) + " into a cache of " + std::to_string(cache.k.rows) +
              " positions of " + std::to_string(cache.k.cols) + " + " +
              std::to_string(cache.v.cols));
    for (int64_t r = 0; r < k.rows; ++r) {
        kv_row_from_f32(cache.k, pos0 + r, k.data + r * k.cols);
        kv_row_from_f32(cache.v, pos0 + r, v.data + r * v.cols);
    }
}

void CpuBackend::kv_copy(const KvLayer& src, KvLayer& dst, int64_t rows) {
    for (auto [s, d] : {std::pair{&src.k, &dst.k}, std::pair{&src.v, &dst.v}})
        check(s->type == d->type && s->cols == d->cols && rows >= 0 && rows <= s->rows &&
                  rows <= d->rows,
              "kv_copy",
              std::to_string(rows) + " rows of a cache of " + std::to_string(s->rows) + " x " +
                  std::to_string(s->cols) + " into one of " + std::to_string(d->rows) + " x " +
                  std::to_string(d->cols) + (s->type == d->type ? "" : " of another type"));
    if (rows == 0) return;
    std::memcpy(dst.k.data, src.k.data, static_cast<size_t>(rows) * src.k.row_bytes());
    std::memcpy(dst.v.data, src.v.data, static_cast<size_t>(rows) * src.v.row_bytes());
}

void CpuBackend::attention(Act q, const KvLayer& cache, int n_head, int n_head_kv, int head_dim,
                           int64_t pos0, float scale, Act out) {
    check(n_head >= 1 && n_head_kv >= 1 && head_dim >= 1 && n_head % n_head_kv == 0 &&
              q.cols == static_cast<int64_t>(n_head) * head_dim &&
              cache.k.cols == static_cast<int64_t>(n_head_kv) * head_dim &&
              cache.v.cols == cache.k.cols && cache.v.type == cache.k.type && pos0 >= 0 &&
              pos0 + q.rows <= cache.k.rows && cache.v.rows >= cache.k.rows && out.rows == q.rows &&
              out.cols == q.cols,
          "attention",
          "q " + dims(q.rows, q.cols) + " at position " + std::to_string(pos0) + " with " +
              std::to_string(n_head) + "/" + std::to_string(n_head_kv) + " heads of " +
              std::to_string(head_dim) + " over a cache of " + dims(cache.k.rows, cache.k.cols));
    if (q.rows == 0) return;
    const int group = n_head / n_head_kv;
    const int D = head_dim;
    const int64_t T = q.rows, max_kv = pos0 + T;
    const int64_t tq = std::clamp<int64_t>(kTileRows / group, 1, T);  // tokens per tile
    const int64_t n_tiles = (T + tq - 1) / tq;
    const int64_t items = n_head_kv * n_tiles;
    const PositionSplit plan = split_positions(items, max_kv, pool_.size());
    const int64_t n_split = plan.n_split, chunk = plan.chunk;
    const int64_t part_w = D + 2;  // m, l, o[D]
    if (n_split > 1) attn_part_.resize(static_cast<size_t>(T * n_head * n_split * part_w));

    const int64_t rows_max = tq * group;
    const size_t need =
        static_cast<size_t>(2 * rows_max * D + 2 * rows_max + 2 * kBlock * D + kBlock);
    for (auto& s : scratch_) s.resize(std::max(s.size(), need));
    // How each block of keys and values is read: F32 in place; F16 converted as it is loaded
    // when a tile has few query rows (decode: a conversion per use is cheaper than a store and
    // a load per value), else, like the other types, converted once into a float block.
    const auto direct = [&](const KvTensor& t) {
        return t.type == TensorType::F32 || (t.type == TensorType::F16 && rows_max <= 8);
    };
    const bool k_direct = direct(cache.k), v_direct = k_direct;

    pool_.parallel_for(
        items * n_split,
        [&](int64_t i0, int64_t i1, int tid) {
            float* qs = scratch_[tid].data();  // scaled queries [rows x D]
            float* o = qs + rows_max * D;      // unnormalised outputs [rows x D]
            float* m = o + rows_max * D;       // running maxima
            float* l = m + rows_max;           // running sums
            float* kbuf = l + rows_max;        // a block of keys as floats
            float* vbuf = kbuf + kBlock * D;   // ... and of values
            float* s = vbuf + kBlock * D;      // scores, then weights
            for (int64_t item = i0; item < i1; ++item) {
                if (cancelled()) return;  // the caller discards this step
                const int64_t split = item % n_split, rest = item / n_split;
                const int64_t g = rest % n_head_kv, tile = rest / n_head_kv;
                const int64_t t0 = tile * tq, t1 = std::min(T, t0 + tq);
                const int64_t rows = (t1 - t0) * group;
                const int64_t j_begin = split * chunk;
                const int64_t j_end = std::min(pos0 + t1, j_begin + chunk);
                for (int64_t r = 0; r < rows; ++r) {
                    const int64_t t = t0 + r / group, h = g * group + r % group;
                    const float* src = q.data + t * q.cols + h * D;
                    for (int d = 0; d < D; ++d) qs[r * D + d] = src[d] * scale;
                    m[r] = -INFINITY;
                    l[r] = 0.0f;
                }
                std::fill(o, o + rows * D, 0.0f);
                const auto block = [&](const auto& kr, const auto& vr, int64_t jb, int n) {
                    for (int64_t r = 0; r < rows; ++r) {
                        const int64_t t = t0 + r / group;
                        // Causal: token t sees positions up to pos0 + t.
                        const int nq = static_cast<int>(std::min<int64_t>(n, pos0 + t + 1 - jb));
                        if (nq <= 0) continue;
                        dot_rows(qs + r * D, kr, nq, D, s);
                        float bm = s[0];
                        for (int j = 1; j < nq; ++j) bm = std::max(bm, s[j]);
                        const float m_new = std::max(m[r], bm);
                        const float alpha = m[r] == -INFINITY ? 0.0f : std::exp(m[r] - m_new);
                        l[r] = l[r] * alpha + exp_shifted(s, nq, m_new, s);
                        fold_rows(o + r * D, alpha, s, vr, nq, D);
                        m[r] = m_new;
                    }
                };
                for (int64_t jb = j_begin; jb < j_end; jb += kBlock) {
                    const int n = static_cast<int>(std::min<int64_t>(kBlock, j_end - jb));
                    if (!k_direct)
                        for (int j = 0; j < n; ++j)
                            kv_row_to_f32(cache.k, jb + j, g * D, D, kbuf + j * D);
                    if (!v_direct)
                        for (int j = 0; j < n; ++j)
                            kv_row_to_f32(cache.v, jb + j, g * D, D, vbuf + j * D);
                    if (!k_direct) {
                        block(F32Rows{kbuf, D}, F32Rows{vbuf, D}, jb, n);
                    } else if (cache.k.type == TensorType::F32) {
                        block(F32Rows{kv_row_f32(cache.k, jb, g * D), cache.k.cols},
                              F32Rows{kv_row_f32(cache.v, jb, g * D), cache.v.cols}, jb, n);
                    } else {  // F16, read directly
                        const auto* kp = static_cast<const uint16_t*>(cache.k.data);
                        const auto* vp = static_cast<const uint16_t*>(cache.v.data);
                        block(F16Rows{kp + jb * cache.k.cols + g * D, cache.k.cols},
                              F16Rows{vp + jb * cache.v.cols + g * D, cache.v.cols}, jb, n);
                    }
                }
                for (int64_t r = 0; r < rows; ++r) {
                    const int64_t t = t0 + r / group, h = g * group + r % group;
                    if (n_split == 1) {  // every query saw position 0: l > 0
                        float* dst = out.data + t * out.cols + h * D;
                        const float inv = 1.0f / l[r];
                        for (int d = 0; d < D; ++d) dst[d] = o[r * D + d] * inv;
                    } else {
                        float* dst =
                            attn_part_.data() + ((t * n_head + h) * n_split + split) * part_w;
                        dst[0] = m[r];
                        dst[1] = l[r];
                        std::memcpy(dst + 2, o + r * D, sizeof(float) * D);
                    }
                }
            }
        },
        1);
    if (n_split == 1 || cancelled()) return;
    // Merge the splits of each (token, head): rescale each by e^(m_s - M).
    pool_.parallel_for(T * n_head, [&](int64_t i0, int64_t i1, int) {
        for (int64_t i = i0; i < i1; ++i)
            merge_splits(attn_part_.data() + i * n_split * part_w, n_split, D,
                         out.data + (i / n_head) * out.cols + (i % n_head) * D);
    });
}

}  // namespace gb::cpu
