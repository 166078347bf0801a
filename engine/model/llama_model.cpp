// Forward pass of the llama family (pre-norm decoder, GQA attention with RoPE, SwiGLU MLP), and
// of its mixture-of-experts variants, whose MoE layers swap the MLP for a routed MoE block.
#include "engine/model/llama_model.h"

#include <cmath>
#include <numeric>

#include "engine/core/error.h"
#include "engine/session/kv_cache.h"

namespace gb {

namespace {

struct LayerWeights {
    Weight attn_norm, wq, wk, wv, wo, bq, bk, bv, q_norm, k_norm;
    Model::Ffn ffn;
};

class LlamaModel final : public Model {
public:
    LlamaModel(std::unique_ptr<GgufFile> file, ModelConfig config, Backend& backend,
               const RunSettings& s)
        : Model(std::move(file), std::move(config), backend, s) {
        const ModelConfig& c = config_;
        const int64_t q_width = c.n_head * c.head_dim, kv = kv_width();
        head_ = bind_head();
        if (c.rope_scaling == RopeScaling::Llama3 || file_->find_tensor("rope_freqs.weight")) {
            rope_freqs_ = bind("rope_freqs.weight", 1, c.rope.n_dims / 2);
            if (rope_freqs_.type != TensorType::F32)
                throw Error(file_->path() + ": tensor 'rope_freqs.weight' must be F32");
        }
        for (int64_t l = 0; l < c.n_layer; ++l) {
            const std::string p = "blk." + std::to_string(l) + ".";
            LayerWeights w;
            w.attn_norm = bind(p + "attn_norm.weight", 1, c.n_embd);
            w.wq = bind(p + "attn_q.weight", q_width, c.n_embd);
            w.wk = bind(p + "attn_k.weight", kv, c.n_embd);
            w.wv = bind(p + "attn_v.weight", kv, c.n_embd);
            w.wo = bind(p + "attn_output.weight", c.n_embd, q_width);
            // Biases: qwen2 always has them; other files may too.
            w.bq = bind(p + "attn_q.bias", 1, q_width, c.qkv_bias);
            w.bk = bind(p + "attn_k.bias", 1, kv, c.qkv_bias);
            w.bv = bind(p + "attn_v.bias", 1, kv, c.qkv_bias);
            if (c.qk_norm) {  // per head, or (olmoe) over the whole projection
                w.q_norm = bind(p + "attn_q_norm.weight", 1, c.qk_norm_full ? q_width : c.head_dim);
                w.k_norm = bind(p + "attn_k_norm.weight", 1, c.qk_norm_full ? kv : c.head_dim);
            }
            w.ffn = bind_ffn(l);
            layers_.push_back(std::move(w));
        }
        rope_ = c.rope;
        if (rope_freqs_) rope_.freq_factors = static_cast<const float*>(rope_freqs_.data);

        const int64_t nb = settings_.n_batch;
        x_ = backend_.alloc(nb, c.n_embd);
        h_ = backend_.alloc(nb, c.n_embd);
        q_ = backend_.alloc(nb, q_width);
        k_ = backend_.alloc(nb, kv);
        v_ = backend_.alloc(nb, kv);
        attn_ = backend_.alloc(nb, q_width);
        const int64_t dense_ff = c.n_moe_layers() == c.n_layer ? 1 : c.n_ff;  // unused when all MoE
        gate_ = backend_.alloc(nb, dense_ff);
        up_ = backend_.alloc(nb, dense_ff);
        logits_ = backend_.alloc(nb, c.n_vocab);
        if (c.is_moe()) moe_ = std::make_unique<MoeBlock>(backend_, config_, nb);
    }

    void forward(std::span<const int32_t> tokens, KvCache& cache, int64_t n_out,
                 std::vector<float>& logits) override {
        const ModelConfig& c = config_;
        const std::vector<int32_t> pos = check_forward(tokens, cache, n_out);
        const int64_t n = static_cast<int64_t>(tokens.size());
        const int64_t pos0 = cache.n_past();
        Backend& be = backend_;

        Act x = x_.view(n, c.n_embd), h = h_.view(n, c.n_embd);
        Act q = q_.view(n, q_.cols), k = k_.view(n, k_.cols), v = v_.view(n, v_.cols);
        Act attn = attn_.view(n, attn_.cols), gate = gate_.view(n, c.n_ff), up = up_.view(n, c.n_ff);
        const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));

        be.get_rows(head_.tok_embd, tokens, x);
        if (moe_) begin_routing(n);
        int64_t moe_layer = 0;
        for (int64_t l = 0; l < c.n_layer; ++l) {
            const LayerWeights& w = layers_[l];
            // Attention block: h = RMSNorm(x); q,k,v = h W; RoPE; causal softmax(q k^T / sqrt(d)) v.
            be.rmsnorm(x, w.attn_norm, c.rms_eps, h);
            be.matmul(w.wq, h, q);
            be.matmul(w.wk, h, k);
            be.matmul(w.wv, h, v);
            if (w.bq) be.add_bias(q, w.bq);
            if (w.bk) be.add_bias(k, w.bk);
            if (w.bv) be.add_bias(v, w.bv);
            if (c.qk_norm_full) {  // olmoe: the whole q and k projections
                be.rmsnorm(q, w.q_norm, c.rms_eps, q);
                be.rmsnorm(k, w.k_norm, c.rms_eps, k);
            } else if (c.qk_norm) {  // qwen3: each head normalised on its own
                Act qh = q.view(n * c.n_head, c.head_dim), kh = k.view(n * c.n_head_kv, c.head_dim);
                be.rmsnorm(qh, w.q_norm, c.rms_eps, qh);
                be.rmsnorm(kh, w.k_norm, c.rms_eps, kh);
            }
            be.rope(q, static_cast<int>(c.n_head), static_cast<int>(c.head_dim), pos, rope_);
            be.rope(k, static_cast<int>(c.n_head_kv), static_cast<int>(c.head_dim), pos, rope_);
            be.kv_store(cache.layer(l), k, v, pos0);
            be.attention(q, cache.layer(l), static_cast<int>(c.n_head), static_cast<int>(c.n_head_kv),
                         static_cast<int>(c.head_dim), pos0, scale, attn);
            be.matmul(w.wo, attn, h);
            be.add(x, h);
            run_ffn(w.ffn, x, h, gate, up, moe_.get(), moe_layer);
            check_cancel();
        }
        cache.set_n_past(pos0 + n);
        if (moe_) end_routing();

        run_head(head_, x, h, logits_, n_out, logits);
    }

    ~LlamaModel() override {
        for (Act* a : {&x_, &h_, &q_, &k_, &v_, &attn_, &gate_, &up_, &logits_}) backend_.release(*a);
    }

private:
    Head head_;
    Weight rope_freqs_;
    std::vector<LayerWeights> layers_;
    RopeParams rope_;
    Act x_, h_, q_, k_, v_, attn_, gate_, up_, logits_;
    std::unique_ptr<MoeBlock> moe_;
};

}  // namespace

std::unique_ptr<Model> make_llama_model(std::unique_ptr<GgufFile> file, ModelConfig config,
                                        Backend& backend, const RunSettings& settings) {
    return std::make_unique<LlamaModel>(std::move(file), std::move(config), backend, settings);
}

}  // namespace gb
