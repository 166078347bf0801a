// Forward pass of deepseek2 (DeepSeek-V2 arXiv 2405.04434, V3 arXiv 2412.19437): pre-norm decoder
// with multi-head latent attention (MLA) over the compressed cache, absorbed projections as
// DeepSeek's own inference runs them, YaRN, leading dense layers and MoE layers (shared MoE block).
#include "engine/model/deepseek2_model.h"

#include <cmath>
#include <cstring>
#include <numeric>

#include "engine/session/kv_cache.h"
#include "kernels/cpu/half.h"
#include "kernels/cpu/quant.h"
#include "kernels/error.h"

namespace gb {

namespace {

int64_t need(const GgufFile& f, const std::string& key, int64_t lo, int64_t hi) {
    const int64_t v = f.require_int(key);
    if (v < lo || v > hi)
        throw Error(f.path() + ": metadata '" + key + "' = " + std::to_string(v) +
                    " is out of range (" + std::to_string(lo) + ".." + std::to_string(hi) + ")");
    return v;
}

}  // namespace

void read_deepseek2_attention(const GgufFile& f, const std::string& a, ModelConfig& c) {
    MlaConfig& m = c.mla;
    m.kv_lora = need(f, a + "attention.kv_lora_rank", 1, 1 << 16);
    m.q_lora =
        f.find(a + "attention.q_lora_rank") ? need(f, a + "attention.q_lora_rank", 0, 1 << 16) : 0;
    m.n_rope = need(f, a + "rope.dimension_count", 2, 4096);
    if (m.n_rope % 2)
        throw Error(f.path() + ": metadata '" + a + "rope.dimension_count' must be even");
    int64_t n_qk = 0;
    if (f.find(a + "attention.key_length_mla")) {
        // The cache seen as one shared head: key_length = kv_lora + rope, value_length = kv_lora.
        n_qk = need(f, a + "attention.key_length_mla", 1, 4096);
        m.n_v = need(f, a + "attention.value_length_mla", 1, 4096);
        const auto kl = f.get_int(a + "attention.key_length");
        const auto vl = f.get_int(a + "attention.value_length");
        if ((kl && *kl != m.kv_lora + m.n_rope) || (vl && *vl != m.kv_lora))
            throw Error(f.path() + ": metadata '" + a + "attention.key_length' / value_length (" +
                        std::to_string(kl.value_or(0)) + " / " + std::to_string(vl.value_or(0)) +
                        ") do not match kv_lora_rank " + std::to_string(m.kv_lora) + " + rope " +
                        std::to_string(m.n_rope) + " / kv_lora_rank");
    } else {
        n_qk = need(f, a + "attention.key_length", 1, 4096);
        m.n_v = need(f, a + "attention.value_length", 1, 4096);
    }
    if (n_qk <= m.n_rope)
        throw Error(f.path() + ": metadata '" + a + "attention.key_length' " +
                    std::to_string(n_qk) + " leaves no room for the " + std::to_string(m.n_rope) +
                    " rope dimensions");
    m.n_nope = n_qk - m.n_rope;
    c.head_dim = n_qk;
    const double log_mul = f.get_float(a + "rope.scaling.yarn_log_multiplier").value_or(0.0);
    if (!std::isfinite(log_mul) || log_mul < 0 || log_mul > 10)
        throw Error(f.path() + ": metadata '" + a + "rope.scaling.yarn_log_multiplier' = " +
                    std::to_string(log_mul) + " is out of range (0..10)");
    m.yarn_log_mul = static_cast<float>(log_mul);
}

namespace {

struct LayerWeights {
    Weight attn_norm, wq, q_a, q_a_norm, q_b;  // wq without q_lora, else q_a -> norm -> q_b
    Weight kv_a_c, kv_a_pe, kv_a_norm;         // attn_kv_a_mqa split into its latent and k_pe rows
    Weight k_b, v_b;                           // W_kb^T per head; W_vb rows per head
    int v_row0 = 0;
    Weight wo;
    Model::Ffn ffn;
};

// The buffers of the layers on one backend (LayerStage) for MLA.
struct MlaStage : LayerStage {
    Act qa, q, ckv, kpe, attn, gate, up;

