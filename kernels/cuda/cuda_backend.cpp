// CudaBackend: device memory, weight upload, copies, error handling and the light ops (norm,
// elementwise, RoPE, KV store, attention). The matmul family (dense, MoE, MLA) is in
// cuda_backend_matmul.cpp. Host code only: argument checks happen here, at the op boundary, with
// the CPU backend's rules, so both backends refuse the same calls.
#include "kernels/cuda/cuda_backend.h"

#include <algorithm>
#include <cstring>

#include "kernels/cuda/cuda_backend_impl.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/logit_summary.h"

namespace gb::cuda {

namespace {

bool on_device(const void* p) {
    cudaPointerAttributes attr{};
    if (cudaPointerGetAttributes(&attr, p) != cudaSuccess) {
        cudaGetLastError();
        return false;
    }
    return attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged;
}

}  // namespace

CudaBackend::CudaBackend(CudaBackendOptions options) {
    std::string why;
    if (!cuda_available(&why)) throw Error("CUDA backend: no CUDA device: " + why);
    impl_ = std::make_unique<Impl>(options);
}

CudaBackend::~CudaBackend() {
    // Frees ignore errors: after a sticky error every call fails, and the memory goes with the
    // context on reset_device() anyway.
    Impl& m = *impl_;
    cudaSetDevice(m.opt.device);
    m.abort_step();  // a step left open: end its capture
    if (!m.broken) cudaStreamSynchronize(m.stream);
    if (m.step.exec) cudaGraphExecDestroy(m.step.exec);
    for (void* p : m.acts) cudaFree(p);
    for (void* p : m.weights) cudaFree(p);
    for (Scratch* s : m.scratches())
        if (s->p) cudaFree(s->p);
    for (void* p : {m.pinned, m.step.stage, m.step.route_host})
        if (p) cudaFreeHost(p);
    cudaGetLastError();
}

const DeviceInfo& CudaBackend::device() const { return impl_->info; }
const CudaBackendOptions& CudaBackend::options() const { return impl_->opt; }
bool CudaBackend::broken() const { return impl_->broken; }
int64_t CudaBackend::weight_bytes() const { return impl_->weight_bytes; }

void CudaBackend::reset_device(int device) {
    GB_CUDA_CHECK("reset_device", cudaSetDevice(device));
    GB_CUDA_CHECK("reset_device", cudaDeviceReset());
}

// ---- memory ----------------------------------------------------------------------------------

Act CudaBackend::alloc(int64_t rows, int64_t cols) {
    Act a;
    impl_->run("alloc", [&] {
        impl_->leave_capture("alloc");
        GB_CHECK(rows >= 0 && cols >= 0, "alloc", "negative size");
        const size_t bytes = sizeof(float) * static_cast<size_t>(std::max<int64_t>(1, rows * cols));
        void* p = nullptr;
        const cudaError_t e = cudaMalloc(&p, bytes);
        if (e != cudaSuccess) {
            cudaGetLastError();
            size_t free_b = 0, total_b = 0;
            cudaMemGetInfo(&free_b, &total_b);
            throw Error("CUDA alloc: cudaMalloc of " + std::to_string(bytes) + " bytes (" +
                        std::to_string(rows) + "x" + std::to_string(cols) + " floats) failed: " +
                        cudaGetErrorName(e) + "; " + std::to_string(free_b >> 20) +
                        " MiB free of " + std::to_string(total_b >> 20) + " MiB");
        }
        impl_->acts.insert(p);
        GB_CUDA_CHECK("alloc", cudaMemsetAsync(p, 0, bytes, impl_->stream));
        a = Act{static_cast<float*>(p), rows, cols};
    });
    return a;
}

void CudaBackend::release(Act& a) {
    auto it = impl_->acts.find(a.data);
    if (it != impl_->acts.end()) {
        // Recorded nodes may use the buffer: run them first. release() does not throw, so if
        // that fails the step is marked failed and its end_step() reports it.
        if (impl_->capturing()) {
            try {
                impl_->fall_back("release");
            } catch (const Error&) {
                impl_->discard_capture();
                impl_->step.failed = true;
            }
        }
        cudaSetDevice(impl_->opt.device);
        cudaFree(*it);  // synchronises: no queued kernel still uses it
        cudaGetLastError();
        impl_->acts.erase(it);
    }
    a = Act{};
}

Weight CudaBackend::upload(const Weight& host) {
    Weight d = host;
    impl_->run("upload", [&] {
        impl_->leave_capture("upload");
        if (!host.data) return;
        GB_CHECK(host.rows >= 0 && host.cols >= 0 && host.n_mat >= 1, "upload",
                 std::string(host.name) + ": bad shape");
        const size_t bytes = row_bytes(host.type, host.cols) * static_cast<size_t>(host.rows) *
                             static_cast<size_t>(host.n_mat);
        void* p = nullptr;
        const cudaError_t e = cudaMalloc(&p, std::max<size_t>(bytes, 1));
        if (e != cudaSuccess) {
            cudaGetLastError();
            throw Error("CUDA upload: no device memory for " + std::string(host.name) + " (" +
                        std::to_string(bytes >> 20) + " MiB): " + cudaGetErrorName(e));
        }
        impl_->weights.push_back(p);
        // Synchronous: the host bytes may be a temporary (e.g. a transposed copy made at load).
        GB_CUDA_CHECK("upload", cudaMemcpy(p, host.data, bytes, cudaMemcpyHostToDevice));
        impl_->weight_bytes += static_cast<int64_t>(bytes);
        d.data = p;
    });
    return d;
}

void CudaBackend::to_device(const float* host, Act dst) {
    impl_->run("to_device", [&] {
        impl_->leave_capture("to_device");  // a pageable source cannot be read at launch
        if (dst.size() == 0) return;
        GB_CUDA_CHECK("to_device", cudaMemcpyAsync(dst.data, host, sizeof(float) * dst.size(),
                                                   cudaMemcpyHostToDevice, impl_->stream));
    });
}

void CudaBackend::to_host(Act src, float* host) {
    impl_->run("to_host", [&] {
        impl_->leave_capture("to_host");
        if (src.size() > 0)
            GB_CUDA_CHECK("to_host", cudaMemcpyAsync(host, src.data, sizeof(float) * src.size(),
                                                     cudaMemcpyDeviceToHost, impl_->stream));
        GB_CUDA_CHECK("to_host", cudaStreamSynchronize(impl_->stream));
        impl_->note_sync();
    });
}

void CudaBackend::synchronize() {
    impl_->run("synchronize", [&] {
        impl_->leave_capture("synchronize");
        GB_CUDA_CHECK("synchronize", cudaStreamSynchronize(impl_->stream));
        impl_->note_sync();
    });
}

std::optional<int64_t> CudaBackend::free_memory_bytes() {
    size_t free_b = 0, total_b = 0;
    impl_->run("free_memory_bytes",
               [&] { GB_CUDA_CHECK("free_memory_bytes", cudaMemGetInfo(&free_b, &total_b)); });
    return static_cast<int64_t>(free_b);
}

int64_t CudaBackend::scratch_bytes(int64_t largest_weight_elements, int64_t n_batch,
                                   int64_t max_width) const {
    // The bf16 copy of the largest weight (prefill GEMM), bf16 and aligned float copies of the
    // activations, the float GEMM output of the MoE path, attention partials, and 256 MiB for
    // cuBLAS workspaces, the CUDA context's own allocations and fragmentation.
    const int64_t gemm_w = n_batch >= impl_->opt.gemm_min_rows ? 2 * largest_weight_elements : 0;
    return gemm_w + n_batch * max_width * (2 + 4 + 4) + (int64_t{256} << 20);
}

// ---- light ops -------------------------------------------------------------------------------

void CudaBackend::get_rows(const Weight& table, std::span<const int32_t> ids, Act out) {
    impl_->run("get_rows", [&] {
        const char* op = "get_rows";
        GB_CHECK(out.rows == static_cast<int64_t>(ids.size()) && out.cols == table.cols, op,
                 "output " + shape_str(out) + " does not match " + std::to_string(ids.size()) +
                     " ids x " + std::to_string(table.cols));
        for (int32_t id : ids)
            GB_CHECK(id >= 0 && id < table.rows, op,
                     "token id " + std::to_string(id) + " outside " + std::string(table.name) +
                         " (" + std::to_string(table.rows) + " rows)");
        GB_CHECK(type_info(table.type).block_size == 1 ||
                     reinterpret_cast<uintptr_t>(out.data) % 16 == 0,
                 op, "output must be 16-byte aligned");
        if (ids.empty()) return;
        const int32_t* d_ids = impl_->put(impl_->ids, ids, op);
        launch_get_rows(table.type, table.data,
                        static_cast<int64_t>(row_bytes(table.type, table.cols)), table.cols, d_ids,
                        static_cast<int64_t>(ids.size()), out.data, impl_->stream);
    });
}

void CudaBackend::rmsnorm(Act x, const Weight& w, float eps, Act out) {
    impl_->run("rmsnorm", [&] {
        GB_CHECK(w.type == TensorType::F32 && w.rows * w.cols == x.cols && out.size() == x.size(),
                 "rmsnorm",
                 std::string(w.name) + " must be F32 with " + std::to_string(x.cols) + " elements");
        if (x.rows == 0) return;
        gb::cuda::rmsnorm(impl_->ctx, x.data, static_cast<const float*>(w.data), x.rows, x.cols,
                          eps, out.data);
    });
}

void CudaBackend::add_bias(Act x, const Weight& b) {
    impl_->run("add_bias", [&] {
        GB_CHECK(b.type == TensorType::F32 && b.rows * b.cols == x.cols, "add_bias",
                 std::string(b.name) + " must be F32 with " + std::to_string(x.cols) + " elements");
        launch_add_bias(x.data, static_cast<const float*>(b.data), x.rows, x.cols, impl_->stream);
    });
}

void CudaBackend::add(Act x, Act y) {
    impl_->run("add", [&] {
        GB_CHECK(x.size() == y.size(), "add", shape_str(x) + " + " + shape_str(y));
        launch_add(x.data, y.data, x.size(), impl_->stream);
    });
}

void CudaBackend::swiglu(Act gate, Act up, Act out) {
    impl_->run("swiglu", [&] {
        GB_CHECK(gate.size() == up.size() && out.size() == gate.size(), "swiglu",
                 shape_str(gate) + " * " + shape_str(up));
        launch_swiglu(gate.data, up.data, out.data, gate.size(), impl_->stream);
    });
}

void CudaBackend::rope(Act x, int n_heads, int head_dim, std::span<const int32_t> positions,
                       const RopeParams& p) {
    impl_->run("rope", [&] {
        const char* op = "rope";
        GB_CHECK(x.cols == static_cast<int64_t>(n_heads) * head_dim &&
                     x.rows == static_cast<int64_t>(positions.size()) && p.n_dims <= head_dim &&
                     p.n_dims % 2 == 0,
                 op,
                 "x " + shape_str(x) + " for " + std::to_string(n_heads) + " heads of " +
                     std::to_string(head_dim));
        if (x.rows == 0) return;
        const int32_t* d_pos = impl_->put(impl_->positions, positions, op);
        const float* ff = p.freq_factors;
        if (ff) {
            // Where the table lives is asked of the driver once per pointer (an uploaded weight,
            // the model's rope_freqs, is known at once): a recorded step then asks nothing.
            auto known = impl_->freq_on_device.find(ff);
            if (known == impl_->freq_on_device.end()) {
                const bool uploaded = std::find(impl_->weights.begin(), impl_->weights.end(), ff) !=
                                      impl_->weights.end();
                known = impl_->freq_on_device.emplace(ff, uploaded || on_device(ff)).first;
            }
            if (!known->second)  // a host array (tests, callers that built it themselves)
                ff = impl_->put(impl_->freq, std::span<const float>(ff, p.n_dims / 2), op);
        }
        launch_rope(x.data, x.rows, x.cols, n_heads, head_dim, d_pos, p, ff, impl_->stream);
    });
}

void CudaBackend::kv_store(KvLayer& cache, Act k, Act v, int64_t pos0) {
    impl_->run("kv_store", [&] {
        const char* op = "kv_store";
        GB_CHECK(k.cols == cache.k.cols && v.cols == cache.v.cols && k.rows == v.rows &&
                     pos0 >= 0 && pos0 + k.rows <= cache.k.rows && pos0 + v.rows <= cache.v.rows,
                 op,
                 "k " + shape_str(k) + " at position " + std::to_string(pos0) +
                     " into a cache of " + std::to_string(cache.k.rows) + " positions");
        GB_CHECK(kv_cache_type_error(cache.k.type, cache.k.cols).empty() &&
                     kv_cache_type_error(cache.v.type, cache.v.cols).empty(),
                 op,
                 kv_cache_type_error(cache.k.type, cache.k.cols) +
                     kv_cache_type_error(cache.v.type, cache.v.cols));
        auto* kd = static_cast<uint8_t*>(cache.k.data) + pos0 * cache.k.row_bytes();
        auto* vd = static_cast<uint8_t*>(cache.v.data) + pos0 * cache.v.row_bytes();
        launch_kv_store(k.data, k.rows, k.cols, kd, cache.k.type, impl_->stream);
        launch_kv_store(v.data, v.rows, v.cols, vd, cache.v.type, impl_->stream);
    });
}

void CudaBackend::kv_copy(const KvLayer& src, KvLayer& dst, int64_t rows) {
    impl_->run("kv_copy", [&] {
        const char* op = "kv_copy";
        for (auto [s, d] : {std::pair{&src.k, &dst.k}, std::pair{&src.v, &dst.v}})
            GB_CHECK(s->type == d->type && s->cols == d->cols && rows >= 0 && rows <= s->rows &&
                         rows <= d->rows,
                     op,
                     std::to_string(rows) + " rows of a cache of " + std::to_string(s->rows) +
                         " x " + std::to_string(s->cols) + " into one of " +
                         std::to_string(d->rows) + " x " + std::to_string(d->cols));
        if (rows == 0) return;
        GB_CUDA_CHECK(op, cudaMemcpyAsync(dst.k.data, src.k.data,
                                          static_cast<size_t>(rows) * src.k.row_bytes(),
                                          cudaMemcpyDeviceToDevice, impl_->stream));
        GB_CUDA_CHECK(op, cudaMemcpyAsync(dst.v.data, src.v.data,
                                          static_cast<size_t>(rows) * src.v.row_bytes(),
                                          cudaMemcpyDeviceToDevice, impl_->stream));
    });
}

void CudaBackend::attention(Act q, const KvLayer& cache, int n_head, int n_head_kv, int head_dim,
                            int64_t pos0, float scale, Act out) {
    impl_->run("attention", [&] {
        const char* op = "attention";
        GB_CHECK(n_head >= 1 && n_head_kv >= 1 && head_dim >= 1 &&
                     q.cols == static_cast<int64_t>(n_head) * head_dim && n_head % n_head_kv == 0 &&
                     cache.k.cols == static_cast<int64_t>(n_head_kv) * head_dim &&
                     cache.v.cols == cache.k.cols && pos0 >= 0 && pos0 + q.rows <= cache.k.rows &&
                     cache.v.rows >= cache.k.rows && out.rows == q.rows && out.cols == q.cols,
                 op,
                 "q " + shape_str(q) + " with " + std::to_string(n_head) + "/" +
                     std::to_string(n_head_kv) + " heads of " + std::to_string(head_dim));
        if (q.rows == 0) return;
        AttnArgs a;
        a.qa = q.data;
        a.q_stride = q.cols;
        a.q_head = head_dim;
        GB_CHECK(cache.k.type == cache.v.type, op, "K and V caches of different types");
        a.kv_type = cache.k.type;
        a.ka = cache.k.data;
        a.v = cache.v.data;
        a.ka_stride = a.v_stride = cache.k.cols;
        a.kv_head = head_dim;
        a.da = a.dv = head_dim;
        a.n_head = n_head;
        a.group = n_head / n_head_kv;
        a.n_tok = q.rows;
        a.pos0 = pos0;
        a.scale = scale;
        a.out = out.data;
        a.out_stride = out.cols;
        a.out_head = head_dim;
        const int64_t sf = attention_scratch_floats(a);
        auto* scratch =
            sf ? static_cast<float*>(impl_->grow(impl_->attn, sizeof(float) * sf, op)) : nullptr;
        launch_attention(a, scratch, impl_->stream);
    });
}

// ---- logit summary ---------------------------------------------------------------------------

void CudaBackend::logit_summary(Act logits, int top_n, std::span<float> stats,
                                std::span<int32_t> top_ids, std::span<float> top_logits) {
    impl_->run("logit_summary", [&] {
        const char* op = "logit_summary";
        Impl& m = *impl_;
        const std::string bad =
            logit_summary_error(logits, top_n, stats.size(), top_ids.size(), top_logits.size());
        GB_CHECK(bad.empty(), op, bad);
        if (logits.rows == 0) return;
        const size_t n_stats = stats.size(), n_top = top_ids.size();
        const size_t bytes = sizeof(float) * (n_stats + 2 * n_top);
        if (m.step.graph || m.step.defer) {
            // In a recorded or deferred step the summary joins the routing in the step's device
            // region and comes back in end_step()'s one copy.
            const size_t need = (bytes + 15) & ~size_t{15};
            m.step.route_need += need;
            if (m.step.route_used + need > m.step.routes.bytes) m.make_route_room(need, op);
            if (m.deferring()) {
                const size_t off = m.step.route_used;
                auto* base = static_cast<uint8_t*>(m.step.routes.p) + off;
                auto* d_stats = reinterpret_cast<float*>(base);
                auto* d_ids = reinterpret_cast<int32_t*>(d_stats + n_stats);
                auto* d_top = reinterpret_cast<float*>(d_ids + n_top);
                launch_logit_summary(logits.data, logits.rows, logits.cols, top_n, d_stats, d_ids,
                                     d_top, m.stream);
                m.step.copies.push_back(PendingCopy{stats.data(), 4 * n_stats, off});
                m.step.copies.push_back(PendingCopy{top_ids.data(), 4 * n_top, off + 4 * n_stats});
                m.step.copies.push_back(
                    PendingCopy{top_logits.data(), 4 * n_top, off + 4 * (n_stats + n_top)});
                m.step.route_used = off + need;
                return;
            }
        }
        // Op by op: one device buffer, one copy back (stats, then ids, then logits), one wait.
        auto* d = static_cast<uint8_t*>(m.grow(m.summary, bytes, op));
        auto* d_stats = reinterpret_cast<float*>(d);
        auto* d_ids = reinterpret_cast<int32_t*>(d_stats + n_stats);
        auto* d_top = reinterpret_cast<float*>(d_ids + n_top);
        launch_logit_summary(logits.data, logits.rows, logits.cols, top_n, d_stats, d_ids, d_top,
                             m.stream);
        m.ensure_pinned(bytes, op);
        GB_CUDA_CHECK(op, cudaMemcpyAsync(m.pinned, d, bytes, cudaMemcpyDeviceToHost, m.stream));
        GB_CUDA_CHECK(op, cudaStreamSynchronize(m.stream));
        m.note_sync();
        ++m.step.result_waits;
        const auto* h = static_cast<const uint8_t*>(m.pinned);
        std::memcpy(stats.data(), h, sizeof(float) * n_stats);
        std::memcpy(top_ids.data(), h + sizeof(float) * n_stats, sizeof(int32_t) * n_top);
        std::memcpy(top_logits.data(), h + sizeof(float) * (n_stats + n_top),
                    sizeof(float) * n_top);
    });
}

}  // namespace gb::cuda
