// SyntheticEngine: deterministic fake replies paced by the wall clock (see synthetic_engine.h).
#include "app/synthetic_engine.h"

#include <chrono>
#include <cmath>
#include <sstream>
#include <thread>

#include "engine/sample/sampler.h"
#include "kernels/error.h"

namespace gb::app {

namespace {

const char* kThinkWords[] = {
    "Let",    " me",   " think", " about",     " this",     " step", " by",     " step", ".",
    " The",   " user", " asks",  " a",         " question", ",",     " so",     " I",    " should",
    " check", " each", " part",  " carefully", " and",      " then", " answer", "."};
const char* kAnswerWords[] = {"Here",      " is",     " the",   " **answer**", ":",    "\n\n",
                              "```python", "\n",      "print",  "(\"hello\")", "\n",   "```",
                              "\n\n",      "It",      " works", " because",    " the", " `print`",
                              " call",     " writes", " to",    " stdout",     "."};

int64_t words(const std::string& s) {
    std::istringstream in(s);
    int64_t n = 0;
    for (std::string w; in >> w;) ++n;
    return n;
}

}  // namespace

SyntheticEngine::SyntheticEngine(SyntheticOptions options) : opt_(options) {}

ModelInfo SyntheticEngine::load(const LoadSettings& settings) {
    if (settings.path.find("missing") != std::string::npos)
        throw Error("'" + settings.path + "': no such file (synthetic engine)");
    info_ = ModelInfo{};
    info_.path = settings.path;
    info_.name = "synthetic";
    info_.arch = opt_.n_layers > 0 ? "synthetic-moe" : "synthetic";
    info_.format = "synthetic";
    info_.n_params = 1000000;
    info_.weight_bytes = 4000000;
    info_.quant_mix = "F32 100%";
    info_.n_ctx_train = 4096;
    info_.n_layer = std::max(1, opt_.n_layers);
    info_.n_expert = opt_.n_layers > 0 ? opt_.n_expert : 0;
    info_.n_expert_used = opt_.n_layers > 0 ? opt_.n_expert_used : 0;
    info_.n_moe_layers = opt_.n_layers;
    info_.kv_bytes_per_token = 1024;
    info_.chat_format = "ChatML";
    loaded_ = true;
    return info_;
}

namespace {

void check_settings(const GenerationSettings& s) {
    // The real generator's checks, with its messages: settings come from a history file too.
    validate(s.sampling);
    if (s.max_tokens < 0) throw Error("generate: max tokens must be >= 0");
    if (s.top_n < 0 || s.top_n > 100)
        throw Error("generate: alternatives recorded per token must be 0..100, got " +
                    std::to_string(s.top_n));
}

// The local engine's check, with its message.
void check_same_model(const Trace& t, const std::string& loaded) {
    if (!t.model.empty() && t.model != loaded)
        throw Error("this reply was made by \"" + t.model + "\", not by the loaded model \"" +
                    loaded + "\": load that model to continue or re-run it");
}

}  // namespace

Trace SyntheticEngine::prompt_trace(const std::string& prompt, const GenerationSettings& s) const {
    Trace t;
    t.model = info_.name;
    t.backend = "synthetic";
    // As a local engine records it (its numbers are made up either way).
    t.precision = s.precise ? "precise" : "fast";
    t.sampling = s.sampling;
    t.n_expert = static_cast<int>(info_.n_expert);
    t.n_expert_used = static_cast<int>(info_.n_expert_used);
    // Prompt tokens: one per word of the last user turn.
    std::istringstream in(prompt);
    for (std::string w; in >> w;) {
        TokenRecord r;
        r.id = static_cast<int32_t>(t.tokens.size());
        r.text = (t.tokens.empty() ? "" : " ") + w;
        r.phase = Phase::Prompt;
        t.tokens.push_back(std::move(r));
    }
    t.n_prompt = static_cast<int>(t.tokens.size());
    t.prompt_text = prompt;
    return t;
}

Trace SyntheticEngine::generate(const std::vector<ChatTurn>& turns, const GenerationSettings& s,
                                const TokenCallback& on_token, const RunControls& controls) {
    if (!loaded_) throw Error("no model is loaded");
    check_settings(s);
    if (!s.disable_experts.empty() || !s.force_experts.empty())
        throw Error(
            "the synthetic engine has no router to steer: expert steering needs a real "
            "mixture-of-experts model");
    return script(prompt_trace(turns.empty() ? std::string() : turns.back().content, s), {},
                  s.thinking, s.max_tokens, s, on_token, controls, -1);
}

Trace SyntheticEngine::branch(const Trace& parent, int at, int32_t token,
                              const GenerationSettings& s, const TokenCallback& on_token,
                              const RunControls& controls) {
    if (!loaded_) throw Error("no model is loaded");
    check_settings(s);
    check_same_model(parent, info_.name);
    const int n_gen = static_cast<int>(parent.tokens.size()) - parent.n_prompt;
    if (at < 0 || at > n_gen)
        throw Error("branch position " + std::to_string(at) + " is outside the reply's " +
                    std::to_string(n_gen) + " generated tokens (0.." + std::to_string(n_gen) + ")");
    if (token < 0)
        throw Error("branch token " + std::to_string(token) + " is outside the vocabulary");
    Trace t;
    t.model = parent.model;
    t.backend = "synthetic";
    t.precision = parent.precision.empty() ? (s.precise ? "precise" : "fast") : parent.precision;
    t.sampling = parent.sampling;
    t.n_expert = parent.n_expert;
    t.n_expert_used = parent.n_expert_used;
    t.prompt_text = parent.prompt_text;
    t.n_prompt = parent.n_prompt;
    t.tokens.assign(parent.tokens.begin(), parent.tokens.begin() + parent.n_prompt);
    t.n_cached = parent.n_prompt + std::max(0, at - 1);
    std::vector<TokenRecord> start(parent.tokens.begin() + parent.n_prompt,
                                   parent.tokens.begin() + parent.n_prompt + at);
    TokenRecord put;
    put.id = token;
    put.text = " tok" + std::to_string(token);
    put.logprob = -9.0f;
    put.forced = true;
    if (at < n_gen) {
        const TokenRecord& was = parent.tokens[static_cast<size_t>(parent.n_prompt + at)];
        put.phase = was.phase;
        put.entropy = was.entropy;
        put.top = was.top;
        put.routing = was.routing;
        for (const Alternative& a : was.top)
            if (a.id == token) {
                put.text = a.text;
                put.logprob = a.logprob;
            }
    }
    start.push_back(put);
    for (const Intervention& in : parent.interventions)
        if (in.at < at) t.interventions.push_back(in);
    t.interventions.push_back(
        {"branch", at, token,
         at < n_gen ? parent.tokens[static_cast<size_t>(parent.n_prompt + at)].id : -1, 0, ""});
    bool thought = false;
    for (const TokenRecord& r : parent.tokens) thought = thought || r.phase == Phase::Think;
    return script(std::move(t), std::move(start), thought, at + 1 + s.max_tokens, s, on_token,
                  controls, -1);
}

ResampleResult SyntheticEngine::resample(const Trace&, int, const ResampleOptions&,
                                         const std::function<void(int)>&, const RunControls&) {
    throw Error(
        "the synthetic engine writes a fixed script, not samples: resampling needs a real model");
}

ChatEngine::Lens SyntheticEngine::lens(const std::vector<int32_t>&, int, int, int, int) {
    throw Error("the synthetic engine has no layers to read: the logit lens needs a real model");
}

Trace SyntheticEngine::continue_thought(const Trace& parent, const std::string& thought,
                                        const GenerationSettings& s, const TokenCallback& on_token,
                                        const RunControls& controls) {
    if (!loaded_) throw Error("no model is loaded");
    check_settings(s);
    check_same_model(parent, info_.name);
    // The thought's words as forced reasoning tokens, then the script from there.
    Trace t = prompt_trace(parent.prompt_text, s);
    t.sampling = parent.sampling;
    std::vector<TokenRecord> start;
    std::istringstream in(thought);
    for (std::string w; in >> w;) {
        TokenRecord r;
        r.id = 500 + static_cast<int32_t>(start.size());
        r.text = (start.empty() ? "" : " ") + w;
        r.phase = Phase::Think;
        r.forced = true;
        r.logprob = -1.0f;
        r.entropy = 1.0f;
        start.push_back(std::move(r));
    }
    if (start.empty())
        throw Error("the edited thought is empty: write something for the model to think on from");
    t.interventions.push_back({"edit-thought", static_cast<int>(start.size()), -1, -1, 0, ""});
    const int n = static_cast<int>(start.size());
    return script(std::move(t), std::move(start), true, n + s.max_tokens, s, on_token, controls,
                  -1);
}

Trace SyntheticEngine::rescore(const Trace& reply, bool precise, const RunControls&) {
    if (!loaded_) throw Error("no model is loaded");
    check_same_model(reply, info_.name);
    if (reply.tokens.size() < 2) throw Error("rescoring needs a reply of at least two tokens");
    // Its numbers are made up, not computed, so the other mode gives the same ones; the result
    // is shaped as a local engine's (same tokens, the mode asked for, a "rescore" note).
    Trace scored = reply;
    scored.precision = precise ? "precise" : "fast";
    return rescored_trace(reply, scored);
}

Trace SyntheticEngine::reproduce(const Trace& recorded, const RunControls& controls) {
    GenerationSettings s;
    s.sampling = recorded.sampling;
    s.thinking = false;
    for (const TokenRecord& r : recorded.tokens) s.thinking = s.thinking || r.phase == Phase::Think;
    int close_at = -1;
    const Intervention* branch_at = nullptr;
    for (const Intervention& in : recorded.interventions) {
        if (in.kind == "think-budget") s.think_budget = in.value;
        if (in.kind == "stop-thinking") close_at = in.at;
        if (in.kind == "branch") branch_at = &in;
    }
    if (branch_at) {
        s.max_tokens = recorded.n_gen - branch_at->at - 1;
        return branch(recorded, branch_at->at, branch_at->token, s, {}, controls);
    }
    s.max_tokens = recorded.n_gen;
    if (!loaded_) throw Error("no model is loaded");
    return script(prompt_trace(recorded.prompt_text, s), {}, s.thinking, s.max_tokens, s, {},
                  controls, close_at);
}

Trace SyntheticEngine::script(Trace t, std::vector<TokenRecord> start, bool thinking,
                              int max_tokens, const GenerationSettings& s,
                              const TokenCallback& on_token, const RunControls& controls,
                              int close_at) {
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    int think_end = thinking ? opt_.n_reasoning_tokens : 0;  // the script's first answer position
    // Its scripted reply ends where a model would stop, unless told to write on (stop_at_end).
    auto total = [&] {
        return s.stop_at_end ? std::min(max_tokens, think_end + opt_.n_answer_tokens) : max_tokens;
    };
    const double step_ms = 1000.0 / std::max(1.0, opt_.tokens_per_second);
    t.stop_reason = StopReason::Eog;
    int n_think = 0;
    bool manual = false;  // a step-mode pick replaced a scripted token
    for (int i = 0; i < std::max(total(), static_cast<int>(start.size())); ++i) {
        if (controls.cancel && controls.cancel->load()) {
            t.stop_reason = StopReason::Cancelled;
            break;
        }
        TokenRecord r;
        bool marker = false;
        if (i < static_cast<int>(start.size())) {
            r = start[static_cast<size_t>(i)];  // kept or put in: handed out at once
            if (r.phase == Phase::Answer && think_end > i) think_end = i;
        } else {
            std::this_thread::sleep_until(
                t0 + std::chrono::microseconds(static_cast<int64_t>(
                         (i + 1 - static_cast<int>(start.size())) * step_ms * 1000)));
            // The thinking controls, as the real generator's: the marker is put in, forced.
            const bool in_think = i < think_end;
            const char* kind = nullptr;
            if (in_think && s.think_budget >= 0 && n_think >= s.think_budget)
                kind = "think-budget";
            else if (in_think && ((close_at >= 0 && i >= close_at) ||
                                  (controls.stop_thinking && controls.stop_thinking->load())))
                kind = "stop-thinking";
            if (kind) {
                t.interventions.push_back(
                    {kind, i, -1, -1, std::string_view(kind) == "think-budget" ? s.think_budget : 0,
                     ""});
                think_end = i + 1;
                marker = true;
            }
            const bool think = i < think_end;
            r.phase = think ? Phase::Think : Phase::Answer;
            const int j = think ? i : i - think_end;
            r.text = marker  ? "</think>"
                     : think ? kThinkWords[j % std::size(kThinkWords)]
                             : kAnswerWords[j % std::size(kAnswerWords)];
            r.id = marker ? 999 : 1000 + i;
            r.forced = marker;
            // A smooth, repeatable pattern of confident and uncertain tokens.
            const float p = 0.35f + 0.6f * static_cast<float>(0.5 + 0.5 * std::sin(i * 0.7));
            r.logprob = std::log(p);
            r.entropy =
                static_cast<float>(-p * std::log(p) - (1 - p) * std::log((1 - p) / 4 + 1e-9f));
            r.top.push_back({r.id, r.text, r.logprob});
            for (int a = 1; a < 5; ++a)
                r.top.push_back(
                    {r.id + a * 7, " alt" + std::to_string(a), std::log((1 - p) / (a + 1.5f))});
            if (controls.choose && !marker) {
                // Step mode, as the real generator: the pick may replace the scripted token.
                const int32_t chosen = controls.choose(i, r.top, r.id);
                if (chosen != r.id) {
                    for (const Alternative& a : r.top)
                        if (a.id == chosen) {
                            r.text = a.text;
                            r.logprob = a.logprob;
                        }
                    r.id = chosen;
                    r.forced = true;
                    manual = true;
                }
            }
            r.t_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
            if (opt_.n_layers > 0 && s.record_routing) {
                r.routing.k = opt_.n_expert_used;
                for (int l = 0; l < opt_.n_layers; ++l) {
                    r.routing.layers.push_back(static_cast<uint16_t>(l));
                    // Reasoning prefers the low half of the experts, the answer the high half,
                    // each with a few favourites (a skewed hash): something to see in the
                    // heatmaps.
                    const int half = std::max(1, opt_.n_expert / 2),
                              base = think ? 0 : opt_.n_expert - half;
                    const uint32_t h = static_cast<uint32_t>(i) * 2654435761u ^
                                       static_cast<uint32_t>(l + 1) * 40503u;
                    const int first = static_cast<int>((h % half) * (h % half) / half);
                    for (int k = 0; k < opt_.n_expert_used; ++k) {
                        const int e =
                            base +
                            (first + k * (1 + static_cast<int>((h >> 8) % std::max(1, half - 1)))) %
                                half;
                        r.routing.experts.push_back(static_cast<uint16_t>(e));
                        r.routing.weights.push_back(
                            k == 0 ? 0.6f : 0.4f / std::max(1, opt_.n_expert_used - 1));
                    }
                }
            }
        }
        n_think += r.phase == Phase::Think;
        t.tokens.push_back(r);
        ++t.n_gen;
        if (!marker && r.text != "</think>")
            (r.phase == Phase::Think ? t.reasoning_text : t.answer_text) += r.text;
        if (on_token && !on_token(&t.tokens.back(), marker ? std::string() : r.text)) {
            t.stop_reason = StopReason::Stopped;
            break;
        }
    }
    if (t.stop_reason == StopReason::Eog && t.n_gen >= max_tokens)
        t.stop_reason = StopReason::MaxTokens;
    if (manual) t.interventions.push_back({"manual", -1, -1, -1, 0, ""});
    if (on_token) on_token(nullptr, std::string());
    t.reasoning_complete = n_think == 0 || t.n_gen >= think_end;
    // Trimmed at the ends, as the engine's reasoning parser leaves both texts.
    auto trim = [](std::string& x) {
        x.erase(0, x.find_first_not_of(" \n"));
        x.erase(x.find_last_not_of(" \n") + 1);
    };
    trim(t.reasoning_text);
    trim(t.answer_text);
    t.prefill_ms = 1;
    t.decode_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
    return t;
}

ContextUse SyntheticEngine::context_use(const std::vector<ChatTurn>& turns,
                                        const GenerationSettings& s) {
    ContextUse u;
    u.n_ctx = 4096;
    u.reasoning_kept = s.reasoning == ReasoningPolicy::Keep;
    u.system = words(s.system_prompt);
    for (const ChatTurn& t : turns) {
        if (t.role == "user") u.user += words(t.content);
        if (t.role == "assistant") {
            u.answers += words(t.content);
            (u.reasoning_kept ? u.reasoning : u.reasoning_dropped) += words(t.reasoning);
        }
        u.template_overhead += 4;
    }
    return u;
}

}  // namespace gb::app
