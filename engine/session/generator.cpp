// The decode loop: prefill the prompt in batches, then sample one token at a time, recording
// each token's probability, entropy and alternatives from the model's own distribution.
#include "engine/session/generator.h"

#include <algorithm>
#include <chrono>

#include "engine/model/model.h"
#include "engine/session/kv_cache.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/trace/reasoning_parser.h"
#include "kernels/error.h"
#include "kernels/logit_summary.h"

namespace gb {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// What a generated token adds to the reply's text: nothing for end-of-generation and control
// tokens (<|im_end|> is not part of the reply), except the think markers, which some vocabularies
// mark as control tokens.
std::string_view reply_bytes(const Tokenizer& tok, const ReasoningParser& parser, int32_t id,
                             bool eog, const std::string& text) {
    if (eog) return {};
    if (tok.is_control(id) && text != parser.open_tag() && text != parser.close_tag()) return {};
    return text;
}

// One row of a forward's LogitSummary, kept past the next forward.
class RowSummary {
public:
    RowSummary() = default;
    RowSummary(const LogitSummary& s, int64_t r) {
        if (r < 0 || r >= s.rows)
            throw Error("generator: no logit summary for row " + std::to_string(r));
        top_n_ = s.top_n;
        std::copy_n(s.stats.begin() + r * kLogitStats, kLogitStats, stats_);
        ids_.assign(s.ids.begin() + r * top_n_, s.ids.begin() + (r + 1) * top_n_);
        logits_.assign(s.logits.begin() + r * top_n_, s.logits.begin() + (r + 1) * top_n_);
    }
    TokenStats stats(float chosen_logit) const {
        return token_stats_from_summary(stats_, ids_.data(), logits_.data(), top_n_, chosen_logit);
    }

private:
    int top_n_ = 0;
    float stats_[kLogitStats] = {};
    std::vector<int32_t> ids_;
    std::vector<float> logits_;
};

}  // namespace

namespace {

// Token ids index the embedding rows and the logits: a tokenizer with more tokens than rows
// reads past the table, one with fewer leaves ids that decode to nothing. GGUF files keep the two
// equal (converters pad the vocabulary to the rows, as llama.cpp requires).
Model& checked(Model& model, const Tokenizer& tok) {
    const int64_t rows = model.config().n_vocab;
    if (static_cast<int64_t>(tok.size()) != rows)
        throw Error("the tokenizer has " + std::to_string(tok.size()) +
                    " tokens but the model's embedding (token_embd.weight) has " +
                    std::to_string(rows) +
                    " rows: the vocabulary does not belong to these weights");
    return model;
}

}  // namespace

Generator::Generator(Model& model, const Tokenizer& tokenizer)
    : model_(checked(model, tokenizer)), tok_(tokenizer), cache_(model.new_cache()) {}

Generator::~Generator() = default;

