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
    constexpr size_t kMaxTemplateBytes = size_t(1) << 20;
    if (source.size() > kMaxTemplateBytes)
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
    int64_t start = 0, stop = 0, step = 1;
    if (a.positional.size() == 1)
        stop = a.positional[0].as_int();
    else if (a.positional.size() >= 2) {
        start = a.positional[0].as_int();
        stop = a.positional[1].as_int();
        if (a.positional.size() >= 3) step = a.positional[2].as_int();
    } else
        throw Error("range expected at least 1 argument");
    if (step == 0) throw Error("range() arg 3 must not be zero");
    jinja::List out;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        // Same cap as the sandbox's range: a template cannot allocate unbounded lists.
        if (out.size() >= 100000) throw Error("range too big (more than 100000 items)");
        out.push_back(Value::from_int(i));
    }
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
                       throw jinja::TemplateRaised(a.positional.empty()
                                                       ? std::string("template raised an error")
                                                       : a.positional[0].to_str());
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
