// ChatTemplate: the HF-compatible globals (raise_exception, strftime_now, namespace, range,
// dict) around the sandboxed Jinja interpreter.
#include "engine/template/chat_template.h"

#include <ctime>

#include "engine/template/jinja_parser.h"

namespace gb {

using jinja::CallArgs;
using jinja::Value;

ChatTemplate ChatTemplate::parse(std::string_view source) {
    // Real chat templates are a few KiB (the largest we know, with tool-calling, about 20 KiB).
    if (source.size() > jinja::kMaxTemplateBytes)
        throw Error("template: " + std::to_string(source.size()) +
                    " bytes, more than the 1 MiB a chat template may have");
    ChatTemplate t;
    // HF renders with trim_blocks and lstrip_blocks on.
    t.body_ = std::make_shared<const jinja::Body>(jinja::parse_template(source, {true, true}));
    return t;
}

static Value message_value(const ChatMessage& m) {
    Value v = Value::from_dict({});
    v.set("role", Value::from_string(m.role));
    v.set("content", Value::from_string(m.content));
    if (!m.reasoning_content.empty())
        v.set("reasoning_content", Value::from_string(m.reasoning_content));
    if (!m.tool_calls.empty()) {
        jinja::List calls;
        for (const auto& c : m.tool_calls) calls.push_back(Value::from_json(c));
        v.set("tool_calls", Value::from_list(std::move(calls)));
    }
    if (!m.tool_call_id.empty()) v.set("tool_call_id", Value::from_string(m.tool_call_id));
    if (!m.name.empty()) v.set("name", Value::from_string(m.name));
    return v;
}

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages,
                                 const ChatTemplateOptions& options) const {
    jinja::List list;
    for (const auto& m : messages) list.push_back(message_value(m));
    return render_values(Value::from_list(std::move(list)), options);
}

std::string ChatTemplate::render_json(const json::Value& messages,
                                      const ChatTemplateOptions& options) const {
    return render_values(Value::from_json(messages), options);
}

static Value range_fn(CallArgs& a) {
    if (a.positional.empty() || a.positional.size() > 3)
        throw Error("range expected 1 to 3 arguments, got " + std::to_string(a.positional.size()));
    for (const Value& v : a.positional)
        if (v.kind() != Value::Kind::Int && v.kind() != Value::Kind::Bool)
            throw Error(std::string("range: '") + v.type_name() +
                        "' object cannot be interpreted as an integer");
    int64_t start = 0, stop = 0, step = 1;
    if (a.positional.size() == 1)
        stop = a.positional[0].as_int();
    else {
        start = a.positional[0].as_int();
        stop = a.positional[1].as_int();
        if (a.positional.size() == 3) step = a.positional[2].as_int();
    }
    if (step == 0) throw Error("range() arg 3 must not be zero");
    // The length first, in unsigned arithmetic (start + k * step never passes stop, so the items
    // cannot overflow); the same cap as jinja2's sandboxed range.
    uint64_t n = 0;
    if (step > 0 && start < stop)
        n = (static_cast<uint64_t>(stop) - static_cast<uint64_t>(start) - 1) /
                static_cast<uint64_t>(step) +
            1;
    else if (step < 0 && start > stop)
        n = (static_cast<uint64_t>(start) - static_cast<uint64_t>(stop) - 1) /
                (0 - static_cast<uint64_t>(step)) +
            1;
    if (n > static_cast<uint64_t>(jinja::kMaxRangeItems))
        throw Error("range too big (" + std::to_string(n) + " items, more than " +
                    std::to_string(jinja::kMaxRangeItems) + ")");
    jinja::List out;
    jinja::charge_bytes(static_cast<int64_t>(n * sizeof(Value)));
    out.reserve(n);
    for (uint64_t k = 0; k < n; ++k)
        out.push_back(Value::from_int(
            static_cast<int64_t>(static_cast<uint64_t>(start) + k * static_cast<uint64_t>(step))));
    return Value::from_list(std::move(out));
}

