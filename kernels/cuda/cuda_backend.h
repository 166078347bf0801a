// The CUDA backend: the Backend op set on one NVIDIA GPU, weights uploaded once in their stored
// type, activations and the KV cache in device memory, every op queued on one stream. Free of
// CUDA headers, so engine and app code include it with a plain C++ compiler.
//
// Errors: every CUDA and cuBLAS call is checked and a failure throws gb::Error naming the op and
// the call. A failed launch or a bad argument leaves the backend usable. A sticky error (an
// illegal address, a kernel fault) poisons the device's context for the whole process: the op
// that meets it throws an error that says so, and from then on every op of this backend throws
// at once (broken() is true). To go on, destroy everything built on the backend (models, caches)
// and the backend itself, call CudaBackend::reset_device(device) (cudaDeviceReset: a fresh
// context), and create a new backend; the rest of the process was never affected.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "kernels/backend.h"
#include "kernels/cuda/cuda_device.h"

namespace gb::cuda {

struct CudaBackendOptions {
    int device = 0;
    // matmul on at least this many rows dequantises the weight to bf16 and runs cuBLAS (tensor
    // cores, FP32 accumulation); fewer rows use the register-dequantising matvec kernel, which
    // is exact in fp32 but reads the weights once per 8 rows. The same threshold, in tokens,
    // applies to moe_matmul.
    int64_t gemm_min_rows = 9;
    // Decode steps (begin_step(1) .. end_step()) recorded by stream capture and launched as one
    // CUDA graph, re-recorded every step and applied to the executable graph with
    // cudaGraphExecUpdate. The environment variable GLASSBOX_CUDA_GRAPHS=0 turns it off (for
    // comparing, or if a driver misbehaves); =1 turns it on.
    bool graphs = true;
};

class CudaBackend final : public Backend {
public:
    // Throws gb::Error when the device cannot be used (no driver, no device, out of memory).
    explicit CudaBackend(CudaBackendOptions options = {});
    ~CudaBackend() override;
    CudaBackend(const CudaBackend&) = delete;
    CudaBackend& operator=(const CudaBackend&) = delete;

    std::string name() const override { return "cuda"; }
    const DeviceInfo& device() const;
    const CudaBackendOptions& options() const;
    bool broken() const;  // a sticky error happened: see the top of this file
    // Bytes of weights uploaded so far.
    int64_t weight_bytes() const;
    // Destroys the device's context (cudaDeviceReset) after a sticky error. Only when no backend
    // or other CUDA object of this process is still alive on that device.
    static void reset_device(int device);

    // The decode-step graphs so far (tests, benchmarks): whole steps launched as one graph,
    // executable graphs updated in place / instantiated afresh, and steps that had to leave the
    // capture half-way (a scratch buffer grew, a host copy) and ran the rest op by op.
    bool graphs_enabled() const;
    int64_t graph_launches() const;
    int64_t graph_updates() const;
    int64_t graph_instantiations() const;
    int64_t graph_fallbacks() const;
    // How often the host waited for results bound for host spans (moe_route's routing, logit
    // summaries): once per decode step, graphs on or off, since they stay on the device until
    // end_step(); once per op outside a step, and per MoE layer in a prompt.
    int64_t result_waits() const;

    Act alloc(int64_t rows, int64_t cols) override;
    void release(Act& a) override;
    Weight upload(const Weight& host) override;
    void to_device(const float* host, Act dst) override;
    void to_host(Act src, float* host) override;
    void synchronize() override;
    void begin_step(int64_t n_tokens) override;
    void end_step() override;
    void abort_step() override;
    std::optional<int64_t> free_memory_bytes() override;
    int64_t scratch_bytes(int64_t largest_weight_elements, int64_t n_batch,
                          int64_t max_width) const override;

    void get_rows(const Weight& table, std::span<const int32_t> ids, Act out) override;
    void rmsnorm(Act x, const Weight& w, float eps, Act out) override;
    void matmul(const Weight& w, Act x, Act out) override;
    void add_bias(Act x, const Weight& b) override;
    void add(Act x, Act y) override;
    void swiglu(Act gate, Act up, Act out) override;
    void rope(Act x, int n_heads, int head_dim, std::span<const int32_t> positions,
              const RopeParams& p) override;
    void kv_store(KvLayer& cache, Act k, Act v, int64_t pos0) override;
    void kv_copy(const KvLayer& src, KvLayer& dst, int64_t rows) override;
    void attention(Act q, const KvLayer& cache, int n_head, int n_head_kv, int head_dim,
                   int64_t pos0, float scale, Act out) override;
    void mla_attention(Act q, const Weight& k_b, const Weight& v_b, const KvLayer& cache,
                       const MlaShape& s, int64_t pos0, float scale, Act out) override;
    void moe_route(Act logits, const Weight& bias, const RouterParams& p, std::span<int32_t> ids,
                   std::span<float> weights, std::span<float> probs,
                   const Weight& steer = Weight{}) override;
    void moe_matmul(const Weight& w, Act x, std::span<const int32_t> ids, int n_used,
                    Act out) override;
    void moe_combine(Act y, std::span<const float> weights, int n_used, Act out) override;
    void logit_summary(Act logits, int top_n, std::span<float> stats, std::span<int32_t> top_ids,
                       std::span<float> top_logits) override;
    bool lost() const override { return broken(); }

    struct Impl;  // cuda_backend_impl.h

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace gb::cuda
