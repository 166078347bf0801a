// CudaBackend's state and the helpers its ops share (checked calls, sticky-error handling,
// growable scratch buffers, small host -> device uploads, the decode step's graph capture).
// Internal to kernels/cuda.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "kernels/cuda/backend_kernels.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/error.h"

// Argument checks on the hot path: the message (string concatenation) is built only on failure,
// so a decode step's few hundred ops pay a compare each, not an allocation each.
#define GB_CHECK(ok, op, what)                               \
    do {                                                     \
        if (!(ok)) ::gb::cuda::require(false, (op), (what)); \
    } while (0)

namespace gb::cuda {

// Device memory reused across calls, grown (never shrunk) to the largest request. cudaFree
// synchronises the device, so growing never frees memory a queued kernel still reads.
// `held` is what put() last copied into it (valid while held_ok): a put of the same bytes skips
// the copy, so a decode step uploads its position once, not once per rope call.
struct Scratch {
    void* p = nullptr;
    size_t bytes = 0;
    std::vector<unsigned char> held;
    bool held_ok = false;
};

// One moe_route of a captured step: its results sit in StepState::routes at `offset` (ids, then
// weights, then probs, each 16-byte aligned) until end_step() copies them into the host spans.
struct PendingRoute {
    int32_t* ids = nullptr;
    float* weights = nullptr;
    float* probs = nullptr;
    size_t n_sel = 0, n_probs = 0;
    size_t offset = 0;
    const int32_t* d_ids = nullptr;
    const float* d_weights = nullptr;
};

// Another result of a captured step bound for the host (a logit summary): `bytes` at `offset` of
// StepState::routes, copied to `host` by end_step() with the routing.
struct PendingCopy {
    void* host = nullptr;
    size_t bytes = 0, offset = 0;
};

// The decode step as a CUDA graph (cuda_graph_step.cpp). Between begin_step() and end_step()
// the stream is captured; whatever cannot be captured (a scratch buffer that must grow, a full
// staging arena, a host-side copy) ends the capture, launches what was recorded so far and runs
// the rest of the step eagerly ("fallback"). The arenas' sizes are remembered, so the next step
// captures whole.
// A decode-shaped step that runs op by op (graphs off, several rows, or after a fallback) still
// keeps moe_route's results and logit summaries on the device ("deferred", StepState::defer):
// moe_matmul and moe_combine read them there, and end_step() brings them all back with one copy
// and one wait, as a graph's step does. Only a prompt's moe_matmul, which groups tokens by expert
// on the host, needs them earlier (flush_routes).
enum class StepMode : uint8_t {
    None,       // no step open: every op runs at once
    Eager,      // a step that runs op by op (prefill, graphs off, or after a fallback)
    Capturing,  // ops are recorded into the step's graph
};

struct StepState {
    bool enabled = true;  // CudaBackendOptions::graphs and GLASSBOX_CUDA_GRAPHS
    StepMode mode = StepMode::None;
    bool graph = false;   // the open step began capturing (it may have fallen back since)
    bool defer = false;   // an eager step that keeps host-bound results on the device
    bool failed = false;  // an op of the open step threw
    // Pinned staging for put() during capture: the captured copy reads it at launch, so it must
    // hold its bytes until the graph ran (every step ends with a synchronising to_host).
    void* stage = nullptr;
    size_t stage_bytes = 0, stage_used = 0, stage_need = 0, stage_high = 0;
    // Device results of the step's moe_route calls (one region per call, in call order), and
    // their pinned host copy: one device -> host copy per step.
    Scratch routes;
    void* route_host = nullptr;
    size_t route_host_bytes = 0;
    size_t route_used = 0, route_need = 0, route_high = 0;
    std::vector<PendingRoute> pending;
    std::vector<PendingCopy> copies;
    bool has_pending() const { return !pending.empty() || !copies.empty(); }
    cudaGraphExec_t exec = nullptr;  // the decode step's executable graph, updated every step
    bool unsynced = false;           // a graph was launched and no sync has happened since
    int64_t launches = 0, updates = 0, instantiations = 0, fallbacks = 0;
    // Waits for results bound for host spans (routing, logit summaries): one per step when
    // they are deferred or captured, one per op when they are not.
    int64_t result_waits = 0;
};

struct CudaBackend::Impl {
    CudaBackendOptions opt;
    DeviceInfo info;
    Context ctx;
    cudaStream_t stream = nullptr;
    bool broken = false;
    std::string broken_reason;
    int64_t weight_bytes = 0;
    std::unordered_set<void*> acts;  // alloc()
    std::vector<void*> weights;      // upload()
    // rope's frequency tables seen so far: in device memory, or a host array to upload. With
    // unified addressing host and device addresses never overlap, so an address freed and
    // reused keeps its kind.
    std::unordered_map<const void*, bool> freq_on_device;

