// CPU multi-head latent attention over the compressed cache (DeepSeek-V2/V3), projections absorbed.
// Per position the cache holds only kv_lora + n_rope values, shared by every head (576 for V3
// against 2 * 128 * 192 for the decompressed keys and values). The latent acts as one key/value
// head for all query heads, so attention runs as attention.cpp does for a grouped-query group:
// a tile of tokens x all heads reads each block of the cache once (converted to floats once),
// with an online softmax per row, and decode splits the positions between threads (split-K)
// and merges the partial states. The price is two small per-head matrix products (W_kb^T into
// the query, W_vb out of the latent), which read their weights as matmul does (rows in their
// stored type, quantised activations).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/cpu/attention_simd.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/quant.h"
#include "kernels/error.h"

namespace gb::cpu {

void CpuBackend::mla_attention(Act q, const Weight& k_b, const Weight& v_b, const KvLayer& cache,
                               const MlaShape& s, int64_t pos0, float scale, Act out) {
    const int64_t qk = static_cast<int64_t>(s.n_nope) + s.n_rope;
    const auto fail = [&](const std::string& what) {
        throw Error("cpu backend: mla_attention: " + what);
    };
    if (s.n_head < 1 || s.n_nope < 1 || s.n_rope < 0 || s.n_v < 1 || s.kv_lora < 1)
        fail("bad shape");
    if (q.cols != s.n_head * qk || out.rows != q.rows || out.cols != int64_t{s.n_head} * s.n_v)
        fail("q " + std::to_string(q.rows) + "x" + std::to_string(q.cols) + " / out " +
             std::to_string(out.rows) + "x" + std::to_string(out.cols) + " do not fit " +
             std::to_string(s.n_head) + " heads of " + std::to_string(qk) + " -> " +
             std::to_string(s.n_v));
    if (cache.k.cols != s.kv_lora || cache.v.cols != s.n_rope || pos0 < 0 ||
        pos0 + q.rows > cache.k.rows || cache.v.rows < cache.k.rows)
        fail("cache of " + std::to_string(cache.k.rows) + " x (" + std::to_string(cache.k.cols) +
             " + " + std::to_string(cache.v.cols) + ") does not hold positions up to " +
             std::to_string(pos0 + q.rows) + " of kv_lora " + std::to_string(s.kv_lora) +
             " + rope " + std::to_string(s.n_rope));
    if (k_b.n_mat != s.n_head || k_b.rows != s.kv_lora || k_b.cols != s.n_nope)
        fail(std::string(k_b.name) + " is not " + std::to_string(s.n_head) + " x [" +
             std::to_string(s.kv_lora) + " x " + std::to_string(s.n_nope) + "]");
    if (v_b.n_mat != s.n_head || v_b.cols != s.kv_lora || s.v_row0 < 0 ||
        s.v_row0 + s.n_v > v_b.rows)
        fail(std::string(v_b.name) + " does not hold " + std::to_string(s.n_head) + " x [" +
             std::to_string(s.n_v) + " x " + std::to_string(s.kv_lora) + "] from row " +
             std::to_string(s.v_row0));
    const TensorType kdt = vec_dot_type(k_b.type), vdt = vec_dot_type(v_b.type);
    if (s.n_nope % type_info(k_b.type).block_size || s.n_nope % type_info(kdt).block_size ||
        s.kv_lora % type_info(v_b.type).block_size || s.kv_lora % type_info(vdt).block_size)
        fail("rows of " + std::string(k_b.name) + " / " + std::string(v_b.name) +
             " are not whole blocks of their types");

    const size_t krb = row_bytes(k_b.type, s.n_nope), vrb = row_bytes(v_b.type, s.kv_lora);
    const bool precise_dot = precise();  // the absorbed products with F32 queries and contexts
    const auto* kb = static_cast<const uint8_t*>(k_b.data);
    const auto* vb = static_cast<const uint8_t*>(v_b.data);
    const int64_t L = s.kv_lora, R = s.n_rope, H = s.n_head, T = q.rows;
    if (T == 0) return;
    const int64_t qw = L + R;  // an absorbed query: latent part, then rope part
    mla_q_.resize(static_cast<size_t>(T * H * qw));
    mla_ctx_.resize(static_cast<size_t>(T * H * L));

    // 1. q_abs = W_kb_h^T q_nope for every (token, head): the query moved into the latent
    // space, so keys are never decompressed. Both query parts carry the softmax scale.
    pool_.parallel_for(
        T * H,
        [&](int64_t i0, int64_t i1, int) {
            thread_local std::vector<uint8_t> qn;
            qn.resize(row_bytes(kdt, s.n_nope));
            for (int64_t i = i0; i < i1; ++i) {
                const int64_t t = i / H, h = i % H;
                const float* qh = q.data + t * q.cols + h * qk;
                float* qa = mla_q_.data() + i * qw;
                const uint8_t* kmat = kb + static_cast<size_t>(h * L) * krb;
                if (precise_dot) {
                    thread_local PreciseActs qp;
                    qp.assign(qh, s.n_nope, 1, s.n_nope, has_precise_int_dot(k_b.type));
                    for (int64_t c = 0; c < L; ++c)
                        qa[c] = vec_dot_precise(k_b.type, s.n_nope, kmat + c * krb, qp, 0) * scale;
                } else {
                    quantize_row(kdt, qh, qn.data(), s.n_nope);
                    for (int64_t c = 0; c < L; ++c)
                        qa[c] = vec_dot(k_b.type, s.n_nope, kmat + c * krb, qn.data()) * scale;
                }
                for (int64_t c = 0; c < R; ++c) qa[L + c] = qh[s.n_nope + c] * scale;
            }
        },
        1);
    if (cancelled()) return;  // the caller discards this step

    // 2. ctx = sum_j p_j c_kv_j for every (token, head). The latent is shared by all heads (a
    // single "KV head"), so a tile of tokens x all heads reads each block of the cache once,
    // converted to floats once, with an online softmax per row; at decode (one token) the
    // positions are split between threads too (split-K), and the partial states merged.
    const int64_t tq = std::clamp<int64_t>(kTileRows / H, 1, T);  // tokens per tile
    const int64_t n_tiles = (T + tq - 1) / tq;
    const int64_t max_kv = pos0 + T;
    const PositionSplit plan = split_positions(n_tiles, max_kv, pool_.size());
    const int64_t n_split = plan.n_split, chunk = plan.chunk;
    const int64_t part_w = L + 2;  // m, l, o[L]
    if (n_split > 1) attn_part_.resize(static_cast<size_t>(T * H * n_split * part_w));
    const int64_t rows_max = tq * H;
    const size_t need =
        static_cast<size_t>(rows_max * L + 2 * rows_max + kBlock * (L + R) + 2 * kBlock);
    for (auto& sc : scratch_) sc.resize(std::max(sc.size(), need));
    const bool in_place = cache.k.type == TensorType::F32 && cache.v.type == TensorType::F32;

    pool_.parallel_for(
        n_tiles * n_split,
        [&](int64_t i0, int64_t i1, int tid) {
            float* o = scratch_[tid].data();  // unnormalised contexts [rows x L]
            float* m = o + rows_max * L;      // running maxima
            float* l = m + rows_max;          // running sums
            float* cbuf = l + rows_max;       // a block of latents as floats
            float* pbuf = cbuf + kBlock * L;  // ... and of rope keys
            float* s0 = pbuf + kBlock * R;    // scores, then weights
            float* s1 = s0 + kBlock;          // rope part of the scores
            for (int64_t item = i0; item < i1; ++item) {
                if (cancelled()) return;
                const int64_t split = item % n_split, tile = item / n_split;
                const int64_t t0 = tile * tq, t1 = std::min(T, t0 + tq);
                const int64_t rows = (t1 - t0) * H;
                const int64_t j_begin = split * chunk;
                const int64_t j_end = std::min(pos0 + t1, j_begin + chunk);
                std::fill(o, o + rows * L, 0.0f);
                std::fill(m, m + rows, -INFINITY);
                std::fill(l, l + rows, 0.0f);
                for (int64_t jb = j_begin; jb < j_end; jb += kBlock) {
                    const int n = static_cast<int>(std::min<int64_t>(kBlock, j_end - jb));
                    const float* ck = cbuf;
                    const float* kp = pbuf;
                    if (in_place) {
                        ck = kv_row_f32(cache.k, jb, 0);
                        kp = kv_row_f32(cache.v, jb, 0);
                    } else {
                        for (int j = 0; j < n; ++j) {
                            kv_row_to_f32(cache.k, jb + j, 0, L, cbuf + j * L);
                            kv_row_to_f32(cache.v, jb + j, 0, R, pbuf + j * R);
                        }
                    }
                    const F32Rows ckr{ck, in_place ? cache.k.cols : L};
                    const F32Rows kpr{kp, in_place ? cache.v.cols : R};
                    for (int64_t r = 0; r < rows; ++r) {
                        const int64_t t = t0 + r / H;
                        // Causal: token t sees positions up to pos0 + t.
                        const int nq = static_cast<int>(std::min<int64_t>(n, pos0 + t + 1 - jb));
                        if (nq <= 0) continue;
                        const float* qa = mla_q_.data() + (t * H + r % H) * qw;
                        dot_rows(qa, ckr, nq, static_cast<int>(L), s0);
                        float bm = -INFINITY;
                        if (R > 0) {
                            dot_rows(qa + L, kpr, nq, static_cast<int>(R), s1);
                            for (int j = 0; j < nq; ++j) bm = std::max(bm, s0[j] += s1[j]);
                        } else {
                            for (int j = 0; j < nq; ++j) bm = std::max(bm, s0[j]);
                        }
                        const float m_new = std::max(m[r], bm);
                        const float alpha = m[r] == -INFINITY ? 0.0f : std::exp(m[r] - m_new);
                        l[r] = l[r] * alpha + exp_shifted(s0, nq, m_new, s0);
                        fold_rows(o + r * L, alpha, s0, ckr, nq, static_cast<int>(L));
                        m[r] = m_new;
                    }
                }
                for (int64_t r = 0; r < rows; ++r) {
                    const int64_t i = (t0 + r / H) * H + r % H;  // (token, head)
                    if (n_split == 1) {  // every query saw position 0: l > 0
                        float* dst = mla_ctx_.data() + i * L;
                        const float inv = 1.0f / l[r];
                        for (int64_t c = 0; c < L; ++c) dst[c] = o[r * L + c] * inv;
                    } else {
                        float* dst = attn_part_.data() + (i * n_split + split) * part_w;
                        dst[0] = m[r];
                        dst[1] = l[r];
                        std::memcpy(dst + 2, o + r * L, sizeof(float) * L);
                    }
                }
            }
        },
        1);
    if (cancelled()) return;

    // 3. Merge the splits of each (token, head) (rescaled by e^(m_s - M)), then
    // out_h = W_vb_h ctx: the value up-projection after the weighted sum, by linearity.
    pool_.parallel_for(
        T * H,
        [&](int64_t i0, int64_t i1, int) {
            thread_local std::vector<uint8_t> cq;
            cq.resize(row_bytes(vdt, L));
            for (int64_t i = i0; i < i1; ++i) {
                float* ctx = mla_ctx_.data() + i * L;
                if (n_split > 1)
                    merge_splits(attn_part_.data() + i * n_split * part_w, n_split, L, ctx);
                const int64_t t = i / H, h = i % H;
                const uint8_t* vmat = vb + static_cast<size_t>(h * v_b.rows + s.v_row0) * vrb;
                float* dst = out.data + t * out.cols + h * s.n_v;
                if (precise_dot) {
                    thread_local PreciseActs cp;
                    cp.assign(ctx, L, 1, L, has_precise_int_dot(v_b.type));
                    for (int64_t d = 0; d < s.n_v; ++d)
                        dst[d] = vec_dot_precise(v_b.type, L, vmat + d * vrb, cp, 0);
                    continue;
                }
                quantize_row(vdt, ctx, cq.data(), L);
                for (int64_t d = 0; d < s.n_v; ++d)
                    dst[d] = vec_dot(v_b.type, L, vmat + d * vrb, cq.data());
            }
        },
        1);
}

}  // namespace gb::cpu