std::string ChatTemplate::render_values(Value messages, const ChatTemplateOptions& options) const {
    jinja::Dict g;
    g.emplace_back("messages", std::move(messages));
    g.emplace_back("add_generation_prompt", Value::from_bool(options.add_generation_prompt));
    g.emplace_back("bos_token", Value::from_string(options.bos_token));
    g.emplace_back("eos_token", Value::from_string(options.eos_token));
    // HF always passes these two, as None when the caller gives none.
    g.emplace_back("tools", Value::none());
    g.emplace_back("documents", Value::none());
    g.emplace_back("raise_exception",
                   Value::from_func("raise_exception", [](jinja::Renderer&, CallArgs& a) -> Value {
                       if (a.positional.empty())
                           throw jinja::TemplateRaised("template raised an error");
                       // The message reaches the user as a warning: a long one is cut.
                       std::string msg = a.positional[0].to_str();
                       if (msg.size() > jinja::kMaxErrorTextBytes)
                           msg = msg.substr(0, jinja::kMaxErrorTextBytes) + "... (" +
                                 std::to_string(msg.size()) + " bytes)";
                       throw jinja::TemplateRaised(msg);
                   }));
    auto now = options.now;
    g.emplace_back(
        "strftime_now", Value::from_func("strftime_now", [now](jinja::Renderer&, CallArgs& a) {
            if (a.positional.empty() || !a.positional[0].is_string())
                throw Error("strftime_now expects a format string");
            std::time_t t =
                std::chrono::system_clock::to_time_t(now ? *now : std::chrono::system_clock::now());
            std::tm tm{};
            if (now)
                gmtime_r(&t, &tm);  // pinned times are given in UTC
            else
                localtime_r(&t, &tm);
            // strftime returns 0 both for an empty result and for a buffer too small: grow the
            // buffer (a long format used to print nothing), within the render's memory budget.
            const std::string& fmt = a.positional[0].str();
            if (fmt.empty() || fmt.find('\0') != std::string::npos) return Value::from_string("");
            for (size_t cap = 256;; cap *= 4) {
                jinja::charge_bytes(static_cast<int64_t>(cap));
                std::string buf(cap, '\0');
                const size_t n = std::strftime(buf.data(), cap, fmt.c_str(), &tm);
                if (n > 0 || cap > 64 * fmt.size() + 256) {
                    buf.resize(n);
                    return Value::from_string(std::move(buf));
                }
            }
        }));
    g.emplace_back("range", Value::from_func("range", [](jinja::Renderer&, CallArgs& a) {
                       return range_fn(a);
                   }));
    auto kw_dict = [](CallArgs& a, bool ns) {
        Value d = Value::from_dict({}, ns);
        if (!a.positional.empty() && a.positional[0].is_dict())
            for (const auto& [k, v] : a.positional[0].dict()) d.set(k, v);
        for (auto& [k, v] : a.keyword) d.set(k, v);
        return d;
    };
    g.emplace_back("namespace",
                   Value::from_func("namespace", [kw_dict](jinja::Renderer& r, CallArgs& a) {
                       Value ns = kw_dict(a, true);
                       r.track_namespace(ns);
                       return ns;
                   }));
    g.emplace_back("dict", Value::from_func("dict", [kw_dict](jinja::Renderer&, CallArgs& a) {
                       return kw_dict(a, false);
                   }));
    for (const auto& [k, v] : options.extra) {
        bool replaced = false;
        for (auto& [gk, gv] : g)
            if (gk == k) {
                gv = Value::from_json(v);
                replaced = true;
            }
        if (!replaced) g.emplace_back(k, Value::from_json(v));
    }
    jinja::Renderer r(options.limits);
    struct Report {
        const jinja::Renderer& r;
        jinja::BudgetUse* usage;
        ~Report() {
            if (usage) *usage = r.last_use();
        }
    } report{r, options.usage};
    return r.render(*body_, g);
}

}  // namespace gb
