// The tensors of an architecture: for one model's dimensions, every tensor by its GGUF name, the
// Hugging Face tensor(s) it is made from and its shape. The HF checkpoint mapping builds its GGUF
// view from it (hf_checkpoint.cpp) and the weight binder takes each tensor's expected shape from
// it (weight_binder.h), so a shape is written once, here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/architecture.h"

namespace gb {

class GgufFile;
struct ModelConfig;

// The dimensions both a GGUF file and a config.json give.
struct TensorDims {
    Arch arch = Arch::Llama;
    int64_t n_vocab = 0, n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, head_dim = 0;
    int64_t n_ff = 0;
    bool tied = false;       // no output matrix: the embedding is the output
    bool attn_bias = false;  // q/k/v biases
    bool o_bias = false;     // an output-projection bias
    // MoE
    int64_t n_expert = 0, n_ff_exp = 0, n_shared = 0, n_dense_lead = 0;
    bool score_bias = false;  // a score-correction bias per expert (DeepSeek V3)
    // DeepSeek MLA
    int64_t q_lora = 0, kv_lora = 0, qk_nope = 0, qk_rope = 0, v_head = 0;
    // GGUF files from newer converters split attn_kv_b into per-head attn_k_b (W_kb^T) and
    // attn_v_b; HF checkpoints and older files have attn_kv_b.
    bool split_kv_b = false;
};

// One tensor: its GGUF name, the HF tensor it comes from (one per expert, stacked in this
// order, for the experts' matrices), the shape of each HF tensor outermost first ({rows, cols}
// of a matrix, {n} of a vector), whether a model must have it, and (> 0) the heads whose rows
// the HF checkpoint keeps in NEOX halves while GGUF keeps rotated pairs adjacent.
struct TensorSpec {
    std::string gguf;
    std::vector<std::string> hf;
    std::vector<int64_t> shape;
    bool required = true;
    int64_t rope_heads = 0;
    int64_t n_mat = 0;  // > 0: a stack of that many matrices, one per expert (GGUF ne = {cols,
                        // rows, n_mat}); 0: a single matrix or vector
};

std::vector<TensorSpec> tensor_table(const TensorDims& d);

// The dimensions of a GGUF model (the optional biases and the score-correction bias as the file
// has them).
TensorDims tensor_dims(const ModelConfig& c, const GgufFile& f);

}  // namespace gb
