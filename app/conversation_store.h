// ConversationStore: where conversations live, as the controller sees them: a tree of messages
// per conversation (edits and regenerations are branches) and the leaf shown now. Two kinds:
// MemoryConversationStore (here) and the SQLite history store behind the same interface.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "app/history/history_types.h"
#include "app/history/trace_blob.h"
#include "engine/trace/trace.h"

namespace gb::app {

struct StoredMessage {
    int64_t id = 0;
    std::optional<int64_t> parent;
    std::string role;       // "user", "assistant"
    std::string content;    // the user's text, or the assistant's answer
    std::string reasoning;  // assistant: the chain of thought, markers excluded
    bool complete = true;   // false: cancelled or failed before its end
    double thought_ms = 0;  // how long the reasoning took
    int n_reasoning_tokens = 0;
    int n_answer_tokens = 0;
    StopReason stop_reason = StopReason::None;
    int64_t created_ms = 0;
    // A reply's speed, as its footer shows it (0: unknown): from its trace when it is made
    // (reply_stats_from_trace), from the history's columns when it is read back.
    int n_prompt_tokens = 0;
    double ttft_ms = 0;                  // from the request to the first generated token
    double decode_tps = 0;               // generated tokens per second
    std::string precision;               // Trace::precision ("fast", "precise", "" not known)
    std::shared_ptr<const Trace> trace;  // may be loaded on demand (trace())
};

// Fills a reply's n_prompt_tokens, ttft_ms, decode_tps and precision from m.trace (a remote reply's
// prompt count from the server's usage when the trace has no prompt tokens).
void reply_stats_from_trace(StoredMessage& m);

struct ConversationSummary {
    int64_t id = 0;
    std::string title;
    bool pinned = false;
    int64_t updated_ms = 0;
    std::string settings_json = "{}";
    std::optional<int64_t> current_leaf;
};

class ConversationStore {
public:
    virtual ~ConversationStore() = default;
    virtual std::vector<ConversationSummary> list() = 0;  // pinned first, then most recent
    // Conversations whose title or messages contain every word of `text` (case-insensitive).
    virtual std::vector<int64_t> search(const std::string& text) = 0;
    virtual int64_t create(const std::string& title, const std::string& settings_json) = 0;
    virtual void rename(int64_t id, const std::string& title) = 0;
    virtual void set_pinned(int64_t id, bool pinned) = 0;
    virtual void remove(int64_t id) = 0;
    virtual void set_settings(int64_t id, const std::string& settings_json) = 0;
    virtual void set_current_leaf(int64_t id, int64_t message_id) = 0;
    virtual ConversationSummary summary(int64_t id) = 0;
    // Every branch, oldest first. May be called from any thread.
    virtual std::vector<StoredMessage> messages(int64_t id) = 0;
    // Adds a message (its id is assigned) and makes it the conversation's current leaf.
    virtual int64_t add_message(int64_t conversation_id, const StoredMessage& m) = 0;
    // The trace of a stored reply (nullptr when it has none). May be called from any thread:
    // stored traces are loaded off the UI thread.
    virtual std::shared_ptr<const Trace> trace(int64_t message_id) = 0;
    // The stored replies whose trace was made by `model` (the trace's model name), oldest
    // first. May be called from any thread.
    virtual std::vector<int64_t> replies_of_model(const std::string& model) = 0;
    // The expert-usage rows (per MoE layer, expert and phase) of those replies, summed, sorted
    // by (layer, expert, phase): what the history's expert-usage table holds, so a set of
    // replies is analysed without loading their traces. May be called from any thread.
    virtual std::vector<ExpertUsage> expert_usage(const std::vector<int64_t>& message_ids) = 0;
    // Bookmarks with notes on the tokens of a stored reply (teaching), by token then id. The
    // errors are HistoryError's: NotFound (no such reply or bookmark), Invalid (a negative
    // token, a note over kMaxBookmarkNote bytes).
    virtual std::vector<Bookmark> bookmarks(int64_t message_id) = 0;
    virtual int64_t add_bookmark(int64_t message_id, int token, const std::string& note) = 0;
    virtual void set_bookmark_note(int64_t id, const std::string& note) = 0;
    virtual void remove_bookmark(int64_t id) = 0;
    // Resamplings kept with a stored reply (StoredResampling), by position then id. The errors
    // are HistoryError's: NotFound (no such reply or resampling), Invalid (a result that
    // check_resampling refuses).
    virtual std::vector<StoredResampling> resamplings(int64_t message_id) = 0;
    virtual int64_t add_resampling(int64_t message_id, const std::string& result_json) = 0;
    virtual void remove_resampling(int64_t id) = 0;

    // Streaming, for stores that can save a reply while it is generated (a crash then loses at
    // most the last flush): reply_started, reply_text per token, then add_message() of the
    // assistant reply completes it, or reply_abandoned() leaves it marked incomplete.
    virtual void reply_started(int64_t conversation_id, std::optional<int64_t> parent) {}
    virtual void reply_text(bool reasoning, const std::string& text) {}
    virtual void reply_abandoned() {}
};

class MemoryConversationStore : public ConversationStore {
public:
    std::vector<ConversationSummary> list() override;
    std::vector<int64_t> search(const std::string& text) override;
    int64_t create(const std::string& title, const std::string& settings_json) override;
    void rename(int64_t id, const std::string& title) override;
    void set_pinned(int64_t id, bool pinned) override;
    void remove(int64_t id) override;
    void set_settings(int64_t id, const std::string& settings_json) override;
    void set_current_leaf(int64_t id, int64_t message_id) override;
    ConversationSummary summary(int64_t id) override;
    std::vector<StoredMessage> messages(int64_t id) override;
    int64_t add_message(int64_t conversation_id, const StoredMessage& m) override;
    std::shared_ptr<const Trace> trace(int64_t message_id) override;
    std::vector<int64_t> replies_of_model(const std::string& model) override;
    std::vector<ExpertUsage> expert_usage(const std::vector<int64_t>& message_ids) override;
    std::vector<Bookmark> bookmarks(int64_t message_id) override;
    int64_t add_bookmark(int64_t message_id, int token, const std::string& note) override;
    void set_bookmark_note(int64_t id, const std::string& note) override;
    void remove_bookmark(int64_t id) override;
    std::vector<StoredResampling> resamplings(int64_t message_id) override;
    int64_t add_resampling(int64_t message_id, const std::string& result_json) override;
    void remove_resampling(int64_t id) override;

private:
    struct Conv {
        ConversationSummary info;
        std::vector<StoredMessage> messages;
    };
    Conv& at(int64_t id);
    std::vector<ConversationSummary> sorted() const;  // pinned first, then most recent
    void touch(Conv& c);

    std::mutex mu_;  // trace() may be called from any thread (InspectedReply loads off the UI's)
    std::map<int64_t, Conv> convs_;
    std::map<int64_t, Bookmark> bookmarks_;
    int64_t next_bookmark_ = 1;
    std::map<int64_t, StoredResampling> resamplings_;
    int64_t next_resampling_ = 1;
    bool has_message(int64_t id) const;  // mu_ held
    int64_t next_id_ = 1, next_message_ = 1, clock_ = 0;
};

int64_t unix_ms();

}  // namespace gb::app
