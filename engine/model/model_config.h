// Hyper-parameters of a model, read from GGUF metadata, and the run-time settings that size it.
#pragma once

#include <cstdint>
#include <string>

#include "engine/model/architecture.h"
#include "kernels/backend.h"

namespace gb {

class GgufFile;

enum class RopeScaling { None, Linear, Yarn, Llama3 };

// Multi-head latent attention (deepseek2; read by read_deepseek2_attention, deepseek2_model.cpp).
struct MlaConfig {
    int64_t q_lora = 0;         // q_lora_rank; 0: the query is one projection (attn_q, V2-Lite)
    int64_t kv_lora = 0;        // kv_lora_rank: the cached latent per position
    int64_t n_nope = 0;         // qk_nope_head_dim
    int64_t n_rope = 0;         // qk_rope_head_dim (rope.dimension_count)
    int64_t n_v = 0;            // v_head_dim
    float yarn_log_mul = 0.0f;  // 0.1 * mscale_all_dim: the softmax scale's YaRN factor
};

struct ModelConfig {
    Arch arch = Arch::Llama;
    std::string arch_str;  // general.architecture as written in the file
    std::string name;      // general.name, when present
    int64_t n_vocab = 0;
    int64_t n_embd = 0;
    int64_t n_layer = 0;
    int64_t n_head = 0;
    int64_t n_head_kv = 0;
    int64_t head_dim = 0;  // key_length (== value_length for the models we run)
    int64_t n_ff = 0;
    int64_t n_ctx_train = 0;
    float rms_eps = 1e-5f;
    bool qkv_bias = false;      // qwen2
    bool o_bias = false;        // a bias on the attention output (llama with attention_bias)
    bool qk_norm = false;       // qwen3, qwen3moe, olmoe: RMSNorm of q and k before RoPE
    bool qk_norm_full = false;  // olmoe: over the whole q / k projection, not per head
    bool tied_output = false;

    // Mixture of experts; n_expert == 0 for a dense model. Layers l >= n_layer_dense_lead replace
    // the MLP with a routed MoE block (plus n_expert_shared always-on experts, deepseek2).
    int64_t n_expert = 0;
    int64_t n_expert_used = 0;
    int64_t n_ff_exp = 0;            // hidden width of one routed expert
    int64_t n_expert_shared = 0;     // shared experts, run as one MLP of n_expert_shared * n_ff_exp
    int64_t n_layer_dense_lead = 0;  // leading dense layers (deepseek2's first_k_dense_replace)
    bool expert_probs_bias = false;  // a score-correction bias per expert (exp_probs_b.bias)
    RouterParams router;             // gating function, top-k rule, groups, scaling
    bool is_moe() const { return n_expert > 0; }
    bool is_moe_layer(int64_t l) const { return n_expert > 0 && l >= n_layer_dense_lead; }
    int64_t n_moe_layers() const { return n_expert > 0 ? n_layer - n_layer_dense_lead : 0; }

    MlaConfig mla;  // deepseek2 only (kv_lora == 0 otherwise)
    bool is_mla() const { return mla.kv_lora > 0; }
    // Values cached per position and layer: K and V rows (MLA: c_kv and k_pe).
    int64_t kv_k_width() const { return is_mla() ? mla.kv_lora : n_head_kv * head_dim; }
    int64_t kv_v_width() const { return is_mla() ? mla.n_rope : n_head_kv * head_dim; }

    RopeScaling rope_scaling = RopeScaling::None;
    float rope_factor = 1.0f;
    RopeParams rope;  // everything but freq_factors, which points into the weights

    // Parses and checks the metadata; throws gb::Error naming the key.
    static ModelConfig from_gguf(const GgufFile& f);
};

// Run-time settings; validate() throws gb::Error naming the setting and its allowed range.
struct RunSettings {
    int64_t n_ctx = 4096;   // 0: the model's training context
    int n_threads = 0;      // 0: all hardware threads
    int64_t n_batch = 512;  // prompt tokens per forward pass
    // Layers 0 .. n_cpu_layers-1 run on the CPU (their weights and KV cache in host memory) and
    // the rest on the GPU backend: for a model whose weights do not all fit in GPU memory.
    // kAutoCpuLayers: as few as make the rest fit (Model::load decides, settings() says).
    int64_t n_cpu_layers = 0;
    static constexpr int64_t kAutoCpuLayers = -1;
    // What the KV cache holds its values as (kv_cache_type_supported); F16 halves F32's memory
    // and its traffic at depth, at a rounding error far below the activations' own.
    TensorType kv_type = TensorType::F16;
    // Precise mode (Backend::set_precise): no product rounds its activations to 8 bits and the
    // KV cache holds F32 whatever kv_type says, so that probabilities are within about 1e-5 of
    // an exact computation of the same weights; decode is slower. Model::set_precise switches.
    bool precise = false;
    // The type the KV cache is made of under these settings.
    TensorType cache_type() const { return precise ? TensorType::F32 : kv_type; }
    void validate(const ModelConfig& c);
};

// The CPU thread count to run with: 0 means all hardware threads. More threads than cores only
// slow the spinning pool down (16 threads on 2 cores decode at a fifth of the speed), so a
// request above 4x the hardware threads (at least 8, at most 512) is refused with an error
// naming the limit, before any thread is started.
int max_threads();
int resolve_threads(int64_t requested);

}  // namespace gb
