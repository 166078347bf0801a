// "What if" sampling, for teaching: how other sampler settings would reshape a token's recorded
// distribution, and so what could have been drawn there. Display only; a reply never changes.
#pragma once

#include <span>
#include <vector>

#include "engine/sample/sampler.h"

namespace gb {

// The probability with which Sampler (stages 2-7 of its chain: greedy, top-k, top-p, min-p,
// temperature, softmax; no penalties) would draw each of the given candidates, from their
// log-probabilities under the model. The candidates stand in for the whole vocabulary: exact
// when they are all the tokens the filters keep (top-k at most their number, or a nucleus
// inside them), otherwise the tokens that were not recorded are left out. Order and length
// follow logprobs; -inf (or NaN) entries get 0. Settings are validated (gb::Error).
std::vector<double> what_if_distribution(std::span<const float> logprobs, const SamplerSettings& s);

}  // namespace gb
