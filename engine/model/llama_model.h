// The llama family: llama (incl. the R1 Llama distills), qwen2 (R1 Qwen distills), qwen3
// (per-head q/k RMSNorm), and the MoE members qwen3moe, olmoe (whole-projection q/k RMSNorm)
// and mixtral. One forward pass, switches from the config.
#pragma once

#include "engine/model/model.h"

namespace gb {

std::unique_ptr<Model> make_llama_model(std::unique_ptr<GgufFile> file, ModelConfig config,
                                        Placement placement, const RunSettings& settings);

}  // namespace gb
