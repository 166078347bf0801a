// Mixture-of-experts routing on the CPU: the reference every backend's moe_route is tested against.
#pragma once

#include <cstdint>
#include <string>

#include "kernels/backend.h"

namespace gb::cpu {

// Routes one token (a pure function). logits: p.n_expert raw router outputs; bias: p.n_expert
// score-correction values or null. Writes p.n_used ids (best selection score first, ties to the
// lower id) and their weights, and the full score vector to probs when it is not null.
//   scores  = softmax(logits) or sigmoid(logits)
//   choice  = scores + bias; with groups, experts outside the n_group_used best groups are
//             excluded (a group ranks by its best choice, or its best two summed)
//   ids     = top-k of choice; weights = scores[ids] (the bias never reaches the weights),
//             divided by their sum when norm_topk, then times p.scale.
// steer (n_expert values, or null): < 0 switches an expert off, > 0 forces it on, as
// Backend::moe_route says.
void route_token(const RouterParams& p, const float* logits, const float* bias, int32_t* ids,
                 float* weights, float* probs, const float* steer = nullptr);

}  // namespace gb::cpu
