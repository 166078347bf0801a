// The deepseek2 architecture (DeepSeek-V2, V2-Lite, V3, R1): multi-head latent attention over a
// compressed KV cache, YaRN, leading dense layers, then MoE layers with shared experts.
#pragma once

#include <string>

#include "engine/model/model.h"

namespace gb {

// Reads the MLA sizes into c.mla (and c.head_dim = qk_nope + qk_rope) from either GGUF layout:
// attention.key_length_mla / value_length_mla per head with key_length / value_length the cached
// latent (current files, split attn_k_b / attn_v_b), or key_length / value_length per head (older
// files, attn_kv_b). a is "deepseek2.". Throws gb::Error naming the key.
void read_deepseek2_attention(const GgufFile& f, const std::string& a, ModelConfig& c);

std::unique_ptr<Model> make_deepseek2_model(std::unique_ptr<GgufFile> file, ModelConfig config,
                                            Placement placement, const RunSettings& settings);

}  // namespace gb
