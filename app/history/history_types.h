// What the history store keeps: conversations, messages (a tree: edits and regenerations are
// branches), reply statistics and what is needed to reproduce a reply. Plain structs, no SQL.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/sample/sampler.h"
#include "engine/trace/trace.h"
#include "kernels/error.h"

namespace gb::json {
class Value;
}

namespace gb::app {

// Why a store operation failed, so the UI can offer the right action (recover, retry, free
// space, close the other instance).
class HistoryError : public gb::Error {
public:
    enum class Kind {
        Corrupt,   // SQLite reports corruption, or integrity checks fail
        NotOurs,   // not a SQLite file, or a SQLite file of another application
        TooNew,    // written by a newer Glassbox (schema version above ours)
        Locked,    // another Glassbox instance holds the database
        DiskFull,  // the disk (or a size limit) is full; nothing saved before is lost
        Io,        // other I/O failures (permissions, missing directory)
        NotFound,  // no such conversation / message
        Invalid,   // bad argument or bad import file
    };
    HistoryError(Kind kind, const std::string& what) : gb::Error(what), kind_(kind) {}
    Kind kind() const { return kind_; }

private:
    Kind kind_;
};

const char* kind_name(HistoryError::Kind k);

enum class Role { System, User, Assistant };
const char* role_name(Role r);              // "system", "user", "assistant"
Role role_from_name(const std::string& s);  // HistoryError(Invalid) otherwise

// streaming: being generated now; incomplete: generation stopped before its end (a crash, a
// kill, a cancelled reply); complete: finished normally.
enum class MessageStatus { Complete, Incomplete, Streaming };
const char* status_name(MessageStatus s);
MessageStatus status_from_name(const std::string& s);

// Speed and provenance of an assistant reply.
struct ReplyStats {
    int n_prompt_tokens = 0;
    int n_reasoning_tokens = 0;  // generated tokens in the think phase (markers included)
    int n_answer_tokens = 0;
    double ttft_ms = 0;                         // time to first generated token
    double prefill_tps = 0;                     // prompt tokens per second
    double decode_tps = 0;                      // generated tokens per second
    std::string backend;                        // "cpu", "cuda", "remote"
    std::string device;                         // e.g. "NVIDIA H200", "AMD EPYC 9654 (16 threads)"
    std::string model;                          // model name
    std::string model_hash;                     // hash of the model file (hex)
    StopReason stop_reason = StopReason::None;  // stored by name (stop_reason_name)
    std::string precision;  // Trace::precision: "fast", "precise", "" (not known)
    bool operator==(const ReplyStats&) const = default;
};

// Everything needed to regenerate a reply token for token.
struct Reproduction {
    std::optional<SamplerSettings> sampler;  // includes the seed
    std::string system_prompt;
    std::string rendered_prompt;  // the exact text the model was given
    std::string chat_template;    // the template source that rendered it
    std::string engine_version;
    bool operator==(const Reproduction& o) const;
};

struct Message {
    int64_t id = 0;
    int64_t conversation_id = 0;
    std::optional<int64_t> parent_id;  // none for the first message
    Role role = Role::User;
    std::string content;    // user / system text; empty for assistant replies
    std::string reasoning;  // assistant: the chain of thought, markers excluded
    std::string answer;     // assistant: the answer
    MessageStatus status = MessageStatus::Complete;
    int64_t created_ms = 0;  // Unix time, milliseconds
    ReplyStats stats;
    Reproduction repro;
    bool has_trace = false;  // the trace itself is loaded on demand (load_trace)
};

// A bookmark with a note on one token of a stored reply (a step or a fork a teacher will come
// back to). token: an index into the reply's trace.
struct Bookmark {
    int64_t id = 0;
    int64_t message_id = 0;
    int token = 0;
    std::string note;
    int64_t created_ms = 0;
    bool operator==(const Bookmark&) const = default;
};
inline constexpr size_t kMaxBookmarkNote = 64 * 1024;  // bytes

// The arguments every store checks before keeping a bookmark: HistoryError Invalid for a
// negative token or a note over kMaxBookmarkNote bytes.
inline void check_bookmark(int token, std::string_view note) {
    if (token < 0)
        throw HistoryError(
            HistoryError::Kind::Invalid,
            "history: a bookmark needs a token index >= 0, got " + std::to_string(token));
    if (note.size() > kMaxBookmarkNote)
        throw HistoryError(HistoryError::Kind::Invalid,
                           "history: a bookmark note of " + std::to_string(note.size()) +
                               " bytes is over the limit of " + std::to_string(kMaxBookmarkNote));
}

// A resampling of a stored reply at one of its positions (forking paths): the engine's result
// (gb::ResampleResult, engine/session/interventions.h) as its JSON text, kept with the reply.
// at and k are the result's own, read from it when it is stored.
struct StoredResampling {
    int64_t id = 0;
    int64_t message_id = 0;
    int at = 0;
    int k = 0;
    std::string result_json;
    int64_t created_ms = 0;
    bool operator==(const StoredResampling&) const = default;
};
inline constexpr size_t kMaxResamplingJson = 4 * 1024 * 1024;  // bytes (about 40,000 rollouts)

// The check every store makes before keeping a resampling: HistoryError Invalid for text over
// kMaxResamplingJson bytes or one that is not a resampling (the engine's reader names the
// field); returns the position and rollout count read from it.
std::pair<int, int> check_resampling(std::string_view result_json);

struct ConversationInfo {
    int64_t id = 0;
    std::string title;
    std::string model;
    std::string settings_json = "{}";  // the conversation's generation settings, a JSON object
    int64_t created_ms = 0;
    int64_t updated_ms = 0;
    bool pinned = false;
    std::optional<int64_t> current_leaf;  // the message shown at the end of the chat
};

// One conversation with all its messages (every branch), in id order, without traces.
struct Conversation {
    ConversationInfo info;
    std::vector<Message> messages;
    const Message* find(int64_t id) const;
    // The branch ending at leaf (root first); the current branch when leaf is absent.
    std::vector<const Message*> branch(std::optional<int64_t> leaf = std::nullopt) const;
};

// What is wrong with a conversation's message tree (read from a damaged or crafted file): a
// parent that is not a message of the conversation, a cycle of parents, a current_leaf that is
// not one of its messages. Names the message ids; empty when the tree is sound. Linear time.
std::string tree_damage(const Conversation& c);

// A reply found by a metadata query.
struct ReplyRef {
    int64_t message_id = 0;
    int64_t conversation_id = 0;
    std::string conversation_title;
    std::string model;
    int n_reasoning_tokens = 0;
    int64_t created_ms = 0;
};

// Full-text search fields; combine with |.
enum SearchField : unsigned {
    kSearchTitle = 1,
    kSearchPrompt = 2,
    kSearchReasoning = 4,
    kSearchAnswer = 8,
    kSearchAll = 15,
};

struct SearchHit {
    int64_t conversation_id = 0;
    int64_t message_id = 0;  // 0 for a title hit
    SearchField field = kSearchTitle;
    std::string conversation_title;
    std::string snippet;  // the matching passage, matches wrapped in [ and ]
    double rank = 0;      // bm25: lower is better
};

// Sampler settings as a JSON object (the trace format's "sampling" fields); floats and the
// 64-bit seed round-trip exactly.
std::string sampler_to_json(const SamplerSettings& s);
// Floats must be finite, integers within int: HistoryError(Invalid) or gb::Error otherwise.
SamplerSettings sampler_from_json(std::string_view text);
SamplerSettings sampler_from_json(const json::Value& v);

}  // namespace gb::app
