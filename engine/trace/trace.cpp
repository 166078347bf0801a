// Per-token statistics from logits, and the trace's JSON export/import (TRACE_FORMAT.md).
#include "engine/trace/trace.h"

#include <algorithm>
#include <cmath>
#include <ostream>
#include <sstream>

#include "engine/core/json.h"
#include "kernels/error.h"
#include "kernels/logit_summary.h"

namespace gb {

const char* phase_name(Phase p) {
    switch (p) {
        case Phase::Prompt: return "prompt";
        case Phase::Think: return "think";
        case Phase::Answer: return "answer";
    }
    return "?";
}

const char* stop_reason_name(StopReason r) {
    switch (r) {
        case StopReason::None: return "";
        case StopReason::Eog: return "eog";
        case StopReason::MaxTokens: return "max tokens";
        case StopReason::ContextFull: return "context full";
        case StopReason::Stopped: return "stopped";
        case StopReason::Cancelled: return "cancelled";
        case StopReason::Error: return "error";
    }
    return "";
}

StopReason stop_reason_from_name(std::string_view name) {
    for (StopReason r :
         {StopReason::None, StopReason::Eog, StopReason::MaxTokens, StopReason::ContextFull,
          StopReason::Stopped, StopReason::Cancelled, StopReason::Error})
        if (name == stop_reason_name(r)) return r;
    throw Error("unknown stop reason \"" + std::string(name) +
                "\" (expected eog, max tokens, context full, stopped, cancelled, error or empty)");
}

bool stop_is_complete(StopReason r) {
    return r == StopReason::Eog || r == StopReason::MaxTokens || r == StopReason::Stopped;
}

Phase phase_from_name(std::string_view name) {
    if (name == "prompt") return Phase::Prompt;
    if (name == "think") return Phase::Think;
    if (name == "answer") return Phase::Answer;
    throw Error("unknown token phase \"" + std::string(name) +
                "\" (expected prompt, think or answer)");
}

TokenStats token_stats(std::span<const float> logits, int32_t chosen, int top_n) {
    const size_t n = logits.size();
    if (chosen < 0 || static_cast<size_t>(chosen) >= n)
        throw Error("token_stats: token id " + std::to_string(chosen) + " is outside the " +
                    std::to_string(n) + " logits");
    if (top_n < 0) throw Error("token_stats: top_n must be >= 0, got " + std::to_string(top_n));
    float stats[kLogitStats];
    std::vector<int32_t> ids(static_cast<size_t>(top_n));
    std::vector<float> top(static_cast<size_t>(top_n));
    logit_summary_row(logits.data(), static_cast<int64_t>(n), top_n, stats, ids.data(), top.data());
    return token_stats_from_summary(stats, ids.data(), top.data(), top_n, logits[chosen]);
}

TokenStats token_stats_from_summary(const float* stats, const int32_t* ids, const float* logits,
                                    int top_n, float chosen_logit) {
    TokenStats st;
    st.entropy = stats[2];
    // (l - max) - log Z; NaN stats (a NaN row, or no finite maximum) make it NaN.
    st.logprob = (chosen_logit - stats[0]) - stats[1];
    if (std::isnan(stats[1])) return st;
    for (int j = 0; j < top_n && ids[j] >= 0; ++j)
        st.top.push_back({ids[j], (logits[j] - stats[0]) - stats[1]});
    return st;
}

// ---- JSON ----

namespace {

// Hex of the raw bytes, written beside "text" when the text is not valid UTF-8 (JSON strings
// cannot hold such bytes; "text" then carries U+FFFD in their place).
std::string to_hex(std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 * s.size());
    for (unsigned char c : s) {
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
    return out;
}

void write_text(json::Writer& w, const std::string& text) {
    w.field("text", text);
    if (!json::is_valid_utf8(text)) w.field("text_hex", to_hex(text));
}

void write_prob(json::Writer& w, std::string_view key, float v) {
    w.key(key);
    w.value(v);  // NaN ("not scored") is written as null
}

// {"layers":[..],"experts":[[..],..],"weights":[[..],..],"probs":[[..],..]?}, a row per layer.
void write_rows(json::Writer& w, std::string_view key, const auto& flat, size_t rows) {
    const size_t width = rows ? flat.size() / rows : 0;
    w.key(key).begin_array();
    for (size_t i = 0; i < rows; ++i) {
        w.begin_array();
        for (size_t j = 0; j < width; ++j) w.value(flat[i * width + j]);
        w.end_array();
    }
    w.end_array();
}

void write_routing(json::Writer& w, const TokenRouting& r) {
    w.key("routing").begin_object();
    w.key("layers").begin_array();
    for (uint16_t l : r.layers) w.value(l);
    w.end_array();
    write_rows(w, "experts", r.experts, r.n_layers());
    if (!r.weights.empty()) write_rows(w, "weights", r.weights, r.n_layers());
    if (!r.probs.empty()) write_rows(w, "probs", r.probs, r.n_layers());
    w.end_object();
}

void write_token(json::Writer& w, const TokenRecord& r) {
    w.begin_object(/*flat=*/true);
    w.field("id", r.id);
    write_text(w, r.text);
    w.field("phase", phase_name(r.phase));
    write_prob(w, "logprob", r.logprob);
    write_prob(w, "entropy", r.entropy);
    w.field("t_ms", r.t_ms);
    w.key("top").begin_array();
    for (const Alternative& a : r.top) {
        w.begin_object();
        w.field("id", a.id);
        write_text(w, a.text);
        write_prob(w, "logprob", a.logprob);
        w.end_object();
    }
    w.end_array();
    if (!r.routing.empty()) write_routing(w, r.routing);
    if (r.forced) w.field("forced", true);
    w.end_object();
}

}  // namespace

std::string token_json_line(const TokenRecord& rec) {
    std::ostringstream out;
    json::Writer w(out);
    write_token(w, rec);
    return out.str();
}

void write_json(const Trace& t, std::ostream& out) {
    json::Writer w(out, 2);
    w.begin_object();
    w.field("format", "glassbox-trace");
    w.field("version", kTraceFormatVersion);
    w.field("model", t.model);
    w.field("backend", t.backend);
    if (!t.device.empty()) w.field("device", t.device);
    if (!t.precision.empty()) w.field("precision", t.precision);
    w.field("prompt_text", t.prompt_text);
    const SamplerSettings& s = t.sampling;
    w.key("sampling").begin_object(/*flat=*/true);
    w.field("temperature", s.temperature);
    w.field("top_k", s.top_k);
    w.field("top_p", s.top_p);
    w.field("min_p", s.min_p);
    w.field("repeat_penalty", s.repeat_penalty);
    w.field("repeat_last_n", s.repeat_last_n);
    w.field("frequency_penalty", s.frequency_penalty);
    w.field("presence_penalty", s.presence_penalty);
    w.field("seed", s.seed);
    w.end_object();
    w.field("n_prompt", t.n_prompt);
    w.field("n_gen", t.n_gen);
    w.field("prefill_ms", t.prefill_ms);
    w.field("decode_ms", t.decode_ms);
    w.field("stop_reason", stop_reason_name(t.stop_reason));
    w.field("reasoning_text", t.reasoning_text);
    w.field("answer_text", t.answer_text);
    w.field("reasoning_complete", t.reasoning_complete);
    if (t.n_expert > 0) {
        w.field("n_expert", t.n_expert);
        w.field("n_expert_used", t.n_expert_used);
    }
    if (t.n_cached > 0) w.field("n_cached", t.n_cached);
    if (!t.interventions.empty()) {
        w.key("interventions").begin_array();
        for (const Intervention& i : t.interventions) {
            w.begin_object(/*flat=*/true);
            w.field("kind", i.kind);
            w.field("at", i.at);
            if (i.token >= 0) w.field("token", i.token);
            if (i.replaced >= 0) w.field("replaced", i.replaced);
            if (i.value != 0) w.field("value", i.value);
            if (!i.spec.empty()) w.field("spec", i.spec);
            w.end_object();
        }
        w.end_array();
    }
    if (t.server_usage.any()) {
        const ServerUsage& u = t.server_usage;
        w.key("server_usage").begin_object(/*flat=*/true);
        w.field("prompt_tokens", u.prompt_tokens);
        w.field("completion_tokens", u.completion_tokens);
        w.field("reasoning_tokens", u.reasoning_tokens);
        w.field("cached_prompt_tokens", u.cached_prompt_tokens);
        w.field("prompt_ms", u.prompt_ms);
        w.field("generate_ms", u.generate_ms);
        w.end_object();
    }
    w.key("tokens").begin_array();
    for (const TokenRecord& r : t.tokens) write_token(w, r);
    w.end_array();
    w.end_object();
    out << '\n';
}

namespace {

// A JSON number as a float: a value beyond float range (which would read as infinity) is refused.
float finite_float(const json::Value& v) {
    const float f = v.as_float();
    if (!std::isfinite(f)) throw Error("json: " + std::string("is not a finite float"));
    return f;
}

double finite_double(const json::Value& v) {
    const double d = v.as_number();
    if (!std::isfinite(d)) throw Error("json: " + std::string("is not a finite number"));
    return d;
}

// Field access that names the field's path in every error.
class Fields {
    // Runs f; a json error becomes a trace error naming this field.
    template <class F>
    decltype(auto) guard(std::string_view key, F&& f) const {
        try {
            return f();
        } catch (const Error& e) {
            std::string msg = e.what();
            if (msg.rfind("json: ", 0) == 0) msg.erase(0, 6);
            if (msg.rfind("trace: ", 0) == 0) throw;
            throw Error("trace: " + where(key) + ": " + msg);
        }
    }

public:
    Fields(const json::Value& obj, std::string path) : obj_(&obj), path_(std::move(path)) {
        if (obj.kind() != json::Value::Kind::Object)
            throw Error("trace: " + (path_.empty() ? std::string("the document") : path_) +
                        " must be an object, found " + json::kind_name(obj.kind()));
    }

