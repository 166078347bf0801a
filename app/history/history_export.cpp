// JSON export / import and Markdown export of conversations (history_export.h).
#include "app/history/history_export.h"

#include <cmath>
#include <cstdint>
#include <ctime>
#include <limits>
#include <map>
#include <sstream>

#include "engine/core/json.h"

namespace gb::app {

using Kind = HistoryError::Kind;

namespace {

// A JSON object written by json::Writer, with raw JSON members spliced in before its closing
// brace: the trace JSON and the settings object are already JSON text.
std::string with_raw_members(std::string object,
                             const std::vector<std::pair<std::string, std::string>>& raw) {
    object.pop_back();  // '}'
    for (const auto& [key, value] : raw) {
        if (object.back() != '{') object += ',';
        json::append_quoted(object, key);
        object += ':';
        object += value;
    }
    object += '}';
    return object;
}

void write_stats(json::Writer& w, const ReplyStats& s) {
    w.key("stats")
        .begin_object(true)
        .field("n_prompt_tokens", s.n_prompt_tokens)
        .field("n_reasoning_tokens", s.n_reasoning_tokens)
        .field("n_answer_tokens", s.n_answer_tokens)
        .field("ttft_ms", s.ttft_ms)
        .field("prefill_tps", s.prefill_tps)
        .field("decode_tps", s.decode_tps)
        .field("backend", s.backend)
        .field("device", s.device)
        .field("model", s.model)
        .field("model_hash", s.model_hash)
        .field("stop_reason", stop_reason_name(s.stop_reason))
        .field("precision", s.precision)
        .end_object();
}

std::string message_json(HistoryStore& store, const Message& m,
                         const std::map<int64_t, int64_t>& local, bool with_traces) {
    std::ostringstream out;
    json::Writer w(out);
    w.begin_object().field("id", local.at(m.id)).key("parent");
    if (m.parent_id)
        w.value(local.at(*m.parent_id));
    else
        w.null();
    w.field("role", role_name(m.role))
        .field("status", status_name(m.status))
        .field("created_ms", m.created_ms)
        .field("content", m.content)
        .field("reasoning", m.reasoning)
        .field("answer", m.answer);
    if (m.role == Role::Assistant) {
        write_stats(w, m.stats);
        w.key("reproduction").begin_object();
        w.field("system_prompt", m.repro.system_prompt)
            .field("rendered_prompt", m.repro.rendered_prompt)
            .field("chat_template", m.repro.chat_template)
            .field("engine_version", m.repro.engine_version)
            .end_object();
        // Bookmarks (teaching), optional: a reply without any has none written.
        const std::vector<Bookmark> marks = store.bookmarks(m.id);
        if (!marks.empty()) {
            w.key("bookmarks").begin_array();
            for (const Bookmark& b : marks)
                w.begin_object(true)
                    .field("token", b.token)
                    .field("note", b.note)
                    .field("created_ms", b.created_ms)
                    .end_object();
            w.end_array();
        }
        // Resamplings (forking paths), optional likewise; each result is the engine's object.
        const std::vector<StoredResampling> runs = store.resamplings(m.id);
        if (!runs.empty()) {
            w.key("resamplings").begin_array();
            for (const StoredResampling& r : runs) {
                w.begin_object(true).field("created_ms", r.created_ms).key("result");
                try {
                    json::write(w, json::parse(r.result_json));
                } catch (const gb::Error&) {
                    w.null();  // a damaged row must not break the export
                }
                w.end_object();
            }
            w.end_array();
        }
    }
    w.end_object();
    std::vector<std::pair<std::string, std::string>> raw;
    if (m.role == Role::Assistant) {
        raw.emplace_back("sampler", m.repro.sampler ? sampler_to_json(*m.repro.sampler) : "null");
        std::string trace = "null";
        if (with_traces && m.has_trace) {
            if (auto t = store.load_trace(m.id)) {
                std::ostringstream ts;
                write_json(*t, ts);
                trace = ts.str();
                while (!trace.empty() && (trace.back() == '\n' || trace.back() == ' '))
                    trace.pop_back();
            }
        }
        raw.emplace_back("trace", trace);
    }
    return with_raw_members(out.str(), raw);
}

std::string conversation_json(HistoryStore& store, int64_t id, bool with_traces) {
    const Conversation c = store.load_conversation(id);
    // Messages are numbered 1.. in the export: ids of one database mean nothing in another.
    std::map<int64_t, int64_t> local;
    for (const Message& m : c.messages) local.emplace(m.id, static_cast<int64_t>(local.size()) + 1);
    std::ostringstream out;
    json::Writer w(out);
    w.begin_object()
        .field("title", c.info.title)
        .field("model", c.info.model)
        .field("created_ms", c.info.created_ms)
        .field("updated_ms", c.info.updated_ms)
        .field("pinned", c.info.pinned)
        .key("current_leaf");
    if (c.info.current_leaf && local.count(*c.info.current_leaf))
        w.value(local.at(*c.info.current_leaf));
    else
        w.null();
    w.end_object();
    // settings_json is ours to keep valid, but a damaged value must not break the export.
    std::string settings;
    try {
        json::parse(c.info.settings_json);
        settings = c.info.settings_json;
    } catch (const gb::Error&) {
        settings = "{}";
    }
    std::string messages = "[";
    for (const Message& m : c.messages) {
        messages += messages.size() > 1 ? ",\n" : "\n";
        messages += message_json(store, m, local, with_traces);
    }
    messages += "\n]";
    return with_raw_members(out.str(), {{"settings", settings}, {"messages", messages}});
}

// Where the raw text of chosen members lies in a (valid) export, so the trace and settings
// values can be handed on as text: the trace reader takes JSON text, and re-printing the DOM
// could lose the exact spelling of 64-bit integers. Depth counts open containers: the root
// object is 1, a conversation 3, a message 5.
struct RawSpans {
    std::vector<std::string_view> settings;  // one per conversation, in order
    std::vector<std::string_view> traces;    // one per message with a "trace" member, in order
};

class SpanScanner {
public:
    explicit SpanScanner(std::string_view t) : t_(t) {}
    RawSpans scan() {
        value(0, true);
        return std::move(spans_);
    }

private:
    void ws() {
        while (i_ < t_.size() &&
               (t_[i_] == ' ' || t_[i_] == '\n' || t_[i_] == '\r' || t_[i_] == '\t'))
            ++i_;
    }
    std::string_view string() {  // at '"'; returns the raw contents
        const size_t start = ++i_;
        while (i_ < t_.size() && t_[i_] != '"') i_ += t_[i_] == '\\' ? 2 : 1;
        return t_.substr(start, i_++ - start);
    }
    // depth: containers around this value; on_path: the value lies on the way
    // root -> conversations[i] -> messages[j], where the members we want are.
    void value(int depth, bool on_path) {
        ws();
        if (i_ >= t_.size()) return;
        const char c = t_[i_];
        if (c == '{' || c == '[') {
            const bool object = c == '{';
            ++i_;
            for (;;) {
                ws();
                if (i_ >= t_.size()) return;
                if (t_[i_] == '}' || t_[i_] == ']') {
                    ++i_;
                    return;
                }
                if (t_[i_] == ',') {
                    ++i_;
                    continue;
                }
                std::string_view key;
                if (object) {
                    key = string();
                    ws();
                    ++i_;  // ':'
                    ws();
                }
                const size_t start = i_;
                const bool child_on_path =
                    on_path && (!object || (depth + 1 == 1 && key == "conversations") ||
                                (depth + 1 == 3 && key == "messages"));
                value(depth + 1, child_on_path);
                const auto span = t_.substr(start, i_ - start);
                if (on_path && object && depth + 1 == 3 && key == "settings")
                    spans_.settings.push_back(span);
                if (on_path && object && depth + 1 == 5 && key == "trace")
                    spans_.traces.push_back(span);
            }
        }
        if (c == '"') {
            string();
            return;
        }
        while (i_ < t_.size() && t_[i_] != ',' && t_[i_] != '}' && t_[i_] != ']' && t_[i_] != ' ' &&
               t_[i_] != '\n' && t_[i_] != '\r' && t_[i_] != '\t')
            ++i_;
    }

