// The decode step as one CUDA graph: begin_step() starts a stream capture, the ops record their
// kernels and copies, end_step() turns the recording into the executable graph (updated in place
// when the shapes allow, else instantiated afresh), launches it and copies the step's routing to
// the host once. A decode step is a few hundred small kernels; launched one by one the GPU waits
// on the host between them, launched as a graph they run back to back.
//
// Why relaxed capture: ops may come from any host thread (the run() wrapper sets the device per
// call), and only relaxed mode lets another thread end the capture; it also leaves other threads
// of the process (another backend, the GPU monitor) free to call cudaMalloc meanwhile. Nothing
// here relies on the capture refusing unsafe calls: grow() leaves the capture before it frees.
#include <cstdlib>
#include <cstring>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_backend_impl.h"

namespace gb::cuda {

namespace {

constexpr size_t kMinArena = size_t{64} << 10;  // covers most models' decode step from step 1

size_t align16(size_t n) { return (n + 15) & ~size_t{15}; }

// GLASSBOX_CUDA_GRAPHS=0 / =1 overrides the option; anything else leaves it.
bool graphs_from_env(bool fallback) {
    const char* v = std::getenv("GLASSBOX_CUDA_GRAPHS");
    if (!v) return fallback;
    if (std::strcmp(v, "0") == 0) return false;
    if (std::strcmp(v, "1") == 0) return true;
    return fallback;
}

// Pinned host memory of at least `bytes` in *p (contents not kept).
void ensure_host(void*& p, size_t& have, size_t bytes, const char* op) {
    if (bytes <= have && p) return;
    if (p) cudaFreeHost(p);
    p = nullptr;
    have = 0;
    const size_t rounded = std::max(kMinArena, align16(bytes + bytes / 4));
    GB_CUDA_CHECK(op, cudaMallocHost(&p, rounded));
    have = rounded;
}

// A graph that could not be instantiated or launched: its ops did not run, and the next step
// would fail the same way, so the backend stops recording steps; the caller may run it again.
[[noreturn]] void graphs_off(StepState& step, const Error& e) {
    step.enabled = false;
    throw StepNotRun(
        std::string(e.what()) +
        "; the step's ops did not run and CUDA graphs are now off for this backend: run "
        "the step again");
}

struct GraphGuard {
    cudaGraph_t g = nullptr;
    ~GraphGuard() {
        if (g) cudaGraphDestroy(g);
    }
};

}  // namespace

CudaBackend::Impl::Impl(const CudaBackendOptions& o)
    : opt(o),
      info(device_info(o.device)),
      ctx(o.device),
      stream(static_cast<cudaStream_t>(ctx.stream())) {
    step.enabled = graphs_from_env(o.graphs);
    opt.graphs = step.enabled;
}

const void* CudaBackend::Impl::stage_copy(const void* host, size_t n, const char* op) {
    if (!step.graph) return host;
    step.stage_need = align16(step.stage_need) + n;  // what the next step's arena must hold
    if (!capturing()) return host;
    const size_t at = align16(step.stage_used);
    if (at + n > step.stage_bytes) {
        fall_back(op);
        return host;  // now an ordinary copy, staged by the driver
    }
    auto* dst = static_cast<unsigned char*>(step.stage) + at;
    std::memcpy(dst, host, n);
    step.stage_used = at + n;
    return dst;
}

const PendingRoute* CudaBackend::Impl::pending_ids(const int32_t* p, size_t n) const {
    for (auto it = step.pending.rbegin(); it != step.pending.rend(); ++it)
        if (it->ids == p && it->n_sel == n) return &*it;
    return nullptr;
}

const PendingRoute* CudaBackend::Impl::pending_weights(const float* p, size_t n) const {
    for (auto it = step.pending.rbegin(); it != step.pending.rend(); ++it)
        if (it->weights == p && it->n_sel == n) return &*it;
    return nullptr;
}

void CudaBackend::Impl::begin_step(int64_t n_tokens) {
    const char* op = "begin_step";
    if (step.mode != StepMode::None) abort_step();  // the previous step was left open
    step.mode = StepMode::Eager;
    step.failed = false;
    step.graph = false;
    step.defer = false;
    step.stage_used = step.stage_need = 0;
    step.route_used = step.route_need = 0;
    step.pending.clear();
    step.copies.clear();
    // Decode shapes only. A prompt's matmuls take the cuBLAS path and its moe_matmul sorts the
    // slots by expert on the host.
    if (n_tokens < 1 || n_tokens >= opt.gemm_min_rows) return;
    if (step.unsynced) {  // the last graph may still read the arenas refilled below
        GB_CUDA_CHECK(op, cudaStreamSynchronize(stream));
        step.unsynced = false;
    }
    // Sized from the largest step so far, outside any capture (frees are not capturable).
    ensure_host(step.route_host, step.route_host_bytes, step.route_high, op);
    grow(step.routes, std::max(kMinArena, step.route_high), op);
    // A graph records one token's step (a few-token batch would capture a different shape every
    // time); the other decode shapes, and every step with graphs off, run op by op with their
    // results deferred.
    if (!step.enabled || n_tokens != 1) {
        step.defer = true;
        return;
    }
    ensure_host(step.stage, step.stage_bytes, step.stage_high, op);
    // Every step records the same copies (no put() skipped because an earlier step left the
    // bytes there), so consecutive recordings have the same shape and the update applies.
    forget_held();
    GB_CUDA_CHECK(op, cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed));
    step.mode = StepMode::Capturing;
    step.graph = true;
}

