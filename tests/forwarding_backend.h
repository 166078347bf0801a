// A Backend that hands every call to another one: tests derive from it to watch or disturb a
// few ops (inject a device fault, count calls) while the real kernels do the work.
#pragma once

#include <memory>

#include "kernels/backend.h"

namespace gb::test {

class ForwardingBackend : public Backend {
public:
    explicit ForwardingBackend(std::unique_ptr<Backend> inner) : in_(std::move(inner)) {}

    std::string name() const override { return in_->name(); }
    bool host_memory() const override { return in_->host_memory(); }
    bool lost() const override { return in_->lost(); }
    Act alloc(int64_t rows, int64_t cols) override { return in_->alloc(rows, cols); }
    void release(Act& a) override { in_->release(a); }
    Weight upload(const Weight& host) override { return in_->upload(host); }
    void to_device(const float* host, Act dst) override { in_->to_device(host, dst); }
    void to_host(Act src, float* host) override { in_->to_host(src, host); }
    void synchronize() override { in_->synchronize(); }
    void begin_step(int64_t n) override { in_->begin_step(n); }
    void end_step() override { in_->end_step(); }
    void abort_step() override { in_->abort_step(); }
    std::optional<int64_t> free_memory_bytes() override { return in_->free_memory_bytes(); }

    void get_rows(const Weight& t, std::span<const int32_t> ids, Act out) override {
        in_->get_rows(t, ids, out);
    }
    void rmsnorm(Act x, const Weight& w, float eps, Act out) override {
        in_->rmsnorm(x, w, eps, out);
    }
    void matmul(const Weight& w, Act x, Act out) override { in_->matmul(w, x, out); }
    void add_bias(Act x, const Weight& b) override { in_->add_bias(x, b); }
    void add(Act x, Act y) override { in_->add(x, y); }
    void swiglu(Act g, Act u, Act out) override { in_->swiglu(g, u, out); }
    void rope(Act x, int n_heads, int head_dim, std::span<const int32_t> pos,
              const RopeParams& p) override {
        in_->rope(x, n_heads, head_dim, pos, p);
    }
    void kv_store(KvLayer& c, Act k, Act v, int64_t pos0) override { in_->kv_store(c, k, v, pos0); }
    void kv_copy(const KvLayer& s, KvLayer& d, int64_t rows) override { in_->kv_copy(s, d, rows); }
    void set_row_invariant(bool on) override {
        Backend::set_row_invariant(on);
        in_->set_row_invariant(on);
    }
    void attention(Act q, const KvLayer& c, int nh, int nkv, int hd, int64_t pos0, float scale,
                   Act out) override {
        in_->attention(q, c, nh, nkv, hd, pos0, scale, out);
    }
    void mla_attention(Act q, const Weight& kb, const Weight& vb, const KvLayer& c,
                       const MlaShape& s, int64_t pos0, float scale, Act out) override {
        in_->mla_attention(q, kb, vb, c, s, pos0, scale, out);
    }
    void moe_route(Act logits, const Weight& bias, const RouterParams& p, std::span<int32_t> ids,
                   std::span<float> w, std::span<float> probs,
                   const Weight& steer = Weight{}) override {
        in_->moe_route(logits, bias, p, ids, w, probs, steer);
    }
    void moe_matmul(const Weight& w, Act x, std::span<const int32_t> ids, int n_used,
                    Act out) override {
        in_->moe_matmul(w, x, ids, n_used, out);
    }
    void moe_combine(Act y, std::span<const float> w, int n_used, Act out) override {
        in_->moe_combine(y, w, n_used, out);
    }
    void logit_summary(Act logits, int top_n, std::span<float> stats, std::span<int32_t> ids,
                       std::span<float> top) override {
        in_->logit_summary(logits, top_n, stats, ids, top);
    }

protected:
    std::unique_ptr<Backend> in_;
};

}  // namespace gb::test
