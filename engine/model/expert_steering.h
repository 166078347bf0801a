// Steering a mixture-of-experts model (SteerMoE semantics): experts switched off (their router
// score below every other's, so never selected) or forced on (above every other's) in chosen
// MoE layers or in all of them, for the prompt and the reply (Backend::moe_route does it).
#pragma once

#include <string>
#include <vector>

#include "engine/model/model_config.h"

namespace gb {

// Which experts are off and on, per MoE layer of a model.
struct ExpertSteering {
    // The specs as given: "LAYER:E,E;LAYER:E" with LAYER a layer index of the model or * for
    // every MoE layer (e.g. "3:5,7" or "*:12"); empty: none.
    std::string disable, force;
    // One entry per MoE layer in layer order (ModelConfig::is_moe_layer): n_expert values, -1
    // off, 1 on, 0 as the router decides. Empty when nothing is steered.
    std::vector<std::vector<float>> table;

    bool empty() const { return table.empty(); }
    // "disable 3:5,7; force *:12", as the trace records it ("" when empty).
    std::string describe() const;
};

// Parses and checks the specs against the model: layers that exist and are MoE layers, experts
// below n_expert, no expert both off and on, at most n_expert_used forced and at least
// n_expert_used left on in a layer. gb::Error names the part at fault.
ExpertSteering parse_expert_steering(const std::string& disable, const std::string& force,
                                     const ModelConfig& c);

// The specs back from a trace's "steer" intervention spec (describe()'s form).
ExpertSteering parse_steering_description(const std::string& described, const ModelConfig& c);

}  // namespace gb
