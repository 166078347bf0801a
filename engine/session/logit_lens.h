// Logit lens: what the model "believed" after each layer. The residual stream after layer l,
// put through the final norm and the output head, read as a distribution over the next token
// (nostalgebraist 2020). Computed on demand over a token sequence from an empty cache; the last
// layer's distribution is the model's own.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace gb {

class Model;
class Tokenizer;

struct LensPrediction {
    int32_t id = 0;
    std::string text;
    float logprob = 0;
};

struct LensLayer {
    int layer = 0;                    // after this layer (0-based)
    std::vector<LensPrediction> top;  // most likely first, ties to the lower id
    float target_logprob = 0;         // of the lens target
    int target_rank = 0;              // 0: the most likely
    float entropy = 0;                // nats
};

// At one position: its layers' predictions of the next token.
struct LogitLens {
    int position = 0;     // the token whose next token is predicted
    int32_t target = -1;  // tokens[position + 1] when there is one, else the last layer's top
    std::string target_text;
    std::vector<LensLayer> layers;
};

// The lens at `position` (0 <= position < tokens.size()), top_k predictions per layer.
// gb::Error for a position out of range or a sequence longer than the model's context.
LogitLens logit_lens(Model& model, const Tokenizer& tok, std::span<const int32_t> tokens,
                     int position, int top_k);

// For positions first .. first+count-1: per layer, the probability each gave the token that
// followed it (tokens[p + 1]; the last position of the sequence has none and is left out):
// prob[layer][i] for position first + i.
struct LensSpan {
    int first = 0;
    std::vector<int32_t> targets;
    std::vector<std::vector<float>> prob;
};
LensSpan logit_lens_span(Model& model, std::span<const int32_t> tokens, int first, int count);

}  // namespace gb
