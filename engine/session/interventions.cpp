// Branch and reproduce requests from a trace, and the token comparison of two replies.
#include "engine/session/interventions.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <sstream>

#include "engine/core/json.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/trace/reasoning_parser.h"
#include "kernels/error.h"

namespace gb {

namespace {

// The request fields every re-run of `t` shares: prompt, settings, what is recorded.
GenerateRequest base_request(const Trace& t, const Tokenizer& tok) {
    if (t.n_prompt <= 0 || static_cast<size_t>(t.n_prompt) > t.tokens.size())
        throw Error("the trace has no prompt tokens to run again");
    GenerateRequest req;
    for (int i = 0; i < t.n_prompt; ++i) {
        const TokenRecord& r = t.tokens[static_cast<size_t>(i)];
        if (r.phase != Phase::Prompt)
            throw Error("the trace's token " + std::to_string(i) +
                        " should be a prompt token (n_prompt is " + std::to_string(t.n_prompt) +
                        ")");
        req.prompt.push_back(r.id);
    }
    for (int32_t id : req.prompt)
        if (id < 0 || static_cast<size_t>(id) >= tok.size())
            throw Error("the trace's prompt holds token " + std::to_string(id) +
                        ", which this model's vocabulary (" + std::to_string(tok.size()) +
                        " tokens) does not have: it was made with another model");
    req.prompt_text = t.prompt_text;
    req.starts_in_reasoning = prompt_opens_reasoning(t.prompt_text);
    req.sampling = t.sampling;
    size_t top_n = 0;
    bool probs = false, prompt_scored = false;
    for (size_t i = 0; i < t.tokens.size(); ++i) {
        const TokenRecord& r = t.tokens[i];
        top_n = std::max(top_n, r.top.size());
        probs = probs || !r.routing.probs.empty();
        prompt_scored = prompt_scored || (r.phase == Phase::Prompt && !std::isnan(r.logprob));
    }
    req.top_n = static_cast<int>(std::min<size_t>(top_n, 100));
    req.prompt_logprobs = prompt_scored;
    req.record_routing = t.n_expert > 0;
    req.routing_probs = probs;
    // Steered experts stay steered (the generator records it again).
    for (const Intervention& in : t.interventions)
        if (in.kind == "steer") req.steering = in.spec;
    // A reply that wrote on past an end-of-generation token was made with stop_at_eog off.
    req.stop_at_eog = true;
    for (size_t i = static_cast<size_t>(t.n_prompt); i + 1 < t.tokens.size(); ++i)
        if (tok.is_eog(t.tokens[i].id)) req.stop_at_eog = false;
    return req;
}

}  // namespace

GenerateRequest branch_request(const Trace& parent, int at, int32_t token, int max_new,
                               const Tokenizer& tok) {
    GenerateRequest req = base_request(parent, tok);
    const int n_gen = static_cast<int>(parent.tokens.size()) - parent.n_prompt;
    if (at < 0 || at > n_gen)
        throw Error("branch position " + std::to_string(at) + " is outside the reply's " +
                    std::to_string(n_gen) + " generated tokens (0.." + std::to_string(n_gen) + ")");
    if (token < 0 || static_cast<size_t>(token) >= tok.size())
        throw Error("branch token " + std::to_string(token) + " is outside the vocabulary (" +
                    std::to_string(tok.size()) + " tokens)");
    if (max_new < 0) throw Error("the tokens to generate after a branch must be >= 0");
    const size_t keep = static_cast<size_t>(parent.n_prompt + at);
    req.known.assign(parent.tokens.begin(), parent.tokens.begin() + static_cast<ptrdiff_t>(keep));
    for (size_t i = static_cast<size_t>(parent.n_prompt); i < keep; ++i)
        req.reply_start.push_back(parent.tokens[i].id);
    req.reply_start.push_back(token);
    req.reuse_cache = true;
    req.max_tokens = at + 1 + max_new;
    for (const Intervention& in : parent.interventions)
        if (in.at < at && in.kind != "steer") req.interventions.push_back(in);
    Intervention b;
    b.kind = "branch";
    b.at = at;
    b.token = token;
    b.replaced = at < n_gen ? parent.tokens[keep].id : -1;
    req.interventions.push_back(b);
    return req;
}

GenerateRequest edit_thought_request(const Trace& parent, const std::string& thought, int max_new,
                                     const Tokenizer& tok) {
    GenerateRequest req = base_request(parent, tok);
    if (max_new < 0) throw Error("the tokens to generate after an edited thought must be >= 0");
    if (!req.starts_in_reasoning) {
        const std::vector<int32_t> open = tok.encode("<think>\n", false, true);
        req.reply_start.insert(req.reply_start.end(), open.begin(), open.end());
    }
    const std::vector<int32_t> text = tok.encode(thought, false, false);
    req.reply_start.insert(req.reply_start.end(), text.begin(), text.end());
    if (req.reply_start.empty())
        throw Error("the edited thought is empty: write something for the model to think on from");
    req.known.assign(parent.tokens.begin(), parent.tokens.begin() + parent.n_prompt);
    req.reuse_cache = true;
    const int n = static_cast<int>(req.reply_start.size());
    req.max_tokens = n + max_new;
    Intervention e;
    e.kind = "edit-thought";
    e.at = n;
    req.interventions.push_back(e);
    return req;
}

GenerateRequest reproduce_request(const Trace& t, const Tokenizer& tok) {
    GenerateRequest req = base_request(t, tok);
    req.max_tokens = t.n_gen;
    // The latest branch, edit or resampling fixes the reply's start (and how much of it was
    // known then: a branch's own token and an edit's tokens were not, so they drew); the
    // thinking controls act again.
    int start = -1, known_end = 0;
    for (const Intervention& in : t.interventions) {
        int s = -1, k = 0;
        if (in.kind == "branch") s = in.at + 1, k = in.at;
        if (in.kind == "edit-thought") s = in.at, k = 0;
        if (in.kind == "resample") s = in.at, k = in.at;
        if (s > start) start = s, known_end = k;
        if (in.kind == "think-budget") req.think_budget = in.value;
        if (in.kind == "stop-thinking") req.close_thinking_at = in.at;
    }
    if (start > 0) {
        const size_t end = static_cast<size_t>(t.n_prompt + start);
        if (end > t.tokens.size())
            throw Error("the trace's interventions reach past its " + std::to_string(t.n_gen) +
                        " generated tokens");
        const size_t known = static_cast<size_t>(t.n_prompt + known_end);
        req.known.assign(t.tokens.begin(), t.tokens.begin() + static_cast<ptrdiff_t>(known));
        for (size_t i = static_cast<size_t>(t.n_prompt); i < end; ++i)
            req.reply_start.push_back(t.tokens[i].id);
    }
    // Step mode: the tokens the user picked are picked again where they were.
    const bool manual = std::any_of(t.interventions.begin(), t.interventions.end(),
                                    [](const Intervention& in) { return in.kind == "manual"; });
    if (manual) {
        std::vector<int32_t> picked(static_cast<size_t>(t.n_gen), -1);
        for (int i = 0; i < t.n_gen; ++i) {
            const TokenRecord& r = t.tokens[static_cast<size_t>(t.n_prompt + i)];
            if (r.forced) picked[static_cast<size_t>(i)] = r.id;
        }
        req.choose = [picked](int position, const std::vector<Alternative>&, int32_t sampled) {
            const size_t p = static_cast<size_t>(position);
            return p < picked.size() && picked[p] >= 0 ? picked[p] : sampled;
        };
    }
    // Recorded again as they act (a budget, a stop, step-mode picks), or as the start says (a
    // branch, an edit).
    for (const Intervention& in : t.interventions)
        if (in.kind != "think-budget" && in.kind != "stop-thinking" && in.kind != "manual" &&
            in.kind != "steer" && in.kind != "rescore")
            req.interventions.push_back(in);
    return req;
}

GenerateRequest rescore_request(const Trace& t, const Tokenizer& tok) {
    if (t.tokens.size() < 2) throw Error("rescoring needs a reply of at least two tokens");
    GenerateRequest req = base_request(t, tok);
    req.prompt.clear();
    for (const TokenRecord& r : t.tokens) {
        if (r.id < 0 || static_cast<size_t>(r.id) >= tok.size())
            throw Error("the trace holds token " + std::to_string(r.id) +
                        ", which this model's vocabulary (" + std::to_string(tok.size()) +
                        " tokens) does not have: it was made with another model or sent as "
                        "text by a server");
        req.prompt.push_back(r.id);
    }
    req.max_tokens = 0;
    req.prompt_logprobs = true;
    req.top_n = std::max(req.top_n, 1);
    return req;
}

std::string generated_precision(const Trace& t) {
    for (const Intervention& in : t.interventions)
        if (in.kind == "rescore") return in.spec;
    return t.precision;
}

Trace rescored_trace(const Trace& original, const Trace& scored) {
    if (scored.tokens.size() != original.tokens.size())
        throw Error("rescoring: " + std::to_string(scored.tokens.size()) + " tokens scored for " +
                    std::to_string(original.tokens.size()));
    Trace out = original;
    for (size_t i = 0; i < out.tokens.size(); ++i) {
        const TokenRecord& s = scored.tokens[i];
        TokenRecord& r = out.tokens[i];
        if (s.id != r.id)
            throw Error("rescoring: token " + std::to_string(i) + " is " + std::to_string(s.id) +
                        ", not " + std::to_string(r.id));
        r.logprob = s.logprob;
        r.entropy = s.entropy;
        r.top = s.top;
        if (!s.routing.empty()) r.routing = s.routing;
    }
    // One note of how the tokens were made, also for a rescoring of a rescoring.
    std::erase_if(out.interventions, [](const Intervention& i) { return i.kind == "rescore"; });
    Intervention in;
    in.kind = "rescore";
    in.spec = generated_precision(original);
    out.interventions.push_back(in);
    out.precision = scored.precision;
    return out;
}

GenerateRequest resample_request(const Trace& parent, int at, int index, uint64_t seed, int max_new,
                                 float temperature, const Tokenizer& tok) {
    GenerateRequest req = base_request(parent, tok);
    const int n_gen = static_cast<int>(parent.tokens.size()) - parent.n_prompt;
    if (at < 0 || at > n_gen)
        throw Error("resampling position " + std::to_string(at) + " is outside the reply's " +
                    std::to_string(n_gen) + " generated tokens (0.." + std::to_string(n_gen) + ")");
    if (max_new < 1) throw Error("a rollout must write at least 1 token");
    const size_t keep = static_cast<size_t>(parent.n_prompt + at);
    req.known.assign(parent.tokens.begin(), parent.tokens.begin() + static_cast<ptrdiff_t>(keep));
    for (size_t i = static_cast<size_t>(parent.n_prompt); i < keep; ++i)
        req.reply_start.push_back(parent.tokens[i].id);
    req.reuse_cache = true;
    req.max_tokens = at + max_new;
    req.sampling.seed = seed;
    req.sampling.temperature = temperature >= 0           ? temperature
                               : parent.sampling.greedy() ? 0.8f
                                                          : parent.sampling.temperature;
    validate(req.sampling);
    for (const Intervention& in : parent.interventions)
        if (in.at < at && in.kind != "steer") req.interventions.push_back(in);
    Intervention r;
    r.kind = "resample";
    r.at = at;
    r.value = index;
    r.spec = "seed " + std::to_string(seed);
    req.interventions.push_back(r);
    return req;
}

double resample_estimate_ms(const Trace& parent, int at, int k, int max_new) {
    const double tok_per_ms =
        parent.decode_ms > 0 && parent.n_gen > 0 ? parent.n_gen / parent.decode_ms : 0.05;
    const int rest = std::max(1, parent.n_gen - at);
    const int each = std::min(max_new, rest);
    return k * (each / tok_per_ms);
}

ResampleResult resample_at(Generator& gen, const Trace& parent, int at, const ResampleOptions& opt,
                           const Tokenizer& tok,
                           const std::function<bool(int, const Trace&)>& after_each,
                           const std::atomic<bool>* cancel) {
    if (opt.k < 1) throw Error("a resampling needs at least 1 rollout");
    ResampleResult out;
    out.at = at;
    out.k = opt.k;
    out.max_new = opt.max_new;
    out.expected = opt.expected;
    out.original_answer = final_answer(parent.answer_text);
    out.estimate_ms = resample_estimate_ms(parent, at, opt.k, opt.max_new);
    const size_t here = static_cast<size_t>(parent.n_prompt) + static_cast<size_t>(std::max(0, at));
    if (at < parent.n_gen && here < parent.tokens.size()) out.token = parent.tokens[here].text;
    const auto t0 = std::chrono::steady_clock::now();
    if (opt.batch < 1) throw Error("rollouts decoded together must be at least 1");
    std::vector<std::string> answers;
    bool stop = false;
    for (int r0 = 0; r0 < opt.k && !stop; r0 += opt.batch) {
        if (cancel && cancel->load()) break;
        const int n = std::min(opt.batch, opt.k - r0);
        std::vector<GenerateRequest> reqs;
        for (int r = r0; r < r0 + n; ++r)
            reqs.push_back(resample_request(parent, at, r,
                                            opt.first_seed + static_cast<uint64_t>(r), opt.max_new,
                                            opt.temperature, tok));
        out.temperature = reqs[0].sampling.temperature;
        std::vector<Trace> runs;
        if (n == 1)
            runs.push_back(gen.generate(reqs[0], {}, cancel));
        else
            runs = gen.generate_batch(reqs, cancel);
        for (int i = 0; i < n && !stop; ++i) {
            const Trace& t = runs[static_cast<size_t>(i)];
            if (t.stop_reason == StopReason::Cancelled) {
                stop = true;
                break;
            }
            Rollout ro;
            ro.seed = reqs[static_cast<size_t>(i)].sampling.seed;
            ro.answer = final_answer(t.answer_text);
            ro.tokens = t.n_gen - at;
            ro.stop = t.stop_reason;
            ro.n_cached = t.n_cached;
            answers.push_back(ro.answer);
            out.rollouts.push_back(std::move(ro));
            if (after_each && !after_each(r0 + i + 1, t)) stop = true;
        }
    }
    out.ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    out.answers = count_answers(answers);
    const std::string& want = opt.expected.empty() ? out.original_answer : opt.expected;
    for (const AnswerCount& c : out.answers)
        if (c.answer == want) out.share = c.share;
    return out;
}

TokenDiff compare_generated(const Trace& expected, const Trace& got) {
    TokenDiff d;
    auto gen = [](const Trace& t) {
        std::vector<const TokenRecord*> out;
        for (const TokenRecord& r : t.tokens)
            if (r.phase != Phase::Prompt) out.push_back(&r);
        return out;
    };
    const auto a = gen(expected), b = gen(got);
    const size_t n = std::min(a.size(), b.size());
    for (size_t i = 0; i < n; ++i) {
        if (a[i]->id != b[i]->id) {
            d.first_difference = static_cast<int>(i);
            d.expected = a[i]->id;
            d.got = b[i]->id;
            return d;
        }
        if (!std::isnan(a[i]->logprob) && !std::isnan(b[i]->logprob))
            d.max_logprob_diff = std::max(
                d.max_logprob_diff, std::fabs(static_cast<double>(a[i]->logprob) - b[i]->logprob));
    }
    if (a.size() != b.size()) {
        d.first_difference = static_cast<int>(n);
        d.expected = n < a.size() ? a[n]->id : -1;
        d.got = n < b.size() ? b[n]->id : -1;
        return d;
    }
    d.identical = true;
    return d;
}

}  // namespace gb
