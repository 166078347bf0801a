// Hyper-parameters of a model, read from GGUF metadata, and the run-time settings that size it.
#pragma once

#include <cstdint>
#include <string>

#include "kernels/backend.h"

namespace gb {

class GgufFile;

enum class Arch { Llama, Qwen2, Qwen3 };

const char* arch_name(Arch a);

enum class RopeScaling { None, Linear, Yarn, Llama3 };

struct ModelConfig {
    Arch arch = Arch::Llama;
    std::string arch_str;   // general.architecture as written in the file
    std::string name;       // general.name, when present
    int64_t n_vocab = 0;
    int64_t n_embd = 0;
    int64_t n_layer = 0;
    int64_t n_head = 0;
    int64_t n_head_kv = 0;
    int64_t head_dim = 0;   // key_length (== value_length for the models we run)
    int64_t n_ff = 0;
    int64_t n_ctx_train = 0;
    float rms_eps = 1e-5f;
    bool qkv_bias = false;  // qwen2
    bool qk_norm = false;   // qwen3: RMSNorm of each q and k head before RoPE
    bool tied_output = false;

    RopeScaling rope_scaling = RopeScaling::None;
    float rope_factor = 1.0f;
    RopeParams rope;        // everything but freq_factors, which points into the weights

    // Parses and checks the metadata; throws gb::Error naming the key.
    static ModelConfig from_gguf(const GgufFile& f);
};

// Run-time settings; validate() throws gb::Error naming the setting and its allowed range.
struct RunSettings {
    int64_t n_ctx = 4096;   // 0: the model's training context
    int n_threads = 0;      // 0: all hardware threads
    int64_t n_batch = 512;  // prompt tokens per forward pass
    void validate(const ModelConfig& c);
};

}  // namespace gb
