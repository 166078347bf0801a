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

// ---- One reply's decoding, shared by generate() and generate_batch() ----

// What the prompt (and the reply's start) gave: every record of seq, the distribution of the
// first token to sample, and how the prefill went. Made once for a batch of rollouts.
struct Generator::Prefill {
    std::vector<int32_t> seq;  // prompt + reply_start
    int64_t n_prompt = 0;
    std::vector<TokenRecord> recs;  // one per position of seq
    std::vector<float> last;        // logits of seq's last row
    RowSummary last_summary;
    Trace trace;  // model, sampling, prompt text, interventions, n_cached, prefill_ms
    bool cancelled = false;
    bool routing = false;
};

// The decode of one reply after its prefill: the reply's start handed out, then one token per
// step: pick() decides the token (and records it), the caller runs it through the model, and
// after() completes its record, hands it out and decides whether the reply goes on.
class Generator::Decoding {
public:
    Decoding(Generator& g, const GenerateRequest& req, const Prefill& p, KvCache& cache,
             const TokenCallback& on_token, const std::atomic<bool>* cancel, Clock::time_point t0)
        : g_(g),
          req_(req),
          cache_(cache),
          on_token_(on_token),
          cancel_(cancel),
          t0_(t0),
          trace_(p.trace),
          sampler_(req.sampling, static_cast<int>(g.model_.config().n_vocab)),
          detok_(g.tok_),
          reasoning_(req.starts_in_reasoning),
          cur_(p.last),
          cur_summary_(p.last_summary),
          routing_(p.routing) {
        g.describe(req, trace_);
        for (int32_t id : req.prompt) sampler_.accept(id);
        t_dec_ = Clock::now();
        // The reply's start: phases from the parser, then handed out like sampled tokens.
        const Tokenizer& tok = g.tok_;
        for (int64_t i = p.n_prompt; i < static_cast<int64_t>(p.seq.size()); ++i) {
            TokenRecord rec = p.recs[static_cast<size_t>(i)];
            const bool eog = tok.is_eog(rec.id);
            rec.phase =
                reasoning_.push(rec.id, reply_bytes(tok, reasoning_, rec.id, eog, rec.text));
            n_think_ += rec.phase == Phase::Think;
            sampler_.accept(rec.id);
            const bool known = i < static_cast<int64_t>(req.known.size());
            if (!known || !req.known[static_cast<size_t>(i)].forced) sampler_.skip_draw();
            trace_.tokens.push_back(std::move(rec));
            ++trace_.n_gen;
            const std::string text = eog ? std::string() : detok_.push(trace_.tokens.back().id);
            if (on_token_ && !on_token_(&trace_.tokens.back(), text)) {
                trace_.stop_reason = StopReason::Stopped;
                break;
            }
            if (eog && req.stop_at_eog) {
                trace_.stop_reason = StopReason::Eog;
                break;
            }
        }
        step_ = trace_.n_gen;
    }

    bool done() const { return trace_.stop_reason != StopReason::None || step_ >= req_.max_tokens; }
    KvCache& cache() { return cache_; }

