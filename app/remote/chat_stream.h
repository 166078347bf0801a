// What an OpenAI-compatible server streams for one chat (or text) completion, read into the
// pieces of a Glassbox trace: the reasoning (from whichever field the server uses, or inline
// <think> tags in the content), the answer, one TokenRecord per token when the server sends
// log-probabilities (its text, exact bytes when given, log-probability and top alternatives;
// the id when the server gives one, else -1), or else one record per piece of text as the
// server sent it (id -1, no probability), the finish reason, usage figures and errors.
// What the server does not send stays absent: a token without log-probabilities has none,
// entropy is never guessed from a truncated top list. Qt-free.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "app/remote/routed_experts.h"
#include "engine/trace/reasoning_parser.h"
#include "engine/trace/trace.h"

namespace gb::json {
class Value;
}

namespace gb::remote {

// A server's own error, or a stream that cannot be read. kind says which; the message names
// what was wrong and, for a server error, quotes the server's words.
class RemoteError : public std::runtime_error {
public:
    enum class Kind { Server, Malformed, Http, Network, Timeout, Refused };
    RemoteError(Kind k, const std::string& what) : std::runtime_error(what), kind_(k) {}
    Kind kind() const { return kind_; }

private:
    Kind kind_;
};

// Figures a server may report at the end (gb::ServerUsage, trace.h).
using gb::ServerUsage;

// What one event added, for the stream to show at once.
struct StreamDelta {
    std::string reasoning;            // new reasoning text
    std::string answer;               // new answer text
    std::vector<TokenRecord> tokens;  // new records (tokens, or pieces of text)
};

class ChatStreamReader {
public:
    // starts_in_reasoning: the prompt opened the reasoning (a raw completion after "<think>\n").
    explicit ChatStreamReader(bool starts_in_reasoning = false);

    // One event's data (a JSON chunk, or "[DONE]") arriving at t_ms since the request. Returns
    // false for "[DONE]". Throws RemoteError: Server for an error object in the stream (which
    // servers send inside a 200 response), Malformed for data that is not a chunk.
    bool event(std::string_view data, double t_ms, StreamDelta* delta = nullptr);

    // The reply so far: texts as ReasoningParser splits them (markers out, ends trimmed).
    std::string reasoning() const;
    std::string answer() const;
    const std::vector<TokenRecord>& tokens() const { return tokens_; }
    // The finish reason as the server named it ("stop", "length", ...; "" until it does) and as
    // a StopReason: stop -> Eog, length -> MaxTokens, anything else -> Stopped.
    const std::string& finish_reason() const { return finish_; }
    StopReason stop_reason() const;
    const ServerUsage& usage() const { return usage_; }
    // Where the reasoning came from: "reasoning_content", "reasoning", "thinking", "tags" (inline
    // <think>), or "" when there was none.
    const std::string& reasoning_source() const { return reasoning_source_; }
    bool reasoning_complete() const;
    int64_t chunks() const { return chunks_; }
    // Routed experts the server sent (vLLM's choices[].routed_experts, SGLang's sglext),
    // undecoded: decode_payload and match_routing (routed_experts.h) put them in the records.
    const RoutedExpertsPayload& routed_experts() const { return routed_; }
    // Ends the reply: held-back bytes go to their text.
    void finish();

private:
    void take_text(std::string_view text, bool reasoning_field, StreamDelta* delta);
    void take_routed_experts(const json::Value& chunk);

    ReasoningParser parser_;
    std::string field_reasoning_;  // from a reasoning field (not tags)
    std::vector<TokenRecord> tokens_;
    std::string finish_;
    ServerUsage usage_;
    std::string reasoning_source_;
    RoutedExpertsPayload routed_;
    bool parser_used_ = false;  // content went through parser_
    int64_t chunks_ = 0;
    bool finished_ = false;
};

}  // namespace gb::remote
