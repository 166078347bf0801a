// The layer runner: checks, stages, the GPU step, the feed-forward block, the output head, and
// the routing record.
#include "engine/model/layer_runner.h"

#include <algorithm>
#include <numeric>

#include "engine/session/kv_cache.h"
#include "kernels/error.h"
#include "kernels/logit_summary.h"

namespace gb {

std::vector<int32_t> LayerRunner::check_forward(std::span<const int32_t> tokens,
                                                std::span<KvCache* const> caches,
                                                int64_t n_out) const {
    const int64_t n = static_cast<int64_t>(tokens.size());
    if (n < 1 || n > s_.n_batch)
        throw Error("forward: " + std::to_string(n) + " tokens, batch size is " +
                    std::to_string(s_.n_batch));
    if (n_out < 1 || n_out > n) throw Error("forward: n_out out of range");
    std::vector<int32_t> pos(static_cast<size_t>(n));
    if (caches.size() == 1) {
        const KvCache& cache = *caches[0];
        const int64_t pos0 = cache.n_past();
        if (pos0 + n > cache.n_ctx())
            throw Error("context full: " + std::to_string(pos0 + n) +
                        " tokens exceed the context length " + std::to_string(cache.n_ctx()));
        std::iota(pos.begin(), pos.end(), static_cast<int32_t>(pos0));
        return pos;
    }
    if (static_cast<int64_t>(caches.size()) != n || n_out != n)
        throw Error("forward: " + std::to_string(n) +
                    " rows of separate sequences need as many "
                    "caches (got " +
                    std::to_string(caches.size()) + ") and every row's logits");
    for (int64_t i = 0; i < n; ++i) {
        const KvCache* c = caches[static_cast<size_t>(i)];
        if (!c || std::count(caches.begin(), caches.end(), c) != 1)
            throw Error("forward: row " + std::to_string(i) + " has no cache of its own");
        if (c->n_past() + 1 > c->n_ctx())
            throw Error("context full: sequence " + std::to_string(i) + " has " +
                        std::to_string(c->n_past()) + " of " + std::to_string(c->n_ctx()) +
                        " positions filled");
        pos[static_cast<size_t>(i)] = static_cast<int32_t>(c->n_past());
    }
    return pos;
}

void LayerRunner::store_and_attend(
    Backend& be, std::span<KvCache* const> caches, int64_t l, Act k, Act v,
    const std::function<void(const KvLayer&, int64_t, int64_t, int64_t)>& attend) const {
    if (caches.size() == 1) {
        KvLayer& layer = caches[0]->layer(l);
        const int64_t p0 = caches[0]->n_past();
        be.kv_store(layer, k, v, p0);
        attend(layer, 0, k.rows, p0);
        return;
    }
    for (size_t i = 0; i < caches.size(); ++i) {
        KvLayer& layer = caches[i]->layer(l);
        const int64_t p = caches[i]->n_past();
        const auto r = static_cast<int64_t>(i);
        be.kv_store(layer, Act{k.data + r * k.cols, 1, k.cols}, Act{v.data + r * v.cols, 1, v.cols},
                    p);
        attend(layer, r, 1, p);
    }
}

void LayerRunner::advance(std::span<KvCache* const> caches, int64_t n_tokens) {
    if (caches.size() == 1) {
        caches[0]->set_n_past(caches[0]->n_past() + n_tokens);
        return;
    }
    for (KvCache* c : caches) c->set_n_past(c->n_past() + 1);
}

void LayerRunner::run_ffn(Backend& be, const Ffn& f, Act x, Act h, Act gate, Act up, MoeBlock* moe,
                          int64_t& moe_layer) {
    // x += W_down (silu(h W_gate) * (h W_up)) with h = RMSNorm(x); on MoE layers the same SwiGLU
    // in each of the experts the router picks, weighted (plus any shared experts).
    be.rmsnorm(x, f.norm, c_.rms_eps, h);
    if (f.moe) {
        if (!moe) throw Error("forward: an MoE layer without an MoE block");
        const int64_t mi = moe_layer++;
        const RoutingSlot r = routing_slot(mi);
        Weight steer;
        if (mi < static_cast<int64_t>(steer_.size())) {
            const Act& a = steer_[static_cast<size_t>(mi)];
            steer = Weight{TensorType::F32, a.data, 1, a.cols, "expert steering"};
        }
        moe->run(f.experts, h, h, r.ids, r.weights, r.probs, steer);
    } else {
        be.matmul(f.gate, h, gate);
        be.matmul(f.up, h, up);
        be.swiglu(gate, up, gate);
        be.matmul(f.down, gate, h);
    }
    be.add(x, h);
}

void LayerRunner::run_head(const Head& head, Act x, Act h, Act out, int64_t n_out, Step& step,
                           std::vector<float>& logits) {
    const ModelConfig& c = c_;
    Act last = x.row_range(x.rows - n_out, n_out);
    Act hl = h.row_range(0, n_out);
    step.begin(x.rows);  // a no-op unless every layer ran on the host backend
    p_.main().rmsnorm(last, head.output_norm, c.rms_eps, hl);
    Act lg = out.view(n_out, c.n_vocab);
    p_.main().matmul(head.output, hl, lg);
    summary_.rows = 0;
    if (summary_top_n_ >= 0) {  // in the step: a GPU returns it with the step's routing
        const int k = summary_top_n_;
        summary_.top_n = k;
        summary_.stats.resize(static_cast<size_t>(n_out * kLogitStats));
        summary_.ids.resize(static_cast<size_t>(n_out * k));
        summary_.logits.resize(static_cast<size_t>(n_out * k));
        p_.main().logit_summary(lg, k, summary_.stats, summary_.ids, summary_.logits);
    }
    step.end();
    if (summary_top_n_ >= 0) summary_.rows = n_out;
    logits.resize(static_cast<size_t>(n_out * c.n_vocab));
    p_.main().to_host(lg, logits.data());
}

LayerRunner::~LayerRunner() { release_steering(); }

void LayerRunner::release_steering() {
    for (size_t i = 0; i < steer_.size(); ++i) steer_be_[i]->release(steer_[i]);
    steer_.clear();
    steer_be_.clear();
}

void LayerRunner::set_steering(const std::vector<std::vector<float>>& table) {
    release_steering();
    if (table.empty()) return;
    size_t mi = 0;
    for (int64_t l = 0; l < c_.n_layer; ++l) {
        if (!c_.is_moe_layer(l)) continue;
        if (mi >= table.size() || static_cast<int64_t>(table[mi].size()) != c_.n_expert)
            throw Error("expert steering: the table does not match the model's MoE layers");
        Backend& be = p_.layer_backend(l);
        Act a = be.alloc(1, c_.n_expert);
        steer_.push_back(a);
        steer_be_.push_back(&be);
        be.to_device(table[mi].data(), a);
        ++mi;
    }
}

void LayerRunner::set_lens_rows(int64_t first, int64_t count) {
    lens_first_ = first;
    lens_count_ = std::max<int64_t>(0, count);
    lens_active_ = lens_count_ > 0;
    lens_hidden_.assign(static_cast<size_t>(lens_count_ * c_.n_layer * c_.n_embd), 0.0f);
}

void LayerRunner::lens_capture(Backend& be, Act x, int64_t l, Step& step) {
    if (!lens_active_) return;
    if (lens_first_ < 0 || lens_first_ + lens_count_ > x.rows)
        throw Error("logit lens: rows " + std::to_string(lens_first_) + ".." +
                    std::to_string(lens_first_ + lens_count_ - 1) + " are outside the " +
                    std::to_string(x.rows) + " tokens run");
    const bool main = &be == &p_.main();
    if (main) step.end();  // the copy needs the layer's result now
    be.to_host(x.row_range(lens_first_, lens_count_),
               lens_hidden_.data() + static_cast<size_t>(l * lens_count_ * c_.n_embd));
    if (main) step.begin(x.rows);
}

void LayerRunner::lens_logits(const DecoderHead& head, int64_t l, std::vector<float>& out) {
    if (lens_count_ <= 0 || l < 0 || l >= c_.n_layer)
        throw Error("logit lens: no captured rows for layer " + std::to_string(l));
    Backend& be = p_.main();
    const int64_t n = lens_count_;
    Act hid = be.alloc(n, c_.n_embd), hn = be.alloc(n, c_.n_embd), lg = be.alloc(n, c_.n_vocab);
    try {
        be.to_device(lens_hidden_.data() + static_cast<size_t>(l * n * c_.n_embd), hid);
        be.rmsnorm(hid, head.output_norm, c_.rms_eps, hn);
        be.matmul(head.output, hn, lg);
        out.resize(static_cast<size_t>(n * c_.n_vocab));
        be.to_host(lg, out.data());
    } catch (...) {
        for (Act* a : {&hid, &hn, &lg}) be.release(*a);
        throw;
    }
    for (Act* a : {&hid, &hn, &lg}) be.release(*a);
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

LayerStage* LayerRunner::begin_layers(LayerStage& first, const Head& head,
                                      std::span<const int32_t> tokens, Step& step) {
    const auto n = static_cast<int64_t>(tokens.size());
    if (first.be == &p_.main()) step.begin(n);  // the embedding lookup too goes into the step
    first.be->get_rows(head.tok_embd, tokens, first.x.view(n, c_.n_embd));
    if (first.moe) begin_routing(n);
    return &first;
}

LayerStage* LayerRunner::layer_stage(int64_t l, LayerStage* cur, LayerStage& last, int64_t n,
                                     Step& step) {
    if (l != s_.n_cpu_layers || cur == &last) return cur;
    p_.carry(*cur->be, cur->x.view(n, c_.n_embd), *last.be, last.x.view(n, c_.n_embd));
    step.begin(n);
    return &last;
}

void LayerRunner::end_layers(LayerStage* cur, LayerStage& last, int64_t n) {
    // Every layer ran on the host backend: the head still runs on p_.main().
    if (cur != &last)
        p_.carry(*cur->be, cur->x.view(n, c_.n_embd), *last.be, last.x.view(n, c_.n_embd));
}

void LayerRunner::begin_routing(int64_t n_tokens) {
    const ModelConfig& c = c_;
    ForwardRouting& r = routing_;
    r.n_tokens = n_tokens;
    r.n_used = static_cast<int>(c.n_expert_used);
    r.n_expert = static_cast<int>(c.n_expert);
    r.layers.clear();
    for (int64_t l = 0; l < c.n_layer; ++l)
        if (c.is_moe_layer(l)) r.layers.push_back(static_cast<int32_t>(l));
    const size_t slots = r.layers.size() * n_tokens * c.n_expert_used;
    r.experts.resize(slots);
    r.weights.resize(slots);
    r.probs.resize(capture_probs_ ? r.layers.size() * n_tokens * c.n_expert : 0);
}

LayerRunner::RoutingSlot LayerRunner::routing_slot(int64_t mi) {
    ForwardRouting& r = routing_;
    const size_t k = static_cast<size_t>(r.n_tokens) * r.n_used;
    const size_t e = static_cast<size_t>(r.n_tokens) * r.n_expert;
    RoutingSlot s;
    s.ids = std::span<int32_t>(r.experts).subspan(mi * k, k);
    s.weights = std::span<float>(r.weights).subspan(mi * k, k);
    if (!r.probs.empty()) s.probs = std::span<float>(r.probs).subspan(mi * e, e);
    return s;
}

void LayerRunner::end_routing() {
    if (!capture_routing_) routing_.n_tokens = 0;
}

}  // namespace gb