void CudaBackend::Impl::scatter_routes() {
    const auto* h = static_cast<const unsigned char*>(step.route_host);
    for (const PendingRoute& r : step.pending) {  // in call order: a reused span ends up last's
        const size_t w = align16(4 * r.n_sel);
        std::memcpy(r.ids, h + r.offset, 4 * r.n_sel);
        std::memcpy(r.weights, h + r.offset + w, 4 * r.n_sel);
        if (r.n_probs) std::memcpy(r.probs, h + r.offset + 2 * w, 4 * r.n_probs);
    }
    for (const PendingCopy& c : step.copies) std::memcpy(c.host, h + c.offset, c.bytes);
    step.pending.clear();
    step.copies.clear();
}

void CudaBackend::Impl::copy_routes_back(const char* op) {
    ensure_host(step.route_host, step.route_host_bytes, step.route_used, op);
    GB_CUDA_CHECK(op, cudaMemcpyAsync(step.route_host, step.routes.p, step.route_used,
                                      cudaMemcpyDeviceToHost, stream));
}

cudaGraph_t CudaBackend::Impl::end_capture(const char* op) {
    cudaGraph_t g = nullptr;
    const cudaError_t e = cudaStreamEndCapture(stream, &g);
    step.mode = StepMode::Eager;  // the stream no longer captures, whatever the outcome
    if (e == cudaSuccess) return g;
    if (g) cudaGraphDestroy(g);
    cudaGetLastError();
    step.pending.clear();
    step.copies.clear();
    forget_held();
    // Something the capture could not take (e.g. another thread synchronised the whole device)
    // invalidated it: the recorded ops never ran. Record no more steps on this backend.
    step.enabled = false;
    throw StepNotRun(std::string("CUDA ") + op + ": the decode step's graph capture failed (" +
                     cudaGetErrorName(e) +
                     "), so the step's ops did not run; CUDA graphs are now off "
                     "for this backend: run the step again");
}

void CudaBackend::Impl::fall_back(const char* op) {
    GraphGuard g{end_capture(op)};
    ++step.fallbacks;
    size_t n_nodes = 0;
    GB_CUDA_CHECK(op, cudaGraphGetNodes(g.g, nullptr, &n_nodes));
    cudaGraphExec_t once = nullptr;
    if (n_nodes > 0) {
        try {
            GB_CUDA_CHECK(op, cudaGraphInstantiate(&once, g.g, 0));
            const cudaError_t e = cudaGraphLaunch(once, stream);
            if (e != cudaSuccess) {
                cudaGraphExecDestroy(once);
                throw_cuda_error(op, "cudaGraphLaunch", e, __FILE__, __LINE__);
            }
        } catch (const Error& e) {
            graphs_off(step, e);
        }
    }
    const bool pending = step.has_pending();
    if (pending) copy_routes_back(op);
    const cudaError_t e = cudaStreamSynchronize(stream);
    if (once) cudaGraphExecDestroy(once);  // after the sync: the launch has finished with it
    if (e != cudaSuccess) throw_cuda_error(op, "cudaStreamSynchronize", e, __FILE__, __LINE__);
    if (pending) ++step.result_waits;
    scatter_routes();
    step.route_used = 0;  // everything recorded has run: the region starts over
    // The rest of the step runs op by op, its results still kept on the device.
    step.defer = true;
}

void CudaBackend::Impl::flush_routes(const char* op) {
    if (capturing()) {
        fall_back(op);  // runs the recording, brings its results back, and starts the region over
        return;
    }
    if (step.has_pending()) {
        copy_routes_back(op);
        GB_CUDA_CHECK(op, cudaStreamSynchronize(stream));
        note_sync();
        ++step.result_waits;
        scatter_routes();
    }
    step.route_used = 0;  // the kernels that read the region have finished
}

