// Splits a streamed reply into reasoning ("<think> ... </think>") and answer, one token at a
// time: each token gets its Phase as it arrives, and the two texts grow as the stream goes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/trace/trace.h"

namespace gb {

// True when the last open tag in a rendered prompt is not closed after it, i.e. the chat
// template pre-filled the start of the reasoning (DeepSeek-R1 and its distills end the
// generation prompt with "<think>\n"). False when there is no open tag, or when the prompt
// closes it again (Qwen3 with thinking off pre-fills "<think>\n\n</think>\n\n").
bool prompt_opens_reasoning(std::string_view rendered_prompt, std::string_view open_tag = "<think>",
                            std::string_view close_tag = "</think>");

// The parser works on the byte stream, not on token ids, so a marker may be one added token
// (Qwen3's <think>) or several ordinary ones ("<", "think", ">"). Bytes that could still turn
// into a marker are held back (at most the marker's length) until they either complete it or
// cannot any more.
//
// Rules:
// - Reasoning opens either at the start (starts_in_reasoning: the prompt already opened it) or
//   with an open tag that comes before any other reply text (leading whitespace aside). An open
//   tag after answer text has begun is answer text: the model is talking about the tag.
// - When starting in reasoning, an open tag before any reasoning text is swallowed as a marker
//   too (templates differ on whether the model re-emits it).
// - Reasoning closes at the first close tag. There is no nesting: an open tag inside the
//   reasoning is reasoning text, and any tag after the close is answer text.
// - The markers belong to neither text. Both texts are trimmed of whitespace (space, tab, CR,
//   LF) at both ends: the newlines around the markers ("<think>\n", "\n</think>\n\n") are
//   layout, not content. Inner whitespace is kept. Trailing whitespace is held back until
//   non-whitespace follows, so at every moment each text is a prefix of its final value.
// - Bytes are passed through untouched; the markers are ASCII, so a UTF-8 character split
//   across tokens is never mistaken for part of one, and a text may end mid-character until
//   the next token completes it.
//
// Phase of a token (decided when it is pushed, since the UI colours it at once):
// - Think if the parser is in the reasoning when the token starts or ends, or if any of the
//   token's bytes are, or may still become, part of a marker. So a token straddling a marker
//   ("ink>\n\nThe" completing "</think>") is Think, like the marker.
// - Answer otherwise. Before anything is known, whitespace-only tokens are Answer; a token
//   that may start an open tag ("<") is Think, and stays so even if the tag does not come
//   (its bytes then go to the answer text).
class ReasoningParser {
public:
    // gb::Error if a tag is empty or the two are equal.
    explicit ReasoningParser(bool starts_in_reasoning, std::string open_tag = "<think>",
                             std::string close_tag = "</think>");

    // One generated token's raw bytes (may be empty, e.g. an end-of-generation token, which
    // then gets the current phase). gb::Error after finish().
    Phase push(int32_t id, std::string_view token_bytes);
    // End of the reply: held-back bytes that never became a marker go to their text.
    void finish();

    const std::string& reasoning() const { return reasoning_; }
    const std::string& answer() const { return answer_; }
    // False while a reasoning block is open (after finish(): the reply was cut off inside it).
    // True when it was closed, or when there was none; saw_reasoning() tells which.
    bool reasoning_complete() const { return state_ != State::Think; }
    bool saw_reasoning() const { return saw_reasoning_; }
    const std::string& open_tag() const { return open_; }
    const std::string& close_tag() const { return close_; }

private:
    enum class State : uint8_t { Before, Think, Answer };

    // Moves what can be decided from pending_ into the texts; true if a marker was touched
    // (matched, or a possible prefix of one is held back).
    bool drain();

    std::string open_, close_;
    State state_;
    bool saw_reasoning_;
    bool finished_ = false;
    bool may_reopen_;      // starting in reasoning: an open tag before any text is a marker
    std::string pending_;  // bytes not yet given to a text
    std::string reasoning_, answer_;
    std::string reasoning_ws_, answer_ws_;  // trailing whitespace held back
};

// What a reply showed after its first n generated tokens: the reasoning and answer texts as the
// parser split them while it streamed (a replay shows the chat bubble growing through these),
// and how many of those tokens were reasoning (Think) and answer. The reply starts in reasoning
// when its rendered prompt opened it (prompt_opens_reasoning of trace.prompt_text). The texts
// are always prefixes of the trace's final reasoning_text and answer_text (where those are
// stored), which they equal once n covers every generated token: the bytes of control tokens
// that the reply never showed (an end-of-generation marker) are cut there.
struct ReplyTexts {
    std::string reasoning;
    std::string answer;
    int n_reasoning = 0;
    int n_answer = 0;
};
ReplyTexts reply_texts_at(const Trace& trace, size_t n_generated);

}  // namespace gb