    MlaStage(Backend& b, const ModelConfig& c, int64_t nb) : LayerStage(b, c, nb) {
        const MlaConfig& m = c.mla;
        qa = b.alloc(nb, std::max<int64_t>(1, m.q_lora));
        q = b.alloc(nb, c.n_head * (m.n_nope + m.n_rope));
        ckv = b.alloc(nb, m.kv_lora);
        kpe = b.alloc(nb, m.n_rope);
        attn = b.alloc(nb, c.n_head * m.n_v);
        const int64_t dense_ff = c.n_layer_dense_lead > 0 || !c.is_moe() ? c.n_ff : 1;
        gate = b.alloc(nb, dense_ff);
        up = b.alloc(nb, dense_ff);
    }
    ~MlaStage() override {
        for (Act* a : {&qa, &q, &ckv, &kpe, &attn, &gate, &up}) be->release(*a);
    }
};

class Deepseek2Model final : public Model {
public:
    Deepseek2Model(std::unique_ptr<GgufFile> file, ModelConfig config, Placement placement,
                   const RunSettings& s)
        : Model(std::move(file), std::move(config), std::move(placement), s) {
        const ModelConfig& c = config_;
        const MlaConfig& m = c.mla;
        const int64_t H = c.n_head, qk = m.n_nope + m.n_rope, L = m.kv_lora;
        const int64_t nb = settings_.n_batch;
        if (settings_.n_cpu_layers > 0)
            stages_.push_back(std::make_unique<MlaStage>(*host_, c, nb));
        // The last stage also holds the output head's input, so it exists even when every layer
        // runs on the host backend.
        stages_.push_back(std::make_unique<MlaStage>(backend_, c, nb));
        head_ = binder_.head(placement_);
        for (int64_t l = 0; l < c.n_layer; ++l) {
            binder_.on(layer_backend(l));
            const std::string p = "blk." + std::to_string(l) + ".";
            LayerWeights w;
            w.attn_norm = binder_.bind(p + "attn_norm.weight");
            if (m.q_lora) {
                w.q_a = binder_.bind(p + "attn_q_a.weight");
                w.q_a_norm = binder_.bind(p + "attn_q_a_norm.weight");
                w.q_b = binder_.bind(p + "attn_q_b.weight");
            } else {
                w.wq = binder_.bind(p + "attn_q.weight");
            }
            // Rows [0, kv_lora) make the latent, the last n_rope rows the shared rotary key:
            // two row ranges of one matrix, so each product lands in its own contiguous buffer.
            const Weight kv_a = binder_.bind(p + "attn_kv_a_mqa.weight");
            const size_t rb = row_bytes(kv_a.type, c.n_embd);
            w.kv_a_c = Weight{kv_a.type, kv_a.data, L, c.n_embd, kv_a.name};
            w.kv_a_pe = Weight{kv_a.type, static_cast<const uint8_t*>(kv_a.data) + L * rb, m.n_rope,
                               c.n_embd, kv_a.name};
            w.kv_a_norm = binder_.bind(p + "attn_kv_a_norm.weight");
            bind_kv_b(p, w);
            w.wo = binder_.bind(p + "attn_output.weight");
            w.ffn = binder_.ffn(l);
            layers_.push_back(std::move(w));
        }
        binder_.on(backend_);

        // YaRN as DeepSeek applies it: the rotary cos/sin carry only attn_factor (HF's
        // mscale(f, mscale) / mscale(f, mscale_all_dim)), so the kernel's own YaRN magnitude
        // 1 + 0.1 ln f is divided out; the attention temperature goes into the softmax scale as
        // mscale(f, mscale_all_dim)^2 = (1 + yarn_log_mul ln f)^2.
        rope_ = c.rope;
        float mscale = 1.0f;
        if (c.rope_scaling == RopeScaling::Yarn) {
            const float ln_f = std::log(c.rope_factor);
            rope_.attn_factor = c.rope.attn_factor / (1.0f + 0.1f * ln_f);
            mscale = 1.0f + m.yarn_log_mul * ln_f;
        }
        kq_scale_ = mscale * mscale / std::sqrt(static_cast<float>(qk));
        shape_ = MlaShape{static_cast<int>(H),        static_cast<int>(m.n_nope),
                          static_cast<int>(m.n_rope), static_cast<int>(m.n_v),
                          static_cast<int>(L),        0};

        logits_ = backend_.alloc(nb, c.n_vocab);
    }

