// The sampler chain: turns one row of logits into the next token id, reproducibly from a seed.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "engine/sample/rng.h"

namespace gb {

// What each field does and its allowed range is enforced by validate(). Defaults follow what
// local-model users expect from llama.cpp-style front ends.
struct SamplerSettings {
    float temperature = 0.8f;        // >= 0; 0 = greedy (argmax)
    int top_k = 40;                  // >= 0; 0 = off (all tokens)
    float top_p = 0.95f;             // 0..1; 1 = off
    float min_p = 0.05f;             // 0..1; 0 = off
    float repeat_penalty = 1.0f;     // > 0; 1 = off
    int repeat_last_n = 64;          // window of accepted tokens the penalties look at; 0 = none,
                                     // -1 = every token accepted since construction / reset()
    float frequency_penalty = 0.0f;  // -2..2 (OpenAI's range); 0 = off
    float presence_penalty = 0.0f;   // -2..2; 0 = off
    uint64_t seed = 0;               // any value; the same seed gives the same tokens
    bool greedy() const { return temperature <= 0; }
};

// Throws gb::Error naming the first bad field and its allowed range.
void validate(const SamplerSettings& s);

// Applies, in this order (each stage sees the output of the one before):
//   1. penalties over the last repeat_last_n accepted tokens, counted with multiplicity c:
//      repetition (CTRL, Keskar et al. 2019): logit / repeat_penalty when positive,
//      logit * repeat_penalty when negative, for every token with c > 0;
//      frequency/presence (OpenAI): logit -= c * frequency_penalty + (c > 0) * presence_penalty.
//   2. greedy when temperature <= 0: the argmax, ties to the lowest id; stages 3-7 are skipped.
//   3. top-k: keep the k highest logits (ties broken towards the lower id).
//   4. top-p (nucleus): softmax over the top-k survivors; keep the smallest prefix, in
//      descending probability, whose cumulative probability is >= top_p (at least one token).
//   5. min-p: drop tokens whose probability is < min_p * p_max (a ratio, so it does not matter
//      whether the probabilities are renormalised first).
//   6. temperature: divide the surviving logits by T. The filters above therefore act on the
//      untempered distribution, and temperature only reshapes what survives.
//   7. softmax over the survivors and one draw from our own xoshiro256** generator.
// Every stage keeps a prefix of one total order (logit descending, id ascending), and the draw
// walks survivors in id order, so the result does not depend on how the standard library's
// partial sorts leave ties; with the portable generator, a seed gives the same tokens on every
// platform (up to last-bit differences between C libraries' exp(), which can only move a draw
// that lands within ~1e-15 of a boundary).
// -inf logits (masked tokens) are never chosen; NaN or +inf logits are an error.
class Sampler {
public:
    Sampler(SamplerSettings settings, int n_vocab);

    // logits.size() must be n_vocab. Does not record the token: call accept() with the id that
    // is actually used (the caller may override the choice).
    int32_t sample(std::span<const float> logits);
    // Adds a token to the penalty history (prompt tokens too, if they should count).
    void accept(int32_t token);
    // Advances the generator past the one draw sample() makes (none when greedy), for a token
    // that is put in rather than sampled but should leave the random stream where sampling it
    // would have: a branch that keeps an earlier reply's first tokens then draws as it did.
    void skip_draw();
    // Forgets the history and restarts the generator from the seed.
    void reset();

    const SamplerSettings& settings() const { return s_; }
    int n_vocab() const { return n_vocab_; }

private:
    struct Cand {
        float logit;
        int32_t id;
    };
    void apply_penalties();
    bool penalties_active() const;

    SamplerSettings s_;
    int n_vocab_;
    Xoshiro256 rng_;
    std::deque<int32_t> window_;  // last repeat_last_n accepted tokens, oldest first
    std::vector<int32_t> count_;  // occurrences of each id in window_
    std::vector<float> work_;     // penalised logits
    std::vector<Cand> cand_;
    std::vector<double> weights_;  // survivors' unnormalised probabilities, in id order
};

}  // namespace gb
