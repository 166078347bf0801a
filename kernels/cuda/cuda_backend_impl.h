// CudaBackend's state and the helpers its ops share (checked calls, sticky-error handling,
// growable scratch buffers, small host -> device uploads). Internal to kernels/cuda.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "engine/core/error.h"
#include "kernels/cuda/backend_kernels.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_check.h"

// Argument checks on the hot path: the message (string concatenation) is built only on failure,
// so a decode step's few hundred ops pay a compare each, not an allocation each.
#define GB_CHECK(ok, op, what)                               \
    do {                                                     \
        if (!(ok)) ::gb::cuda::require(false, (op), (what)); \
    } while (0)

namespace gb::cuda {

// Device memory reused across calls, grown (never shrunk) to the largest request. cudaFree
// synchronises the device, so growing never frees memory a queued kernel still reads.
struct Scratch {
    void* p = nullptr;
    size_t bytes = 0;
};

struct CudaBackend::Impl {
    CudaBackendOptions opt;
    DeviceInfo info;
    Context ctx;
    cudaStream_t stream = nullptr;
    bool broken = false;
    std::string broken_reason;
    int64_t weight_bytes = 0;
    std::unordered_set<void*> acts;     // alloc()
    std::vector<void*> weights;         // upload()

    // Scratch, one buffer per use so that no two live uses share one.
    Scratch ids, positions, freq, x_aligned, w_bf16, x_bf16, out_f32, attn, q_abs, ctx_latent,
        route_ids, route_w, route_p, moe_order, moe_xrows, moe_mats, combine_w;
    // Pinned host memory for the routing copy back (ids, weights, probs).
    void* pinned = nullptr;
    size_t pinned_bytes = 0;
    // What route_ids / combine_w hold on the device (host copies), so that moe_matmul and
    // moe_combine reuse moe_route's results instead of uploading them again.
    std::vector<int32_t> last_ids;
    std::vector<float> last_weights;

    explicit Impl(const CudaBackendOptions& o)
        : opt(o), info(device_info(o.device)), ctx(o.device),
          stream(static_cast<cudaStream_t>(ctx.stream())) {}

    void* grow(Scratch& s, size_t bytes, const char* op) {
        if (bytes <= s.bytes && s.p) return s.p;
        if (s.p) cudaFree(s.p);
        s.p = nullptr;
        s.bytes = 0;
        const size_t rounded = (bytes + (size_t{1} << 20) - 1) & ~((size_t{1} << 20) - 1);
        GB_CUDA_CHECK(op, cudaMalloc(&s.p, rounded));
        s.bytes = rounded;
        return s.p;
    }

    // Copies a small host array into scratch s (ordered on the stream: the previous user of s
    // has finished reading it before the copy lands).
    template <class T>
    T* put(Scratch& s, std::span<const T> host, const char* op) {
        auto* d = static_cast<T*>(grow(s, std::max<size_t>(1, host.size_bytes()), op));
        if (!host.empty())
            GB_CUDA_CHECK(op, cudaMemcpyAsync(d, host.data(), host.size_bytes(),
                                              cudaMemcpyHostToDevice, stream));
        return d;
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
        cudaGetLastError();  // clear a non-sticky launch error so later calls do not see it
        const cudaError_t s = cudaStreamSynchronize(stream);
        if (s == cudaSuccess) throw e;
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
        GB_CUDA_CHECK(op, cudaMemcpy2DAsync(d, sizeof(float) * stride_out, x, sizeof(float) * stride,
                                            sizeof(float) * cols, n_vec, cudaMemcpyDeviceToDevice,
                                            stream));
        return d;
    }
};

inline std::string shape_str(Act a) {
    return std::to_string(a.rows) + "x" + std::to_string(a.cols);
}

}  // namespace gb::cuda