    // The next token, recorded; true when it is to go through the model (the caller runs it,
    // then calls after()); false when the reply ended before it (cancelled) or it is the last
    // and needs no pass (call after() with forwarded = false).
    bool pick(int32_t& id_out) {
        const Tokenizer& tok = g_.tok_;
        const int64_t n_vocab = g_.model_.config().n_vocab;
        if (cancel_ && cancel_->load()) {
            trace_.stop_reason = StopReason::Cancelled;
            picked_ = false;
            return false;
        }
        // Thinking controls act once, while a reasoning block is open.
        const bool in_reasoning = reasoning_.saw_reasoning() && !reasoning_.reasoning_complete();
        if (in_reasoning && !closed_by_control_) {
            const char* kind = nullptr;
            if (req_.think_budget >= 0 && n_think_ >= req_.think_budget)
                kind = "think-budget";
            else if (req_.close_thinking_at >= 0 && step_ >= req_.close_thinking_at)
                kind = "stop-thinking";
            else if (req_.stop_thinking && req_.stop_thinking->load())
                kind = "stop-thinking";
            if (kind) {
                closed_by_control_ = true;
                closing_ = g_.close_thinking_tokens();
                std::reverse(closing_.begin(), closing_.end());  // popped from the back
                Intervention in;
                in.kind = kind;
                in.at = step_;
                if (req_.think_budget >= 0 && std::string_view(kind) == "think-budget")
                    in.value = req_.think_budget;
                trace_.interventions.push_back(in);
            }
        }
        bool forced = !closing_.empty();
        int32_t id;
        if (forced) {
            id = closing_.back();
            closing_.pop_back();
        } else {
            id = sampler_.sample(cur_);
            if (req_.choose) {
                // The choice is made from what the inspector would show for this token.
                const TokenStats offer = cur_summary_.stats(cur_[static_cast<size_t>(id)]);
                std::vector<Alternative> top;
                for (auto& [alt, lp] : offer.top) top.push_back({alt, tok.token_text(alt), lp});
                const int32_t chosen = req_.choose(step_, top, id);
                if (chosen < 0 || chosen >= n_vocab)
                    throw Error("manual sampling: token " + std::to_string(chosen) +
                                " is outside the vocabulary (" + std::to_string(n_vocab) + ")");
                if (chosen != id) {
                    id = chosen;
                    forced = true;
                    manual_changes_ = true;
                }
            }
        }
        sampler_.accept(id);
        TokenStats s = cur_summary_.stats(cur_[static_cast<size_t>(id)]);
        eog_ = tok.is_eog(id);
        TokenRecord rec;
        rec.id = id;
        rec.text = tok.token_text(id);
        rec.phase = reasoning_.push(id, reply_bytes(tok, reasoning_, id, eog_, rec.text));
        n_think_ += rec.phase == Phase::Think;
        rec.logprob = s.logprob;
        rec.entropy = s.entropy;
        for (auto& [alt, lp] : s.top) rec.top.push_back({alt, tok.token_text(alt), lp});
        rec.t_ms = ms_since(t0_);
        rec.forced = forced;
        trace_.tokens.push_back(rec);
        ++trace_.n_gen;
        text_ = eog_ ? std::string() : detok_.push(id);
        // The token goes through the model before anyone hears of it, so that its record is
        // complete when it is handed out: its routing in every MoE layer is only known once it
        // has been through them. The last token still goes through when routing is recorded
        // (its logits unused), unless the context is full.
        last_ = (eog_ && req_.stop_at_eog) || step_ + 1 == req_.max_tokens;
        room_ = cache_.n_past() + 1 <= cache_.n_ctx();
        picked_ = true;
        id_out = id;
        return room_ && (!last_ || routing_);
    }

    // After pick(): forwarded says whether the token went through the model (row `row` of its
    // logits, summary and routing is this reply's), cancelled whether that pass was stopped.
    void after(bool forwarded, bool cancelled, const std::vector<float>& logits, int64_t row) {
        if (!picked_) return;  // cancelled before a token was picked
        if (forwarded && !cancelled && routing_)
            trace_.tokens.back().routing = g_.model_.last_routing().token(row);
        if (on_token_ && !on_token_(&trace_.tokens.back(), text_)) {
            trace_.stop_reason = StopReason::Stopped;
            return;
        }
        if (cancelled) {
            trace_.stop_reason = StopReason::Cancelled;
            return;
        }
        if (eog_ && req_.stop_at_eog) {
            trace_.stop_reason = StopReason::Eog;
            return;
        }
        if (step_ + 1 == req_.max_tokens) {
            trace_.stop_reason = StopReason::MaxTokens;
            return;
        }
        if (!room_) {
            trace_.stop_reason = StopReason::ContextFull;
            return;
        }
        const int64_t V = g_.model_.config().n_vocab;
        cur_.assign(logits.begin() + row * V, logits.begin() + (row + 1) * V);
        cur_summary_ = RowSummary(g_.model_.last_logit_summary(), row);
        ++step_;
    }

