// The MoE FFN block (router -> top-k -> selected experts' SwiGLU -> weighted sum, plus shared
// experts), and the routing record forward() leaves for the trace.
#include "engine/model/moe_block.h"

#include <algorithm>

#include "engine/model/model.h"
#include "kernels/error.h"

namespace gb {

TokenRouting ForwardRouting::token(int64_t t) const {
    TokenRouting r;
    if (t < 0 || t >= n_tokens) return r;
    const size_t n_moe = layers.size();
    r.layers.assign(layers.begin(), layers.end());
    r.k = n_used;
    r.experts.resize(n_moe * n_used);
    r.weights.resize(n_moe * n_used);
    if (!probs.empty()) r.probs.resize(n_moe * n_expert);
    for (size_t mi = 0; mi < n_moe; ++mi) {
        const size_t at = (mi * n_tokens + t) * n_used;
        std::copy_n(experts.begin() + at, n_used, r.experts.begin() + mi * n_used);
        std::copy_n(weights.begin() + at, n_used, r.weights.begin() + mi * n_used);
        if (!probs.empty())
            std::copy_n(probs.begin() + (mi * n_tokens + t) * n_expert, n_expert,
                        r.probs.begin() + mi * n_expert);
    }
    return r;
}

MoeBlock::MoeBlock(Backend& be, const ModelConfig& c, int64_t n_batch) : be_(be), c_(c) {
    const int64_t slots = n_batch * c.n_expert_used;
    logits_ = be.alloc(n_batch, c.n_expert);
    gate_ = be.alloc(slots, c.n_ff_exp);
    up_ = be.alloc(slots, c.n_ff_exp);
    down_ = be.alloc(slots, c.n_embd);
    if (c.n_expert_shared > 0) {
        const int64_t w = c.n_expert_shared * c.n_ff_exp;
        sh_gate_ = be.alloc(n_batch, w);
        sh_up_ = be.alloc(n_batch, w);
        sh_out_ = be.alloc(n_batch, c.n_embd);
    }
}

MoeBlock::~MoeBlock() {
    for (Act* a : {&logits_, &gate_, &up_, &down_, &sh_gate_, &sh_up_, &sh_out_})
        if (a->data) be_.release(*a);
}

void MoeBlock::run(const MoeLayerWeights& w, Act h, Act out, std::span<int32_t> ids,
                   std::span<float> weights, std::span<float> probs, const Weight& steer) {
    const int64_t n = h.rows, k = c_.n_expert_used;
    const int top_k = static_cast<int>(k);
    // Shared experts first: every token, unweighted (DeepSeek-MoE). Everything reads h before
    // the final combine writes out, so out may alias h.
    Act so = sh_out_.view(n, c_.n_embd);
    if (w.gate_shexp) {
        Act sg = sh_gate_.view(n, sh_gate_.cols), su = sh_up_.view(n, sh_up_.cols);
        be_.matmul(w.gate_shexp, h, sg);
        be_.matmul(w.up_shexp, h, su);
        be_.swiglu(sg, su, sg);
        be_.matmul(w.down_shexp, sg, so);
    }
    // Router: one logit per expert, then the family's top-k rule (backend.h, RouterParams).
    Act lg = logits_.view(n, c_.n_expert);
    be_.matmul(w.gate_inp, h, lg);
    be_.moe_route(lg, w.probs_bias, c_.router, ids, weights, probs, steer);
    // Each selected expert's SwiGLU MLP on its tokens, then the weighted sum per token.
    Act g = gate_.view(n * k, c_.n_ff_exp), u = up_.view(n * k, c_.n_ff_exp);
    Act d = down_.view(n * k, c_.n_embd);
    be_.moe_matmul(w.gate_exps, h, ids, top_k, g);
    be_.moe_matmul(w.up_exps, h, ids, top_k, u);
    be_.swiglu(g, u, g);
    be_.moe_matmul(w.down_exps, g, ids, top_k, d);
    be_.moe_combine(d, weights, top_k, out);
    if (w.gate_shexp) be_.add(out, so);
}

}  // namespace gb
