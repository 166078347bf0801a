// The streaming reasoning/answer split (rules in reasoning_parser.h): a three-state machine over
// the reply's bytes with a hold-back buffer for bytes that may still become a marker.
#include "engine/trace/reasoning_parser.h"

#include <algorithm>

#include "kernels/error.h"

namespace gb {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Appends bytes to a text whose leading whitespace is dropped and whose trailing whitespace is
// held in ws until non-whitespace follows it.
void append_trimmed(std::string& text, std::string& ws, std::string_view bytes) {
    for (char c : bytes) {
        if (is_space(c)) {
            if (!text.empty()) ws += c;
        } else {
            text += ws;
            ws.clear();
            text += c;
        }
    }
}

// Length of the longest suffix of s that is a proper prefix of tag (0 if none).
size_t held_prefix(std::string_view s, std::string_view tag) {
    for (size_t k = std::min(s.size(), tag.size() - 1); k > 0; --k)
        if (s.substr(s.size() - k) == tag.substr(0, k)) return k;
    return 0;
}

void drop_leading_space(std::string& s) {
    size_t i = 0;
    while (i < s.size() && is_space(s[i])) ++i;
    s.erase(0, i);
}

}  // namespace

bool prompt_opens_reasoning(std::string_view rendered_prompt, std::string_view open_tag,
                            std::string_view close_tag) {
    if (open_tag.empty() || close_tag.empty()) return false;
    const size_t open = rendered_prompt.rfind(open_tag);
    if (open == std::string_view::npos) return false;
    return rendered_prompt.find(close_tag, open + open_tag.size()) == std::string_view::npos;
}

ReasoningParser::ReasoningParser(bool starts_in_reasoning, std::string open_tag,
                                 std::string close_tag)
    : open_(std::move(open_tag)),
      close_(std::move(close_tag)),
      state_(starts_in_reasoning ? State::Think : State::Before),
      saw_reasoning_(starts_in_reasoning),
      may_reopen_(starts_in_reasoning) {
    if (open_.empty() || close_.empty())
        throw Error("reasoning parser: the open and close tags must not be empty");
    if (open_ == close_)
        throw Error("reasoning parser: the open and close tags are both \"" + open_ + "\"");
}

Phase ReasoningParser::push(int32_t /*id*/, std::string_view token_bytes) {
    if (finished_) throw Error("reasoning parser: push after finish");
    const bool think_before = state_ == State::Think;
    pending_ += token_bytes;
    const bool touched = drain();
    return think_before || touched || state_ == State::Think ? Phase::Think : Phase::Answer;
}

bool ReasoningParser::drain() {
    bool touched = false;
    for (;;) {
        switch (state_) {
            case State::Answer:
                append_trimmed(answer_, answer_ws_, pending_);
                pending_.clear();
                return touched;

            case State::Before: {
                // Only an open tag at the very start (after whitespace) opens reasoning.
                drop_leading_space(pending_);
                if (pending_.empty()) return touched;
                if (pending_.starts_with(open_)) {
                    pending_.erase(0, open_.size());
                    state_ = State::Think;
                    saw_reasoning_ = true;
                    touched = true;
                    continue;
                }
                if (std::string_view(open_).starts_with(pending_)) return true;  // may still be
                state_ = State::Answer;
                continue;
            }

            case State::Think: {
                if (may_reopen_) {
                    drop_leading_space(pending_);
                    if (pending_.empty()) return touched;
                    if (pending_.starts_with(open_)) {
                        pending_.erase(0, open_.size());
                        may_reopen_ = false;
                        touched = true;
                        continue;
                    }
                    // "<" and "</t..." may be either tag; keep holding while the open tag can.
                    if (std::string_view(open_).starts_with(pending_)) return true;
                    may_reopen_ = false;
                }
                const size_t at = pending_.find(close_);
                if (at != std::string::npos) {
                    append_trimmed(reasoning_, reasoning_ws_,
                                   std::string_view(pending_).substr(0, at));
                    reasoning_ws_.clear();  // whitespace before the close tag is layout
                    pending_.erase(0, at + close_.size());
                    state_ = State::Answer;
                    touched = true;
                    continue;
                }
                const size_t keep = held_prefix(pending_, close_);
                append_trimmed(reasoning_, reasoning_ws_,
                               std::string_view(pending_).substr(0, pending_.size() - keep));
                pending_.erase(0, pending_.size() - keep);
                return touched || keep > 0;
            }
        }
    }
}

void ReasoningParser::finish() {
    if (finished_) return;
    finished_ = true;
    // What is still held back never became a marker: it is text of the current state.
    if (state_ == State::Think)
        append_trimmed(reasoning_, reasoning_ws_, pending_);
    else
        append_trimmed(answer_, answer_ws_, pending_);
    pending_.clear();
    reasoning_ws_.clear();
    answer_ws_.clear();
}

namespace {

// The longest prefix of `text` that is also a prefix of `final_text`.
std::string common_prefix(const std::string& text, const std::string& final_text) {
    size_t n = 0;
    while (n < text.size() && n < final_text.size() && text[n] == final_text[n]) ++n;
    return text.substr(0, n);
}

}  // namespace

ReplyTexts reply_texts_at(const Trace& trace, size_t n_generated) {
    ReplyTexts out;
    size_t first = 0;
    while (first < trace.tokens.size() && trace.tokens[first].phase == Phase::Prompt) ++first;
    const size_t n_gen = trace.tokens.size() - first;
    n_generated = std::min(n_generated, n_gen);
    for (size_t i = first; i < first + n_generated; ++i)
        (trace.tokens[i].phase == Phase::Think ? out.n_reasoning : out.n_answer)++;
    const bool stored = !trace.reasoning_text.empty() || !trace.answer_text.empty();
    if (stored && n_generated == n_gen) {
        out.reasoning = trace.reasoning_text;
        out.answer = trace.answer_text;
        return out;
    }
    ReasoningParser parser(prompt_opens_reasoning(trace.prompt_text));
    for (size_t i = first; i < first + n_generated; ++i)
        parser.push(trace.tokens[i].id, trace.tokens[i].text);
    if (n_generated == n_gen) parser.finish();
    out.reasoning = parser.reasoning();
    out.answer = parser.answer();
    if (stored) {
        out.reasoning = common_prefix(out.reasoning, trace.reasoning_text);
        out.answer = common_prefix(out.answer, trace.answer_text);
    }
    return out;
}

}  // namespace gb
