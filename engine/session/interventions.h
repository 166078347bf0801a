// Requests that change or redo a stored reply: a branch from any of its tokens and an exact
// re-run (reproduce), built from its trace alone; and the comparison that says whether a re-run
// gave the same tokens. The CLI's `branch` and `reproduce` and the app use these.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/session/generator.h"
#include "engine/trace/resampling.h"
#include "engine/trace/trace.h"

namespace gb {

class Tokenizer;

// Continues `parent` after its first `at` generated tokens (0 <= at <= n_gen) with `token` at
// position `at`, then up to max_new more tokens. The prompt, sampling settings, seed, recorded
// alternatives, routing and prompt scoring are the parent's; the kept tokens' records are known
// (a generator whose cache still holds them runs only the last kept token and the new one), the
// random stream continues where the parent's did, and the parent's interventions before `at`
// come along, followed by the branch. gb::Error for a position or token out of range.
GenerateRequest branch_request(const Trace& parent, int at, int32_t token, int max_new,
                               const Tokenizer& tok);

// Resumes `parent`'s prompt with a chain of thought the user wrote or edited: the reply starts
// inside its reasoning with `thought` (after the model's open tag when its prompt did not open
// the reasoning itself), and the model thinks on from there, then answers, up to max_new more
// tokens. The thought's tokens are forced; the text is tokenized as plain text (a "<think>"
// typed into it is not a marker). The prompt's cache is reused where it is still held.
GenerateRequest edit_thought_request(const Trace& parent, const std::string& thought, int max_new,
                                     const Tokenizer& tok);

// Re-runs `t` from its recorded prompt tokens, settings and seed, with the same interventions
// (a branch's start, a thinking budget or stop, an edited thought), to the same length.
GenerateRequest reproduce_request(const Trace& t, const Tokenizer& tok);

// Rescoring: the reply's tokens (prompt and generated) run again as one prompt with every
// position scored, under the reply's steering, in whatever precision mode the model is in now
// (Model::set_precise): the same reply's probabilities from the other mode, to compare them.
// gb::Error for a trace without token ids (a server's) or with tokens outside the vocabulary.
GenerateRequest rescore_request(const Trace& t, const Tokenizer& tok);
// `original` with each token's probability, entropy, alternatives and routing from `scored`
// (the result of rescore_request): the same tokens, texts, phases, times and texts of the
// reply; precision that of the rescoring; and a "rescore" intervention whose spec is the
// precision the tokens were made in. gb::Error when scored is not a rescoring of original.
Trace rescored_trace(const Trace& original, const Trace& scored);
// The precision mode a reply's tokens were generated in: a rescored trace's "rescore" spec, else
// its precision ("" when not known). Reproducing, branching and resampling run in it.
std::string generated_precision(const Trace& t);

// One rollout of a resampling: `parent`'s first `at` generated tokens kept (from the cache when
// it holds them), then sampled afresh from position `at` with its own seed, up to max_new
// tokens. temperature < 0: the parent's, or 0.8 where the parent was greedy (greedy rollouts
// would all be the same). The trace records a "resample" intervention (value: the rollout's
// index, spec: its seed).
GenerateRequest resample_request(const Trace& parent, int at, int index, uint64_t seed, int max_new,
                                 float temperature, const Tokenizer& tok);

// About how long k rollouts from position `at` take, from the parent's own decode speed: each
// writes at most max_new tokens, typically as many as the parent wrote after `at`.
double resample_estimate_ms(const Trace& parent, int at, int k, int max_new);

// A resampling at one position of a reply: k rollouts (resample_request), their final answers
// and how they are distributed. The CLI's `resample` prints it, the app stores it with the
// reply (as resampling_json) and shows it.
struct ResampleOptions {
    int k = 8;                // rollouts
    int max_new = 512;        // tokens each may write after the position
    float temperature = -1;   // as resample_request's
    uint64_t first_seed = 0;  // rollout r samples with first_seed + r
    std::string expected;     // the right answer when known; else the reply's own counts
    // Rollouts decoded together (Generator::generate_batch: one matrix product per step for
    // all of them); 1: one after another. Each batch holds a KV cache per rollout.
    int batch = 8;
};
// Runs the rollouts on `gen`, opt.batch at a time (the prefix they share runs once, from the
// generator's cache where it still holds it). after_each(done, rollout) is called for every
// rollout, in order, as its batch ends; when it returns false, or *cancel is raised (the
// rollouts of a batch cut short are not counted), the result holds the rollouts done so far.
// gb::Error as resample_request's.
ResampleResult resample_at(
    Generator& gen, const Trace& parent, int at, const ResampleOptions& opt, const Tokenizer& tok,
    const std::function<bool(int done, const Trace& rollout)>& after_each = {},
    const std::atomic<bool>* cancel = nullptr);

// Where two replies' generated tokens first differ.
struct TokenDiff {
    bool identical = false;           // same ids, same count
    int first_difference = -1;        // generated position; -1 when identical
    int32_t expected = -1, got = -1;  // the ids there (-1: that reply had ended)
    double max_logprob_diff = 0;      // over the shared identical prefix
};
TokenDiff compare_generated(const Trace& expected, const Trace& got);

}  // namespace gb
