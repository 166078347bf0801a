// The tensor table of every architecture, and the dimensions of a GGUF model for it.
#include "engine/model/tensor_table.h"

#include "engine/gguf/gguf_file.h"
#include "engine/model/model_config.h"

namespace gb {

std::vector<TensorSpec> tensor_table(const TensorDims& h) {
    std::vector<TensorSpec> out;
    auto add = [&](std::string gguf, std::string hf, std::vector<int64_t> shape,
                   bool required = true, int64_t rope_heads = 0) {
        out.push_back({std::move(gguf), {std::move(hf)}, std::move(shape), required, rope_heads});
    };
    // Per-expert matrices of one layer, stacked into one GGUF tensor in expert order.
    auto experts = [&](std::string gguf, const std::string& prefix, const std::string& suffix,
                       std::vector<int64_t> shape) {
        TensorSpec p{std::move(gguf), {}, std::move(shape), true, 0, h.n_expert};
        for (int64_t e = 0; e < h.n_expert; ++e)
            p.hf.push_back(prefix + std::to_string(e) + suffix);
        out.push_back(std::move(p));
    };
    const int64_t E = h.n_embd, V = h.n_vocab;
    add("token_embd.weight", "model.embed_tokens.weight", {V, E});
    add("output_norm.weight", "model.norm.weight", {E});
    if (!h.tied) add("output.weight", "lm_head.weight", {V, E});

    const ArchInfo& info = arch_info(h.arch);
    const bool permute = info.hf_permute_qk;
    for (int64_t l = 0; l < h.n_layer; ++l) {
        const std::string b = "blk." + std::to_string(l) + ".";
        const std::string p = "model.layers." + std::to_string(l) + ".";
        add(b + "attn_norm.weight", p + "input_layernorm.weight", {E});
        add(b + "ffn_norm.weight", p + "post_attention_layernorm.weight", {E});
        const std::string at = p + "self_attn.";

        if (info.forward == Forward::LatentAttention) {
            const int64_t H = h.n_head, qk = h.qk_nope + h.qk_rope;
            if (h.q_lora) {
                add(b + "attn_q_a.weight", at + "q_a_proj.weight", {h.q_lora, E});
                add(b + "attn_q_a_norm.weight", at + "q_a_layernorm.weight", {h.q_lora});
                add(b + "attn_q_b.weight", at + "q_b_proj.weight", {H * qk, h.q_lora});
            } else {
                add(b + "attn_q.weight", at + "q_proj.weight", {H * qk, E});
            }
            add(b + "attn_kv_a_mqa.weight", at + "kv_a_proj_with_mqa.weight",
                {h.kv_lora + h.qk_rope, E});
            add(b + "attn_kv_a_norm.weight", at + "kv_a_layernorm.weight", {h.kv_lora});
            if (h.split_kv_b) {  // no HF source: only GGUF files have them
                out.push_back({b + "attn_k_b.weight", {}, {h.kv_lora, h.qk_nope}, true, 0, H});
                out.push_back({b + "attn_v_b.weight", {}, {h.v_head, h.kv_lora}, true, 0, H});
            } else {
                add(b + "attn_kv_b.weight", at + "kv_b_proj.weight",
                    {H * (h.qk_nope + h.v_head), h.kv_lora});
            }
            add(b + "attn_output.weight", at + "o_proj.weight", {E, H * h.v_head});
        } else {
            const int64_t q = h.n_head * h.head_dim, kv = h.n_head_kv * h.head_dim;
            add(b + "attn_q.weight", at + "q_proj.weight", {q, E}, true, permute ? h.n_head : 0);
            add(b + "attn_k.weight", at + "k_proj.weight", {kv, E}, true,
                permute ? h.n_head_kv : 0);
            add(b + "attn_v.weight", at + "v_proj.weight", {kv, E});
            add(b + "attn_output.weight", at + "o_proj.weight", {E, q});
            if (h.attn_bias) {
                add(b + "attn_q.bias", at + "q_proj.bias", {q}, true, permute ? h.n_head : 0);
                add(b + "attn_k.bias", at + "k_proj.bias", {kv}, true, permute ? h.n_head_kv : 0);
                add(b + "attn_v.bias", at + "v_proj.bias", {kv});
            }
            if (h.o_bias) add(b + "attn_output.bias", at + "o_proj.bias", {E});
            if (info.qk_norm == QkNorm::PerHead) {
                add(b + "attn_q_norm.weight", at + "q_norm.weight", {h.head_dim});
                add(b + "attn_k_norm.weight", at + "k_norm.weight", {h.head_dim});
            } else if (info.qk_norm == QkNorm::Full) {  // over the whole projection
                add(b + "attn_q_norm.weight", at + "q_norm.weight", {q});
                add(b + "attn_k_norm.weight", at + "k_norm.weight", {kv});
            }
        }

        const bool dense = h.n_expert == 0 || l < h.n_dense_lead;
        if (dense) {
            add(b + "ffn_gate.weight", p + "mlp.gate_proj.weight", {h.n_ff, E});
            add(b + "ffn_up.weight", p + "mlp.up_proj.weight", {h.n_ff, E});
            add(b + "ffn_down.weight", p + "mlp.down_proj.weight", {E, h.n_ff});
            continue;
        }
        const int64_t F = h.n_ff_exp, N = h.n_expert;
        const std::string m = p + info.hf_experts;
        if (h.arch == Arch::Mixtral) {  // experts named w1 (gate), w3 (up), w2 (down)
            add(b + "ffn_gate_inp.weight", m + "gate.weight", {N, E});
            experts(b + "ffn_gate_exps.weight", m + "experts.", ".w1.weight", {F, E});
            experts(b + "ffn_up_exps.weight", m + "experts.", ".w3.weight", {F, E});
            experts(b + "ffn_down_exps.weight", m + "experts.", ".w2.weight", {E, F});
            continue;
        }
        add(b + "ffn_gate_inp.weight", m + "gate.weight", {N, E});
        experts(b + "ffn_gate_exps.weight", m + "experts.", ".gate_proj.weight", {F, E});
        experts(b + "ffn_up_exps.weight", m + "experts.", ".up_proj.weight", {F, E});
        experts(b + "ffn_down_exps.weight", m + "experts.", ".down_proj.weight", {E, F});
        if (h.arch == Arch::Deepseek2) {
            add(b + "exp_probs_b.bias", m + "gate.e_score_correction_bias", {N}, h.score_bias);
            if (h.n_shared) {
                const int64_t S = h.n_shared * F;
                add(b + "ffn_gate_shexp.weight", m + "shared_experts.gate_proj.weight", {S, E});
                add(b + "ffn_up_shexp.weight", m + "shared_experts.up_proj.weight", {S, E});
                add(b + "ffn_down_shexp.weight", m + "shared_experts.down_proj.weight", {E, S});
            }
        }
    }
    return out;
}

TensorDims tensor_dims(const ModelConfig& c, const GgufFile& f) {
    TensorDims d;
    d.arch = c.arch;
    d.n_vocab = c.n_vocab, d.n_embd = c.n_embd, d.n_layer = c.n_layer, d.n_head = c.n_head;
    d.n_head_kv = c.n_head_kv, d.head_dim = c.head_dim, d.n_ff = c.n_ff;
    d.tied = c.tied_output;
    d.attn_bias = c.qkv_bias || f.find_tensor("blk.0.attn_q.bias") != nullptr;
    d.o_bias = f.find_tensor("blk.0.attn_output.bias") != nullptr;
    d.n_expert = c.n_expert, d.n_ff_exp = c.n_ff_exp, d.n_shared = c.n_expert_shared;
    d.n_dense_lead = c.n_layer_dense_lead, d.score_bias = c.expert_probs_bias;
    d.q_lora = c.mla.q_lora, d.kv_lora = c.mla.kv_lora, d.qk_nope = c.mla.n_nope;
    d.qk_rope = c.mla.n_rope, d.v_head = c.mla.n_v;
    d.split_kv_b = f.find_tensor("blk.0.attn_k_b.weight") || f.find_tensor("blk.0.attn_v_b.weight");
    return d;
}

}  // namespace gb
