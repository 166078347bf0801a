// The anatomy of a model from its hyper-parameters: what its parameters are (embedding,
// attention, dense MLPs, routers, shared and routed experts, output), how many of them one token
// uses, and what the KV cache holds per token against the full per-head cache that multi-head
// latent attention replaces. The model anatomy view and its teaching comparison with
// DeepSeek-V3/R1 are drawn from it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/model_config.h"

namespace gb {

struct AnatomyPart {
    std::string what;    // "embedding", "attention", "dense MLP", "router", ...
    int64_t params = 0;  // in the whole model
    int64_t active = 0;  // that one token computes with (routed experts: k of E)
};

struct ModelAnatomy {
    std::string name;
    std::string arch;
    int64_t n_layer = 0;
    int64_t n_dense_layers = 0;  // layers with a dense MLP (all of them for a dense model)
    int64_t n_moe_layers = 0;
    std::string attention;  // "MLA", "MHA", "GQA" or "MQA"
    std::vector<AnatomyPart> parts;
    int64_t total = 0;
    int64_t active = 0;
    // Values the KV cache keeps per token over all layers, and what a plain per-head K and V
    // cache of the same attention would keep (equal unless MLA).
    int64_t kv_values_per_token = 0;
    int64_t full_kv_values_per_token = 0;
};

// From the configuration alone. Norm weights are counted with the part they belong to; the
// embedding and the output projection count as active (every token reads its row of one and
// all of the other).
ModelAnatomy model_anatomy(const ModelConfig& c);

// DeepSeek-V3's published shapes (also DeepSeek-R1's, which shares its architecture; the
// multi-token-prediction module is not part of the model that answers): 61 layers of MLA, the
// first 3 dense, then 256 routed experts (top-8) and 1 shared per layer.
ModelConfig deepseek_v3_config();

}  // namespace gb
