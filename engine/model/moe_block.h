// The mixture-of-experts FFN block shared by every MoE architecture, and the per-token routing
// record a forward pass leaves behind for the trace.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/model/model_config.h"
#include "engine/trace/trace.h"
#include "kernels/backend.h"

namespace gb {

// One MoE layer's weights (GGUF names blk.N.ffn_gate_inp / exp_probs_b / ffn_*_exps /
// ffn_*_shexp). The experts are stacks of n_expert matrices.
struct MoeLayerWeights {
    Weight gate_inp;                       // router [n_expert x n_embd]
    Weight probs_bias;                     // score-correction bias [n_expert], or empty
    Weight gate_exps, up_exps, down_exps;  // [n_expert x (n_ff_exp x n_embd | n_embd x n_ff_exp)]
    Weight gate_shexp, up_shexp, down_shexp;  // shared experts as one MLP, or empty
};

// Where the tokens of one forward() went: for each MoE layer (in layer order) and each token,
// the selected experts and their final weights, and optionally the full router scores.
struct ForwardRouting {
    int64_t n_tokens = 0;  // 0: nothing recorded (capture off, or no forward yet)
    int n_used = 0;
    int n_expert = 0;
    std::vector<int32_t> layers;   // the model's layer index of each MoE layer
    std::vector<int32_t> experts;  // [moe layer][token][n_used], best first
    std::vector<float> weights;    // same layout: what multiplies each expert's output
    std::vector<float> probs;      // [moe layer][token][n_expert] when full scores were asked for

    // Token t's routing over all MoE layers, as the trace stores it (empty when nothing was
    // recorded).
    TokenRouting token(int64_t t) const;
};

// Runs MoE blocks for up to n_batch tokens; owns the scratch activations they need.
class MoeBlock {
public:
    MoeBlock(Backend& be, const ModelConfig& c, int64_t n_batch);
    ~MoeBlock();
    MoeBlock(const MoeBlock&) = delete;
    MoeBlock& operator=(const MoeBlock&) = delete;

    // out = sum_k weight_k * expert_k(h) (+ the shared experts' MLP(h)) for every row of h.
    // The routing of h's n rows goes to ids / weights ([n x n_used], host) and, when probs is
    // not empty, the router's full score vectors ([n x n_expert]).
    // steer: Backend::moe_route's expert steering for this layer, or empty.
    void run(const MoeLayerWeights& w, Act h, Act out, std::span<int32_t> ids,
             std::span<float> weights, std::span<float> probs, const Weight& steer = Weight{});

private:
    Backend& be_;
    const ModelConfig& c_;
    Act logits_, gate_, up_, down_, sh_gate_, sh_up_, sh_out_;
};

}  // namespace gb
