// Prometheus text, each server's metric names, llama-server's slots, and the poll.
#include "app/remote/server_health.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "app/remote/http.h"
#include "engine/core/json.h"
#include "kernels/error.h"

namespace gb::remote {

namespace {

bool name_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

double parse_number(std::string_view s, size_t line) {
    if (s == "+Inf" || s == "Inf") return std::numeric_limits<double>::infinity();
    if (s == "-Inf") return -std::numeric_limits<double>::infinity();
    if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
    double v = 0;
    const char* b = s.data();
    if (!s.empty() && s[0] == '+') ++b;
    const auto r = std::from_chars(b, s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size())
        throw Error("metrics line " + std::to_string(line) + ": '" + std::string(s) +
                    "' is not a number");
    return v;
}

}  // namespace

std::vector<MetricSample> parse_prometheus(std::string_view text) {
    std::vector<MetricSample> out;
    size_t line_no = 0;
    while (!text.empty()) {
        const size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        ++line_no;
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
        while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
        if (line.empty() || line.front() == '#') continue;
        auto fail = [&](const std::string& why) {
            throw Error("metrics line " + std::to_string(line_no) + " " + why + ": " +
                        std::string(line.substr(0, 120)));
        };
        MetricSample s;
        size_t p = 0;
        if (!name_start(line[0])) fail("does not start with a metric name");
        while (p < line.size() && name_char(line[p])) ++p;
        s.name = std::string(line.substr(0, p));
        if (p < line.size() && line[p] == '{') {
            ++p;
            while (true) {
                while (p < line.size() && (line[p] == ' ' || line[p] == ',')) ++p;
                if (p >= line.size()) fail("has an unclosed label set");
                if (line[p] == '}') {
                    ++p;
                    break;
                }
                const size_t k0 = p;
                while (p < line.size() && name_char(line[p])) ++p;
                if (p == k0 || p >= line.size() || line[p] != '=') fail("has a malformed label");
                const std::string key(line.substr(k0, p - k0));
                if (++p >= line.size() || line[p] != '"') fail("has an unquoted label value");
                ++p;
                std::string value;
                while (true) {
                    if (p >= line.size()) fail("has an unclosed label value");
                    const char c = line[p++];
                    if (c == '"') break;
                    if (c == '\\' && p < line.size()) {
                        const char e = line[p++];
                        value += e == 'n' ? '\n' : e;
                    } else {
                        value += c;
                    }
                }
                s.labels[key] = std::move(value);
            }
        }
        while (p < line.size() && (line[p] == ' ' || line[p] == '\t')) ++p;
        const size_t v0 = p;
        while (p < line.size() && line[p] != ' ' && line[p] != '\t') ++p;
        if (p == v0) fail("has no value");
        s.value = parse_number(line.substr(v0, p - v0), line_no);
        out.push_back(std::move(s));
    }
    return out;
}

ServerHealth health_from_metrics(ServerKind kind, const std::vector<MetricSample>& samples,
                                 const std::string& model) {
    auto wanted = [&](const MetricSample& s) {
        const auto it = s.labels.find("model_name");
        return model.empty() || it == s.labels.end() || it->second == model;
    };
    auto sum = [&](std::string_view name) {
        double v = -1;
        for (const MetricSample& s : samples)
            if (s.name == name && wanted(s) && std::isfinite(s.value))
                v = (v < 0 ? 0 : v) + s.value;
        return v;
    };
    auto largest = [&](std::string_view name) {
        double v = -1;
        for (const MetricSample& s : samples)
            if (s.name == name && wanted(s) && std::isfinite(s.value)) v = std::max(v, s.value);
        return v;
    };
    if (kind == ServerKind::Generic || kind == ServerKind::Ollama) {
        // Not known: whichever server's names are there.
        for (const MetricSample& s : samples) {
            if (s.name.rfind("vllm:", 0) == 0) kind = ServerKind::Vllm;
            if (s.name.rfind("sglang:", 0) == 0) kind = ServerKind::Sglang;
            if (s.name.rfind("llamacpp:", 0) == 0) kind = ServerKind::LlamaServer;
            if (kind != ServerKind::Generic && kind != ServerKind::Ollama) break;
        }
    }
    ServerHealth h;
    switch (kind) {
        case ServerKind::Vllm:
            h.running = sum("vllm:num_requests_running");
            h.waiting = sum("vllm:num_requests_waiting");
            h.kv_usage = largest("vllm:kv_cache_usage_perc");
            if (h.kv_usage < 0) h.kv_usage = largest("vllm:gpu_cache_usage_perc");  // before 0.10
            h.gen_tokens_total = sum("vllm:generation_tokens_total");
            h.prompt_tokens_total = sum("vllm:prompt_tokens_total");
            break;
        case ServerKind::Sglang:
            h.running = sum("sglang:num_running_reqs");
            h.waiting = sum("sglang:num_queue_reqs");
            h.kv_usage = largest("sglang:token_usage");
            h.gen_tps = sum("sglang:gen_throughput");
            h.gen_tokens_total = sum("sglang:generation_tokens_total");
            h.prompt_tokens_total = sum("sglang:prompt_tokens_total");
            break;
        case ServerKind::LlamaServer:
            h.running = sum("llamacpp:requests_processing");
            h.waiting = sum("llamacpp:requests_deferred");
            h.kv_usage = largest("llamacpp:kv_cache_usage_ratio");  // older builds only
            h.gen_tps = sum("llamacpp:predicted_tokens_seconds");
            h.gen_tokens_total = sum("llamacpp:tokens_predicted_total");
            h.prompt_tokens_total = sum("llamacpp:prompt_tokens_total");
            break;
        case ServerKind::Generic:
        case ServerKind::Ollama: break;
    }
    if (h.kv_usage > 1) h.kv_usage = -1;  // not a fraction: not what it should be
    return h;
}

void health_from_slots(std::string_view text, ServerHealth& h) {
    const json::Value v = json::parse(text);
    if (v.kind() != json::Value::Kind::Array) throw Error("/slots is not a list");
    h.n_slots = static_cast<int>(v.as_array().size());
    h.slots_busy = 0;
    for (const json::Value& s : v.as_array()) {
        const json::Value* p =
            s.kind() == json::Value::Kind::Object ? s.find("is_processing") : nullptr;
        if (p && p->kind() == json::Value::Kind::Bool && p->as_bool()) ++h.slots_busy;
    }
}

ServerHealth poll_health(const RemoteServer& server, const std::string& model,
                         const std::atomic<bool>* cancel) {
    const std::string root = server_root(server);
    auto get = [&](const std::string& path) {
        HttpRequest req;
        req.url = root + path;
        req.connect_timeout_s = 3;
        req.idle_timeout_s = 5;
        if (!server.api_key.empty())
            req.headers.emplace_back("Authorization", "Bearer " + server.api_key);
        return http_request(req, {}, cancel);
    };
    if (server.kind == ServerKind::Ollama)
        throw RemoteError(RemoteError::Kind::Refused, "Ollama has no metrics endpoint");
    const HttpResponse r = get("/metrics");
    if (r.status == 404) {
        std::string how = "the server at " + host_of(root) + " has no /metrics";
        if (server.kind == ServerKind::Sglang) how += ": start SGLang with --enable-metrics";
        if (server.kind == ServerKind::LlamaServer) how += ": start llama-server with --metrics";
        throw RemoteError(RemoteError::Kind::Http, how);
    }
    if (r.status < 200 || r.status >= 300)
        throw RemoteError(RemoteError::Kind::Http, describe_http_error(r, root + "/metrics"));
    ServerHealth h;
    try {
        h = health_from_metrics(server.kind, parse_prometheus(r.body), model);
    } catch (const Error& e) {
        throw RemoteError(RemoteError::Kind::Malformed,
                          "the metrics of " + host_of(root) + " could not be read: " + e.what());
    }
    if (server.kind == ServerKind::LlamaServer) {
        try {
            const HttpResponse s = get("/slots");
            if (s.status >= 200 && s.status < 300) health_from_slots(s.body, h);
        } catch (const std::exception&) {
            // /slots is optional (--no-slots): the metrics stand on their own.
        }
    }
    return h;
}

void fill_rate(ServerHealth& now, const ServerHealth& before, double seconds) {
    if (now.gen_tps >= 0 || seconds <= 0 || now.gen_tokens_total < 0 ||
        before.gen_tokens_total < 0 || now.gen_tokens_total < before.gen_tokens_total)
        return;
    now.gen_tps = (now.gen_tokens_total - before.gen_tokens_total) / seconds;
}

}  // namespace gb::remote