Trace Generator::generate(const GenerateRequest& req, const TokenCallback& on_token,
                          const std::atomic<bool>* cancel) {
    const ModelConfig& c = model_.config();
    const int64_t n_vocab = c.n_vocab;
    validate(req.sampling);
    if (req.prompt.empty()) throw Error("generate: the prompt is empty");
    if (req.max_tokens < 0) throw Error("generate: max tokens must be >= 0");
    if (req.top_n < 0 || req.top_n > 100)
        throw Error("generate: alternatives recorded per token must be 0..100, got " +
                    std::to_string(req.top_n));
    if (static_cast<int64_t>(req.prompt.size()) >= cache_->n_ctx())
        throw Error("the prompt has " + std::to_string(req.prompt.size()) +
                    " tokens, which does not fit the context length " +
                    std::to_string(cache_->n_ctx()) + " (raise it with --ctx)");
    for (int32_t id : req.prompt)
        if (id < 0 || id >= n_vocab)
            throw Error("prompt token id " + std::to_string(id) + " is outside the vocabulary (" +
                        std::to_string(n_vocab) + ")");

    Trace trace;
    trace.model = c.name.empty() ? model_.file().path() : c.name;
    trace.backend = model_.backend().name();
    trace.sampling = req.sampling;
    trace.prompt_text = req.prompt_text;
    trace.n_prompt = static_cast<int>(req.prompt.size());
    const bool routing = c.is_moe() && req.record_routing;
    if (c.is_moe()) {
        trace.n_expert = static_cast<int>(c.n_expert);
        trace.n_expert_used = static_cast<int>(c.n_expert_used);
    }
    model_.set_routing_capture(routing, req.routing_probs);
    cache_->set_n_past(0);
    // The flag also reaches into each step: the backend stops its ops early and the model throws
    // ForwardCancelled after the layer, so a stop lands within milliseconds, not one whole step
    // (a long prompt chunk on the CPU takes seconds).
    struct CancelScope {
        Model& m;
        ~CancelScope() {
            m.set_cancel(nullptr);
            m.set_logit_summary(-1);
        }
    } cancel_scope{model_};
    model_.set_cancel(cancel);
    // Each token's probability, entropy and alternatives come from the backend's summary of the
    // logits row (on a GPU computed there), not from a pass over the vocabulary here.
    model_.set_logit_summary(req.top_n);
    bool cancelled = false;

    const auto t0 = Clock::now();
    std::vector<float> logits;
    const int64_t n_batch = model_.settings().n_batch;
    const int64_t n_prompt = static_cast<int64_t>(req.prompt.size());
    // Prompt tokens: the first has no distribution; token i is scored by the logits of i-1.
    std::vector<float> prev_last;  // logits of the previous chunk's last token
    RowSummary prev_summary;
    for (int64_t i0 = 0; i0 < n_prompt; i0 += n_batch) {
        const int64_t n = std::min(n_batch, n_prompt - i0);
        std::span<const int32_t> chunk(req.prompt.data() + i0, static_cast<size_t>(n));
        const int64_t n_out = req.prompt_logprobs ? n : 1;
        try {
            if (cancel && cancel->load()) throw ForwardCancelled();
            model_.forward(chunk, *cache_, n_out, logits);
        } catch (const ForwardCancelled&) {
            cancelled = true;
            break;
        }
        const double t = ms_since(t0);
        for (int64_t j = 0; j < n; ++j) {
            const int64_t i = i0 + j;
            TokenRecord rec;
            rec.id = req.prompt[i];
            rec.text = tok_.token_text(rec.id);
            rec.phase = Phase::Prompt;
            rec.t_ms = t;
            if (routing) rec.routing = model_.last_routing().token(j);
            const float* dist = nullptr;
            if (req.prompt_logprobs && i > 0)
                dist = j > 0 ? logits.data() + (j - 1) * n_vocab : prev_last.data();
            if (dist) {
                const RowSummary row =
                    j > 0 ? RowSummary(model_.last_logit_summary(), j - 1) : prev_summary;
                TokenStats s = row.stats(dist[rec.id]);
                rec.logprob = s.logprob;
                rec.entropy = s.entropy;
                for (auto& [id, lp] : s.top) rec.top.push_back({id, tok_.token_text(id), lp});
            }
            trace.tokens.push_back(std::move(rec));
        }
        if (req.prompt_logprobs) {
            prev_last.assign(logits.end() - n_vocab, logits.end());
            prev_summary = RowSummary(model_.last_logit_summary(), n_out - 1);
        }
    }
    trace.prefill_ms = ms_since(t0);
    if (cancelled) {  // stopped while reading the prompt: no reply; the rest of the prompt unscored
        for (size_t i = trace.tokens.size(); i < req.prompt.size(); ++i) {
            TokenRecord rec;
            rec.id = req.prompt[i];
            rec.text = tok_.token_text(rec.id);
            rec.phase = Phase::Prompt;
            rec.t_ms = trace.prefill_ms;
            trace.tokens.push_back(std::move(rec));
        }
        trace.stop_reason = StopReason::Cancelled;
        return trace;
    }
    // The distribution for the first generated token is the last prompt row.
    std::vector<float> cur(logits.end() - n_vocab, logits.end());
    RowSummary cur_summary(model_.last_logit_summary(), model_.last_logit_summary().rows - 1);

    Sampler sampler(req.sampling, static_cast<int>(n_vocab));
    for (int32_t id : req.prompt) sampler.accept(id);
    StreamDecoder detok(tok_);
    ReasoningParser reasoning(req.starts_in_reasoning);
    const auto t_dec = Clock::now();
    for (int step = 0; step < req.max_tokens; ++step) {
        if (cancel && cancel->load()) {
            trace.stop_reason = StopReason::Cancelled;
            break;
        }
        const int32_t id = sampler.sample(cur);
        sampler.accept(id);
        TokenStats s = cur_summary.stats(cur[static_cast<size_t>(id)]);
        const bool eog = tok_.is_eog(id);
        TokenRecord rec;
        rec.id = id;
        rec.text = tok_.token_text(id);
        rec.phase = reasoning.push(id, reply_bytes(tok_, reasoning, id, eog, rec.text));
        rec.logprob = s.logprob;
        rec.entropy = s.entropy;
        for (auto& [alt, lp] : s.top) rec.top.push_back({alt, tok_.token_text(alt), lp});
        rec.t_ms = ms_since(t0);
        trace.tokens.push_back(rec);
        ++trace.n_gen;
        const std::string text = eog ? std::string() : detok.push(id);
        // The token goes through the model before anyone hears of it, so that its record is
        // complete when it is handed out: its routing in every MoE layer is only known once it
        // has been through them. The last token still goes through when routing is recorded
        // (its logits unused), unless the context is full.
        const bool last = (eog && req.stop_at_eog) || step + 1 == req.max_tokens;
        const bool room = cache_->n_past() + 1 <= cache_->n_ctx();
        bool forward_cancelled = false;
        if (room && (!last || routing)) {
            const int32_t one[1] = {id};
            try {
                model_.forward(one, *cache_, 1, logits);
                if (routing) trace.tokens.back().routing = model_.last_routing().token(0);
            } catch (const ForwardCancelled&) {
                forward_cancelled = true;
            }
        }
        if (on_token && !on_token(&trace.tokens.back(), text)) {
            trace.stop_reason = StopReason::Stopped;
            break;
        }
        if (forward_cancelled) {
            trace.stop_reason = StopReason::Cancelled;
            break;
        }
        if (eog && req.stop_at_eog) {
            trace.stop_reason = StopReason::Eog;
            break;
        }
        if (step + 1 == req.max_tokens) {
            trace.stop_reason = StopReason::MaxTokens;
            break;
        }
        if (!room) {
            trace.stop_reason = StopReason::ContextFull;
            break;
        }
        cur.assign(logits.begin(), logits.end());
        cur_summary = RowSummary(model_.last_logit_summary(), 0);
    }
    if (on_token) {
        std::string rest = detok.flush();
        if (!rest.empty()) on_token(nullptr, rest);
    }
    reasoning.finish();
    trace.reasoning_text = reasoning.reasoning();
    trace.answer_text = reasoning.answer();
    trace.reasoning_complete = reasoning.reasoning_complete();
    trace.decode_ms = ms_since(t_dec);
    return trace;
}

}  // namespace gb
