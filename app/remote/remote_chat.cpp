// Request body, streaming through the event-stream decoder and the chunk reader, and the trace.
#include "app/remote/remote_chat.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <sstream>

#include "app/remote/http.h"
#include "app/remote/sse.h"
#include "engine/core/json.h"
#include "engine/core/utf8.h"
#include "kernels/error.h"

namespace gb::remote {

std::string messages_json(const std::vector<std::pair<std::string, std::string>>& messages) {
    std::ostringstream os;
    json::Writer w(os);
    w.begin_array();
    for (const auto& [role, content] : messages)
        w.begin_object(true).field("role", role).field("content", content).end_object();
    w.end_array();
    return os.str();
}

namespace {

std::string api_url(const RemoteServer& s, std::string_view path) {
    std::string base = s.base_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    return base + std::string(path);
}

HttpRequest base_request(const RemoteServer& s, std::string url) {
    HttpRequest r;
    r.url = std::move(url);
    r.connect_timeout_s = s.connect_timeout_s;
    r.idle_timeout_s = s.idle_timeout_s;
    if (!s.api_key.empty()) r.headers.emplace_back("Authorization", "Bearer " + s.api_key);
    return r;
}

std::string request_messages(const RemoteChatRequest& req) { return messages_json(req.messages); }

}  // namespace

namespace {

// Ollama's native /api/chat body: its sampling in "options", thinking as "think".
std::string ollama_request_body(const RemoteChatRequest& req) {
    std::ostringstream os;
    json::Writer w(os);
    const SamplerSettings& s = req.sampling;
    w.begin_object();
    w.field("model", req.model);
    w.key("messages").raw(request_messages(req));
    w.field("stream", true);
    if (req.thinking >= 0) w.field("think", req.thinking == 1);
    w.key("options").begin_object();
    w.field("num_predict", req.max_tokens);
    w.field("temperature", s.temperature);
    w.field("top_p", s.top_p);
    if (s.top_k > 0) w.field("top_k", s.top_k);
    w.field("min_p", s.min_p);
    w.field("seed", static_cast<int64_t>(s.seed & 0x7FFFFFFF));
    if (s.repeat_penalty != 1.0f) w.field("repeat_penalty", s.repeat_penalty);
    if (s.frequency_penalty != 0) w.field("frequency_penalty", s.frequency_penalty);
    if (s.presence_penalty != 0) w.field("presence_penalty", s.presence_penalty);
    w.end_object();
    if (req.top_logprobs > 0) {
        w.field("logprobs", true);
        w.field("top_logprobs", req.top_logprobs);
    }
    w.end_object();
    return os.str();
}

// vLLM returns routed experts only with a whole reply.
bool streams(const RemoteServer& server, const RemoteChatRequest& req) {
    return !(req.routed_experts && server.kind == ServerKind::Vllm);
}

}  // namespace

const char* server_kind_name(ServerKind k) {
    switch (k) {
        case ServerKind::Generic: return "OpenAI-compatible";
        case ServerKind::Vllm: return "vLLM";
        case ServerKind::Sglang: return "SGLang";
        case ServerKind::LlamaServer: return "llama-server";
        case ServerKind::Ollama: return "Ollama";
    }
    return "OpenAI-compatible";
}

ServerKind server_kind_from_name(std::string_view name) {
    std::string n(name);
    for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (n == "vllm") return ServerKind::Vllm;
    if (n == "sglang") return ServerKind::Sglang;
    if (n == "llama-server" || n == "llamacpp" || n == "llama.cpp") return ServerKind::LlamaServer;
    if (n == "ollama") return ServerKind::Ollama;
    return ServerKind::Generic;
}

std::string server_root(const RemoteServer& server) {
    std::string base = server.base_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    if (base.size() >= 3 && base.compare(base.size() - 3, 3, "/v1") == 0)
        base.resize(base.size() - 3);
    return base;
}

std::string chat_request_body(const RemoteServer& server, const RemoteChatRequest& req) {
    if (server.kind == ServerKind::Ollama && req.prompt.empty()) return ollama_request_body(req);
    const bool completion = !req.prompt.empty();
    std::ostringstream os;
    json::Writer w(os);
    const SamplerSettings& s = req.sampling;
    const bool stream = streams(server, req);
    w.begin_object();
    w.field("model", req.model);
    if (completion)
        w.field("prompt", req.prompt);
    else
        w.key("messages").raw(request_messages(req));
    w.field("stream", stream);
    if (stream) w.key("stream_options").begin_object().field("include_usage", true).end_object();
    w.field("max_tokens", req.max_tokens);
    w.field("temperature", s.temperature);
    w.field("top_p", s.top_p);
    w.field("seed", s.seed);
    if (s.frequency_penalty != 0) w.field("frequency_penalty", s.frequency_penalty);
    if (s.presence_penalty != 0) w.field("presence_penalty", s.presence_penalty);
    if (!server.openai_fields_only) {
        w.field("top_k", s.top_k > 0 ? s.top_k : -1);
        w.field("min_p", s.min_p);
        // Always sent: a server's own default (llama.cpp's 1.1) would otherwise apply.
        w.field("repetition_penalty", s.repeat_penalty);  // vLLM, SGLang
        if (server.kind == ServerKind::Generic || server.kind == ServerKind::LlamaServer)
            w.field("repeat_penalty", s.repeat_penalty);  // llama-server, llama-cpp-python
        if (req.thinking >= 0 && !completion)
            w.key("chat_template_kwargs")
                .begin_object()
                .field("enable_thinking", req.thinking == 1)
                .end_object();
        if (req.continue_final && !completion) {
            w.field("continue_final_message", true);
            w.field("add_generation_prompt", false);
        }
        if (req.routed_experts && server.kind == ServerKind::Sglang)
            w.field("return_routed_experts", true);
    }
    if (req.top_logprobs > 0 && completion) {
        w.field("logprobs", req.top_logprobs);  // the completions API: how many alternatives
    } else if (req.top_logprobs > 0) {
        w.field("logprobs", true);
        w.field("top_logprobs", req.top_logprobs);
    }
    w.end_object();
    return os.str();
}

namespace {

// GET {url}: the body as JSON. Throws RemoteError (Http with the server's words, Malformed).
json::Value get_json(const RemoteServer& server, const std::string& url, std::string_view what,
                     const std::atomic<bool>* cancel, double timeout_s = 0) {
    HttpRequest req = base_request(server, url);
    if (timeout_s > 0) req.connect_timeout_s = req.idle_timeout_s = timeout_s;
    const HttpResponse r = http_request(req, {}, cancel);
    if (r.status < 200 || r.status >= 300)
        throw RemoteError(RemoteError::Kind::Http, describe_http_error(r, req.url));
    try {
        return json::parse(r.body);
    } catch (const std::exception& e) {
        throw RemoteError(RemoteError::Kind::Malformed,
                          std::string(what) + " from " + host_of(req.url) + " could not be read (" +
                              e.what() + "): " + r.body.substr(0, 200));
    }
}

const std::string* str_of(const json::Value& v, std::string_view key) {
    const json::Value* f = v.kind() == json::Value::Kind::Object ? v.find(key) : nullptr;
    return f && f->kind() == json::Value::Kind::String ? &f->as_string() : nullptr;
}

int64_t int_of(const json::Value* v, std::string_view key) {
    const json::Value* f = v && v->kind() == json::Value::Kind::Object ? v->find(key) : nullptr;
    return f && f->kind() == json::Value::Kind::Number ? f->as_int64() : 0;
}

// The model list: {"data":[{"id",..}]} (OpenAI), or Ollama's /api/tags {"models":[{"name"}]}.
std::vector<ServerInfo::Model> read_models(const json::Value& v, std::string* owner) {
    std::vector<ServerInfo::Model> out;
    const json::Value* data = v.kind() == json::Value::Kind::Object ? v.find("data") : nullptr;
    if (!data && v.kind() == json::Value::Kind::Object) data = v.find("models");
    if (!data || data->kind() != json::Value::Kind::Array) throw Error("no \"data\" list");
    for (const json::Value& m : data->as_array()) {
        const std::string* id = str_of(m, "id");
        if (!id) id = str_of(m, "name");
        if (!id) continue;
        ServerInfo::Model model;
        model.id = *id;
        model.n_ctx = int_of(&m, "max_model_len");                              // vLLM
        if (!model.n_ctx) model.n_ctx = int_of(m.find("meta"), "n_ctx_train");  // llama-server
        if (owner && owner->empty())
            if (const std::string* o = str_of(m, "owned_by")) *owner = *o;
        out.push_back(std::move(model));
    }
    return out;
}

std::vector<ServerInfo::Model> fetch_models(const RemoteServer& server,
                                            const std::atomic<bool>* cancel, std::string* owner) {
    const std::string url = api_url(server, "/models");
    const json::Value v = get_json(server, url, "the model list", cancel);
    try {
        return read_models(v, owner);
    } catch (const std::exception& e) {
        throw RemoteError(
            RemoteError::Kind::Malformed,
            "the model list from " + host_of(url) + " could not be read (" + e.what() + ")");
    }
}

}  // namespace

std::vector<std::string> list_models(const RemoteServer& server, const std::atomic<bool>* cancel) {
    std::vector<std::string> ids;
    for (const ServerInfo::Model& m : fetch_models(server, cancel, nullptr)) ids.push_back(m.id);
    return ids;
}

ServerInfo probe_server(const RemoteServer& server, const std::atomic<bool>* cancel) {
    ServerInfo info;
    std::string owner;
    info.models = fetch_models(server, cancel, &owner);
    const std::string root = server_root(server);
    // An endpoint's JSON, or null when it does not answer with JSON (short timeouts: these
    // are guesses, and a server without the endpoint answers 404 at once).
    auto try_get = [&](const char* path) -> json::Value {
        try {
            return get_json(server, root + path, path, cancel, 3);
        } catch (const RemoteError&) {
            return json::Value();
        }
    };
    auto version_from = [&](const json::Value& v, const char* key) {
        if (const std::string* ver = str_of(v, key)) info.version = *ver;
    };
    info.kind = server_kind_from_name(owner);
    if (info.kind == ServerKind::Generic && owner == "library") info.kind = ServerKind::Ollama;
    if (info.kind == ServerKind::Generic || info.kind == ServerKind::Ollama) {
        const json::Value v = try_get("/api/version");
        if (str_of(v, "version")) {
            info.kind = ServerKind::Ollama;
            version_from(v, "version");
            return info;
        }
    }
    if (info.kind == ServerKind::Generic || info.kind == ServerKind::LlamaServer) {
        const json::Value v = try_get("/props");
        if (v.kind() == json::Value::Kind::Object &&
            (v.find("default_generation_settings") || v.find("build_info"))) {
            info.kind = ServerKind::LlamaServer;
            version_from(v, "build_info");
            for (ServerInfo::Model& m : info.models)
                if (!m.n_ctx) m.n_ctx = int_of(v.find("default_generation_settings"), "n_ctx");
            return info;
        }
    }
    if (info.kind == ServerKind::Generic || info.kind == ServerKind::Sglang) {
        const json::Value v = try_get("/get_server_info");
        if (v.kind() == json::Value::Kind::Object && v.find("model_path")) {
            info.kind = ServerKind::Sglang;
            version_from(v, "version");
            return info;
        }
    }
    if (info.kind == ServerKind::Generic || info.kind == ServerKind::Vllm) {
        const json::Value v = try_get("/version");
        if (str_of(v, "version") && info.kind == ServerKind::Vllm) version_from(v, "version");
    }
    return info;
}

RemoteReply remote_chat(const RemoteServer& server, const RemoteChatRequest& request,
                        const TokenCallback& on_token, const std::atomic<bool>* cancel) {
    validate(request.sampling);
    const bool completion = !request.prompt.empty();
    if (request.messages.empty() && !completion)
        throw RemoteError(RemoteError::Kind::Refused, "no messages");
    const bool ollama = server.kind == ServerKind::Ollama && !completion;
    const bool stream = streams(server, request);
    HttpRequest http = base_request(server, ollama       ? server_root(server) + "/api/chat"
                                            : completion ? api_url(server, "/completions")
                                                         : api_url(server, "/chat/completions"));
    http.method = "POST";
    http.headers.emplace_back("Content-Type", "application/json");
    if (stream && !ollama) http.headers.emplace_back("Accept", "text/event-stream");
    http.body = chat_request_body(server, request);

    RemoteReply out;
    Trace& t = out.trace;
    t.model = request.model;
    t.backend = "remote " + host_of(http.url);
    t.sampling = request.sampling;
    t.prompt_text = completion ? request.prompt : request_messages(request);
    SseDecoder sse;
    // A reply continued inside its reasoning goes on with reasoning (the markers are behind).
    bool in_reasoning = false;
    if ((request.continue_final && !request.messages.empty()) || completion) {
        const std::string& last = completion ? request.prompt : request.messages.back().second;
        const size_t open = last.rfind("<think>");
        in_reasoning =
            open != std::string::npos && last.find("</think>", open) == std::string::npos;
    }
    ChatStreamReader reader(in_reasoning);
    std::vector<SseEvent> events;
    std::string held;         // bytes of a UTF-8 character not yet whole
    std::string first_bytes;  // for a 200 answer that is not an event stream
    std::string line;         // Ollama: the NDJSON line so far
    std::string whole;        // a reply not streamed
    bool done = false, stopped = false;
    size_t delivered = 0;  // records handed to on_token
    const auto t0 = std::chrono::steady_clock::now();
    auto ms = [&] {
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
            .count();
    };
    // One event's data through the reader, its records to on_token; false to stop.
    auto take = [&](std::string_view data) {
        StreamDelta d;
        if (!reader.event(data, ms(), &d)) {
            done = true;
            return false;
        }
        for (const TokenRecord& r : d.tokens) {
            ++delivered;
            std::string text;
            held += r.text;
            held.erase(0, utf8::append_repaired(text, held, false));
            if (on_token && !on_token(&r, text)) {
                stopped = true;
                return false;
            }
        }
        return true;
    };
    HttpResponse resp;
    try {
        resp = http_request(
            http,
            [&](std::string_view bytes) {
                if (first_bytes.size() < 512)
                    first_bytes.append(bytes.substr(0, 512 - first_bytes.size()));
                try {
                    if (!stream) {
                        if (whole.size() + bytes.size() > (size_t{1} << 30))
                            throw RemoteError(RemoteError::Kind::Malformed,
                                              "the reply is larger than 1 GiB");
                        whole.append(bytes);
                        return true;
                    }
                    if (ollama) {  // newline-delimited JSON
                        for (char ch : bytes) {
                            if (ch != '\n') {
                                line += ch;
                                continue;
                            }
                            const bool go =
                                line.find_first_not_of(" \r\t") == std::string::npos || take(line);
                            line.clear();
                            if (!go) return false;
                        }
                        return true;
                    }
                    sse.feed(bytes, events);
                    for (const SseEvent& e : events)
                        if (!take(e.data)) break;
                    events.clear();
                } catch (const std::exception& e) {  // never through libcurl's C frames
                    out.error = e.what();
                    return false;
                }
                return !done && !stopped;
            },
            cancel);
    } catch (const RemoteError& e) {
        if (reader.chunks() == 0 && out.error.empty()) throw;  // nothing began: no reply
        out.error = e.what();
    }
    if (out.error.empty() && !done && (resp.status < 200 || resp.status >= 300))
        throw RemoteError(RemoteError::Kind::Http, describe_http_error(resp, http.url));
    if (out.error.empty() && !stream && !resp.cancelled) {
        take(whole);  // a server's error object throws: no reply began
    } else if (out.error.empty() && ollama && !line.empty() && !done && !stopped) {
        try {
            take(line);  // a last line without its newline
        } catch (const std::exception& e) {
            out.error = e.what();
        }
    }
    if (out.error.empty() && reader.chunks() == 0 && !resp.cancelled)
        throw RemoteError(RemoteError::Kind::Malformed,
                          "HTTP " + std::to_string(resp.status) + " from " + host_of(http.url) +
                              " but no " + (stream ? "event stream" : "reply") +
                              " (content type '" + resp.content_type +
                              "'): " + first_bytes.substr(0, 200));
    if (out.error.empty() && !done && !resp.cancelled && !stopped &&
        reader.stop_reason() == StopReason::None)
        out.error = "the stream from " + host_of(http.url) + " ended without a finish reason";
    if (on_token && !held.empty()) {
        std::string rest;
        utf8::append_repaired(rest, held, true);
        on_token(nullptr, rest);
    }
    reader.finish();
    t.tokens = reader.tokens();
    t.n_prompt = 0;
    t.reasoning_text = reader.reasoning();
    t.answer_text = reader.answer();
    t.reasoning_complete = reader.reasoning_complete();
    if (stopped && delivered < t.tokens.size()) {
        // The callback stopped inside a chunk: the reply ends with the record it stopped at.
        t.tokens.resize(delivered);
        set_texts_from_records(t);
    }
    t.n_gen = static_cast<int>(t.tokens.size());
    t.decode_ms = ms();
    t.prefill_ms = t.tokens.empty() ? 0 : t.tokens.front().t_ms;
    if (stopped)
        t.stop_reason = StopReason::Stopped;
    else if (!out.error.empty())
        t.stop_reason = StopReason::Error;
    else if (resp.cancelled && !done)
        t.stop_reason = StopReason::Cancelled;
    else
        t.stop_reason = reader.stop_reason();
    out.usage = reader.usage();
    t.server_usage = out.usage;
    out.reasoning_source = reader.reasoning_source();
    attach_routing(reader.routed_experts(), request, out);
    return out;
}

RecordTexts texts_of_records(const Trace& t) {
    RecordTexts x;
    for (const TokenRecord& r : t.tokens) {
        if (r.phase == Phase::Prompt) continue;
        if (r.phase == Phase::Think) {
            x.has_reasoning = true;
            x.reasoning += r.text;
            if (r.forced || r.text.find("</think>") != std::string::npos) x.reasoning_closed = true;
        } else {
            x.answer += r.text;
            if (x.has_reasoning) x.reasoning_closed = true;
        }
    }
    for (std::string_view marker : {"<think>", "</think>"})
        for (size_t at = x.reasoning.find(marker); at != std::string::npos;
             at = x.reasoning.find(marker, at))
            x.reasoning.erase(at, marker.size());
    auto trim = [](std::string& s) {
        const size_t a = s.find_first_not_of(" \t\r\n");
        s = a == std::string::npos ? std::string()
                                   : s.substr(a, s.find_last_not_of(" \t\r\n") - a + 1);
    };
    trim(x.reasoning);
    trim(x.answer);
    return x;
}

void set_texts_from_records(Trace& t) {
    RecordTexts x = texts_of_records(t);
    t.reasoning_text = std::move(x.reasoning);
    t.answer_text = std::move(x.answer);
    t.reasoning_complete = !x.has_reasoning || x.reasoning_closed;
}

void attach_routing(const RoutedExpertsPayload& payload, const RemoteChatRequest& request,
                    RemoteReply& out) {
    if (payload.format == RoutedExpertsPayload::Format::None) return;
    Trace& t = out.trace;
    // Routing goes to tokens: records that are pieces of text (no log-probabilities) are not.
    for (const TokenRecord& r : t.tokens)
        if (std::isnan(r.logprob)) {
            out.routing_problem =
                "routed experts arrived, but the server sent no per-token records to put them "
                "on (ask for log-probabilities)";
            return;
        }
    try {
        const RoutedExperts re =
            decode_payload(payload, t.n_gen, out.usage.prompt_tokens, request.n_layer);
        const RoutingMatch m = match_routing(re, t.tokens);
        out.routed_tokens = m.tokens;
        out.routing_problem = m.problem;
        if (m.tokens > 0) {
            t.n_expert_used = static_cast<int>(re.k);
            t.n_expert = std::max(m.n_expert, t.n_expert_used);
        }
    } catch (const std::exception& e) {
        out.routing_problem = std::string("the routed experts in ") + payload.where +
                              " could not be read: " + e.what();
    }
}

}  // namespace gb::remote
