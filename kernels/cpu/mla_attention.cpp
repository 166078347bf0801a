// CPU multi-head latent attention over the compressed cache (DeepSeek-V2/V3), projections absorbed.
// Decode reads per position only kv_lora + n_rope floats, shared by every head (576 for V3
// against 2 * 128 * 192 for the decompressed keys and values), so the cache traffic is small and
// stays in the shared cache levels while the heads of one token run on several threads; the
// price is two small per-head matrix products (W_kb^T into the query, W_vb out of the latent),
// which read their weights as matmul does (rows in their stored type, quantised activations).
#include <algorithm>
#include <cmath>
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
    const auto* kb = static_cast<const uint8_t*>(k_b.data);
    const auto* vb = static_cast<const uint8_t*>(v_b.data);
    const int64_t L = s.kv_lora, R = s.n_rope;
    constexpr int kBlock = 32;  // positions per block of the cache read as floats
    pool_.parallel_for(
        q.rows * s.n_head,
        [&](int64_t i0, int64_t i1, int) {
            thread_local std::vector<float> q_abs, ctx, qpe, cbuf, pbuf, sc;
            thread_local std::vector<uint8_t> qn, cq;
            q_abs.resize(L);
            ctx.resize(L);
            qpe.resize(R);
            cbuf.resize(kBlock * L);
            pbuf.resize(kBlock * R);
            sc.resize(2 * kBlock);
            qn.resize(row_bytes(kdt, s.n_nope));
            cq.resize(row_bytes(vdt, L));
            for (int64_t i = i0; i < i1; ++i) {
                if (cancelled()) return;  // the caller discards this step
                const int64_t t = i / s.n_head;
                const int64_t h = i % s.n_head;
                const float* qh = q.data + t * q.cols + h * qk;
                // q_abs = W_kb_h^T q_nope: the query moved into the latent space, so keys are never
                // decompressed. Both query parts carry the softmax scale.
                quantize_row(kdt, qh, qn.data(), s.n_nope);
                const uint8_t* kmat = kb + static_cast<size_t>(h * L) * krb;
                for (int64_t c = 0; c < L; ++c)
                    q_abs[c] = vec_dot(k_b.type, s.n_nope, kmat + c * krb, qn.data()) * scale;
                for (int64_t c = 0; c < R; ++c) qpe[c] = qh[s.n_nope + c] * scale;
                // Stream the cache in blocks with an online softmax: ctx = sum_j p_j c_kv_j,
                // then out_h = W_vb_h ctx (the value up-projection after the weighted sum, by
                // linearity).
                const int64_t n_kv = pos0 + t + 1;  // causal: positions 0 .. pos0 + t
                float m = -INFINITY, l = 0.0f;
                std::fill(ctx.begin(), ctx.end(), 0.0f);
                for (int64_t jb = 0; jb < n_kv; jb += kBlock) {
                    const int n = static_cast<int>(std::min<int64_t>(kBlock, n_kv - jb));
                    const float* ck = kv_row_f32(cache.k, jb, 0);
                    const float* kp = kv_row_f32(cache.v, jb, 0);
                    if (!ck) {
                        for (int j = 0; j < n; ++j)
                            kv_row_to_f32(cache.k, jb + j, 0, L, cbuf.data() + j * L);
                        ck = cbuf.data();
                    }
                    if (!kp) {
                        for (int j = 0; j < n; ++j)
                            kv_row_to_f32(cache.v, jb + j, 0, R, pbuf.data() + j * R);
                        kp = pbuf.data();
                    }
                    float* s0 = sc.data();
                    float* s1 = s0 + kBlock;
                    dot_rows(q_abs.data(), F32Rows{ck, L}, n, static_cast<int>(L), s0);
                    dot_rows(qpe.data(), F32Rows{kp, R}, n, static_cast<int>(R), s1);
                    float bm = -INFINITY;
                    for (int j = 0; j < n; ++j) bm = std::max(bm, s0[j] += s1[j]);
                    const float m_new = std::max(m, bm);
                    const float alpha = m == -INFINITY ? 0.0f : std::exp(m - m_new);
                    l = l * alpha + exp_shifted(s0, n, m_new, s0);
                    fold_rows(ctx.data(), alpha, s0, F32Rows{ck, L}, n, static_cast<int>(L));
                    m = m_new;
                }
                for (auto& c : ctx) c /= l;
                quantize_row(vdt, ctx.data(), cq.data(), L);
                const uint8_t* vmat = vb + static_cast<size_t>(h * v_b.rows + s.v_row0) * vrb;
                float* o = out.data + t * out.cols + h * s.n_v;
                for (int64_t d = 0; d < s.n_v; ++d)
                    o[d] = vec_dot(v_b.type, L, vmat + d * vrb, cq.data());
            }
        },
        1);
}

}  // namespace gb::cpu
