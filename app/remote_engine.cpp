// A served model as a ChatEngine: load probes the server, a reply streams through remote_chat,
// and a cut reply or a closed reasoning carries on by handing the server the reply so far.
#include "app/remote_engine.h"

#include <algorithm>
#include <cmath>

#include "app/remote/http.h"
#include "engine/core/json.h"

namespace gb::app {

namespace {

// The URL as it may be shown and stored: no user:password@, no query.
std::string shown_url(std::string url) {
    const size_t scheme = url.find("://");
    const size_t host = scheme == std::string::npos ? 0 : scheme + 3;
    const size_t path = url.find('/', host);
    const size_t at = url.rfind('@', path == std::string::npos ? url.size() : path);
    if (at != std::string::npos && at >= host) url.erase(host, at + 1 - host);
    if (const size_t q = url.find('?'); q != std::string::npos) url.resize(q);
    return url;
}

int64_t add_usage(int64_t a, int64_t b) { return a < 0 ? b : b < 0 ? a : a + b; }
double add_usage(double a, double b) { return a < 0 ? b : b < 0 ? a : a + b; }

}  // namespace

std::vector<std::pair<std::string, std::string>> remote_messages(const Trace& t) {
    std::vector<std::pair<std::string, std::string>> out;
    try {
        const json::Value v = json::parse(t.prompt_text);
        for (const json::Value& m : v.as_array())
            out.emplace_back(m.at("role").as_string(), m.at("content").as_string());
    } catch (const std::exception& e) {
        throw Error(std::string("this reply's prompt is not a server request's messages (") +
                    e.what() + "): it was not made by a remote server");
    }
    if (out.empty()) throw Error("this reply's prompt holds no messages");
    return out;
}

std::string remote_prefill(const Trace& t) {
    const remote::RecordTexts x = remote::texts_of_records(t);
    if (!x.has_reasoning) return x.answer;
    std::string s = "<think>\n" + x.reasoning;
    if (x.reasoning_closed) s += "\n</think>\n\n" + x.answer;
    return s;
}

ModelInfo RemoteEngine::load(const LoadSettings& settings) {
    loaded_ = false;
    info_ = {};
    const RemoteSettings& r = settings.remote;
    if (r.base_url.empty()) throw Error("no server address given");
    if (r.base_url.rfind("http://", 0) != 0 && r.base_url.rfind("https://", 0) != 0)
        throw Error("the server address '" + shown_url(r.base_url) +
                    "' must start with http:// or https://");
    remote::RemoteServer s;
    s.base_url = r.base_url;
    s.api_key = r.api_key;
    s.openai_fields_only = r.openai_fields_only;
    s.idle_timeout_s = r.idle_timeout_s;
    remote::ServerInfo si;
    try {
        si = remote::probe_server(s);
    } catch (const remote::RemoteError& e) {
        throw Error("the server at " + remote::host_of(s.base_url) +
                    " cannot be used: " + e.what());
    }
    s.kind = r.kind.empty() ? si.kind : remote::server_kind_from_name(r.kind);
    std::string model = r.model;
    const remote::ServerInfo::Model* listed = nullptr;
    for (const auto& m : si.models)
        if (m.id == model || (model.empty() && si.models.size() == 1)) listed = &m;
    if (model.empty() && !listed) {
        std::string names;
        for (const auto& m : si.models) names += (names.empty() ? "" : ", ") + m.id;
        throw Error("choose a model: the server at " + remote::host_of(s.base_url) +
                    (si.models.empty() ? " lists none" : " serves " + names));
    }
    if (!listed && !si.models.empty()) {
        std::string names;
        for (const auto& m : si.models) names += (names.empty() ? "" : ", ") + m.id;
        throw Error("the server at " + remote::host_of(s.base_url) + " has no model \"" + model +
                    "\"; it serves " + names);
    }
    if (listed) model = listed->id;
    server_ = s;
    remote_ = r;
    remote_.model = model;
    ModelInfo info;
    info.remote = true;
    info.path = shown_url(r.base_url) + "#" + model;
    info.name = model;
    info.arch = "remote";
    info.server = std::string(remote::server_kind_name(s.kind)) +
                  (si.version.empty() ? "" : " " + si.version) + " at " +
                  remote::host_of(s.base_url);
    info.format = info.server;
    info.server_kind = remote::server_kind_name(s.kind);
    info.backend = "remote";
    info.n_ctx_train = listed ? listed->n_ctx : 0;
    info.n_layer = r.n_layer;
    info.n_expert = r.n_expert;
    info.has_template = true;  // the server applies its own
    info_ = info;
    loaded_ = true;
    return info_;
}

void RemoteEngine::check_reply_of_this_model(const Trace& t) const {
    if (!loaded_) throw Error("no server is connected: choose Model > Connect to a server");
    if (t.backend.rfind("remote", 0) != 0)
        throw Error("this reply was made by a local model, not by \"" + info_.name +
                    "\" on a server: load that model to continue or re-run it");
    if (!t.model.empty() && t.model != info_.name)
        throw Error("this reply was made by \"" + t.model + "\", not by \"" + info_.name +
                    "\": connect to that model to continue or re-run it");
}

Trace RemoteEngine::generate(const std::vector<ChatTurn>& turns, const GenerationSettings& s,
                             const TokenCallback& on_token, const RunControls& controls) {
    if (!loaded_) throw Error("no server is connected: choose Model > Connect to a server");
    if (controls.choose)
        throw Error("step mode needs a local model: a server samples its own tokens");
    if (!s.disable_experts.empty() || !s.force_experts.empty())
        throw Error(
            "expert steering needs a local model: a server's router cannot be steered "
            "from here (clear the steering in the settings)");
    Messages m;
    if (!s.system_prompt.empty()) m.emplace_back("system", s.system_prompt);
    for (const ChatTurn& t : turns) m.emplace_back(t.role, t.content);
    return run(std::move(m), Trace{}, s, on_token, controls);
}

Trace RemoteEngine::run(Messages messages, Trace kept, const GenerationSettings& s,
                        const TokenCallback& on_token, const RunControls& controls) {
    validate(s.sampling);
    Trace out = std::move(kept);
    out.model = info_.name;
    out.backend = "remote " + remote::host_of(server_.base_url);
    out.device = info_.server;
    out.sampling = s.sampling;
    out.prompt_text = remote::messages_json(messages);
    out.n_prompt = 0;
    out.server_usage = {};
    for (const TokenRecord& r : out.tokens)
        if (on_token && !on_token(&r, r.text)) break;
    const int kept_n = static_cast<int>(out.tokens.size());
    int n_think = 0;
    for (const TokenRecord& r : out.tokens) n_think += r.phase == Phase::Think;
    bool closed_by_us = false;
    double t_offset = 0;
    for (int round = 0;; ++round) {
        remote::RemoteChatRequest req;
        req.model = info_.name;
        req.messages = messages;
        if (!out.tokens.empty()) {
            req.messages.emplace_back("assistant", remote_prefill(out));
            req.continue_final = true;
        }
        req.sampling = s.sampling;
        req.max_tokens = s.max_tokens - (static_cast<int>(out.tokens.size()) - kept_n);
        req.top_logprobs = std::clamp(s.top_n, 0, 20);
        req.thinking = s.thinking ? 1 : 0;
        req.routed_experts = remote_.routed_experts;
        req.n_layer = remote_.n_layer;
        if (req.max_tokens <= 0) break;
        bool close_now = false;
        const bool was_in_reasoning =
            !remote::texts_of_records(out).reasoning_closed && n_think > 0;
        auto cb = [&](const TokenRecord* r, const std::string& text) {
            const bool go = !on_token || on_token(r, text);
            if (r && r->phase == Phase::Think && !closed_by_us) {
                ++n_think;
                const bool asked = controls.stop_thinking && controls.stop_thinking->load();
                const bool budget = s.think_budget >= 0 && n_think >= s.think_budget;
                if (asked || budget) {
                    close_now = true;
                    out.interventions.push_back(
                        {asked ? "stop-thinking" : "think-budget", -1, -1, -1, n_think, {}});
                    return false;
                }
            }
            return go;
        };
        // The stop of a thinking budget of 0 comes before any token.
        if (s.think_budget == 0 && !closed_by_us && round == 0 && kept_n == 0) {
            close_now = true;
            out.interventions.push_back({"think-budget", -1, -1, -1, 0, {}});
        }
        remote::RemoteReply rep;
        if (!close_now) {
            try {
                rep = remote::remote_chat(server_, req, cb, controls.cancel);
            } catch (const remote::RemoteError& e) {
                if (out.tokens.empty()) throw Error(e.what());
                notice_ = std::string("the server could not carry the reply on: ") + e.what();
                out.stop_reason = StopReason::Error;
                break;
            }
            for (TokenRecord& r : rep.trace.tokens) {
                r.t_ms += t_offset;
                out.tokens.push_back(std::move(r));
            }
            t_offset += rep.trace.decode_ms;
            if (round == 0) out.prefill_ms = rep.trace.prefill_ms;
            out.decode_ms += rep.trace.decode_ms;
            ServerUsage& u = out.server_usage;
            const ServerUsage& v = rep.usage;
            if (u.prompt_tokens < 0) u.prompt_tokens = v.prompt_tokens;
            u.completion_tokens = add_usage(u.completion_tokens, v.completion_tokens);
            u.reasoning_tokens = add_usage(u.reasoning_tokens, v.reasoning_tokens);
            u.cached_prompt_tokens = add_usage(u.cached_prompt_tokens, v.cached_prompt_tokens);
            u.prompt_ms = add_usage(u.prompt_ms, v.prompt_ms);
            u.generate_ms = add_usage(u.generate_ms, v.generate_ms);
            if (rep.trace.n_expert > 0) {
                out.n_expert = std::max<int>(rep.trace.n_expert, static_cast<int>(info_.n_expert));
                out.n_expert_used = rep.trace.n_expert_used;
            }
            if (!rep.routing_problem.empty()) notice_ = "Routed experts: " + rep.routing_problem;
            if (!rep.error.empty())
                notice_ = "The reply was cut short (" + rep.error +
                          "). What arrived is kept; Continue asks the server to carry it on.";
            out.stop_reason = rep.trace.stop_reason;
        }
        const bool cancelled = controls.cancel && controls.cancel->load();
        if (!close_now || cancelled) break;
        // Close the reasoning (a forced record, as a local reply's inserted end marker) and
        // ask again with it closed: the answer follows.
        closed_by_us = true;
        if (was_in_reasoning || n_think > 0 || s.think_budget == 0) {
            TokenRecord close;
            close.id = -1;
            close.text = n_think > 0 ? "\n</think>\n\n" : "<think>\n\n</think>\n\n";
            close.phase = Phase::Think;
            close.forced = true;
            close.t_ms = t_offset;
            if (on_token) on_token(&close, close.text);
            out.interventions.back().at = static_cast<int>(out.tokens.size());
            out.tokens.push_back(std::move(close));
        }
    }
    out.n_gen = static_cast<int>(out.tokens.size());
    remote::set_texts_from_records(out);
    return out;
}

Trace RemoteEngine::continue_reply(const Trace& parent, const GenerationSettings& s,
                                   const TokenCallback& on_token, const RunControls& controls) {
    check_reply_of_this_model(parent);
    if (parent.tokens.empty())
        throw Error("this reply has nothing to continue from: regenerate it instead");
    Trace kept = parent;
    kept.interventions.push_back({"continue", parent.n_gen, -1, -1, 0, {}});
    GenerationSettings rs = s;
    rs.sampling = parent.sampling;
    return run(remote_messages(parent), std::move(kept), rs, on_token, controls);
}

Trace RemoteEngine::continue_thought(const Trace& parent, const std::string& thought,
                                     const GenerationSettings& s, const TokenCallback& on_token,
                                     const RunControls& controls) {
    check_reply_of_this_model(parent);
    // The edited thought as one forced record (the server's tokens for it are not known).
    Trace kept;
    TokenRecord open;
    open.id = -1;
    open.text = "<think>\n" + thought;
    open.phase = Phase::Think;
    open.forced = true;
    kept.tokens.push_back(std::move(open));
    kept.interventions.push_back({"edit-thought", 1, -1, -1, 0, {}});
    GenerationSettings rs = s;
    rs.sampling = parent.sampling;
    return run(remote_messages(parent), std::move(kept), rs, on_token, controls);
}

Trace RemoteEngine::rescore(const Trace&, bool, const RunControls&) {
    throw Error(
        "rescoring needs a local model: a server returns the probabilities it sampled with and "
        "cannot score a given reply in another precision");
}

Trace RemoteEngine::reproduce(const Trace& recorded, const RunControls& controls) {
    check_reply_of_this_model(recorded);
    GenerationSettings s;
    s.sampling = recorded.sampling;
    s.max_tokens = std::max(1, recorded.n_gen);
    s.top_n = 0;
    for (const TokenRecord& r : recorded.tokens) s.top_n = std::max<int>(s.top_n, r.top.size());
    return run(remote_messages(recorded), Trace{}, s, {}, controls);
}

Trace RemoteEngine::branch(const Trace&, int, int32_t, const GenerationSettings&,
                           const TokenCallback&, const RunControls&) {
    throw Error(
        "branching at a token needs a local model: a server cannot be made to take a "
        "chosen token (Continue and Edit thought work with a server)");
}

ResampleResult RemoteEngine::resample(const Trace&, int, const ResampleOptions&,
                                      const std::function<void(int)>&, const RunControls&) {
    throw Error(
        "resampling from a token needs a local model: a server cannot restart a reply "
        "at a chosen token");
}

ChatEngine::Lens RemoteEngine::lens(const std::vector<int32_t>&, int, int, int, int) {
    throw Error("the logit lens needs a local model: a server does not give its layers' states");
}

ContextUse RemoteEngine::context_use(const std::vector<ChatTurn>&, const GenerationSettings&) {
    // The server applies its own template and tokenizer: the parts are not known here.
    ContextUse u;
    u.n_ctx = info_.n_ctx_train;
    return u;
}

}  // namespace gb::app
