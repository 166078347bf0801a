// Weight binding: looks each tensor a forward pass needs up in the model file, checks its
// presence, type and shape against the hyper-parameters (errors name the file, the tensor and
// what was expected), and makes it usable on the backend of the layer it belongs to.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "engine/gguf/gguf_file.h"
#include "engine/model/model_config.h"
#include "engine/model/moe_block.h"
#include "engine/model/placement.h"
#include "engine/model/tensor_table.h"
#include "kernels/backend.h"

namespace gb {

// Weights every decoder shares (bound by head() / ffn(), used by the layer runner).
struct DecoderHead {
    Weight tok_embd, output_norm, output;  // output is tok_embd when the config ties them
};
struct DecoderFfn {
    Weight norm, gate, up, down;  // norm: ffn_norm; gate/up/down only on dense layers
    bool moe = false;
    MoeLayerWeights experts;
};

class WeightBinder {
public:
    // The expected shapes come from the architecture's tensor table (tensor_table.h).
    WeightBinder(const GgufFile& file, const ModelConfig& c, Backend& initial);

    // Where weights go from now on (the backend of the layer being bound), and that backend.
    void on(Backend& be) const { to_ = &be; }
    Backend& backend() const { return *to_; }

    // A tensor of the architecture's table, with the table's shape: a matrix, a vector, or a
    // stack of expert matrices. A tensor the table does not list for this model, or a missing
    // optional one, gives an empty Weight unless required.
    Weight bind(const std::string& name, bool required = true) const;
    // A tensor the table does not describe (a file's alternative layout, a rope factor table):
    // a matrix [rows x cols] (rows 1: a vector of cols), of a type the engine computes with.
    Weight bind(const std::string& name, int64_t rows, int64_t cols, bool required = true) const;
    // A stack of n_mat matrices [rows x cols] (GGUF ne = {cols, rows, n_mat}), e.g. experts.
    Weight stack(const std::string& name, int64_t n_mat, int64_t rows, int64_t cols) const;
    // Layer l's MoE weights: router, experts, score-correction bias, shared experts.
    MoeLayerWeights moe(int64_t l) const;
    // The token embedding (where layer 0 runs) and the output head (on the main backend; a tied
    // output matrix is then bound on both).
    DecoderHead head(const Placement& placement) const;
    // Layer l's feed-forward block: a SwiGLU MLP, or the MoE weights.
    DecoderFfn ffn(int64_t l) const;

private:
    const GgufFile& file_;
    const ModelConfig& c_;
    mutable Backend* to_;
    std::unordered_map<std::string, TensorSpec> table_;
};

}  // namespace gb
