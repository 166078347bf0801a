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

std::vector<int32_t> Generator::close_thinking_tokens() const {
    // DeepSeek-R1 and Qwen3 end their reasoning with "\n</think>\n\n"; the marker is one added
    // token where the vocabulary has it (parse_special finds it), else its ordinary pieces.
    return tok_.encode("\n</think>\n\n", false, true);
}

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
    if (req.think_budget < -1 || req.close_thinking_at < -1)
        throw Error("generate: a thinking budget or position must be >= 0 (or -1: none)");
    std::vector<int32_t> seq = req.prompt;  // every token run before the first sampled one
    seq.insert(seq.end(), req.reply_start.begin(), req.reply_start.end());
    const int64_t n_prompt = static_cast<int64_t>(req.prompt.size());
    const int64_t n_seq = static_cast<int64_t>(seq.size());
    if (n_seq >= cache_->n_ctx())
        throw Error((req.reply_start.empty()
                         ? "the prompt has " + std::to_string(n_seq)
                         : "the prompt and the start of the reply have " + std::to_string(n_seq)) +
                    " tokens, which does not fit the context length " +
                    std::to_string(cache_->n_ctx()) + " (raise it with --ctx)");
    for (size_t i = 0; i < seq.size(); ++i)
        if (seq[i] < 0 || seq[i] >= n_vocab)
            throw Error(std::string(i < req.prompt.size() ? "prompt" : "reply-start") +
                        " token id " + std::to_string(seq[i]) + " is outside the vocabulary (" +
                        std::to_string(n_vocab) + ")");
    if (req.known.size() > seq.size())
        throw Error("generate: " + std::to_string(req.known.size()) + " known records for " +
                    std::to_string(seq.size()) + " prompt and reply-start tokens");
    for (size_t i = 0; i < req.known.size(); ++i)
        if (req.known[i].id != seq[i])
            throw Error("generate: known record " + std::to_string(i) + " is token " +
                        std::to_string(req.known[i].id) + ", not " + std::to_string(seq[i]));

    Trace trace;
    trace.model = c.name.empty() ? model_.file().path() : c.name;
    trace.backend = model_.backend().name();
    trace.sampling = req.sampling;
    trace.prompt_text = req.prompt_text;
    trace.n_prompt = static_cast<int>(n_prompt);
    trace.interventions = req.interventions;
    const bool routing = c.is_moe() && req.record_routing;
    if (c.is_moe()) {
        trace.n_expert = static_cast<int>(c.n_expert);
        trace.n_expert_used = static_cast<int>(c.n_expert_used);
    }
    model_.set_routing_capture(routing, req.routing_probs);
    if (req.steering != model_.expert_steering())
        model_.set_expert_steering(parse_steering_description(req.steering, c));
    if (!req.steering.empty()) {
        Intervention in;
        in.kind = "steer";
        in.spec = model_.expert_steering();
        trace.interventions.push_back(in);
    }
    // Keys and values made under other steering are other numbers.
    if (cached_steering_ != req.steering) cached_.clear();
    cached_steering_ = req.steering;

    // What the cache holds and may be kept: the common prefix, as far as there are records for
    // it, and short of the token before the first one that needs scoring (the branch's own
    // token) and of the last one (whose logits the first sampled token is drawn from).
    int64_t reuse = 0;
    if (req.reuse_cache) {
        const int64_t limit = std::min<int64_t>(
            {static_cast<int64_t>(cached_.size()), cache_->n_past(), n_seq - 1,
             req.known.size() < seq.size() ? static_cast<int64_t>(req.known.size()) - 1
                                           : n_seq - 1});
        while (reuse < limit &&
               cached_[static_cast<size_t>(reuse)] == seq[static_cast<size_t>(reuse)])
            ++reuse;
    }
    cached_.resize(static_cast<size_t>(reuse));
    cache_->set_n_past(reuse);
    trace.n_cached = static_cast<int>(reuse);
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
    // Records of every position of seq; the reused ones copied from what was known.
    std::vector<TokenRecord> recs(seq.size());
    for (int64_t i = 0; i < reuse; ++i) {
        recs[static_cast<size_t>(i)] = req.known[static_cast<size_t>(i)];
        recs[static_cast<size_t>(i)].t_ms = 0;
    }
    // Rows whose logits are needed: those that score the reply-start tokens and the last (the
    // first sampled token's distribution), and every prompt row with prompt_logprobs. Token i is
    // scored by row i-1.
    const int64_t scored_from = req.prompt_logprobs ? 0 : n_prompt - 1;
    // The previous chunk's last row (always returned: n_out >= 1 counts from the end); none
    // before the first chunk, whose first token a reused row scored.
    std::vector<float> prev_last;
    RowSummary prev_summary;
    for (int64_t i0 = reuse; i0 < n_seq; i0 += n_batch) {
        const int64_t n = std::min(n_batch, n_seq - i0);
        std::span<const int32_t> chunk(seq.data() + i0, static_cast<size_t>(n));
        const int64_t n_out = std::max<int64_t>(1, i0 + n - std::max(i0, scored_from));
        try {
            if (cancel && cancel->load()) throw ForwardCancelled();
            model_.forward(chunk, *cache_, n_out, logits);
        } catch (const ForwardCancelled&) {
            cancelled = true;
            break;
        }
        cached_.insert(cached_.end(), chunk.begin(), chunk.end());
        const double t = ms_since(t0);
        const int64_t first_row = i0 + n - n_out;  // position of the first returned row
        for (int64_t j = 0; j < n; ++j) {
            const int64_t i = i0 + j;
            TokenRecord& rec = recs[static_cast<size_t>(i)];
            const bool known = i < static_cast<int64_t>(req.known.size());
            rec.id = seq[static_cast<size_t>(i)];
            rec.text = tok_.token_text(rec.id);
            rec.phase = i < n_prompt ? Phase::Prompt : Phase::Answer;  // reply phases: below
            rec.t_ms = t;
            rec.forced = i >= n_prompt && (!known || req.known[static_cast<size_t>(i)].forced);
            if (routing) rec.routing = model_.last_routing().token(j);
            // The row before this token: in this chunk, the previous chunk's last, or a reused
            // position's (not computed now: the known record has its numbers).
            const float* dist = nullptr;
            RowSummary row;
            if (i > 0 && i - 1 >= first_row) {
                dist = logits.data() + (i - 1 - first_row) * n_vocab;
                row = RowSummary(model_.last_logit_summary(), i - 1 - first_row);
            } else if (i > 0 && i == i0 && !prev_last.empty()) {
                dist = prev_last.data();
                row = prev_summary;
            }
            if (dist && (i >= n_prompt || req.prompt_logprobs)) {
                TokenStats s = row.stats(dist[rec.id]);
                rec.logprob = s.logprob;
                rec.entropy = s.entropy;
                rec.top.clear();
                for (auto& [id, lp] : s.top) rec.top.push_back({id, tok_.token_text(id), lp});
            } else if (known) {
                const TokenRecord& k = req.known[static_cast<size_t>(i)];
                rec.logprob = k.logprob;
                rec.entropy = k.entropy;
                rec.top = k.top;
            }
        }
        prev_last.assign(logits.end() - n_vocab, logits.end());
        prev_summary = RowSummary(model_.last_logit_summary(), n_out - 1);
    }
    trace.prefill_ms = ms_since(t0);
    for (int64_t i = 0; i < std::min<int64_t>(n_prompt, n_seq); ++i)
        trace.tokens.push_back(std::move(recs[static_cast<size_t>(i)]));
    if (cancelled) {  // stopped while reading the prompt: no reply; the rest of it unscored
        for (int64_t i = static_cast<int64_t>(cached_.size()); i < n_prompt; ++i) {
            TokenRecord& rec = trace.tokens[static_cast<size_t>(i)];
            rec = TokenRecord{};
            rec.id = req.prompt[static_cast<size_t>(i)];
            rec.text = tok_.token_text(rec.id);
            rec.phase = Phase::Prompt;
            rec.t_ms = trace.prefill_ms;
        }
        trace.stop_reason = StopReason::Cancelled;
        return trace;
    }
    // The distribution for the first sampled token is the last row of seq.
    std::vector<float> cur = prev_last;
    RowSummary cur_summary = prev_summary;

    Sampler sampler(req.sampling, static_cast<int>(n_vocab));
    for (int32_t id : req.prompt) sampler.accept(id);
    StreamDecoder detok(tok_);
    ReasoningParser reasoning(req.starts_in_reasoning);
    int n_think = 0;  // reasoning tokens so far
    const auto t_dec = Clock::now();

    // The reply's start: phases from the parser, then handed out like sampled tokens.
    for (int64_t i = n_prompt; i < n_seq; ++i) {
        TokenRecord& rec = recs[static_cast<size_t>(i)];
        const bool eog = tok_.is_eog(rec.id);
        rec.phase = reasoning.push(rec.id, reply_bytes(tok_, reasoning, rec.id, eog, rec.text));
        n_think += rec.phase == Phase::Think;
        sampler.accept(rec.id);
        const bool known = i < static_cast<int64_t>(req.known.size());
        if (!known || !req.known[static_cast<size_t>(i)].forced) sampler.skip_draw();
        trace.tokens.push_back(std::move(rec));
        ++trace.n_gen;
        const std::string text = eog ? std::string() : detok.push(trace.tokens.back().id);
        if (on_token && !on_token(&trace.tokens.back(), text)) {
            trace.stop_reason = StopReason::Stopped;
            break;
        }
        if (eog && req.stop_at_eog) {
            trace.stop_reason = StopReason::Eog;
            break;
        }
    }

    std::vector<int32_t> closing;  // the end-of-thinking marker still to insert
    bool closed_by_control = false;
    bool manual_changes = false;  // a step-mode choice replaced the sampler's pick
    const int n_start = trace.n_gen;
    for (int step = n_start; trace.stop_reason == StopReason::None && step < req.max_tokens;
         ++step) {
        if (cancel && cancel->load()) {
            trace.stop_reason = StopReason::Cancelled;
            break;
        }
        // Thinking controls act once, while a reasoning block is open.
        const bool in_reasoning = reasoning.saw_reasoning() && !reasoning.reasoning_complete();
        if (in_reasoning && !closed_by_control) {
            const char* kind = nullptr;
            if (req.think_budget >= 0 && n_think >= req.think_budget)
                kind = "think-budget";
            else if (req.close_thinking_at >= 0 && step >= req.close_thinking_at)
                kind = "stop-thinking";
            else if (req.stop_thinking && req.stop_thinking->load())
                kind = "stop-thinking";
            if (kind) {
                closed_by_control = true;
                closing = close_thinking_tokens();
                std::reverse(closing.begin(), closing.end());  // popped from the back
                Intervention in;
                in.kind = kind;
                in.at = step;
                if (req.think_budget >= 0 && std::string_view(kind) == "think-budget")
                    in.value = req.think_budget;
                trace.interventions.push_back(in);
            }
        }
        bool forced = !closing.empty();
        int32_t id;
        if (forced) {
            id = closing.back();
            closing.pop_back();
        } else {
            id = sampler.sample(cur);
            if (req.choose) {
                // The choice is made from what the inspector would show for this token.
                const TokenStats offer = cur_summary.stats(cur[static_cast<size_t>(id)]);
                std::vector<Alternative> top;
                for (auto& [alt, lp] : offer.top) top.push_back({alt, tok_.token_text(alt), lp});
                const int32_t chosen = req.choose(step, top, id);
                if (chosen < 0 || chosen >= n_vocab)
                    throw Error("manual sampling: token " + std::to_string(chosen) +
                                " is outside the vocabulary (" + std::to_string(n_vocab) + ")");
                if (chosen != id) {
                    id = chosen;
                    forced = true;
                    manual_changes = true;
                }
            }
        }
        sampler.accept(id);
        TokenStats s = cur_summary.stats(cur[static_cast<size_t>(id)]);
        const bool eog = tok_.is_eog(id);
        TokenRecord rec;
        rec.id = id;
        rec.text = tok_.token_text(id);
        rec.phase = reasoning.push(id, reply_bytes(tok_, reasoning, id, eog, rec.text));
        n_think += rec.phase == Phase::Think;
        rec.logprob = s.logprob;
        rec.entropy = s.entropy;
        for (auto& [alt, lp] : s.top) rec.top.push_back({alt, tok_.token_text(alt), lp});
        rec.t_ms = ms_since(t0);
        rec.forced = forced;
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
                cached_.push_back(id);
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
    if (trace.stop_reason == StopReason::None && trace.n_gen > 0 && trace.n_gen >= req.max_tokens)
        trace.stop_reason = StopReason::MaxTokens;
    if (manual_changes) {
        Intervention in;
        in.kind = "manual";
        trace.interventions.push_back(in);
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
