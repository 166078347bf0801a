// The trace of one reply, as the inspector shows it: every token with its probability, entropy
// and alternatives, plus the settings and timings. JSON export/import (format: TRACE_FORMAT.md).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/sample/sampler.h"

namespace gb {

// Prompt tokens, reasoning ("thinking") tokens, answer tokens. Generated tokens are split by
// ReasoningParser (reasoning_parser.h); the <think> markers themselves are Think.
enum class Phase : uint8_t { Prompt, Think, Answer };

const char* phase_name(Phase p);               // "prompt", "think", "answer"
Phase phase_from_name(std::string_view name);  // gb::Error for anything else

// Why a reply ended: the model's end-of-generation token, its token budget, a full context, the
// token callback's stop, a cancel (the user's stop, or a lost reply), or an error that cut it
// short (a remote server's connection dropped, an error inside its stream). None: not ended yet.
// Traces, exports and the history store keep the name.
enum class StopReason : uint8_t { None, Eog, MaxTokens, ContextFull, Stopped, Cancelled, Error };

// "", "eog", "max tokens", "context full", "stopped", "cancelled", "error".
const char* stop_reason_name(StopReason r);
// The reason a name stands for; gb::Error naming the expected names for anything else.
StopReason stop_reason_from_name(std::string_view name);
// A reply that ended as the model or its budget meant it to: end of generation, max tokens, or
// a stop asked for by the token callback (not a cancel, nor a context that ran out).
bool stop_is_complete(StopReason r);

struct Alternative {
    int32_t id = 0;
    std::string text;  // raw token bytes (may be part of a UTF-8 character)
    float logprob = 0;
};

// Where the MoE layers sent one token: one row of k experts per MoE layer, flattened (one
// allocation per token, not per layer: a long reply of a large MoE model has millions of rows).
struct TokenRouting {
    std::vector<uint16_t> layers;  // the MoE layers' indices, ascending; dense layers are absent
    int k = 0;                     // experts per layer (the model's n_expert_used)
    std::vector<uint16_t>
        experts;                 // [layers x k] the selected (routed) experts, highest score first
    std::vector<float> weights;  // [layers x k] what multiplies each selected expert's output:
                                 // after top-k normalisation and the routed scaling factor;
                                 // empty when not known (a server's routed experts)
    std::vector<float> probs;    // [layers x n_expert] the router's full probability (or
                                 // sigmoid score) vectors, only when asked for; else empty

