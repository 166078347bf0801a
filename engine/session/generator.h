// Generator: prefill, decode loop, sampling, streaming callbacks and the trace of one reply.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/sample/sampler.h"
#include "engine/trace/trace.h"
#include "kernels/tensor_type.h"

namespace gb {

class Model;
class Tokenizer;
class KvCache;

struct GenerateRequest {
    std::vector<int32_t> prompt;  // token ids, BOS included when the model wants one
    std::string prompt_text;      // for the trace
    int max_tokens = 256;
    SamplerSettings sampling;
    int top_n = 5;                 // alternatives recorded per token
    bool prompt_logprobs = false;  // also score every prompt token (costs vocab x dim per token)
    bool stop_at_eog = true;
    // The rendered prompt already opened a reasoning block (DeepSeek-R1's template ends with
    // "<think>\n"), so the reply starts inside it. The chat template layer sets this, with
    // prompt_opens_reasoning() from engine/trace/reasoning_parser.h.
    bool starts_in_reasoning = false;
    // MoE models: record each token's routing (experts and weights per MoE layer) in its
    // TokenRecord, and the router's full score vectors too when routing_probs. A generated
    // token is routed when it is fed back to the model, i.e. after its callback; so that the
    // last one has its routing too, the generator runs it through the model once more.
    bool record_routing = true;
    bool routing_probs = false;

    // ---- Interventions (what the trace's `interventions` record) ----
    // The reply begins with these tokens, put in rather than sampled: a branch keeps an earlier
    // reply's first generated tokens and puts another token after them; an edited thought is the
    // edit's tokens. They go through the model after the prompt and reach the callback first,
    // each with a complete record (probabilities from the model's distribution at its place),
    // before the first sampled token. Each takes the sampler's draw for its place, as if it had
    // been sampled, unless its known record says it was forced (so a branch that puts back the
    // original token continues exactly as the original did, seeded sampling included).
    std::vector<int32_t> reply_start;
    // Records already made for the first tokens of prompt + reply_start (a branch passes its
    // parent trace's). Positions the cache still holds from the generator's previous reply
    // (reuse_cache) are not run again: their records are copied from here. Tokens of
    // reply_start past these records are marked forced.
    std::vector<TokenRecord> known;
    bool reuse_cache = false;
    // Thinking controls: once the reply has this many reasoning tokens (>= 0), or from generated
    // position close_thinking_at (>= 0; a recorded "stop thinking", replayed), or when
    // *stop_thinking is raised, the generator closes an open reasoning block with the model's
    // end-of-thinking marker ("\n</think>\n\n" in its own tokens, forced) and the answer follows.
    int think_budget = -1;
    int close_thinking_at = -1;
    const std::atomic<bool>* stop_thinking = nullptr;
    // Expert steering for the prompt and the reply, as ExpertSteering::describe() writes it
    // ("disable 3:5,7; force *:12"; engine/model/expert_steering.h); empty: none. Recorded as a
    // "steer" intervention.
    std::string steering;
    // Manual sampling (step mode): called for every sampled token before it is used, with its
    // generated position, the model's top alternatives there (most likely first) and the
    // sampler's pick; returns the token to use instead (the pick to keep it). A token other than
    // the pick is recorded forced, its probability the model's. Thrown errors end the reply.
    std::function<int32_t(int position, const std::vector<Alternative>& top, int32_t sampled)>
        choose;
    // Copied to the front of the trace's interventions (the caller describes a branch or an
    // edit; the generator adds the thinking controls that acted).
    std::vector<Intervention> interventions;
};

// Called for each generated token with its complete record (its phase, Think or Answer, is
// final; the token has been through the model, so an MoE model's routing is in it) and the text
// it completes (UTF-8 held back until a character is whole), and once at the end with
// rec == nullptr for any bytes still held back. Nothing about a token changes after its call.
// Return false to stop.
using TokenCallback = std::function<bool(const TokenRecord* rec, const std::string& text)>;

class Generator {
public:
    Generator(Model& model, const Tokenizer& tokenizer);
    ~Generator();

    // Runs one reply: from an empty cache, or with req.reuse_cache from what the cache still
    // holds of the previous reply's tokens (the longest common prefix of prompt + reply_start
    // with them, as far as req.known has records). cancel (may be null) is polled between
    // tokens and inside each forward pass.
    Trace generate(const GenerateRequest& req, const TokenCallback& on_token = {},
                   const std::atomic<bool>* cancel = nullptr);

    // Several replies decoded together, one row each per step (Model::forward_rows): they share
    // the prompt, the reply's start, steering and what is recorded, and may differ in sampling
    // and length (rollouts of a resampling). The shared part runs once, on the generator's cache
    // as generate() runs it (reused where it holds it); the others copy it into caches of their
    // own, as long as they need. The traces are what generate() gives for each request on its
    // own, up to the rounding of a batched matrix product. No streaming or step mode.
    std::vector<Trace> generate_batch(const std::vector<GenerateRequest>& reqs,
                                      const std::atomic<bool>* cancel = nullptr);

    // The token ids whose keys and values the cache holds, position by position.
    const std::vector<int32_t>& cached() const { return cached_; }
    // The type the generator's KV cache holds (the model's mode when the last reply began).
    TensorType cache_type() const;
    // The model's end-of-thinking marker as the thinking controls insert it.
    std::vector<int32_t> close_thinking_tokens() const;

private:
    struct Prefill;
    class Decoding;
    // The trace's sampling settings and the interventions the request brings (and its steering).
    void describe(const GenerateRequest& req, Trace& t) const;
    Prefill prefill(const GenerateRequest& req, const std::atomic<bool>* cancel,
                    std::chrono::steady_clock::time_point t0);

    Model& model_;
    const Tokenizer& tok_;
    std::unique_ptr<KvCache> cache_;
    std::vector<int32_t> cached_;
    bool cached_precise_ = false;  // the precision mode they were made in
    std::string cached_steering_;  // the steering the cached keys and values were made under
};

}  // namespace gb