    const json::Value& get(std::string_view key) const {
        const json::Value* v = obj_->find(key);
        if (!v) throw Error("trace: " + where(key) + " is missing");
        return *v;
    }
    std::string str(std::string_view key) const {
        return guard(key, [&] { return get(key).as_string(); });
    }
    double number(std::string_view key) const {
        return guard(key, [&] { return finite_double(get(key)); });
    }
    // A probability-like float; null stands for NaN ("not scored").
    float opt_float(std::string_view key) const {
        return guard(key, [&] {
            const json::Value& v = get(key);
            return v.is_null() ? std::numeric_limits<float>::quiet_NaN() : finite_float(v);
        });
    }
    float real(std::string_view key) const {
        return guard(key, [&] { return finite_float(get(key)); });
    }
    int64_t integer(std::string_view key, int64_t lo, int64_t hi) const {
        const int64_t v = guard(key, [&] { return get(key).as_int64(); });
        if (v < lo || v > hi)
            throw Error("trace: " + where(key) + " = " + std::to_string(v) + " is outside " +
                        std::to_string(lo) + ".." + std::to_string(hi));
        return v;
    }
    uint64_t uinteger(std::string_view key) const {
        return guard(key, [&] { return get(key).as_uint64(); });
    }
    bool boolean(std::string_view key) const {
        return guard(key, [&] { return get(key).as_bool(); });
    }
    bool has(std::string_view key) const { return obj_->find(key) != nullptr; }
    const json::Value::Array& array(std::string_view key) const {
        return guard(key, [&]() -> const json::Value::Array& { return get(key).as_array(); });
    }
    std::string where(std::string_view key) const {
        if (path_.empty()) return std::string(key);
        return key.empty() ? path_ : path_ + "." + std::string(key);
    }