    // Scratch, one buffer per use so that no two live uses share one.
    Scratch ids, positions, freq, x_aligned, w_bf16, x_bf16, out_f32, attn, q_abs, ctx_latent,
        route_ids, route_w, route_p, moe_order, moe_xrows, moe_mats, combine_w, summary;
    // Pinned host memory for the copies back of op-by-op routing (ids, weights, probs) and of
    // logit summaries; each is copied out of it before the op returns.
    void* pinned = nullptr;
    size_t pinned_bytes = 0;
    // What route_ids / combine_w hold on the device (host copies), so that moe_matmul and
    // moe_combine reuse moe_route's results instead of uploading them again.
    std::vector<int32_t> last_ids;
    std::vector<float> last_weights;
    StepState step;

    explicit Impl(const CudaBackendOptions& o);  // cuda_graph_step.cpp

    // Every scratch buffer, for the destructor and for forgetting what put() left in them.
    std::array<Scratch*, 19> scratches() {
        return {&ids,       &positions, &freq,       &x_aligned, &w_bf16,     &x_bf16,  &out_f32,
                &attn,      &q_abs,     &ctx_latent, &route_ids, &route_w,    &route_p, &moe_order,
                &moe_xrows, &moe_mats,  &combine_w,  &summary,   &step.routes};
    }

    bool capturing() const { return step.mode == StepMode::Capturing; }
    // moe_route and logit_summary leave their results on the device until end_step().
    bool deferring() const { return capturing() || step.defer; }

    void* grow(Scratch& s, size_t bytes, const char* op) {
        if (bytes <= s.bytes && s.p) return s.p;
        // Nodes recorded earlier in this step may use s.p: run them before it is freed.
        if (capturing()) fall_back(op);
        if (s.p) cudaFree(s.p);
        s.p = nullptr;
        s.bytes = 0;
        s.held_ok = false;
        const size_t rounded = (bytes + (size_t{1} << 20) - 1) & ~((size_t{1} << 20) - 1);
        GB_CUDA_CHECK(op, cudaMalloc(&s.p, rounded));
        s.bytes = rounded;
        return s.p;
    }

    // Copies a small host array into scratch s (ordered on the stream: the previous user of s
    // has finished reading it before the copy lands). While capturing, the bytes go through the
    // pinned staging arena, which the recorded copy reads when the graph runs.
    template <class T>
    T* put(Scratch& s, std::span<const T> host, const char* op) {
        const size_t n = host.size_bytes();
        if (s.p && s.held_ok && s.held.size() == n &&
            (n == 0 || std::memcmp(s.held.data(), host.data(), n) == 0))
            return static_cast<T*>(s.p);
        auto* d = static_cast<T*>(grow(s, std::max<size_t>(1, n), op));
        s.held_ok = false;
        if (n > 0) {
            const void* src = stage_copy(host.data(), n, op);
            GB_CUDA_CHECK(op, cudaMemcpyAsync(d, src, n, cudaMemcpyHostToDevice, stream));
        }
        const auto* b = reinterpret_cast<const unsigned char*>(host.data());
        s.held.assign(b, b + n);
        s.held_ok = true;
        return d;
    }