    Trace finish() {
        if (trace_.stop_reason == StopReason::None && trace_.n_gen > 0 &&
            trace_.n_gen >= req_.max_tokens)
            trace_.stop_reason = StopReason::MaxTokens;
        if (manual_changes_) {
            Intervention in;
            in.kind = "manual";
            trace_.interventions.push_back(in);
        }
        if (on_token_) {
            std::string rest = detok_.flush();
            if (!rest.empty()) on_token_(nullptr, rest);
        }
        reasoning_.finish();
        trace_.reasoning_text = reasoning_.reasoning();
        trace_.answer_text = reasoning_.answer();
        trace_.reasoning_complete = reasoning_.reasoning_complete();
        trace_.decode_ms = ms_since(t_dec_);
        return std::move(trace_);
    }

private:
    Generator& g_;
    const GenerateRequest& req_;
    KvCache& cache_;
    const TokenCallback& on_token_;
    const std::atomic<bool>* cancel_;
    Clock::time_point t0_, t_dec_;
    Trace trace_;
    Sampler sampler_;
    StreamDecoder detok_;
    ReasoningParser reasoning_;
    std::vector<float> cur_;  // the distribution the next token is drawn from
    RowSummary cur_summary_;
    bool routing_;
    int n_think_ = 0;  // reasoning tokens so far
    int step_ = 0;
    std::vector<int32_t> closing_;  // the end-of-thinking marker still to insert
    bool closed_by_control_ = false;
    bool manual_changes_ = false;  // a step-mode choice replaced the sampler's pick
    // The token pick() recorded, until after().
    bool picked_ = false, eog_ = false, last_ = false, room_ = false;
    std::string text_;
};

void Generator::describe(const GenerateRequest& req, Trace& t) const {
    t.sampling = req.sampling;
    t.interventions = req.interventions;
    if (!req.steering.empty()) {
        Intervention in;
        in.kind = "steer";
        in.spec = model_.expert_steering();
        t.interventions.push_back(in);
    }
}

