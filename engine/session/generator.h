// Generator: prefill, decode loop, sampling, streaming callbacks and the trace of one reply.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/sample/sampler.h"
#include "engine/trace/trace.h"

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

    // Runs one reply from an empty cache. cancel (may be null) is polled between tokens.
    Trace generate(const GenerateRequest& req, const TokenCallback& on_token = {},
                   const std::atomic<bool>* cancel = nullptr);

private:
    Model& model_;
    const Tokenizer& tok_;
    std::unique_ptr<KvCache> cache_;
};

}  // namespace gb
