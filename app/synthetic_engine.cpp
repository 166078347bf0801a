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

Trace SyntheticEngine::generate(const std::vector<ChatTurn>& turns, const GenerationSettings& s,
                                const TokenCallback& on_token, const std::atomic<bool>* cancel) {
    if (!loaded_) throw Error("no model is loaded");
    // The real generator's checks, with its messages: settings come from a history file too.
    validate(s.sampling);
    if (s.max_tokens < 0) throw Error("generate: max tokens must be >= 0");
    if (s.top_n < 0 || s.top_n > 100)
        throw Error("generate: alternatives recorded per token must be 0..100, got " +
                    std::to_string(s.top_n));
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    Trace t;
    t.model = info_.name;
    t.backend = "synthetic";
    t.sampling = s.sampling;
    t.n_expert = static_cast<int>(info_.n_expert);
    t.n_expert_used = static_cast<int>(info_.n_expert_used);
    // Prompt tokens: one per word of the last user turn.
    const std::string prompt = turns.empty() ? std::string() : turns.back().content;
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
    const int n_think = s.thinking ? opt_.n_reasoning_tokens : 0;
    // Its scripted reply ends where a model would stop, unless told to write on (stop_at_end).
    const int n_total =
        s.stop_at_end ? std::min(s.max_tokens, n_think + opt_.n_answer_tokens) : s.max_tokens;
    const double step_ms = 1000.0 / std::max(1.0, opt_.tokens_per_second);
    t.stop_reason = StopReason::Eog;
    for (int i = 0; i < n_total; ++i) {
        if (cancel && cancel->load()) {
            t.stop_reason = StopReason::Cancelled;
            break;
        }
        std::this_thread::sleep_until(
            t0 + std::chrono::microseconds(static_cast<int64_t>((i + 1) * step_ms * 1000)));
        TokenRecord r;
        const bool think = i < n_think;
        r.phase = think ? Phase::Think : Phase::Answer;
        const int j = think ? i : i - n_think;
        r.text = think ? kThinkWords[j % std::size(kThinkWords)]
                       : kAnswerWords[j % std::size(kAnswerWords)];
        r.id = 1000 + i;
        // A smooth, repeatable pattern of confident and uncertain tokens.
        const float p = 0.35f + 0.6f * static_cast<float>(0.5 + 0.5 * std::sin(i * 0.7));
        r.logprob = std::log(p);
        r.entropy = static_cast<float>(-p * std::log(p) - (1 - p) * std::log((1 - p) / 4 + 1e-9f));
        r.top.push_back({r.id, r.text, r.logprob});
        for (int a = 1; a < 5; ++a)
            r.top.push_back(
                {r.id + a * 7, " alt" + std::to_string(a), std::log((1 - p) / (a + 1.5f))});
        r.t_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
        if (opt_.n_layers > 0 && s.record_routing) {
            r.routing.k = opt_.n_expert_used;
            for (int l = 0; l < opt_.n_layers; ++l) {
                r.routing.layers.push_back(static_cast<uint16_t>(l));
                // Reasoning prefers the low half of the experts, the answer the high half, each
                // with a few favourites (a skewed hash): something to see in the heatmaps.
                const int half = std::max(1, opt_.n_expert / 2),
                          base = think ? 0 : opt_.n_expert - half;
                const uint32_t h =
                    static_cast<uint32_t>(i) * 2654435761u ^ static_cast<uint32_t>(l + 1) * 40503u;
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
        t.tokens.push_back(r);
        ++t.n_gen;
        (think ? t.reasoning_text : t.answer_text) += r.text;
        if (on_token && !on_token(&t.tokens.back(), r.text)) {
            t.stop_reason = StopReason::Stopped;
            break;
        }
    }
    if (t.stop_reason == StopReason::Eog && t.n_gen >= s.max_tokens)
        t.stop_reason = StopReason::MaxTokens;
    if (on_token) on_token(nullptr, std::string());
    t.reasoning_complete = t.n_gen >= n_think;
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
