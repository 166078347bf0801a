// The CPU backend: the reference implementation of the Backend op set, multithreaded.
#pragma once

#include <memory>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/thread_pool.h"

namespace gb::cpu {

class CpuBackend final : public Backend {
public:
    explicit CpuBackend(int n_threads);
    ~CpuBackend() override;

    std::string name() const override { return "cpu"; }
    bool host_memory() const override { return true; }
    int threads() const { return pool_.size(); }

    Act alloc(int64_t rows, int64_t cols) override;
    void release(Act& a) override;
    Weight upload(const Weight& host) override { return host; }  // weights stay in the mapping
    void to_device(const float* host, Act dst) override;
    void to_host(Act src, float* host) override;

    void get_rows(const Weight& table, std::span<const int32_t> ids, Act out) override;
    void rmsnorm(Act x, const Weight& w, float eps, Act out) override;
    void matmul(const Weight& w, Act x, Act out) override;
    void add_bias(Act x, const Weight& b) override;
    void add(Act x, Act y) override;
    void swiglu(Act gate, Act up, Act out) override;
    void rope(Act x, int n_heads, int head_dim, std::span<const int32_t> positions,
              const RopeParams& p) override;
    // The KV cache and streaming attention (attention.cpp).
    void kv_store(KvLayer& cache, Act k, Act v, int64_t pos0) override;
    void kv_copy(const KvLayer& src, KvLayer& dst, int64_t rows) override;
    void attention(Act q, const KvLayer& cache, int n_head, int n_head_kv, int head_dim,
                   int64_t pos0, float scale, Act out) override;
    // Multi-head latent attention (mla_attention.cpp).
    void mla_attention(Act q, const Weight& k_b, const Weight& v_b, const KvLayer& cache,
                       const MlaShape& s, int64_t pos0, float scale, Act out) override;
    // Mixture of experts (moe.cpp).
    void moe_route(Act logits, const Weight& bias, const RouterParams& p, std::span<int32_t> ids,
                   std::span<float> weights, std::span<float> probs,
                   const Weight& steer = Weight{}) override;
    void moe_matmul(const Weight& w, Act x, std::span<const int32_t> ids, int n_used,
                    Act out) override;
    void moe_combine(Act y, std::span<const float> weights, int n_used, Act out) override;
    // Rows in parallel, each by the reference (kernels/logit_summary.h).
    void logit_summary(Act logits, int top_n, std::span<float> stats, std::span<int32_t> top_ids,
                       std::span<float> top_logits) override;

private:
    void matmul_precise(const Weight& w, Act x, Act out);
    // x's rows converted to dot format dt (not F32), rows in parallel, into xq_; returns xq_.
    const uint8_t* quantize_rows(TensorType dt, Act x);

    ThreadPool pool_;
    std::vector<float*> owned_;
    std::vector<uint8_t> xq_;                  // activations converted to a weight's vec_dot type
    std::vector<std::vector<float>> scratch_;  // per-thread attention tiles
    std::vector<float> attn_part_;             // split-K partial states (m, l, o)
    std::vector<float> mla_q_, mla_ctx_;       // MLA: absorbed queries, latent contexts
    // moe_matmul: activations gathered in expert order, outputs in that order, the slot order.
    std::vector<uint8_t> moe_x_;
    PreciseActs precise_x_;  // precise mode: the activations of matmul or moe_matmul, split
    std::vector<float> moe_out_;
    std::vector<int32_t> moe_slots_, moe_first_;
};

}  // namespace gb::cpu
