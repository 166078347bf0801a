// The architecture table.
#include "engine/model/architecture.h"

namespace gb {

namespace {

// Rows follow the order of the Arch enum (arch_info indexes by it).
constexpr ArchInfo kArchitectures[] = {
    {.arch = Arch::Llama,
     .name = "llama",
     .gguf = "llama",
     .hf = {"LlamaForCausalLM", nullptr},
     .rope_neox = false,
     .hf_permute_qk = true},
    {.arch = Arch::Qwen2,
     .name = "qwen2",
     .gguf = "qwen2",
     .hf = {"Qwen2ForCausalLM", nullptr},
     .qkv_bias = true},
    {.arch = Arch::Qwen3,
     .name = "qwen3",
     .gguf = "qwen3",
     .hf = {"Qwen3ForCausalLM", nullptr},
     .qk_norm = QkNorm::PerHead},
    // Qwen3-MoE ships norm_topk_prob = true.
    {.arch = Arch::Qwen3Moe,
     .name = "qwen3moe",
     .gguf = "qwen3moe",
     .hf = {"Qwen3MoeForCausalLM", nullptr},
     .moe = true,
     .qk_norm = QkNorm::PerHead,
     .norm_topk_default = true,
     .hf_moe_ff = true},
    {.arch = Arch::Olmoe,
     .name = "olmoe",
     .gguf = "olmoe",
     .hf = {"OlmoeForCausalLM", nullptr},
     .moe = true,
     .qk_norm = QkNorm::Full},
    {.arch = Arch::Mixtral,
     .name = "mixtral",
     .gguf = "llama",
     .hf = {"MixtralForCausalLM", nullptr},
     .moe = true,
     .rope_neox = false,
     .hf_permute_qk = true,
     .norm_topk_default = true,
     .norm_topk_always = true,
     .hf_experts = "block_sparse_moe.",
     .hf_expert_count = "num_local_experts"},
    // DeepSeek rotates adjacent pairs (its own rope layout), in the HF checkpoint too.
    {.arch = Arch::Deepseek2,
     .forward = Forward::LatentAttention,
     .name = "deepseek2",
     .gguf = "deepseek2",
     .hf = {"DeepseekV2ForCausalLM", "DeepseekV3ForCausalLM"},
     .moe = true,
     .rope_neox = false,
     .hf_expert_count = "n_routed_experts",
     .hf_moe_ff = true},
};

static_assert(std::size(kArchitectures) == static_cast<size_t>(Arch::Deepseek2) + 1);

}  // namespace

std::span<const ArchInfo> architectures() { return kArchitectures; }

const ArchInfo& arch_info(Arch a) { return kArchitectures[static_cast<size_t>(a)]; }

const char* arch_name(Arch a) { return arch_info(a).name; }

const ArchInfo* arch_from_gguf(std::string_view general_architecture, bool has_experts) {
    if (general_architecture == "llama")
        return &arch_info(has_experts ? Arch::Mixtral : Arch::Llama);
    for (const ArchInfo& a : kArchitectures)
        if (general_architecture == a.gguf) return &a;
    return nullptr;
}

const ArchInfo* arch_from_hf(std::string_view hf_class) {
    for (const ArchInfo& a : kArchitectures)
        for (const char* c : a.hf)
            if (c && hf_class == c) return &a;
    return nullptr;
}

std::string supported_gguf_architectures() {
    std::string s;
    for (const ArchInfo& a : kArchitectures) {
        if (a.arch == Arch::Mixtral) continue;  // said with llama
        s += (s.empty() ? "" : ", ") + std::string(a.gguf);
        if (a.arch == Arch::Llama) s += " (and mixtral)";
    }
    return s;
}

std::string supported_hf_architectures() {
    std::string s;
    for (const ArchInfo& a : kArchitectures)
        for (const char* c : a.hf)
            if (c) s += (s.empty() ? "" : ", ") + std::string(c);
    return s;
}

}  // namespace gb
