// Forward pass of the llama family (pre-norm decoder, GQA attention with RoPE, SwiGLU MLP), and
// of its mixture-of-experts variants, whose MoE layers swap the MLP for a routed MoE block.
#include "engine/model/llama_model.h"

#include <cmath>
#include <numeric>

#include "engine/session/kv_cache.h"
#include "kernels/error.h"

namespace gb {

namespace {

struct LayerWeights {
    Weight attn_norm, wq, wk, wv, wo, bq, bk, bv, bo, q_norm, k_norm;
    Model::Ffn ffn;
};

// The buffers of the layers on one backend (LayerStage) for the llama family.
struct LlamaStage : LayerStage {
    RopeParams rope;  // freq_factors in this backend's memory
    Weight rope_freqs;
    Act q, k, v, attn, gate, up;

    LlamaStage(Backend& b, const ModelConfig& c, int64_t nb, int64_t q_width, int64_t kv)
        : LayerStage(b, c, nb) {
        q = b.alloc(nb, q_width);
        k = b.alloc(nb, kv);
        v = b.alloc(nb, kv);
        attn = b.alloc(nb, q_width);
        const int64_t dense_ff = c.n_moe_layers() == c.n_layer ? 1 : c.n_ff;  // unused when all MoE
        gate = b.alloc(nb, dense_ff);
        up = b.alloc(nb, dense_ff);
    }
    ~LlamaStage() override {
        for (Act* a : {&q, &k, &v, &attn, &gate, &up}) be->release(*a);
    }
};

class LlamaModel final : public Model {
public:
    LlamaModel(std::unique_ptr<GgufFile> file, ModelConfig config, Placement placement,
               const RunSettings& s)
        : Model(std::move(file), std::move(config), std::move(placement), s) {
        const ModelConfig& c = config_;
        const int64_t q_width = c.n_head * c.head_dim, kv = kv_width();
        const int64_t nb = settings_.n_batch;
        // Stage 0 on the host backend when the first layers run there; the last on backend_.
        if (settings_.n_cpu_layers > 0)
            stages_.push_back(std::make_unique<LlamaStage>(*host_, c, nb, q_width, kv));
        // The last stage also holds the output head's input, so it exists even when every layer
        // runs on the host backend.
        stages_.push_back(std::make_unique<LlamaStage>(backend_, c, nb, q_width, kv));
        head_ = binder_.head(placement_);
        const bool freqs =
            c.rope_scaling == RopeScaling::Llama3 || file_->find_tensor("rope_freqs.weight");
        for (auto& st : stages_) {
            st->rope = c.rope;
            if (!freqs) continue;
            binder_.on(*st->be);
            st->rope_freqs = binder_.bind("rope_freqs.weight", 1, c.rope.n_dims / 2);
            if (st->rope_freqs.type != TensorType::F32)
                throw Error(file_->path() + ": tensor 'rope_freqs.weight' must be F32");
            st->rope.freq_factors = static_cast<const float*>(st->rope_freqs.data);
        }
        for (int64_t l = 0; l < c.n_layer; ++l) {
            binder_.on(layer_backend(l));
            const std::string p = "blk." + std::to_string(l) + ".";
            LayerWeights w;
            w.attn_norm = binder_.bind(p + "attn_norm.weight");
            w.wq = binder_.bind(p + "attn_q.weight");
            w.wk = binder_.bind(p + "attn_k.weight");
            w.wv = binder_.bind(p + "attn_v.weight");
            w.wo = binder_.bind(p + "attn_output.weight");
            // Biases: qwen2 always has them; other files may too.
            w.bq = binder_.bind(p + "attn_q.bias", c.qkv_bias);
            w.bk = binder_.bind(p + "attn_k.bias", c.qkv_bias);
            w.bv = binder_.bind(p + "attn_v.bias", c.qkv_bias);
            w.bo = binder_.bind(p + "attn_output.bias", false);  // Llama's attention_bias
            if (c.qk_norm) {  // per head, or (olmoe) over the whole projection
                w.q_norm = binder_.bind(p + "attn_q_norm.weight");
                w.k_norm = binder_.bind(p + "attn_k_norm.weight");
            }
            w.ffn = binder_.ffn(l);
            layers_.push_back(std::move(w));
        }
        binder_.on(backend_);
        logits_ = backend_.alloc(nb, c.n_vocab);
    }

    void run_forward(std::span<const int32_t> tokens, std::span<KvCache* const> caches,
                     int64_t n_out, std::vector<float>& logits) override {
        const ModelConfig& c = config_;
        const std::vector<int32_t> pos = runner_.check_forward(tokens, caches, n_out);
        const int64_t n = static_cast<int64_t>(tokens.size());
        const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
        LayerRunner::Step step(backend_);

        LlamaStage& last = *stages_.back();
        LlamaStage* st = stages_.front().get();
        runner_.begin_layers(*st, head_, tokens, step);
        int64_t moe_layer = 0;
        for (int64_t l = 0; l < c.n_layer; ++l) {
            st = static_cast<LlamaStage*>(runner_.layer_stage(l, st, last, n, step));
            Backend& be = *st->be;
            const LayerWeights& w = layers_[l];
            Act x = st->x.view(n, c.n_embd), h = st->h.view(n, c.n_embd);
            Act q = st->q.view(n, st->q.cols), k = st->k.view(n, st->k.cols);
            Act v = st->v.view(n, st->v.cols), attn = st->attn.view(n, st->attn.cols);
            Act gate = st->gate.view(n, c.n_ff), up = st->up.view(n, c.n_ff);
            // Attention block: h = RMSNorm(x); q,k,v = h W; RoPE; causal softmax(q k^T / sqrt(d))
            // v.
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
            be.rope(q, static_cast<int>(c.n_head), static_cast<int>(c.head_dim), pos, st->rope);
            be.rope(k, static_cast<int>(c.n_head_kv), static_cast<int>(c.head_dim), pos, st->rope);
            runner_.store_and_attend(
                be, caches, l, k, v,
                [&](const KvLayer& layer, int64_t first, int64_t count, int64_t pos0) {
                    be.attention(q.row_range(first, count), layer, static_cast<int>(c.n_head),
                                 static_cast<int>(c.n_head_kv), static_cast<int>(c.head_dim), pos0,
                                 scale, attn.row_range(first, count));
                });
            be.matmul(w.wo, attn, h);
            if (w.bo) be.add_bias(h, w.bo);
            be.add(x, h);
            runner_.run_ffn(be, w.ffn, x, h, gate, up, st->moe.get(), moe_layer);
            runner_.lens_capture(be, x, l, step);
            runner_.check_cancel();
        }
        runner_.end_layers(st, last, n);
        runner_.run_head(head_, last.x.view(n, c.n_embd), last.h.view(n, c.n_embd), logits_, n_out,
                         step, logits);
        LayerRunner::advance(caches, n);
        if (st->moe) runner_.end_routing();
    }

    ~LlamaModel() override { backend_.release(logits_); }

private:
    Head head_;
    const Head& output_head() const override { return head_; }
    std::vector<LayerWeights> layers_;
    std::vector<std::unique_ptr<LlamaStage>> stages_;
    Act logits_;
};

}  // namespace

std::unique_ptr<Model> make_llama_model(std::unique_ptr<GgufFile> file, ModelConfig config,
                                        Placement placement, const RunSettings& settings) {
    return std::make_unique<LlamaModel>(std::move(file), std::move(config), std::move(placement),
                                        settings);
}

}  // namespace gb
