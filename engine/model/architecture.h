// The architectures Glassbox runs, one row each: the name in a GGUF file and the Hugging Face
// classes that map to it, and what sets it apart (experts, latent attention, q/k norms and
// biases, rope layout, how it routes by default). ModelConfig::from_gguf (the GGUF binder's
// hyper-parameters) and the HF checkpoint mapping (hf_checkpoint*.cpp) both read it, so adding
// an architecture whose equations match an existing one is a new row here.
#pragma once

#include <array>
#include <span>
#include <string>
#include <string_view>

namespace gb {

// Mixtral files say general.architecture = "llama" and are told apart by llama.expert_count.
enum class Arch { Llama, Qwen2, Qwen3, Qwen3Moe, Olmoe, Mixtral, Deepseek2 };

enum class QkNorm {
    None,
    PerHead,  // RMSNorm over each head of q and k before RoPE (qwen3, qwen3moe)
    Full,     // over the whole q / k projection (olmoe)
};

// Which forward function runs the architecture: the pre-norm decoder with grouped-query attention
// (llama_model.cpp: llama, qwen2/3, their MoE variants, mixtral, olmoe), or the one with
// multi-head latent attention (deepseek2_model.cpp).
enum class Forward { Decoder, LatentAttention };

struct ArchInfo {
    Arch arch;
    Forward forward = Forward::Decoder;
    const char* name;               // ours, in errors and reports: "mixtral"
    const char* gguf;               // general.architecture: "llama" for mixtral
    std::array<const char*, 2> hf;  // config.json "architectures" classes (or null)
    bool moe = false;               // routed experts (in every layer past the dense lead)
    bool qkv_bias = false;          // q/k/v projections always have biases (qwen2)
    QkNorm qk_norm = QkNorm::None;
    bool rope_neox = true;            // rotate (i, i + n/2) pairs; false: adjacent pairs
    bool hf_permute_qk = false;       // HF stores q/k rows in NEOX halves, GGUF in pairs
    bool norm_topk_default = false;   // expert_weights_norm when the key is absent
    bool norm_topk_always = false;    // renormalises the top-k weights whatever the file says
    const char* hf_experts = "mlp.";  // HF module of the router and experts in a layer
    const char* hf_expert_count = "num_experts";  // config.json key of the routed expert count
    bool hf_moe_ff = false;  // config.json has moe_intermediate_size (else experts use n_ff)
};

std::span<const ArchInfo> architectures();
const ArchInfo& arch_info(Arch a);
const char* arch_name(Arch a);

// The row for a GGUF general.architecture (has_experts: the file's ARCH.expert_count > 0, which
// makes "llama" Mixtral); nullptr for an unknown name.
const ArchInfo* arch_from_gguf(std::string_view general_architecture, bool has_experts);
// The row for a Hugging Face class name ("Qwen3MoeForCausalLM"); nullptr when unknown.
const ArchInfo* arch_from_hf(std::string_view hf_class);

// For errors: "llama (and mixtral), qwen2, ..." and "LlamaForCausalLM, Qwen2ForCausalLM, ...".
std::string supported_gguf_architectures();
std::string supported_hf_architectures();

}  // namespace gb
