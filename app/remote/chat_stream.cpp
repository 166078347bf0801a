// Chat and text completion chunks (OpenAI's format, as vLLM, SGLang, llama-server, Ollama's
// /v1 and hosted APIs send it) read into texts, token records, finish reason and usage.
#include "app/remote/chat_stream.h"

#include <algorithm>
#include <charconv>
#include <limits>

#include "engine/core/json.h"
#include "kernels/error.h"

namespace gb::remote {

namespace {

std::string_view trimmed(std::string_view s) {
    while (!s.empty() &&
           (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
        s.remove_prefix(1);
    while (!s.empty() &&
           (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
        s.remove_suffix(1);
    return s;
}

std::string excerpt(std::string_view s) {
    return std::string(s.substr(0, 200)) + (s.size() > 200 ? "..." : "");
}

const json::Value* field(const json::Value& v, std::string_view key) {
    return v.kind() == json::Value::Kind::Object ? v.find(key) : nullptr;
}

// A string field, or nullptr when absent or null.
const std::string* text_field(const json::Value& v, std::string_view key) {
    const json::Value* f = field(v, key);
    return f && f->kind() == json::Value::Kind::String ? &f->as_string() : nullptr;
}

int64_t int_field(const json::Value& v, std::string_view key) {
    const json::Value* f = field(v, key);
    return f && f->kind() == json::Value::Kind::Number ? f->as_int64() : -1;
}

// A token as the server names it: its exact bytes when a "bytes" list is given (the text may
// be a partial UTF-8 character shown as U+FFFD), and its id when the server writes tokens as
// "token_id:123" (vLLM's return_tokens_as_token_ids) or gives an "id".
void read_token(const json::Value& t, int32_t& id, std::string& text) {
    id = -1;
    text.clear();
    if (const std::string* s = text_field(t, "token")) text = *s;
    if (text.rfind("token_id:", 0) == 0) {
        int32_t v = 0;
        const char* b = text.data() + 9;
        const char* e = text.data() + text.size();
        const auto r = std::from_chars(b, e, v);
        if (r.ec == std::errc() && r.ptr == e && v >= 0) {
            id = v;
            text.clear();
        }
    }
    if (const json::Value* i = field(t, "id"); i && i->kind() == json::Value::Kind::Number)
        id = static_cast<int32_t>(i->as_int64());
    if (const json::Value* bytes = field(t, "bytes");
        bytes && bytes->kind() == json::Value::Kind::Array) {
        std::string raw;
        for (const json::Value& b : bytes->as_array()) {
            const int64_t v = b.as_int64();
            if (v < 0 || v > 255) throw Error("a token byte of " + std::to_string(v));
            raw += static_cast<char>(v);
        }
        text = std::move(raw);
    }
}

}  // namespace

ChatStreamReader::ChatStreamReader(bool starts_in_reasoning) : parser_(starts_in_reasoning) {}

bool ChatStreamReader::event(std::string_view data, double t_ms, StreamDelta* delta) {
    if (finished_) throw Error("chat stream: an event after the end");
    const std::string_view d = trimmed(data);
    if (d == "[DONE]") return false;
    json::Value v;
    try {
        v = json::parse(d);
    } catch (const gb::Error& e) {
        throw RemoteError(RemoteError::Kind::Malformed,
                          "the server's stream held something that is not JSON (" +
                              std::string(e.what()) + "): " + excerpt(d));
    }
    if (v.kind() != json::Value::Kind::Object)
        throw RemoteError(RemoteError::Kind::Malformed,
                          "the server's stream held a JSON " +
                              std::string(json::kind_name(v.kind())) +
                              " where a completion chunk was expected: " + excerpt(d));
    // An error inside a 200 stream: {"error": {"message": ..., "type": ..., "code": ...}}, or
    // {"error": "text"} (llama-server, Ollama).
    if (const json::Value* err = field(v, "error")) {
        std::string msg;
        if (err->kind() == json::Value::Kind::String) {
            msg = err->as_string();
        } else if (const std::string* m = text_field(*err, "message")) {
            msg = *m;
            if (const std::string* type = text_field(*err, "type")) msg += " (" + *type + ")";
        } else {
            msg = excerpt(d);
        }
        throw RemoteError(RemoteError::Kind::Server, "the server reported an error: " + msg);
    }
    ++chunks_;
    try {
        if (const json::Value* u = field(v, "usage"); u && u->kind() == json::Value::Kind::Object) {
            usage_.prompt_tokens = int_field(*u, "prompt_tokens");
            usage_.completion_tokens = int_field(*u, "completion_tokens");
            if (const json::Value* cd = field(*u, "completion_tokens_details"))
                usage_.reasoning_tokens = int_field(*cd, "reasoning_tokens");
            if (const json::Value* pd = field(*u, "prompt_tokens_details"))
                usage_.cached_prompt_tokens = int_field(*pd, "cached_tokens");
        }
        if (const json::Value* tm = field(v, "timings");
            tm && tm->kind() == json::Value::Kind::Object) {
            if (const json::Value* p = field(*tm, "prompt_ms")) usage_.prompt_ms = p->as_number();
            if (const json::Value* p = field(*tm, "predicted_ms"))
                usage_.generate_ms = p->as_number();
        }
        // Ollama's native /api/chat lines: {"message":{...},"done":..,"logprobs":[..]} with
        // counts and nanosecond durations on the last.
        if (field(v, "done")) {
            if (const int64_t n = int_field(v, "prompt_eval_count"); n >= 0)
                usage_.prompt_tokens = n;
            if (const int64_t n = int_field(v, "eval_count"); n >= 0) usage_.completion_tokens = n;
            if (const int64_t ns = int_field(v, "prompt_eval_duration"); ns >= 0)
                usage_.prompt_ms = static_cast<double>(ns) / 1e6;
            if (const int64_t ns = int_field(v, "eval_duration"); ns >= 0)
                usage_.generate_ms = static_cast<double>(ns) / 1e6;
        }
        take_routed_experts(v);
        const json::Value* choices = field(v, "choices");
        const json::Value* cp = nullptr;
        const json::Value* dl = nullptr;
        if (choices && choices->kind() == json::Value::Kind::Array &&
            !choices->as_array().empty()) {
            cp = &choices->as_array().front();
            dl = field(*cp, "delta");
            if (!dl) dl = field(*cp, "message");  // a whole (non-streamed) reply
        } else if (const json::Value* m = field(v, "message");
                   m && m->kind() == json::Value::Kind::Object) {
            cp = &v;  // Ollama's native line: the message and logprobs at the top
            dl = m;
        }
        if (!cp) return true;  // a usage-only chunk, or routed experts on their own
        const json::Value& c = *cp;
        // Reasoning: its own field (vLLM and SGLang "reasoning_content", newer vLLM and
        // OpenRouter "reasoning", Ollama's "thinking"), or inline tags in the content.
        std::string reasoning_text;
        for (const char* name : {"reasoning_content", "reasoning", "thinking"})
            if (const std::string* r = dl ? text_field(*dl, name) : nullptr; r && !r->empty()) {
                reasoning_text = *r;
                if (reasoning_source_.empty() || reasoning_source_ == "tags")
                    reasoning_source_ = name;
                break;
            }
        const std::string* content = dl ? text_field(*dl, "content") : text_field(c, "text");
        // Tokens with log-probabilities: chat's logprobs.content[], or the completions API's
        // parallel lists.
        std::vector<TokenRecord> recs;
        if (const json::Value* lp = field(c, "logprobs"); lp && !lp->is_null()) {
            const json::Value* list = lp->kind() == json::Value::Kind::Array
                                          ? lp
                                          : field(*lp, "content");  // Ollama: a list
            if (list && list->kind() == json::Value::Kind::Array) {
                for (const json::Value& t : list->as_array()) {
                    TokenRecord r;
                    read_token(t, r.id, r.text);
                    if (const json::Value* l = field(t, "logprob"); l && !l->is_null())
                        r.logprob = static_cast<float>(l->as_number());
                    if (const json::Value* top = field(t, "top_logprobs");
                        top && top->kind() == json::Value::Kind::Array)
                        for (const json::Value& a : top->as_array()) {
                            Alternative alt;
                            read_token(a, alt.id, alt.text);
                            const json::Value* al = field(a, "logprob");
                            alt.logprob = al && !al->is_null()
                                              ? static_cast<float>(al->as_number())
                                              : -std::numeric_limits<float>::infinity();
                            r.top.push_back(std::move(alt));
                        }
                    r.t_ms = t_ms;
                    recs.push_back(std::move(r));
                }
            } else if (const json::Value* toks = field(*lp, "tokens");
                       toks && toks->kind() == json::Value::Kind::Array) {
                const json::Value* lps = field(*lp, "token_logprobs");
                const json::Value* tops = field(*lp, "top_logprobs");
                for (size_t i = 0; i < toks->as_array().size(); ++i) {
                    TokenRecord r;
                    r.id = -1;
                    r.text = toks->as_array()[i].as_string();
                    if (lps && i < lps->as_array().size() && !lps->as_array()[i].is_null())
                        r.logprob = static_cast<float>(lps->as_array()[i].as_number());
                    if (tops && i < tops->as_array().size() &&
                        tops->as_array()[i].kind() == json::Value::Kind::Object) {
                        for (const auto& [text, l] : tops->as_array()[i].as_object())
                            r.top.push_back({-1, text, static_cast<float>(l.as_number())});
                        std::stable_sort(r.top.begin(), r.top.end(),
                                         [](const Alternative& a, const Alternative& b) {
                                             return a.logprob > b.logprob;
                                         });
                    }
                    r.t_ms = t_ms;
                    recs.push_back(std::move(r));
                }
            }
        }
        // A reply carried on inside its reasoning starts the parser in the reasoning; a server
        // that sends the reasoning in its own field then sends only the answer as content.
        if (!reasoning_text.empty() && !parser_used_) parser_ = ReasoningParser(false);
        if (content && !content->empty()) parser_used_ = true;
        const size_t before_r = parser_.reasoning().size(), before_a = parser_.answer().size();
        const size_t before_f = field_reasoning_.size();
        if (!reasoning_text.empty()) field_reasoning_ += reasoning_text;
        if (!recs.empty()) {
            // The tokens are this chunk's text: through the parser one by one, so each gets its
            // phase as a local token does; a chunk of the reasoning field is all reasoning.
            for (TokenRecord& r : recs) {
                r.phase = !reasoning_text.empty() && (!content || content->empty())
                              ? Phase::Think
                              : parser_.push(r.id, r.text);
                tokens_.push_back(r);
            }
        } else {
            // No log-probabilities: a record per piece of text as the server sent it (id -1, no
            // probability), so that the reply streams and its trace has the text in order.
            auto piece = [&](const std::string& text, Phase phase) {
                TokenRecord r;
                r.id = -1;
                r.text = text;
                r.phase = phase;
                r.t_ms = t_ms;
                tokens_.push_back(r);
                recs.push_back(std::move(r));
            };
            if (!reasoning_text.empty()) piece(reasoning_text, Phase::Think);
            if (content && !content->empty()) piece(*content, parser_.push(-1, *content));
        }
        if (parser_.saw_reasoning() && reasoning_source_.empty()) reasoning_source_ = "tags";
        if (const std::string* f = text_field(c, "finish_reason")) finish_ = *f;
        if (const json::Value* done = field(c, "done");
            done && done->kind() == json::Value::Kind::Bool && done->as_bool()) {
            const std::string* why = text_field(c, "done_reason");
            finish_ = why && !why->empty() ? *why : "stop";
        }
        if (delta) {
            delta->reasoning =
                field_reasoning_.substr(before_f) +
                parser_.reasoning().substr(std::min(before_r, parser_.reasoning().size()));
            delta->answer = parser_.answer().substr(std::min(before_a, parser_.answer().size()));
            delta->tokens = recs;
        }
    } catch (const RemoteError&) {
        throw;
    } catch (const std::exception& e) {
        throw RemoteError(RemoteError::Kind::Malformed,
                          "the server sent a chunk this reader does not understand (" +
                              std::string(e.what()) + "): " + excerpt(d));
    }
    return true;
}

void ChatStreamReader::take_routed_experts(const json::Value& v) {
    using F = RoutedExpertsPayload::Format;
    auto take = [&](const json::Value* f, F format, const char* where) {
        if (!f || f->is_null()) return;
        RoutedExpertsPayload p;
        p.where = where;
        if (f->kind() == json::Value::Kind::String) {
            p.format = format;
            p.base64 = f->as_string();
        } else if (f->kind() == json::Value::Kind::Array) {
            // [tokens][layers][k] lists of the reply's tokens (vLLM 0.21).
            RoutedExperts& re = p.lists;
            re.rows_are_reply = true;
            for (const json::Value& row : f->as_array()) {
                const auto& layers = row.as_array();
                if (re.rows == 0) re.layers = static_cast<int64_t>(layers.size());
                if (static_cast<int64_t>(layers.size()) != re.layers)
                    throw Error("routed experts: rows of different layer counts");
                for (const json::Value& layer : layers) {
                    const auto& ks = layer.as_array();
                    if (re.k == 0) re.k = static_cast<int64_t>(ks.size());
                    if (static_cast<int64_t>(ks.size()) != re.k || re.k == 0)
                        throw Error("routed experts: layers of different top-k");
                    for (const json::Value& e : ks) {
                        const int64_t id = e.as_int64();
                        if (id < 0 || id > 65535)
                            throw Error("routed experts: expert id " + std::to_string(id));
                        re.ids.push_back(static_cast<int32_t>(id));
                    }
                }
                ++re.rows;
            }
            p.format = F::Lists;
        } else {
            throw Error(std::string("routed experts: ") + where + " is a " +
                        json::kind_name(f->kind()));
        }
        routed_ = std::move(p);
    };
    if (const json::Value* ext = field(v, "sglext"))
        take(field(*ext, "routed_experts"), F::RawInt32, "sglext.routed_experts");
    const json::Value* choices = field(v, "choices");
    if (!choices || choices->kind() != json::Value::Kind::Array || choices->as_array().empty())
        return;
    const json::Value& c = choices->as_array().front();
    take(field(c, "routed_experts"), F::Npy, "choices[0].routed_experts");
    for (const char* ext : {"sgl_ext", "meta_info"})
        if (const json::Value* e = field(c, ext))
            take(field(*e, "routed_experts"), F::RawInt32, ext);
}

std::string ChatStreamReader::reasoning() const {
    std::string r(trimmed(field_reasoning_));
    const std::string& tags = parser_.reasoning();
    if (!tags.empty()) r += (r.empty() ? "" : "\n") + tags;
    return r;
}

std::string ChatStreamReader::answer() const { return parser_.answer(); }

StopReason ChatStreamReader::stop_reason() const {
    if (finish_.empty()) return StopReason::None;
    if (finish_ == "stop" || finish_ == "eos" || finish_ == "end_turn") return StopReason::Eog;
    if (finish_ == "length") return StopReason::MaxTokens;
    return StopReason::Stopped;
}

bool ChatStreamReader::reasoning_complete() const {
    // A reasoning field is complete once answer text followed it (or the reply ended normally).
    if (reasoning_source_ != "tags" && !reasoning_source_.empty())
        return !parser_.answer().empty() || stop_reason() == StopReason::Eog;
    return parser_.reasoning_complete();
}

void ChatStreamReader::finish() {
    if (finished_) return;
    parser_.finish();
    finished_ = true;
}

}  // namespace gb::remote