Generator::Prefill Generator::prefill(const GenerateRequest& req, const std::atomic<bool>* cancel,
                                      Clock::time_point t0) {
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
    Prefill out;
    std::vector<int32_t>& seq = out.seq;  // every token run before the first sampled one
    seq = req.prompt;
    seq.insert(seq.end(), req.reply_start.begin(), req.reply_start.end());
    const int64_t n_prompt = static_cast<int64_t>(req.prompt.size());
    out.n_prompt = n_prompt;
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

    Trace& trace = out.trace;
    trace.model = c.name.empty() ? model_.file().path() : c.name;
    trace.backend = model_.backend().name();
    trace.precision = model_.precise() ? "precise" : "fast";
    trace.prompt_text = req.prompt_text;
    trace.n_prompt = static_cast<int>(n_prompt);
    out.routing = c.is_moe() && req.record_routing;
    if (c.is_moe()) {
        trace.n_expert = static_cast<int>(c.n_expert);
        trace.n_expert_used = static_cast<int>(c.n_expert_used);
    }
    model_.set_routing_capture(out.routing, req.routing_probs);
    if (req.steering != model_.expert_steering())
        model_.set_expert_steering(parse_steering_description(req.steering, c));
    // Keys and values made under other steering are other numbers.
    if (cached_steering_ != req.steering) cached_.clear();
    cached_steering_ = req.steering;
    // So are those of the other precision mode (Model::set_precise), and its cache type may
    // differ: a cache of the current mode's type.
    if (cached_precise_ != model_.precise()) cached_.clear();
    cached_precise_ = model_.precise();
    if (cache_->type() != model_.settings().cache_type()) {
        cache_ = model_.new_cache();
        cached_.clear();
    }

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
    // Each token's probability, entropy and alternatives come from the backend's summary of the
    // logits row (on a GPU computed there), not from a pass over the vocabulary here.
    model_.set_logit_summary(req.top_n);

    std::vector<float> logits;
    const int64_t n_batch = model_.settings().n_batch;
    // Records of every position of seq; the reused ones copied from what was known.
    std::vector<TokenRecord>& recs = out.recs;
    recs.resize(seq.size());
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
    std::vector<float>& prev_last = out.last;
    RowSummary& prev_summary = out.last_summary;
    // The last token runs alone, as a decode step does: the first sampled token's distribution
    // is then the same whether the cache held the rest (a branch, a rollout) or not, and in a
    // batch of rollouts (row-invariant products) too. A prompt's multi-row tiles sum in another
    // order, which on quantised weights moved log-probabilities by up to 0.1 nats and sent
    // seeded rollouts elsewhere.
    const int64_t bulk_end = n_seq - 1;
    for (int64_t i0 = reuse, n = 0; i0 < n_seq; i0 += n) {
        n = i0 < bulk_end ? std::min(n_batch, bulk_end - i0) : 1;
        std::span<const int32_t> chunk(seq.data() + i0, static_cast<size_t>(n));
        const int64_t n_out = std::max<int64_t>(1, i0 + n - std::max(i0, scored_from));
        try {
            if (cancel && cancel->load()) throw ForwardCancelled();
            model_.forward(chunk, *cache_, n_out, logits);
        } catch (const ForwardCancelled&) {
            out.cancelled = true;
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
            rec.phase = i < n_prompt ? Phase::Prompt : Phase::Answer;  // reply phases: later
            rec.t_ms = t;
            rec.forced = i >= n_prompt && (!known || req.known[static_cast<size_t>(i)].forced);
            if (out.routing) rec.routing = model_.last_routing().token(j);
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
        trace.tokens.push_back(recs[static_cast<size_t>(i)]);
    if (out.cancelled) {  // stopped while reading the prompt: no reply; the rest of it unscored
        for (int64_t i = static_cast<int64_t>(cached_.size()); i < n_prompt; ++i) {
            TokenRecord& rec = trace.tokens[static_cast<size_t>(i)];
            rec = TokenRecord{};
            rec.id = req.prompt[static_cast<size_t>(i)];
            rec.text = tok_.token_text(rec.id);
            rec.phase = Phase::Prompt;
            rec.t_ms = trace.prefill_ms;
        }
        trace.stop_reason = StopReason::Cancelled;
    }
    return out;
}

namespace {

// Clears what a reply set on the model when it ends, however it ends.
struct ModelScope {
    Model& m;
    ~ModelScope() {
        m.set_cancel(nullptr);
        m.set_logit_summary(-1);
    }
};

}  // namespace

TensorType Generator::cache_type() const { return cache_->type(); }

Trace Generator::generate(const GenerateRequest& req, const TokenCallback& on_token,
                          const std::atomic<bool>* cancel) {
    // The flag also reaches into each step: the backend stops its ops early and the model throws
    // ForwardCancelled after the layer, so a stop lands within milliseconds, not one whole step
    // (a long prompt chunk on the CPU takes seconds).
    ModelScope scope{model_};
    model_.set_cancel(cancel);
    const auto t0 = Clock::now();
    Prefill p = prefill(req, cancel, t0);
    if (p.cancelled) {
        describe(req, p.trace);
        return std::move(p.trace);
    }
    Decoding d(*this, req, p, *cache_, on_token, cancel, t0);
    std::vector<float> logits;
    while (!d.done()) {
        int32_t id = -1;
        const bool run = d.pick(id);
        bool cancelled = false;
        if (run) {
            const int32_t one[1] = {id};
            try {
                model_.forward(one, *cache_, 1, logits);
                cached_.push_back(id);
            } catch (const ForwardCancelled&) {
                cancelled = true;
            }
        }
        d.after(run, cancelled, logits, 0);
    }
    return d.finish();
}

std::vector<Trace> Generator::generate_batch(const std::vector<GenerateRequest>& reqs,
                                             const std::atomic<bool>* cancel) {
    if (reqs.empty()) return {};
    const GenerateRequest& r0 = reqs[0];
    for (const GenerateRequest& r : reqs) {
        if (r.prompt != r0.prompt || r.reply_start != r0.reply_start ||
            r.known.size() != r0.known.size() || r.steering != r0.steering || r.top_n != r0.top_n ||
            r.record_routing != r0.record_routing || r.routing_probs != r0.routing_probs ||
            r.prompt_logprobs != r0.prompt_logprobs)
            throw Error(
                "generate_batch: the replies must share their prompt, start, steering "
                "and what they record; they may differ in sampling and length");
        if (r.choose) throw Error("generate_batch: step mode needs one reply at a time");
    }
    const int64_t n_batch = model_.settings().n_batch;
    if (static_cast<int64_t>(reqs.size()) > n_batch)
        throw Error("generate_batch: " + std::to_string(reqs.size()) +
                    " replies at once, more than the batch size " + std::to_string(n_batch));
    ModelScope scope{model_};
    model_.set_cancel(cancel);
    const auto t0 = Clock::now();
    Prefill p = prefill(r0, cancel, t0);
    std::vector<Trace> out;
    if (p.cancelled) {
        for (const GenerateRequest& r : reqs) {
            out.push_back(p.trace);
            describe(r, out.back());
        }
        return out;
    }
    // The others take the prefix from the first's cache, each in a cache as long as it needs.
    const int64_t n_seq = static_cast<int64_t>(p.seq.size());
    std::vector<std::unique_ptr<KvCache>> extra;
    std::vector<KvCache*> caches = {cache_.get()};
    for (size_t i = 1; i < reqs.size(); ++i) {
        const int64_t need = n_seq + std::max(0, reqs[i].max_tokens) + 1;
        extra.push_back(model_.new_cache(std::min(need, cache_->n_ctx())));
        extra.back()->copy_prefix(*cache_, n_seq);
        caches.push_back(extra.back().get());
    }
    static const TokenCallback kNone;
    std::vector<std::unique_ptr<Decoding>> ds;
    for (size_t i = 0; i < reqs.size(); ++i) {
        if (i == 1) p.trace.n_cached = static_cast<int>(n_seq);  // the others copied it all
        ds.push_back(std::make_unique<Decoding>(*this, reqs[i], p, *caches[i], kNone, cancel, t0));
    }
    std::vector<float> logits;
    std::vector<int32_t> ids;
    std::vector<KvCache*> rows;
    std::vector<Decoding*> stepping;
    std::vector<char> run;  // per stepping reply: its token goes through the model
    for (;;) {
        stepping.clear();
        for (auto& d : ds)
            if (!d->done()) stepping.push_back(d.get());
        if (stepping.empty()) break;
        ids.clear();
        rows.clear();
        run.assign(stepping.size(), 0);
        for (size_t i = 0; i < stepping.size(); ++i) {
            int32_t id = -1;
            run[i] = stepping[i]->pick(id);
            if (run[i]) {
                ids.push_back(id);
                rows.push_back(&stepping[i]->cache());
            }
        }
        bool cancelled = false;
        if (!ids.empty()) {
            try {
                model_.forward_rows(ids, rows, logits);
            } catch (const ForwardCancelled&) {
                cancelled = true;
            }
            // The first reply's cache is the generator's own: it says what that one holds.
            if (!cancelled && rows[0] == cache_.get()) cached_.push_back(ids[0]);
        }
        for (size_t i = 0, r = 0; i < stepping.size(); ++i)
            stepping[i]->after(run[i], cancelled, logits, run[i] ? static_cast<int64_t>(r++) : 0);
    }
    for (auto& d : ds) out.push_back(d->finish());
    return out;
}

}  // namespace gb
