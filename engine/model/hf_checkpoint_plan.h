// Internal to hf_checkpoint*.cpp: the hyper-parameters read from config.json and the plan that
// says which safetensors tensors make which GGUF tensor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/json.h"
#include "engine/gguf/gguf_value.h"
#include "engine/model/architecture.h"
#include "engine/model/tensor_table.h"

namespace gb::hf {

struct Hparams {
    std::string hf_arch;      // "Qwen2ForCausalLM"
    std::string gguf_arch;    // "qwen2"
    Arch arch = Arch::Llama;  // the row of the architecture table (engine/model/architecture.h)
    bool deepseek_v3 = false;
    int64_t n_vocab = 0, n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, head_dim = 0;
    int64_t n_ff = 0, n_ctx = 0;
    bool tied = false;
    bool attn_bias = false;  // q/k/v biases (qwen2 always; llama when attention_bias)
    bool o_bias = false;     // llama attention_bias also puts one on o_proj
    bool mlp_bias = false;
    // MoE
    int64_t n_expert = 0, n_expert_used = 0, n_ff_exp = 0, n_shared = 0, n_dense_lead = 0;
    // DeepSeek MLA
    int64_t q_lora = 0, kv_lora = 0, qk_nope = 0, qk_rope = 0, v_head = 0;
    bool score_bias = false;  // e_score_correction_bias (V3's noaux_tc routing)
    // Llama 3 rope: per frequency-pair divisors, written as rope_freqs.weight.
    std::vector<float> rope_freqs;
};

// Reads config.json (already parsed) into hyper-parameters and GGUF metadata. `where` names the
// file in errors.
Hparams read_hparams(const json::Value& cfg, const std::string& where, std::vector<GgufKV>& kv);

// How one GGUF tensor is made from the checkpoint: a row of the tensor table.
using Planned = TensorSpec;

// Every tensor the architecture has, with shapes from the hyper-parameters.
std::vector<Planned> plan_tensors(const Hparams& h);

// HF tensors a checkpoint may hold that the GGUF model does not use (rotary caches, DeepSeek V3's
// multi-token-prediction layers, a tied lm_head).
bool ignorable(const Hparams& h, const std::string& hf_name);

// Adds the tokenizer.ggml.* keys (and tokenizer.chat_template) from dir/tokenizer.json, padding
// the vocabulary to n_vocab with unused tokens. Returns "" when added, else why not (no
// tokenizer.json; a pre-tokenizer GGUF has no name for). Throws gb::Error for a bad tokenizer.
std::string tokenizer_metadata(const std::string& dir, int64_t n_vocab, std::vector<GgufKV>& kv);

}  // namespace gb::hf
