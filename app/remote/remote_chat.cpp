// Request body, streaming through the event-stream decoder and the chunk reader, and the trace.
#include "app/remote/remote_chat.h"

#include <chrono>
#include <sstream>

#include "app/remote/http.h"
#include "app/remote/sse.h"
#include "engine/core/json.h"
#include "engine/core/utf8.h"
#include "kernels/error.h"

namespace gb::remote {

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

std::string messages_json(const RemoteChatRequest& req) {
    std::ostringstream os;
    json::Writer w(os);
    w.begin_array();
    for (const auto& [role, content] : req.messages)
        w.begin_object(true).field("role", role).field("content", content).end_object();
    w.end_array();
    return os.str();
}

}  // namespace

std::string chat_request_body(const RemoteServer& server, const RemoteChatRequest& req) {
    std::ostringstream os;
    json::Writer w(os);
    const SamplerSettings& s = req.sampling;
    w.begin_object();
    w.field("model", req.model);
    w.key("messages").raw(messages_json(req));
    w.field("stream", true);
    w.key("stream_options").begin_object().field("include_usage", true).end_object();
    w.field("max_tokens", req.max_tokens);
    w.field("temperature", s.temperature);
    w.field("top_p", s.top_p);
    w.field("seed", s.seed);
    if (s.frequency_penalty != 0) w.field("frequency_penalty", s.frequency_penalty);
    if (s.presence_penalty != 0) w.field("presence_penalty", s.presence_penalty);
    if (!server.openai_fields_only) {
        w.field("top_k", s.top_k > 0 ? s.top_k : -1);
        w.field("min_p", s.min_p);
        if (s.repeat_penalty != 1.0f) w.field("repetition_penalty", s.repeat_penalty);
    }
    if (req.top_logprobs > 0) {
        w.field("logprobs", true);
        w.field("top_logprobs", req.top_logprobs);
    }
    w.end_object();
    return os.str();
}

std::vector<std::string> list_models(const RemoteServer& server, const std::atomic<bool>* cancel) {
    const HttpRequest req = base_request(server, api_url(server, "/models"));
    const HttpResponse r = http_request(req, {}, cancel);
    if (r.status < 200 || r.status >= 300)
        throw RemoteError(RemoteError::Kind::Http, describe_http_error(r, req.url));
    std::vector<std::string> out;
    try {
        const json::Value v = json::parse(r.body);
        const json::Value* data = v.find("data");
        if (!data) data = v.find("models");  // Ollama's /api/tags
        if (!data) throw Error("no \"data\" list");
        for (const json::Value& m : data->as_array()) {
            const json::Value* id = m.find("id");
            if (!id) id = m.find("name");
            if (id && id->kind() == json::Value::Kind::String) out.push_back(id->as_string());
        }
    } catch (const std::exception& e) {
        throw RemoteError(RemoteError::Kind::Malformed, "the model list from " + host_of(req.url) +
                                                            " could not be read (" + e.what() +
                                                            "): " + r.body.substr(0, 200));
    }
    return out;
}

RemoteReply remote_chat(const RemoteServer& server, const RemoteChatRequest& request,
                        const TokenCallback& on_token, const std::atomic<bool>* cancel) {
    validate(request.sampling);
    if (request.messages.empty()) throw RemoteError(RemoteError::Kind::Refused, "no messages");
    HttpRequest http = base_request(server, api_url(server, "/chat/completions"));
    http.method = "POST";
    http.headers.emplace_back("Content-Type", "application/json");
    http.headers.emplace_back("Accept", "text/event-stream");
    http.body = chat_request_body(server, request);

    RemoteReply out;
    Trace& t = out.trace;
    t.model = request.model;
    t.backend = "remote " + host_of(http.url);
    t.sampling = request.sampling;
    t.prompt_text = messages_json(request);
    SseDecoder sse;
    ChatStreamReader reader;
    std::vector<SseEvent> events;
    std::string held;         // bytes of a UTF-8 character not yet whole
    std::string first_bytes;  // for a 200 answer that is not an event stream
    bool done = false, stopped = false;
    const auto t0 = std::chrono::steady_clock::now();
    auto ms = [&] {
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
            .count();
    };
    HttpResponse resp;
    try {
        resp = http_request(
            http,
            [&](std::string_view bytes) {
                if (first_bytes.size() < 512)
                    first_bytes.append(bytes.substr(0, 512 - first_bytes.size()));
                try {
                    sse.feed(bytes, events);
                    for (const SseEvent& e : events) {
                        StreamDelta d;
                        if (!reader.event(e.data, ms(), &d)) {
                            done = true;
                            break;
                        }
                        for (const TokenRecord& r : d.tokens) {
                            std::string text;
                            held += r.text;
                            held.erase(0, utf8::append_repaired(text, held, false));
                            if (on_token && !on_token(&r, text)) {
                                stopped = true;
                                return false;
                            }
                        }
                    }
                    events.clear();
                } catch (const std::exception& e) {  // never through libcurl's C frames
                    out.error = e.what();
                    return false;
                }
                return !done;
            },
            cancel);
    } catch (const RemoteError& e) {
        if (reader.chunks() == 0 && out.error.empty()) throw;  // nothing began: no reply
        out.error = e.what();
    }
    if (out.error.empty() && !done && (resp.status < 200 || resp.status >= 300))
        throw RemoteError(RemoteError::Kind::Http, describe_http_error(resp, http.url));
    if (out.error.empty() && reader.chunks() == 0 && !resp.cancelled)
        throw RemoteError(RemoteError::Kind::Malformed,
                          "HTTP " + std::to_string(resp.status) + " from " + host_of(http.url) +
                              " but no event stream (content type '" + resp.content_type +
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
    t.n_gen = static_cast<int>(t.tokens.size());
    t.n_prompt = 0;
    t.reasoning_text = reader.reasoning();
    t.answer_text = reader.answer();
    t.reasoning_complete = reader.reasoning_complete();
    t.decode_ms = ms();
    t.prefill_ms = t.tokens.empty() ? 0 : t.tokens.front().t_ms;
    if (stopped)
        t.stop_reason = StopReason::Stopped;
    else if (resp.cancelled && !done)
        t.stop_reason = StopReason::Cancelled;
    else if (!out.error.empty())
        t.stop_reason = StopReason::Cancelled;
    else
        t.stop_reason = reader.stop_reason();
    out.usage = reader.usage();
    out.reasoning_source = reader.reasoning_source();
    return out;
}

}  // namespace gb::remote
