// CudaBackend's weight products: dense matmul (register-dequantising matvec for decode, bf16
// cuBLAS GEMM for prompts; in precise mode the F32 matvec for every row count), the MoE ops
// (routing on the device with one copy back, expert products that read only the selected experts)
// and MLA attention (absorbed projections as per-head matvecs around latent-space attention).
#include <algorithm>
#include <climits>
#include <cstring>
#include <numeric>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_backend_impl.h"

namespace gb::cuda {

namespace {

bool supported(TensorType t) {
    switch (t) {
        case TensorType::F32:
        case TensorType::F16:
        case TensorType::BF16:
        case TensorType::Q8_0:
        case TensorType::Q4_0:
        case TensorType::Q4_1:
        case TensorType::Q5_0:
        case TensorType::Q5_1:
        case TensorType::Q4_K:
        case TensorType::Q5_K:
        case TensorType::Q6_K: return true;
        default: return false;
    }
}

void check_weight(const char* op, const Weight& w, int64_t cols) {
    GB_CHECK(supported(w.type), op,
             std::string(w.name) + ": tensor type " + std::string(type_name(w.type)) +
                 " has no CUDA kernel");
    GB_CHECK(cols % type_info(w.type).block_size == 0, op,
             std::string(w.name) + ": rows of " + std::to_string(cols) + " are not whole " +
                 std::string(type_name(w.type)) + " blocks");
}

bool quantised(TensorType t) { return type_info(t).block_size > 1; }

// out (column-major n_out x n_tok, leading dimension ldc) = W x^T with W [n_out x k] and x
// [n_tok x k] row-major bf16: cuBLAS sees row-major W as column-major W^T, hence op(A) = T.
void gemm_bf16(CudaBackend::Impl& m, const char* op, const void* w, int64_t n_out, int64_t k,
               const void* x, int64_t n_tok, float* out, int64_t ldc) {
    GB_CHECK(n_out <= INT_MAX && k <= INT_MAX && n_tok <= INT_MAX && ldc <= INT_MAX, op,
             "GEMM dimensions exceed cuBLAS's int range");
    const float alpha = 1.0f, beta = 0.0f;
    GB_CUBLAS_CHECK(
        op,
        cublasGemmEx(as_blas(m.ctx.blas()), CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n_out),
                     static_cast<int>(n_tok), static_cast<int>(k), &alpha, w, CUDA_R_16BF,
                     static_cast<int>(k), x, CUDA_R_16BF, static_cast<int>(k), &beta, out,
                     CUDA_R_32F, static_cast<int>(ldc), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

}  // namespace

void CudaBackend::matmul(const Weight& w, Act x, Act out) {
    impl_->run("matmul", [&] {
        const char* op = "matmul";
        Impl& m = *impl_;
        GB_CHECK(x.cols == w.cols && out.rows == x.rows && out.cols == w.rows, op,
                 std::string(w.name) + " [" + std::to_string(w.rows) + "x" +
                     std::to_string(w.cols) + "] with x " + shape_str(x) + " into " +
                     shape_str(out));
        check_weight(op, w, w.cols);
        const int64_t n = x.rows;
        if (n == 0 || w.rows == 0) return;
        const auto rb = static_cast<int64_t>(row_bytes(w.type, w.cols));
        // Precise mode never takes the bf16 GEMM: the matvec keeps x in F32 for any row count.
        if (n >= m.opt.gemm_min_rows && !row_invariant() && !precise()) {
            // Prompt: bf16 copies of W (unless stored as bf16) and x, then tensor cores.
            const void* wb = w.data;
            if (w.type != TensorType::BF16) {
                void* d = m.grow(m.w_bf16, 2 * static_cast<size_t>(w.rows * w.cols), op);
                launch_dequant_bf16(w.type, w.data, rb, rb * w.rows, 0, w.rows, w.cols, nullptr, 1,
                                    d, m.stream);
                wb = d;
            }
            void* xb = m.grow(m.x_bf16, 2 * static_cast<size_t>(n * x.cols), op);
            launch_to_bf16(x.data, x.cols, nullptr, n, x.cols, xb, m.stream);
            gemm_bf16(m, op, wb, w.rows, w.cols, xb, n, out.data, out.cols);
            return;
        }
        MatvecArgs a;
        a.type = w.type;
        a.w = w.data;
        a.row_bytes = rb;
        a.mat_bytes = rb * w.rows;
        a.rows = w.rows;
        a.cols = w.cols;
        a.x = x.data;
        a.x_stride = x.cols;
        if (quantised(w.type)) a.x = m.aligned_rows(x.data, x.cols, n, x.cols, a.x_stride, op);
        a.out = out.data;
        a.out_stride = out.cols;
        a.n_slot = n;
        launch_matvec(a, m.stream);
    });
}

// ---- mixture of experts ----------------------------------------------------------------------

void CudaBackend::moe_route(Act logits, const Weight& bias, const RouterParams& p,
                            std::span<int32_t> ids, std::span<float> weights,
                            std::span<float> probs, const Weight& steer) {
    impl_->run("moe_route", [&] {
        const char* op = "moe_route";
        Impl& m = *impl_;
        const std::string bad = router_params_error(p);
        GB_CHECK(bad.empty(), op, bad);
        const int64_t n_tok = logits.rows;
        GB_CHECK(logits.cols == p.n_expert &&
                     static_cast<int64_t>(ids.size()) == n_tok * p.n_used &&
                     weights.size() == ids.size() &&
                     (probs.empty() || static_cast<int64_t>(probs.size()) == n_tok * p.n_expert),
                 op,
                 "logits " + shape_str(logits) + " for " + std::to_string(p.n_expert) +
                     " experts, top-" + std::to_string(p.n_used));
        GB_CHECK(!bias || (bias.type == TensorType::F32 && bias.rows * bias.cols == p.n_expert), op,
                 std::string(bias.name) + " must be F32 with one value per expert");
        GB_CHECK(!steer || (steer.type == TensorType::F32 && steer.rows * steer.cols == p.n_expert),
                 op, "the expert steering must be F32 with one value per expert");
        const auto* d_steer = static_cast<const float*>(steer.data);
        if (n_tok == 0) return;
        const size_t n_sel = ids.size();
        if (m.step.graph || m.step.defer) {
            // In a recorded or deferred step the results stay on the device (the step's routes
            // region, one slice per call) until end_step() copies them all back at once.
            const size_t a = (4 * n_sel + 15) & ~size_t{15};
            const size_t need = 2 * a + ((4 * probs.size() + 15) & ~size_t{15});
            m.step.route_need += need;
            if (m.step.route_used + need > m.step.routes.bytes) m.make_route_room(need, op);
            if (m.deferring()) {
                const size_t off = m.step.route_used;
                auto* base = static_cast<unsigned char*>(m.step.routes.p) + off;
                auto* d_ids = reinterpret_cast<int32_t*>(base);
                auto* d_w = reinterpret_cast<float*>(base + a);
                float* d_p = probs.empty() ? nullptr : reinterpret_cast<float*>(base + 2 * a);
                launch_moe_route(logits.data, static_cast<const float*>(bias.data), p, n_tok, d_ids,
                                 d_w, d_p, m.stream, d_steer);
                m.step.pending.push_back(PendingRoute{ids.data(), weights.data(), probs.data(),
                                                      n_sel, probs.size(), off, d_ids, d_w});
                m.step.route_used = off + need;
                return;
            }
        }
        auto* d_ids = static_cast<int32_t*>(m.grow(m.route_ids, 4 * n_sel, op));
        auto* d_w = static_cast<float*>(m.grow(m.route_w, 4 * n_sel, op));
        float* d_p =
            probs.empty() ? nullptr : static_cast<float*>(m.grow(m.route_p, 4 * probs.size(), op));
        launch_moe_route(logits.data, static_cast<const float*>(bias.data), p, n_tok, d_ids, d_w,
                         d_p, m.stream, d_steer);
        // One copy back per call through pinned memory: ids, weights, then probs.
        m.ensure_pinned(4 * (2 * n_sel + probs.size()), op);
        auto* h = static_cast<uint8_t*>(m.pinned);
        GB_CUDA_CHECK(op, cudaMemcpyAsync(h, d_ids, 4 * n_sel, cudaMemcpyDeviceToHost, m.stream));
        GB_CUDA_CHECK(
            op, cudaMemcpyAsync(h + 4 * n_sel, d_w, 4 * n_sel, cudaMemcpyDeviceToHost, m.stream));
        if (d_p)
            GB_CUDA_CHECK(op, cudaMemcpyAsync(h + 8 * n_sel, d_p, 4 * probs.size(),
                                              cudaMemcpyDeviceToHost, m.stream));
        GB_CUDA_CHECK(op, cudaStreamSynchronize(m.stream));
        m.note_sync();
        ++m.step.result_waits;
        std::memcpy(ids.data(), h, 4 * n_sel);
        std::memcpy(weights.data(), h + 4 * n_sel, 4 * n_sel);
        if (d_p) std::memcpy(probs.data(), h + 8 * n_sel, 4 * probs.size());
        m.last_ids.assign(ids.begin(), ids.end());
        m.last_weights.assign(weights.begin(), weights.end());
    });
}

void CudaBackend::moe_matmul(const Weight& w, Act x, std::span<const int32_t> ids, int n_used,
                             Act out) {
    impl_->run("moe_matmul", [&] {
        const char* op = "moe_matmul";
        Impl& m = *impl_;
        const int64_t n_slot = static_cast<int64_t>(ids.size());
        GB_CHECK(n_used >= 1 && n_slot % n_used == 0, op,
                 std::to_string(n_slot) + " slots for top-" + std::to_string(n_used));
        const bool per_slot = x.rows == n_slot;
        GB_CHECK((per_slot || x.rows * n_used == n_slot) && x.cols == w.cols &&
                     out.rows == n_slot && out.cols == w.rows && w.n_mat >= 1,
                 op,
                 std::string(w.name) + " [" + std::to_string(w.n_mat) + " x " +
                     std::to_string(w.rows) + "x" + std::to_string(w.cols) + "] with x " +
                     shape_str(x) + " for " + std::to_string(n_slot) + " slots into " +
                     shape_str(out));
        const int64_t n_tok = n_slot / n_used;
        // ids recorded by this step's moe_route are not on the host yet: use the device copy,
        // which the routing kernel fills with valid ids only. The prompt path sorts on the host,
        // so it brings the step's results back first (which fills the host ids).
        const PendingRoute* routed =
            m.deferring() ? m.pending_ids(ids.data(), ids.size()) : nullptr;
        if (routed && n_tok >= m.opt.gemm_min_rows && !row_invariant() && !precise()) {
            m.flush_routes(op);
            routed = nullptr;
        }
        if (!routed)
            for (int32_t e : ids)
                GB_CHECK(e >= 0 && e < w.n_mat, op,
                         "expert " + std::to_string(e) + " outside " + std::string(w.name) + " (" +
                             std::to_string(w.n_mat) + " experts)");
        check_weight(op, w, w.cols);
        if (n_slot == 0 || w.rows == 0) return;
        const auto rb = static_cast<int64_t>(row_bytes(w.type, w.cols));
        const int64_t mat_bytes = rb * w.rows;

        if (n_tok < m.opt.gemm_min_rows || row_invariant() || precise()) {
            // Decode: one warp per (slot, output row) reads only the selected matrix's rows.
            const bool same = !routed && m.last_ids.size() == ids.size() &&
                              std::equal(ids.begin(), ids.end(), m.last_ids.begin());
            MatvecArgs a;
            a.type = w.type;
            a.w = w.data;
            a.row_bytes = rb;
            a.mat_bytes = mat_bytes;
            a.rows = w.rows;
            a.cols = w.cols;
            a.ids = routed ? routed->d_ids
                    : same ? static_cast<const int32_t*>(m.route_ids.p)
                           : m.put(m.ids, ids, op);
            a.x = x.data;
            a.x_stride = x.cols;
            if (quantised(w.type))
                a.x = m.aligned_rows(x.data, x.cols, x.rows, x.cols, a.x_stride, op);
            a.x_div = per_slot ? 1 : n_used;
            a.out = out.data;
            a.out_stride = out.cols;
            a.n_slot = n_slot;
            launch_matvec(a, m.stream);
            return;
        }

        // Prompt: slots grouped by expert (a stable counting sort, as on the CPU), each active
        // expert's matrix dequantised once and multiplied with all its tokens by one GEMM.
        std::vector<int32_t> first(static_cast<size_t>(w.n_mat + 1), 0);
        for (int32_t e : ids) ++first[e + 1];
        for (int64_t e = 0; e < w.n_mat; ++e) first[e + 1] += first[e];
        std::vector<int32_t> order(static_cast<size_t>(n_slot)), xrows(order.size());
        {
            std::vector<int32_t> fill(first.begin(), first.end() - 1);
            for (int64_t s = 0; s < n_slot; ++s) order[fill[ids[s]]++] = static_cast<int32_t>(s);
        }
        for (int64_t j = 0; j < n_slot; ++j) xrows[j] = per_slot ? order[j] : order[j] / n_used;
        std::vector<int32_t> active;
        for (int64_t e = 0; e < w.n_mat; ++e)
            if (first[e + 1] > first[e]) active.push_back(static_cast<int32_t>(e));
        const auto n_active = static_cast<int64_t>(active.size());

        const int32_t* d_order = m.put(m.moe_order, std::span<const int32_t>(order), op);
        const int32_t* d_xrows = m.put(m.moe_xrows, std::span<const int32_t>(xrows), op);
        void* xb = m.grow(m.x_bf16, 2 * static_cast<size_t>(n_slot * w.cols), op);
        launch_to_bf16(x.data, x.cols, d_xrows, n_slot, w.cols, xb, m.stream);
        const size_t mat_elems = static_cast<size_t>(w.rows * w.cols);
        const uint8_t* wb = static_cast<const uint8_t*>(w.data);
        if (w.type != TensorType::BF16) {
            const int32_t* d_mats = m.put(m.moe_mats, std::span<const int32_t>(active), op);
            void* d = m.grow(m.w_bf16, 2 * mat_elems * n_active, op);
            launch_dequant_bf16(w.type, w.data, rb, mat_bytes, 0, w.rows, w.cols, d_mats, n_active,
                                d, m.stream);
            wb = static_cast<const uint8_t*>(d);
        }
        auto* og =
            static_cast<float*>(m.grow(m.out_f32, 4 * static_cast<size_t>(n_slot * w.rows), op));
        for (int64_t i = 0; i < n_active; ++i) {
            const int32_t e = active[i];
            const int64_t j0 = first[e], count = first[e + 1] - j0;
            // The dequantised copy holds the active experts in order; a bf16 stack is used as is.
            const size_t mi =
                w.type == TensorType::BF16 ? static_cast<size_t>(e) : static_cast<size_t>(i);
            gemm_bf16(m, op, wb + 2 * mi * mat_elems, w.rows, w.cols,
                      static_cast<const uint8_t*>(xb) + 2 * j0 * w.cols, count, og + j0 * w.rows,
                      w.rows);
        }
        launch_scatter_rows(og, d_order, n_slot, w.rows, out.data, m.stream);
    });
}

void CudaBackend::moe_combine(Act y, std::span<const float> weights, int n_used, Act out) {
    impl_->run("moe_combine", [&] {
        const char* op = "moe_combine";
        Impl& m = *impl_;
        GB_CHECK(n_used >= 1 && y.rows == out.rows * n_used && y.cols == out.cols &&
                     static_cast<int64_t>(weights.size()) == y.rows,
                 op,
                 "y " + shape_str(y) + " with " + std::to_string(weights.size()) +
                     " weights, top-" + std::to_string(n_used) + ", into " + shape_str(out));
        if (out.size() == 0) return;
        // Weights recorded by this step's moe_route: on the device only, until end_step().
        const PendingRoute* routed =
            m.deferring() ? m.pending_weights(weights.data(), weights.size()) : nullptr;
        const bool same = !routed && m.last_weights.size() == weights.size() &&
                          std::equal(weights.begin(), weights.end(), m.last_weights.begin());
        const float* d_w = routed ? routed->d_weights
                           : same ? static_cast<const float*>(m.route_w.p)
                                  : m.put(m.combine_w, weights, op);
        launch_moe_combine(y.data, d_w, n_used, out.rows, out.cols, out.data, m.stream);
    });
}

// ---- multi-head latent attention -------------------------------------------------------------

void CudaBackend::mla_attention(Act q, const Weight& k_b, const Weight& v_b, const KvLayer& cache,
                                const MlaShape& s, int64_t pos0, float scale, Act out) {
    impl_->run("mla_attention", [&] {
        const char* op = "mla_attention";
        Impl& m = *impl_;
        const int64_t qk = static_cast<int64_t>(s.n_nope) + s.n_rope;
        GB_CHECK(s.n_head >= 1 && s.n_nope >= 1 && s.n_rope >= 0 && s.n_v >= 1 && s.kv_lora >= 1,
                 op, "bad shape");
        GB_CHECK(
            q.cols == s.n_head * qk && out.rows == q.rows && out.cols == int64_t{s.n_head} * s.n_v,
            op,
            "q " + shape_str(q) + " / out " + shape_str(out) + " do not fit " +
                std::to_string(s.n_head) + " heads of " + std::to_string(qk) + " -> " +
                std::to_string(s.n_v));
        GB_CHECK(cache.k.cols == s.kv_lora && cache.v.cols == s.n_rope && pos0 >= 0 &&
                     pos0 + q.rows <= cache.k.rows && cache.v.rows >= cache.k.rows,
                 op,
                 "cache of " + std::to_string(cache.k.rows) + " x (" +
                     std::to_string(cache.k.cols) + " + " + std::to_string(cache.v.cols) +
                     ") does not hold positions up to " + std::to_string(pos0 + q.rows));
        GB_CHECK(k_b.n_mat == s.n_head && k_b.rows == s.kv_lora && k_b.cols == s.n_nope, op,
                 std::string(k_b.name) + " is not " + std::to_string(s.n_head) + " x [" +
                     std::to_string(s.kv_lora) + " x " + std::to_string(s.n_nope) + "]");
        GB_CHECK(v_b.n_mat == s.n_head && v_b.cols == s.kv_lora && s.v_row0 >= 0 &&
                     s.v_row0 + s.n_v <= v_b.rows,
                 op,
                 std::string(v_b.name) + " does not hold " + std::to_string(s.n_head) + " x [" +
                     std::to_string(s.n_v) + " x " + std::to_string(s.kv_lora) + "] from row " +
                     std::to_string(s.v_row0));
        GB_CHECK(s.n_rope <= 64 && s.kv_lora <= 512, op,
                 "kv_lora " + std::to_string(s.kv_lora) + " / rope " + std::to_string(s.n_rope) +
                     " exceed the CUDA kernel's 512 / 64");
        check_weight(op, k_b, s.n_nope);
        check_weight(op, v_b, s.kv_lora);
        const int64_t n = q.rows, H = s.n_head, L = s.kv_lora;
        if (n == 0) return;

        // q_abs[t,h] = W_kb_h^T q_nope[t,h]: slot t*H + h uses matrix h (m_mod = H).
        auto* q_abs = static_cast<float*>(m.grow(m.q_abs, 4 * static_cast<size_t>(n * H * L), op));
        const auto krb = static_cast<int64_t>(row_bytes(k_b.type, s.n_nope));
        MatvecArgs a;
        a.type = k_b.type;
        a.w = k_b.data;
        a.row_bytes = krb;
        a.mat_bytes = krb * k_b.rows;
        a.rows = L;
        a.cols = s.n_nope;
        a.m_mod = H;
        a.x = q.data;
        a.x_stride = qk;
        if (quantised(k_b.type)) a.x = m.aligned_rows(q.data, qk, n * H, s.n_nope, a.x_stride, op);
        a.out = q_abs;
        a.out_stride = L;
        a.n_slot = n * H;
        launch_matvec(a, m.stream);

        // Attention in the latent space: keys (c_kv, k_pe), values c_kv, all heads share them.
        auto* ctx =
            static_cast<float*>(m.grow(m.ctx_latent, 4 * static_cast<size_t>(n * H * L), op));
        AttnArgs at;
        at.qa = q_abs;
        at.q_stride = H * L;
        at.q_head = L;
        at.qb = q.data + s.n_nope;
        at.qb_stride = q.cols;
        at.qb_head = qk;
        GB_CHECK(cache.k.type == cache.v.type, op, "c_kv and k_pe caches of different types");
        at.kv_type = cache.k.type;
        at.ka = at.v = cache.k.data;
        at.ka_stride = at.v_stride = L;
        at.kb = cache.v.data;
        at.kb_stride = s.n_rope;
        at.da = at.dv = static_cast<int>(L);
        at.db = s.n_rope;
        at.n_head = static_cast<int>(H);
        at.group = static_cast<int>(H);
        at.n_tok = n;
        at.pos0 = pos0;
        at.scale = scale;
        at.out = ctx;
        at.out_stride = H * L;
        at.out_head = L;
        const int64_t sf = attention_scratch_floats(at);
        auto* scratch = sf ? static_cast<float*>(m.grow(m.attn, sizeof(float) * sf, op)) : nullptr;
        launch_attention(at, scratch, m.stream);

        // out[t,h] = W_vb_h ctx[t,h]: rows v_row0 .. v_row0 + n_v of matrix h.
        const auto vrb = static_cast<int64_t>(row_bytes(v_b.type, L));
        MatvecArgs b;
        b.type = v_b.type;
        b.w = v_b.data;
        b.row_bytes = vrb;
        b.mat_bytes = vrb * v_b.rows;
        b.row0 = s.v_row0;
        b.rows = s.n_v;
        b.cols = L;
        b.m_mod = H;
        b.x = ctx;
        b.x_stride = L;
        if (quantised(v_b.type)) b.x = m.aligned_rows(ctx, L, n * H, L, b.x_stride, op);
        b.out = out.data;
        b.out_stride = s.n_v;
        b.n_slot = n * H;
        launch_matvec(b, m.stream);
    });
}

}  // namespace gb::cuda