    std::string_view t_;
    size_t i_ = 0;
    RawSpans spans_;
};

[[noreturn]] void bad(const std::string& where, const std::string& what) {
    throw HistoryError(Kind::Invalid, "history import: " + where + ": " + what);
}

// Counts within 0..INT_MAX and finite numbers: what the store reads back (a negative count
// imported once made its conversation unreadable; found by history_import_fuzz).
ReplyStats read_stats(const json::Value& v) {
    auto count = [&](const char* key) {
        const int64_t n = v.at(key).as_int64();
        if (n < 0 || n > std::numeric_limits<int>::max())
            throw HistoryError(Kind::Invalid, std::string("stats.") + key + " " +
                                                  std::to_string(n) + " is out of range");
        return static_cast<int>(n);
    };
    auto number = [&](const char* key) {
        const double x = v.at(key).as_number();
        if (!std::isfinite(x))
            throw HistoryError(Kind::Invalid, std::string("stats.") + key + " is not finite");
        return x;
    };
    ReplyStats s;
    s.n_prompt_tokens = count("n_prompt_tokens");
    s.n_reasoning_tokens = count("n_reasoning_tokens");
    s.n_answer_tokens = count("n_answer_tokens");
    s.ttft_ms = number("ttft_ms");
    s.prefill_tps = number("prefill_tps");
    s.decode_tps = number("decode_tps");
    s.backend = v.at("backend").as_string();
    s.device = v.at("device").as_string();
    s.model = v.at("model").as_string();
    s.model_hash = v.at("model_hash").as_string();
    s.stop_reason = stop_reason_from_name(v.at("stop_reason").as_string());
    // Added with schema 5: exports written before it have none.
    if (const json::Value* p = v.find("precision")) s.precision = p->as_string();
    return s;
}

}  // namespace

std::string export_json(HistoryStore& store, const std::vector<int64_t>& ids, bool with_traces) {
    std::vector<int64_t> which = ids;
    if (which.empty())
        for (const auto& c : store.list_conversations()) which.push_back(c.id);
    std::string out =
        "{\"format\":\"glassbox-history\",\"version\":" + std::to_string(kHistoryExportVersion) +
        ",\"conversations\":[";
    for (size_t i = 0; i < which.size(); ++i) {
        out += i ? ",\n" : "\n";
        out += conversation_json(store, which[i], with_traces);
    }
    out += "\n]}\n";
    return out;
}

std::vector<int64_t> import_json(HistoryStore& store, std::string_view text) {
    json::Value doc;
    try {
        doc = json::parse(text);
    } catch (const gb::Error& e) {
        bad("file", e.what());
    }
    const RawSpans spans = SpanScanner(text).scan();
    std::vector<int64_t> out;
    size_t trace_index = 0;
    std::string where = "top level";
    try {
        const json::Value* fmt = doc.find("format");
        if (!fmt || fmt->kind() != json::Value::Kind::String ||
            fmt->as_string() != "glassbox-history")
            bad(where, "not a Glassbox history export (\"format\" is not \"glassbox-history\")");
        const int64_t version = doc.at("version").as_int64();
        if (version < 1 || version > kHistoryExportVersion)
            bad(where, "export version " + std::to_string(version) +
                           " is not supported (this build reads 1.." +
                           std::to_string(kHistoryExportVersion) + ")");
        const auto& convs = doc.at("conversations").as_array();
        if (spans.settings.size() != convs.size())
            bad(where, "every conversation needs \"settings\"");
        store.batch([&] {
            for (size_t ci = 0; ci < convs.size(); ++ci) {
                const json::Value& c = convs[ci];
                where = "conversations[" + std::to_string(ci) + "]";
                ConversationInfo info;
                info.title = c.at("title").as_string();
                info.model = c.at("model").as_string();
                info.created_ms = c.at("created_ms").as_int64();
                info.updated_ms = c.at("updated_ms").as_int64();
                info.pinned = c.at("pinned").as_bool();
                if (c.at("settings").kind() != json::Value::Kind::Object)
                    bad(where + ".settings", "not an object");
                info.settings_json = std::string(spans.settings[ci]);
                const int64_t cid = store.import_conversation(info);
                std::map<int64_t, int64_t> ids;  // export id -> new id
                const auto& msgs = c.at("messages").as_array();
                for (size_t mi = 0; mi < msgs.size(); ++mi) {
                    const json::Value& mv = msgs[mi];
                    where = "conversations[" + std::to_string(ci) + "].messages[" +
                            std::to_string(mi) + "]";
                    Message m;
                    const int64_t local = mv.at("id").as_int64();
                    if (ids.count(local))
                        bad(where + ".id", "duplicate id " + std::to_string(local));
                    std::optional<int64_t> parent;
                    if (!mv.at("parent").is_null()) {
                        const auto it = ids.find(mv.at("parent").as_int64());
                        if (it == ids.end())
                            bad(where + ".parent", "not the id of an earlier message");
                        parent = it->second;
                    }
                    m.role = role_from_name(mv.at("role").as_string());
                    m.status = status_from_name(mv.at("status").as_string());
                    m.created_ms = mv.at("created_ms").as_int64();
                    m.content = mv.at("content").as_string();
                    m.reasoning = mv.at("reasoning").as_string();
                    m.answer = mv.at("answer").as_string();
                    std::optional<Trace> trace;
                    if (m.role == Role::Assistant) {
                        m.stats = read_stats(mv.at("stats"));
                        const json::Value& r = mv.at("reproduction");
                        m.repro.system_prompt = r.at("system_prompt").as_string();
                        m.repro.rendered_prompt = r.at("rendered_prompt").as_string();
                        m.repro.chat_template = r.at("chat_template").as_string();
                        m.repro.engine_version = r.at("engine_version").as_string();
                        const json::Value& sampler = mv.at("sampler");
                        if (!sampler.is_null()) m.repro.sampler = sampler_from_json(sampler);
                    }
                    if (mv.find("trace")) {
                        if (trace_index >= spans.traces.size()) bad(where + ".trace", "misplaced");
                        const std::string_view raw = spans.traces[trace_index++];
                        if (!mv.at("trace").is_null()) {
                            if (m.role != Role::Assistant)
                                bad(where + ".trace", std::string("a ") + role_name(m.role) +
                                                          " message cannot carry a trace");
                            try {
                                trace = read_json(raw);
                            } catch (const gb::Error& e) {
                                bad(where + ".trace", e.what());
                            }
                        }
                    }
                    ids[local] = store.import_message(cid, parent, m, trace ? &*trace : nullptr);
                    if (const json::Value* marks = mv.find("bookmarks")) {
                        if (m.role != Role::Assistant)
                            bad(where + ".bookmarks", "only replies carry bookmarks");
                        const auto& list = marks->as_array();
                        for (size_t bi = 0; bi < list.size(); ++bi) {
                            const std::string at = where + ".bookmarks[" + std::to_string(bi) + "]";
                            const int64_t token = list[bi].at("token").as_int64();
                            const std::string& note = list[bi].at("note").as_string();
                            if (token < 0 || token > INT32_MAX)
                                bad(at + ".token", "not a token index");
                            if (note.size() > kMaxBookmarkNote)
                                bad(at + ".note", "longer than 64 KiB");
                            store.add_bookmark(ids[local], static_cast<int>(token), note,
                                               list[bi].at("created_ms").as_int64());
                        }
                    }
                    if (const json::Value* runs = mv.find("resamplings")) {
                        if (m.role != Role::Assistant)
                            bad(where + ".resamplings", "only replies carry resamplings");
                        const auto& list = runs->as_array();
                        for (size_t ri = 0; ri < list.size(); ++ri) {
                            const std::string at =
                                where + ".resamplings[" + std::to_string(ri) + "]";
                            const json::Value& result = list[ri].at("result");
                            if (result.is_null()) continue;  // exported from a damaged row
                            try {
                                store.add_resampling(ids[local], json::to_text(result),
                                                     list[ri].at("created_ms").as_int64());
                            } catch (const HistoryError& e) {
                                if (e.kind() != Kind::Invalid) throw;
                                bad(at + ".result", e.what());
                            }
                        }
                    }
                }
                where = "conversations[" + std::to_string(ci) + "].current_leaf";
                if (!c.at("current_leaf").is_null()) {
                    const auto it = ids.find(c.at("current_leaf").as_int64());
                    if (it == ids.end()) bad(where, "not the id of a message");
                    store.set_current_leaf(cid, it->second);
                }
                out.push_back(cid);
            }
        });
    } catch (const HistoryError& e) {
        // A store failure (disk full...) passes as it is; a bad value gets its location.
        if (e.kind() != Kind::Invalid || std::string_view(e.what()).starts_with("history import: "))
            throw;
        bad(where, e.what());
    } catch (const gb::Error& e) {
        bad(where, e.what());
    }
    return out;
}

namespace {

std::string date_of(int64_t ms) {
    const std::time_t t = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
    return buf;
}

std::string fixed(double v, int digits) {
    std::ostringstream s;
    s.setf(std::ios::fixed);
    s.precision(digits);
    s << v;
    return s.str();
}

}  // namespace

std::string export_markdown(HistoryStore& store, int64_t conversation_id) {
    const Conversation c = store.load_conversation(conversation_id);
    std::string out = "# " +
                      (c.info.title.empty() ? std::string("Untitled conversation") : c.info.title) +
                      "\n\n";
    out += "*" + (c.info.model.empty() ? std::string() : c.info.model + " · ") +
           date_of(c.info.created_ms) + "*\n";
    for (const Message* m : c.branch()) {
        switch (m->role) {
            case Role::System: out += "\n## System\n\n" + m->content + "\n"; break;
            case Role::User: out += "\n## User\n\n" + m->content + "\n"; break;
            case Role::Assistant: {
                out += "\n## Assistant\n\n";
                if (!m->reasoning.empty()) {
                    out += "<details><summary>Reasoning (" +
                           std::to_string(m->stats.n_reasoning_tokens) + " tokens)</summary>\n\n" +
                           m->reasoning + "\n\n</details>\n\n";
                }
                out += m->answer + "\n\n";
                std::string meta = m->stats.model.empty() ? "" : m->stats.model;
                const int n_gen = m->stats.n_reasoning_tokens + m->stats.n_answer_tokens;
                if (n_gen > 0)
                    meta += (meta.empty() ? "" : " · ") + std::to_string(n_gen) + " tokens";
                if (m->stats.decode_tps > 0)
                    meta += " · " + fixed(m->stats.decode_tps, 1) + " tok/s";
                if (!m->stats.backend.empty()) meta += " · " + m->stats.backend;
                if (m->status != MessageStatus::Complete)
                    meta += std::string(" · ") + status_name(m->status);
                if (!meta.empty()) out += "*" + meta + "*\n";
                break;
            }
        }
    }
    return out;
}

}  // namespace gb::app