    bool empty() const { return layers.empty(); }
    size_t n_layers() const { return layers.size(); }
    std::span<const uint16_t> experts_of(size_t row) const {
        return {experts.data() + row * k, static_cast<size_t>(k)};
    }
    std::span<const float> weights_of(size_t row) const {
        return {weights.data() + row * k, static_cast<size_t>(k)};
    }
};

// Log-probabilities and entropy are those of the model's own distribution (softmax of the raw
// logits), before any sampling transform: penalties, temperature, top-k/p, min-p do not change
// them. NaN means "not scored" (e.g. the first prompt token, which nothing predicts).
struct TokenRecord {
    int32_t id = 0;
    std::string text;  // raw token bytes (may be part of a UTF-8 character)
    Phase phase = Phase::Answer;
    float logprob = std::numeric_limits<float>::quiet_NaN();  // natural log
    float entropy = std::numeric_limits<float>::quiet_NaN();  // nats
    std::vector<Alternative> top;  // the most likely tokens, most likely first
    double t_ms = 0;               // when it was produced, since generation start
    TokenRouting routing;          // empty for dense models
    // Put there by the user or a control rather than drawn by the sampler: the token a branch
    // substituted, an edited thought's tokens, the end-of-thinking marker a thinking budget or
    // "stop thinking" inserted. Its logprob and entropy are still the model's.
    bool forced = false;
};

// Something done to a reply that plain generation would not have done; the trace keeps each so
// that the inspector, the history, a comparison and `glassbox-cli reproduce` can tell (and
// redo) it. `at` is a position among the generated tokens (0 = the first), -1 for the whole
// reply.
struct Intervention {
    // "branch": the reply continues an earlier one's first `at` generated tokens with `token`
    //   in place of `replaced` at position `at`.
    // "edit-thought": the reply starts with an edited chain of thought of `at` tokens.
    // "think-budget": the reasoning was closed at `at` after `value` reasoning tokens.
    // "stop-thinking": the user closed the reasoning at `at`.
    // "steer": experts were switched off or forced on, as `spec` says.
    // "rescore": the probabilities, alternatives and routing are a rescoring of the same tokens
    //   in the trace's precision mode; `spec` is the mode the tokens were generated in.
    std::string kind;
    int at = -1;
    int32_t token = -1;
    int32_t replaced = -1;
    int value = 0;
    std::string spec;
    bool operator==(const Intervention&) const = default;
};

// Figures an inference server reports for a remote reply (OpenAI `usage`, llama-server
// `timings`, Ollama's counts); -1 where not given.
struct ServerUsage {
    int64_t prompt_tokens = -1;
    int64_t completion_tokens = -1;
    int64_t reasoning_tokens = -1;
    int64_t cached_prompt_tokens = -1;
    double prompt_ms = -1;    // time the server spent on the prompt
    double generate_ms = -1;  // and on the reply
    bool any() const {
        return prompt_tokens >= 0 || completion_tokens >= 0 || reasoning_tokens >= 0 ||
               cached_prompt_tokens >= 0 || prompt_ms >= 0 || generate_ms >= 0;
    }
    bool operator==(const ServerUsage&) const = default;
};

struct Trace {
    std::string model;
    std::string backend;
    // Where it ran, when known: for a remote reply the server (its kind and address, never a
    // key); empty for a local one.
    std::string device;
    // How a local engine computed it: "fast" (activations rounded to 8 bits in the quantised
    // dot products, F16 or other KV cache as chosen) or "precise" (Backend::set_precise:
    // unrounded activations, F32 KV cache, probabilities within about 1e-5 of the exact ones);
    // empty when not known (a remote reply, a trace from before the field existed).
    std::string precision;
    SamplerSettings sampling;  // includes the seed
    std::string prompt_text;
    std::vector<TokenRecord> tokens;  // prompt tokens, then generated ones
    double prefill_ms = 0;
    double decode_ms = 0;
    int n_prompt = 0;
    int n_gen = 0;
    StopReason stop_reason = StopReason::None;
    // The reply split by ReasoningParser: markers excluded, both texts trimmed at the ends.
    std::string reasoning_text;
    std::string answer_text;
    bool reasoning_complete = true;  // false: the reply ended inside the reasoning
    // Mixture-of-experts models: experts per MoE layer and how many each token is routed to;
    // 0 for dense models. The per-token choices are in TokenRecord::routing.
    int n_expert = 0;
    int n_expert_used = 0;
    // Prompt (and reply-start) tokens found in the KV cache from an earlier reply and not run
    // again (a branch reuses its parent's prefix); prefill_ms covers only the rest.
    int n_cached = 0;
    std::vector<Intervention> interventions;  // in the order they acted
    // A remote reply: what the server reported (its prompt is not among the tokens).
    ServerUsage server_usage;
};

// What the inspector needs about one token from one row of logits.
struct TokenProb {
    int32_t id;
    float logprob;
};
struct TokenStats {
    float logprob = 0;           // log p(chosen)
    float entropy = 0;           // -sum p log p, nats
    std::vector<TokenProb> top;  // top_n most likely, descending, ties to the lower id
};

// Log-softmax with the maximum subtracted, so huge or tiny logits neither overflow nor lose the
// chosen token's probability (kernels/logit_summary.h). -inf logits have probability 0. NaN
// logits give NaN.
TokenStats token_stats(std::span<const float> logits, int32_t chosen, int top_n);
// The same from a backend's logit summary of the row (Backend::logit_summary: {max, log Z,
// entropy}, the top_n ids and logits) and the chosen token's logit.
TokenStats token_stats_from_summary(const float* stats, const int32_t* ids, const float* logits,
                                    int top_n, float chosen_logit);

// One token as the JSON object a trace file holds in its "tokens" array, on one line without
// a newline: what `glassbox-cli run --stream-jsonl` prints per token as it is produced.
std::string token_json_line(const TokenRecord& rec);

// JSON export, versioned: {"format":"glassbox-trace","version":1,...}. One token per line.
void write_json(const Trace& trace, std::ostream& out);
// Reads what write_json writes (and any later version-1 file with extra fields, which are
// ignored). Files written before reasoning_text/answer_text/reasoning_complete existed read
// with those empty / true. gb::Error names the field that is missing or wrong, e.g.
// "tokens[3].logprob".
Trace read_json(std::string_view text);

constexpr int kTraceFormatVersion = 1;

}  // namespace gb