    // Token text: the exact bytes from text_hex when present, else text.
    std::string text() const {
        if (!obj_->find("text_hex")) return str("text");
        const std::string hex = str("text_hex");
        if (hex.size() % 2 != 0) throw Error("trace: " + where("text_hex") + " has an odd length");
        std::string out;
        for (size_t i = 0; i < hex.size(); i += 2) {
            int v = 0;
            for (char c : {hex[i], hex[i + 1]}) {
                v <<= 4;
                if (c >= '0' && c <= '9')
                    v |= c - '0';
                else if (c >= 'a' && c <= 'f')
                    v |= c - 'a' + 10;
                else if (c >= 'A' && c <= 'F')
                    v |= c - 'A' + 10;
                else
                    throw Error("trace: " + where("text_hex") + " is not hexadecimal");
            }
            out += static_cast<char>(v);
        }
        return out;
    }

private:
    const json::Value* obj_ = nullptr;
    std::string path_;
};

constexpr int64_t kMaxI32 = 2147483647;
constexpr int64_t kMaxExperts = 65535;  // expert ids are 16-bit

// One array element read with `read`; a json error becomes a trace error naming the element.
// `at` makes the element's path, only when there is an error (a long MoE trace has millions).
template <class At, class F>
auto element(const At& at, F&& read) {
    try {
        return read();
    } catch (const Error& e) {
        std::string msg = e.what();
        if (msg.rfind("json: ", 0) == 0) msg.erase(0, 6);
        throw Error("trace: " + at() + ": " + msg);
    }
}

template <class At>
int64_t element_int(const json::Value& v, const At& at, int64_t lo, int64_t hi) {
    const int64_t x = element(at, [&] { return v.as_int64(); });
    if (x < lo || x > hi)
        throw Error("trace: " + at() + " = " + std::to_string(x) + " is outside " +
                    std::to_string(lo) + ".." + std::to_string(hi));
    return x;
}

template <class At>
float element_float(const json::Value& v, const At& at) {
    return element(at, [&] { return finite_float(v); });
}

// A token's "routing" object; every row as wide as the first, every expert id below n_expert.
TokenRouting read_routing(const Fields& r, int n_expert) {
    if (n_expert <= 0)
        throw Error("trace: " + r.where("routing") + " is present but the trace has no n_expert");
    const Fields f(r.get("routing"), r.where("routing"));
    TokenRouting out;
    const auto& layers = f.array("layers");
    for (size_t i = 0; i < layers.size(); ++i) {
        const auto at = [&] { return f.where("layers") + "[" + std::to_string(i) + "]"; };
        const int64_t l = element_int(layers[i], at, 0, 65535);
        out.layers.push_back(static_cast<uint16_t>(l));
    }
    // Reads a [layers x width] array of arrays into flat; width 0 means "take the first row's".
    auto rows = [&](std::string_view key, size_t width, auto&& read_one) {
        const auto& a = f.array(key);
        if (a.size() != layers.size())
            throw Error("trace: " + f.where(key) + " has " + std::to_string(a.size()) +
                        " rows for " + std::to_string(layers.size()) + " layers");
        for (size_t i = 0; i < a.size(); ++i) {
            const auto at_row = [&] { return f.where(key) + "[" + std::to_string(i) + "]"; };
            if (a[i].kind() != json::Value::Kind::Array)
                throw Error("trace: " + at_row() + " must be an array");
            const auto& row = a[i].as_array();
            if (i == 0 && width == 0) width = row.size();
            if (row.size() != width)
                throw Error("trace: " + at_row() + " has " + std::to_string(row.size()) +
                            " entries, expected " + std::to_string(width));
            for (size_t j = 0; j < row.size(); ++j)
                read_one(row[j], [&] { return at_row() + "[" + std::to_string(j) + "]"; });
        }
        return width;
    };
    out.k = static_cast<int>(rows("experts", 0, [&](const json::Value& v, const auto& at) {
        const int64_t e = element_int(v, at, 0, n_expert - 1);
        out.experts.push_back(static_cast<uint16_t>(e));
    }));
    // Each layer chose between 1 and n_expert experts (the binary form stores no other).
    if (!layers.empty() && (out.k < 1 || out.k > n_expert))
        throw Error("trace: " + f.where("experts") + " has rows of " + std::to_string(out.k) +
                    " experts; a routed token has 1.." + std::to_string(n_expert));
    // Stored traces keep routing numbers as half floats: a value beyond half range would be
    // accepted here and then be infinity, which the binary reader refuses, once stored.
    auto half = [](const json::Value& v, const auto& at) {
        const float x = element_float(v, at);
        if (std::fabs(x) > 65504.0f)
            throw Error("trace: " + at() + " = " + std::to_string(x) +
                        " is beyond the half-float range routing is stored in (|x| <= 65504)");
        return x;
    };
    if (f.has("weights"))  // absent: not known (a server's routed experts give no weights)
        rows("weights", static_cast<size_t>(out.k),
             [&](const json::Value& v, const auto& at) { out.weights.push_back(half(v, at)); });
    if (f.has("probs"))
        rows("probs", static_cast<size_t>(n_expert),
             [&](const json::Value& v, const auto& at) { out.probs.push_back(half(v, at)); });
    return out;
}

}  // namespace

Trace read_json(std::string_view text) {
    json::Value root;
    try {
        root = json::parse(text);
    } catch (const Error& e) {
        throw Error(std::string("trace: ") + e.what());
    }
    const Fields f(root, "");
    if (!root.find("format") || f.str("format") != "glassbox-trace")
        throw Error("trace: not a Glassbox trace (\"format\" is not \"glassbox-trace\")");
    const int64_t version = f.integer("version", 1, kMaxI32);
    if (version > kTraceFormatVersion)
        throw Error("trace: format version " + std::to_string(version) +
                    " was written by a newer Glassbox (this one reads up to " +
                    std::to_string(kTraceFormatVersion) + ")");

    Trace t;
    t.model = f.str("model");
    t.backend = f.str("backend");
    t.prompt_text = f.str("prompt_text");
    const Fields s(f.get("sampling"), "sampling");
    t.sampling.temperature = s.real("temperature");
    t.sampling.top_k = static_cast<int>(s.integer("top_k", 0, kMaxI32));
    t.sampling.top_p = s.real("top_p");
    t.sampling.min_p = s.real("min_p");
    t.sampling.repeat_penalty = s.real("repeat_penalty");
    t.sampling.repeat_last_n = static_cast<int>(s.integer("repeat_last_n", -1, kMaxI32));
    t.sampling.frequency_penalty = s.real("frequency_penalty");
    t.sampling.presence_penalty = s.real("presence_penalty");
    t.sampling.seed = s.uinteger("seed");
    t.n_prompt = static_cast<int>(f.integer("n_prompt", 0, kMaxI32));
    t.n_gen = static_cast<int>(f.integer("n_gen", 0, kMaxI32));
    t.prefill_ms = f.number("prefill_ms");
    t.decode_ms = f.number("decode_ms");
    const std::string stop = f.str("stop_reason");
    try {
        t.stop_reason = stop_reason_from_name(stop);
    } catch (const Error& e) {
        throw Error(std::string("trace: stop_reason: ") + e.what());
    }
    // Added within version 1: optional, so earlier files still read.
    if (f.has("device")) t.device = f.str("device");
    if (f.has("precision")) t.precision = f.str("precision");
    if (f.has("reasoning_text")) t.reasoning_text = f.str("reasoning_text");
    if (f.has("answer_text")) t.answer_text = f.str("answer_text");
    if (f.has("reasoning_complete")) t.reasoning_complete = f.boolean("reasoning_complete");
    if (f.has("n_expert")) {
        t.n_expert = static_cast<int>(f.integer("n_expert", 0, kMaxExperts));
        t.n_expert_used = static_cast<int>(f.integer("n_expert_used", 0, t.n_expert));
    }

    if (f.has("n_cached")) t.n_cached = static_cast<int>(f.integer("n_cached", 0, kMaxI32));
    if (f.has("interventions")) {
        const auto& list = f.array("interventions");
        for (size_t i = 0; i < list.size(); ++i) {
            const Fields v(list[i], "interventions[" + std::to_string(i) + "]");
            Intervention in;
            in.kind = v.str("kind");
            in.at = static_cast<int>(v.integer("at", -1, kMaxI32));
            if (v.has("token")) in.token = static_cast<int32_t>(v.integer("token", 0, kMaxI32));
            if (v.has("replaced"))
                in.replaced = static_cast<int32_t>(v.integer("replaced", 0, kMaxI32));
            if (v.has("value")) in.value = static_cast<int>(v.integer("value", 0, kMaxI32));
            if (v.has("spec")) in.spec = v.str("spec");
            t.interventions.push_back(std::move(in));
        }
    }
    if (f.has("server_usage")) {
        const Fields u(f.get("server_usage"), "server_usage");
        ServerUsage& su = t.server_usage;
        for (auto [key, v] : {std::pair{"prompt_tokens", &su.prompt_tokens},
                              {"completion_tokens", &su.completion_tokens},
                              {"reasoning_tokens", &su.reasoning_tokens},
                              {"cached_prompt_tokens", &su.cached_prompt_tokens}})
            if (u.has(key)) *v = u.integer(key, -1, int64_t{1} << 50);
        for (auto [key, v] :
             {std::pair{"prompt_ms", &su.prompt_ms}, {"generate_ms", &su.generate_ms}})
            if (u.has(key)) *v = u.real(key);
    }
    const auto& tokens = f.array("tokens");
    t.tokens.reserve(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) {
        const Fields r(tokens[i], "tokens[" + std::to_string(i) + "]");
        TokenRecord rec;
        rec.id = static_cast<int32_t>(r.integer("id", -1, kMaxI32));  // -1: not known
        rec.text = r.text();
        const std::string phase = r.str("phase");
        try {
            rec.phase = phase_from_name(phase);
        } catch (const Error& e) {
            throw Error("trace: " + r.where("phase") + ": " + e.what());
        }
        rec.logprob = r.opt_float("logprob");
        rec.entropy = r.opt_float("entropy");
        rec.t_ms = r.number("t_ms");
        const auto& top = r.array("top");
        rec.top.reserve(top.size());
        for (size_t j = 0; j < top.size(); ++j) {
            const Fields a(top[j], r.where("top") + "[" + std::to_string(j) + "]");
            Alternative alt;
            alt.id = static_cast<int32_t>(a.integer("id", -1, kMaxI32));
            alt.text = a.text();
            alt.logprob = a.opt_float("logprob");
            rec.top.push_back(std::move(alt));
        }
        if (r.has("routing")) rec.routing = read_routing(r, t.n_expert);
        if (r.has("forced")) rec.forced = r.boolean("forced");
        t.tokens.push_back(std::move(rec));
    }
    return t;
}

}  // namespace gb