void CudaBackend::Impl::make_route_room(size_t need, const char* op) {
    flush_routes(op);
    if (need > step.routes.bytes) grow(step.routes, std::max(kMinArena, need), op);
}

void CudaBackend::Impl::end_step() {
    const char* op = "end_step";
    if (step.mode == StepMode::None) return;  // no step open
    if (step.failed) {
        abort_step();
        throw Error(
            "CUDA end_step: an op of this step failed, so its outputs are undefined; "
            "abort_step() a step that threw");
    }
    if (capturing()) {
        // The routing copy is the graph's last node when the pinned buffer is already big enough.
        const bool copy_in_graph = step.route_used > 0 && step.route_used <= step.route_host_bytes;
        if (copy_in_graph)
            GB_CUDA_CHECK(op, cudaMemcpyAsync(step.route_host, step.routes.p, step.route_used,
                                              cudaMemcpyDeviceToHost, stream));
        GraphGuard g{end_capture(op)};
        try {
            if (step.exec) {
                cudaGraphExecUpdateResultInfo info{};
                if (cudaGraphExecUpdate(step.exec, g.g, &info) == cudaSuccess) {
                    ++step.updates;
                } else {  // a different shape (a new kernel, a changed copy): instantiate afresh
                    cudaGetLastError();
                    cudaGraphExecDestroy(step.exec);
                    step.exec = nullptr;
                }
            }
            if (!step.exec) {
                GB_CUDA_CHECK(op, cudaGraphInstantiate(&step.exec, g.g, 0));
                ++step.instantiations;
            }
            GB_CUDA_CHECK(op, cudaGraphLaunch(step.exec, stream));
        } catch (const Error& e) {
            graphs_off(step, e);
        }
        ++step.launches;
        step.unsynced = true;
        if (step.has_pending()) {
            if (!copy_in_graph) copy_routes_back(op);
            // The host spans must be filled on return; the logits' to_host waits next anyway.
            GB_CUDA_CHECK(op, cudaStreamSynchronize(stream));
            step.unsynced = false;
            ++step.result_waits;
            scatter_routes();
        }
    } else if (step.defer) {
        flush_routes(op);  // the deferred results: one copy back, one wait
    }
    if (step.graph || step.defer) {
        step.stage_high = std::max(step.stage_high, step.stage_need);
        step.route_high = std::max(step.route_high, step.route_need);
    }
    step.mode = StepMode::None;
    step.graph = false;
    step.defer = false;
}

void CudaBackend::Impl::discard_capture() noexcept {
    if (!capturing()) return;
    cudaGraph_t g = nullptr;
    cudaStreamEndCapture(stream, &g);
    if (g) cudaGraphDestroy(g);
    cudaGetLastError();
    step.mode = StepMode::Eager;
    step.pending.clear();
    step.copies.clear();
    forget_held();  // the recorded copies never ran
}

void CudaBackend::Impl::abort_step() noexcept {
    cudaSetDevice(opt.device);
    discard_capture();
    cudaGetLastError();
    step.pending.clear();
    step.copies.clear();
    step.mode = StepMode::None;
    step.failed = false;
    step.graph = false;
    step.defer = false;
}

// ---- CudaBackend -----------------------------------------------------------------------------

// A begin_step() or end_step() that throws leaves no step open: the caller's abort_step() is
// not guaranteed (the model's Step treats a throwing begin or end as no open step).
void CudaBackend::begin_step(int64_t n_tokens) {
    try {
        impl_->run("begin_step", [&] { impl_->begin_step(n_tokens); });
    } catch (...) {
        impl_->abort_step();
        throw;
    }
}

void CudaBackend::end_step() {
    try {
        impl_->run("end_step", [&] { impl_->end_step(); });
    } catch (...) {
        impl_->forget_held();  // the step's recorded copies may not have run
        impl_->abort_step();
        throw;
    }
}

void CudaBackend::abort_step() { impl_->abort_step(); }

bool CudaBackend::graphs_enabled() const { return impl_->step.enabled; }
int64_t CudaBackend::graph_launches() const { return impl_->step.launches; }
int64_t CudaBackend::graph_updates() const { return impl_->step.updates; }
int64_t CudaBackend::graph_instantiations() const { return impl_->step.instantiations; }
int64_t CudaBackend::graph_fallbacks() const { return impl_->step.fallbacks; }
int64_t CudaBackend::result_waits() const { return impl_->step.result_waits; }

}  // namespace gb::cuda
