// Parameter counts per part from the equations of each block (the same shapes the architecture
// table binds; tests check the sum against every fixture file's tensors).
#include "engine/model/model_anatomy.h"

namespace gb {

ModelAnatomy model_anatomy(const ModelConfig& c) {
    ModelAnatomy a;
    a.name = c.name;
    a.arch = c.arch_str;
    a.n_layer = c.n_layer;
    a.n_moe_layers = c.n_moe_layers();
    a.n_dense_layers = c.n_layer - a.n_moe_layers;
    const int64_t d = c.n_embd;

    int64_t attn = 0;  // one layer, its input norm included
    if (c.is_mla()) {
        a.attention = "MLA";
        const MlaConfig& m = c.mla;
        const int64_t qk = m.n_nope + m.n_rope;
        attn += m.q_lora ? d * m.q_lora + m.q_lora + m.q_lora * c.n_head * qk : d * c.n_head * qk;
        attn += d * (m.kv_lora + m.n_rope) + m.kv_lora;     // kv_a (latent + rope key), its norm
        attn += m.kv_lora * c.n_head * (m.n_nope + m.n_v);  // kv_b: keys and values per head
        attn += c.n_head * m.n_v * d;                       // output
    } else {
        a.attention = c.n_head_kv == c.n_head ? "MHA" : c.n_head_kv == 1 ? "MQA" : "GQA";
        const int64_t q = c.n_head * c.head_dim, kv = c.n_head_kv * c.head_dim;
        attn += d * q + 2 * d * kv + q * d;
        if (c.qkv_bias) attn += q + 2 * kv;
        if (c.o_bias) attn += d;
        if (c.qk_norm) attn += c.qk_norm_full ? q + kv : 2 * c.head_dim;
    }
    attn += d;  // attention norm

    auto add = [&](const char* what, int64_t params, int64_t active) {
        if (params == 0) return;
        a.parts.push_back({what, params, active});
        a.total += params;
        a.active += active;
    };
    add("embedding", c.n_vocab * d, c.n_vocab * d);
    add("attention", attn * c.n_layer, attn * c.n_layer);
    const int64_t mlp = 3 * d * c.n_ff + d;  // gate, up, down and the MLP's norm
    add("dense MLP", mlp * a.n_dense_layers, mlp * a.n_dense_layers);
    if (a.n_moe_layers) {
        const int64_t router = d * c.n_expert + (c.expert_probs_bias ? c.n_expert : 0) + d;
        add("router", router * a.n_moe_layers, router * a.n_moe_layers);
        const int64_t shared = 3 * d * c.n_expert_shared * c.n_ff_exp;
        add("shared experts", shared * a.n_moe_layers, shared * a.n_moe_layers);
        const int64_t expert = 3 * d * c.n_ff_exp;
        add("routed experts", expert * c.n_expert * a.n_moe_layers,
            expert * c.n_expert_used * a.n_moe_layers);
    }
    const int64_t out = d + (c.tied_output ? 0 : c.n_vocab * d);  // final norm, output head
    add("output", out, out);

    a.kv_values_per_token = (c.kv_k_width() + c.kv_v_width()) * c.n_layer;
    a.full_kv_values_per_token =
        c.is_mla() ? c.n_head * (c.mla.n_nope + c.mla.n_rope + c.mla.n_v) * c.n_layer
                   : a.kv_values_per_token;
    return a;
}

ModelConfig deepseek_v3_config() {
    ModelConfig c;
    c.arch = Arch::Deepseek2;
    c.arch_str = "deepseek2";
    c.name = "DeepSeek-V3 / R1 (published shapes)";
    c.n_vocab = 129280;
    c.n_embd = 7168;
    c.n_layer = 61;
    c.n_head = 128;
    c.n_head_kv = 128;
    c.n_ff = 18432;
    c.n_ctx_train = 163840;
    c.n_expert = 256;
    c.n_expert_used = 8;
    c.n_ff_exp = 2048;
    c.n_expert_shared = 1;
    c.n_layer_dense_lead = 3;
    c.expert_probs_bias = true;
    c.mla.q_lora = 1536;
    c.mla.kv_lora = 512;
    c.mla.n_nope = 128;
    c.mla.n_rope = 64;
    c.mla.n_v = 128;
    c.head_dim = c.mla.n_nope + c.mla.n_rope;
    return c;
}

}  // namespace gb