    ~Deepseek2Model() override { backend_.release(logits_); }

    void run_forward(std::span<const int32_t> tokens, std::span<KvCache* const> caches,
                     int64_t n_out, std::vector<float>& logits) override {
        const ModelConfig& c = config_;
        const MlaConfig& m = c.mla;
        const std::vector<int32_t> pos = runner_.check_forward(tokens, caches, n_out);
        const int64_t n = static_cast<int64_t>(tokens.size());
        const int H = static_cast<int>(c.n_head), qk = static_cast<int>(m.n_nope + m.n_rope);
        LayerRunner::Step step(backend_);

        MlaStage& last = *stages_.back();
        MlaStage* st = stages_.front().get();
        runner_.begin_layers(*st, head_, tokens, step);
        int64_t moe_layer = 0;
        for (int64_t l = 0; l < c.n_layer; ++l) {
            st = static_cast<MlaStage*>(runner_.layer_stage(l, st, last, n, step));
            Backend& be = *st->be;
            Act x = st->x.view(n, c.n_embd), h = st->h.view(n, c.n_embd);
            Act qa = st->qa.view(n, st->qa.cols), q = st->q.view(n, st->q.cols);
            Act attn = st->attn.view(n, st->attn.cols);
            Act ckv = st->ckv.view(n, st->ckv.cols), kpe = st->kpe.view(n, st->kpe.cols);
            Act gate = st->gate.view(n, st->gate.cols), up = st->up.view(n, st->up.cols);
            // Each head's rope part, rotated in place: the view starts n_nope floats into q, so
            // head h's first n_rope dims (of qk) are exactly q_pe of head h.
            Act q_pe{q.data + m.n_nope, n, q.cols};
            LayerWeights& w = layers_[l];
            // MLA: q = W_q h (or W_qb norm(W_qa h)); c_kv = norm(W_dkv h); k_pe = RoPE(W_kr h);
            // only c_kv and k_pe are cached; attention runs in the latent space (mla_attention).
            be.rmsnorm(x, w.attn_norm, c.rms_eps, h);
            if (m.q_lora) {
                be.matmul(w.q_a, h, qa);
                be.rmsnorm(qa, w.q_a_norm, c.rms_eps, qa);
                be.matmul(w.q_b, qa, q);
            } else {
                be.matmul(w.wq, h, q);
            }
            be.matmul(w.kv_a_c, h, ckv);
            be.rmsnorm(ckv, w.kv_a_norm, c.rms_eps, ckv);
            be.matmul(w.kv_a_pe, h, kpe);
            be.rope(q_pe, H, qk, pos, rope_);
            be.rope(kpe, 1, static_cast<int>(m.n_rope), pos, rope_);
            MlaShape s = shape_;
            s.v_row0 = w.v_row0;
            runner_.store_and_attend(
                be, caches, l, ckv, kpe,
                [&](const KvLayer& layer, int64_t first, int64_t count, int64_t pos0) {
                    be.mla_attention(q.row_range(first, count), w.k_b, w.v_b, layer, s, pos0,
                                     kq_scale_, attn.row_range(first, count));
                });
            be.matmul(w.wo, attn, h);
            be.add(x, h);
            // FFN: a SwiGLU MLP on the leading dense layers, the MoE block (routed experts
            // weighted by the router, plus the shared experts) on the rest.
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

private:
    // W_kb^T and W_vb per head. Current files carry them split (attn_k_b already transposed,
    // attn_v_b), used as they are in any type. Older files have only attn_kv_b ([n_head *
    // (nope + v) x kv_lora]): W_vb is read from its rows in place; W_kb^T is made once at load
    // as a transposed copy, F32 for F32 files and F16 otherwise (quantised files already carry
    // more error than F16 rounding). That copy costs n_head * nope * kv_lora * 4 (or 2) bytes per
    // layer: 32 MiB (16 MiB) per layer for V3's 128 heads, 2 GiB (1 GiB) over its 61 layers; the
    // split attn_k_b of a current file costs nothing extra.
    void bind_kv_b(const std::string& p, LayerWeights& w) {
        const ModelConfig& c = config_;
        const MlaConfig& m = c.mla;
        const int64_t H = c.n_head, L = m.kv_lora;
        if (file_->find_tensor(p + "attn_k_b.weight") ||
            file_->find_tensor(p + "attn_v_b.weight")) {
            w.k_b = binder_.bind(p + "attn_k_b.weight");
            w.v_b = binder_.bind(p + "attn_v_b.weight");
            w.v_row0 = 0;
            return;
        }
        if (!file_->find_tensor(p + "attn_kv_b.weight"))
            throw Error(file_->path() + ": missing tensor '" + p +
                        "attn_kv_b.weight' (or the split '" + p + "attn_k_b.weight' and '" + p +
                        "attn_v_b.weight') required by architecture " + c.arch_str);
        const Weight kv_b = binder_.bind(p + "attn_kv_b.weight");
        w.v_b = Weight{kv_b.type, kv_b.data, m.n_nope + m.n_v, L, kv_b.name, H};
        w.v_row0 = static_cast<int>(m.n_nope);

        const GgufTensorInfo& t = *file_->find_tensor(p + "attn_kv_b.weight");
        const auto* src = static_cast<const uint8_t*>(file_->tensor_data(t));
        const size_t rb = row_bytes(t.type, L);
        const bool f32 = t.type == TensorType::F32;
        std::vector<uint8_t>& buf = kb_copies_.emplace_back(H * L * m.n_nope * (f32 ? 4 : 2));
        std::vector<float> row(L);
        for (int64_t hd = 0; hd < H; ++hd)
            for (int64_t d = 0; d < m.n_nope; ++d) {
                cpu::dequantize_row(t.type, src + (hd * (m.n_nope + m.n_v) + d) * rb, row.data(),
                                    L);
                for (int64_t lc = 0; lc < L; ++lc) {
                    const size_t at = (hd * L + lc) * m.n_nope + d;  // [head][latent][nope]
                    if (f32) {
                        std::memcpy(buf.data() + 4 * at, &row[lc], 4);
                    } else {
                        const uint16_t hv = cpu::float_to_fp16(row[lc]);
                        std::memcpy(buf.data() + 2 * at, &hv, 2);
                    }
                }
            }
        w.k_b = binder_.backend().upload(
            Weight{f32 ? TensorType::F32 : TensorType::F16, buf.data(), L, m.n_nope, kv_b.name, H});
    }

    Head head_;
    const Head& output_head() const override { return head_; }
    std::vector<LayerWeights> layers_;
    std::vector<std::vector<uint8_t>> kb_copies_;  // W_kb^T made from attn_kv_b (older files)
    RopeParams rope_;
    float kq_scale_ = 1.0f;
    MlaShape shape_;
    std::vector<std::unique_ptr<MlaStage>> stages_;
    Act logits_;
};

}  // namespace

std::unique_ptr<Model> make_deepseek2_model(std::unique_ptr<GgufFile> file, ModelConfig config,
                                            Placement placement, const RunSettings& settings) {
    return std::make_unique<Deepseek2Model>(std::move(file), std::move(config),
                                            std::move(placement), settings);
}

}  // namespace gb