    // ---- the step (cuda_graph_step.cpp) ----
    void begin_step(int64_t n_tokens);
    void end_step();
    void abort_step() noexcept;
    // While capturing: ends the capture, launches what was recorded, waits for it, fills the
    // host spans of the routes recorded so far, and lets the rest of the step run eagerly.
    void fall_back(const char* op);
    // Where put() copies from: host itself, or (while capturing) a copy in the staging arena.
    const void* stage_copy(const void* host, size_t n, const char* op);
    // The route recorded in this step whose host ids (or weights) span starts at p, or null.
    const PendingRoute* pending_ids(const int32_t* p, size_t n) const;
    const PendingRoute* pending_weights(const float* p, size_t n) const;
    // Ends a capture without running it (an op threw, or abort_step()); never throws.
    void discard_capture() noexcept;
    // Ends the capture and returns its graph; throws (graphs turned off) when the capture was
    // invalidated and the recorded ops cannot run.
    cudaGraph_t end_capture(const char* op);
    // The routes recorded so far: device -> pinned copy (queued), then pinned -> host spans.
    void copy_routes_back(const char* op);
    void scatter_routes();
    // The step's pending results into their host spans now (leaving a capture first), with one
    // wait; the region starts over. The rest of the step still defers.
    void flush_routes(const char* op);
    // Room for `need` more bytes in the step's result region: flushes, and grows the region if
    // even an empty one is too small.
    void make_route_room(size_t need, const char* op);
    // A host-side call (to_host, alloc, ...) inside a step: leave the capture first, and fill
    // the host spans of deferred results.
    void leave_capture(const char* op) {
        if (capturing()) fall_back(op);
        if (step.defer && step.has_pending()) flush_routes(op);
    }
    void note_sync() { step.unsynced = false; }
    void forget_held() noexcept {
        for (Scratch* s : scratches()) s->held_ok = false;
    }

    void ensure_pinned(size_t bytes, const char* op) {
        if (bytes <= pinned_bytes) return;
        if (pinned) cudaFreeHost(pinned);
        pinned = nullptr;
        pinned_bytes = 0;
        GB_CUDA_CHECK(op, cudaMallocHost(&pinned, bytes));
        pinned_bytes = bytes;
    }

    // After an op threw: a sticky error leaves the stream unable to finish, which marks the
    // backend broken and turns the message into one that says how to recover.
    [[noreturn]] void fail(const char* op, const Error& e) {
        // A capturing stream cannot be synchronised: drop the step's recording first (the
        // caller is about to abort the step anyway), so the stream is usable again.
        if (capturing()) discard_capture();
        if (step.mode != StepMode::None) {
            step.failed = true;
            forget_held();  // copies put() recorded may never have run
        }
        cudaGetLastError();  // clear a non-sticky launch error so later calls do not see it
        const cudaError_t s = cudaStreamSynchronize(stream);
        if (s == cudaSuccess) {
            // Rethrown by its own type: a step that did not run is run again by the model.
            if (dynamic_cast<const StepNotRun*>(&e)) throw StepNotRun(e.what());
            throw e;
        }
        broken = true;
        broken_reason = std::string(e.what()) + " (then " + cudaGetErrorName(s) + ")";
        throw Error(std::string(e.what()) + "; the CUDA context is lost (" + cudaGetErrorName(s) +
                    "): every later call on this backend fails; destroy it and everything built "
                    "on it, call gb::cuda::CudaBackend::reset_device(" +
                    std::to_string(opt.device) + ") and create a new backend");
    }

    template <class F>
    void run(const char* op, F&& f) {
        if (broken)
            throw Error(std::string("CUDA ") + op +
                        ": the backend is unusable after a sticky CUDA error (" + broken_reason +
                        "); destroy it, call CudaBackend::reset_device() and create a new one");
        try {
            // The current device is per host thread; ops may come from any thread.
            GB_CUDA_CHECK(op, cudaSetDevice(opt.device));
            f();
        } catch (const Error& e) {
            fail(op, e);
        }
    }

    // x rows (n_vec rows of cols floats, row stride `stride`) as a matvec wants them for
    // quantised weights: 16-byte aligned rows with a stride that is a multiple of 4 floats.
    // Returns x itself when it already is, else an aligned copy; stride_out gets the stride.
    const float* aligned_rows(const float* x, int64_t stride, int64_t n_vec, int64_t cols,
                              int64_t& stride_out, const char* op) {
        if (reinterpret_cast<uintptr_t>(x) % 16 == 0 && stride % 4 == 0) {
            stride_out = stride;
            return x;
        }
        stride_out = (cols + 3) / 4 * 4;
        auto* d = static_cast<float*>(grow(x_aligned, sizeof(float) * stride_out * n_vec, op));
        GB_CUDA_CHECK(
            op, cudaMemcpy2DAsync(d, sizeof(float) * stride_out, x, sizeof(float) * stride,
                                  sizeof(float) * cols, n_vec, cudaMemcpyDeviceToDevice, stream));
        return d;
    }
};

inline std::string shape_str(Act a) {
    return std::to_string(a.rows) + "x" + std::to_string(a.cols);
}

}  // namespace gb::cuda
