// The pieces every decoder forward pass shares: call checks, the embedding and output head, and the
// feed-forward block (SwiGLU MLP on dense layers, the MoE block elsewhere).
#include <numeric>

#include "engine/model/model.h"
#include "engine/session/kv_cache.h"
#include "kernels/error.h"
#include "kernels/logit_summary.h"

namespace gb {

std::vector<int32_t> Model::check_forward(std::span<const int32_t> tokens, const KvCache& cache,
                                          int64_t n_out) const {
    const int64_t n = static_cast<int64_t>(tokens.size());
    const int64_t pos0 = cache.n_past();
    if (n < 1 || n > settings_.n_batch)
        throw Error("forward: " + std::to_string(n) + " tokens, batch size is " +
                    std::to_string(settings_.n_batch));
    if (pos0 + n > cache.n_ctx())
        throw Error("context full: " + std::to_string(pos0 + n) +
                    " tokens exceed the context length " + std::to_string(cache.n_ctx()));
    if (n_out < 1 || n_out > n) throw Error("forward: n_out out of range");
    std::vector<int32_t> pos(static_cast<size_t>(n));
    std::iota(pos.begin(), pos.end(), static_cast<int32_t>(pos0));
    return pos;
}

void Model::run_ffn(Backend& be, const Ffn& f, Act x, Act h, Act gate, Act up, MoeBlock* moe,
                    int64_t& moe_layer) {
    // x += W_down (silu(h W_gate) * (h W_up)) with h = RMSNorm(x); on MoE layers the same SwiGLU
    // in each of the experts the router picks, weighted (plus any shared experts).
    be.rmsnorm(x, f.norm, config_.rms_eps, h);
    if (f.moe) {
        if (!moe) throw Error("forward: an MoE layer without an MoE block");
        const RoutingSlot r = routing_slot(moe_layer++);
        moe->run(f.experts, h, h, r.ids, r.weights, r.probs);
    } else {
        be.matmul(f.gate, h, gate);
        be.matmul(f.up, h, up);
        be.swiglu(gate, up, gate);
        be.matmul(f.down, gate, h);
    }
    be.add(x, h);
}

void Model::run_head(const Head& head, Act x, Act h, Act out, int64_t n_out, Step& step,
                     std::vector<float>& logits) {
    const ModelConfig& c = config_;
    Act last = x.row_range(x.rows - n_out, n_out);
    Act hl = h.row_range(0, n_out);
    step.begin(x.rows);  // a no-op unless every layer ran on the host backend
    backend_.rmsnorm(last, head.output_norm, c.rms_eps, hl);
    Act lg = out.view(n_out, c.n_vocab);
    backend_.matmul(head.output, hl, lg);
    summary_.rows = 0;
    if (summary_top_n_ >= 0) {  // in the step: a GPU returns it with the step's routing
        const int k = summary_top_n_;
        summary_.top_n = k;
        summary_.stats.resize(static_cast<size_t>(n_out * kLogitStats));
        summary_.ids.resize(static_cast<size_t>(n_out * k));
        summary_.logits.resize(static_cast<size_t>(n_out * k));
        backend_.logit_summary(lg, k, summary_.stats, summary_.ids, summary_.logits);
    }
    step.end();
    if (summary_top_n_ >= 0) summary_.rows = n_out;
    logits.resize(static_cast<size_t>(n_out * c.n_vocab));
    backend_.to_host(lg, logits.data());
}

LayerStage::LayerStage(Backend& b, const ModelConfig& c, int64_t n_batch) : be(&b) {
    x = b.alloc(n_batch, c.n_embd);
    h = b.alloc(n_batch, c.n_embd);
    if (c.is_moe()) moe = std::make_unique<MoeBlock>(b, c, n_batch);
}

LayerStage::~LayerStage() {
    moe.reset();
    be->release(x);
    be->release(h);
}

LayerStage* Model::begin_layers(LayerStage& first, const Head& head,
                                std::span<const int32_t> tokens, Step& step) {
    const auto n = static_cast<int64_t>(tokens.size());
    if (first.be == &backend_) step.begin(n);  // the embedding lookup too goes into the step
    first.be->get_rows(head.tok_embd, tokens, first.x.view(n, config_.n_embd));
    if (first.moe) begin_routing(n);
    return &first;
}

LayerStage* Model::layer_stage(int64_t l, LayerStage* cur, LayerStage& last, int64_t n,
                               Step& step) {
    if (l != settings_.n_cpu_layers || cur == &last) return cur;
    placement_.carry(*cur->be, cur->x.view(n, config_.n_embd), *last.be,
                     last.x.view(n, config_.n_embd));
    step.begin(n);
    return &last;
}

void Model::end_layers(LayerStage* cur, LayerStage& last, int64_t n) {
    // Every layer ran on the host backend: the head still runs on backend_.
    if (cur != &last)
        placement_.carry(*cur->be, cur->x.view(n, config_.n_embd), *last.be,
                         last.x.view(n, config_.n_embd));
}

}  // namespace gb
