// HistoryConversationStore: the ConversationStore the app runs on, kept in SQLite by the
// history store (app/history/), so conversations, branches, settings and traces survive a
// restart.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "app/conversation_store.h"
#include "app/history/history_store.h"

namespace gb::app {

class HistoryConversationStore : public ConversationStore {
public:
    explicit HistoryConversationStore(std::unique_ptr<HistoryStore> store);
    ~HistoryConversationStore() override;
    // Opens (or creates) the database at path; a damaged file is moved aside and a new one made
    // (*note says so). Throws HistoryError when the file is locked by another instance or newer.
    static std::unique_ptr<HistoryConversationStore> open(const std::string& path,
                                                          std::string* note = nullptr);

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
    void reply_started(int64_t conversation_id, std::optional<int64_t> parent) override;
    void reply_text(bool reasoning, const std::string& text) override;
    void reply_abandoned() override;

    HistoryStore& history() { return *store_; }
    // Waits until every write handed to the background thread is done (tests, shutdown).
    void drain();

private:
    // The writes that can be slow run on one background thread, in order, so the UI thread
    // never waits for an fsync or for a trace being compressed: the streamed text (committed
    // every 500 ms) and the finished reply (its trace encoded before the database is taken).
    // Every use of store_ / writer_ holds db_mu_; a failure there is kept and thrown by the next
    // call from the UI thread, so the controller still reports it.
    void post(std::function<void()> task);
    void run_writer();
    void rethrow_background_error();

    // The traces of the last few replies added, as they came: inspecting a reply that just
    // finished must not wait for the writer thread to compress and commit it and then read it
    // back. Guarded by recent_mu_ (trace() runs on a loader thread); cleared when a
    // conversation is removed (ids can be reused).
    void remember_trace(int64_t id, std::shared_ptr<const Trace> trace);
    std::mutex recent_mu_;
    std::vector<std::pair<int64_t, std::shared_ptr<const Trace>>> recent_traces_;

    std::unique_ptr<HistoryStore> store_;
    std::optional<ReplyWriter> writer_;  // the reply being streamed
    std::mutex db_mu_;
    // The reads the UI thread makes on its own (the conversation list, search, bookmarks) go
    // through a second connection, so they never wait behind the writer thread's commit (an
    // fsync can take hundreds of milliseconds on a busy disk). They see the last commit; a
    // finished reply being written shows there a moment later. Null when the file cannot take
    // a second connection; then those reads share store_. Declared after store_, so it closes
    // first and the writer's close checkpoints the WAL.
    std::unique_ptr<HistoryStore> reader_;
    std::mutex reader_mu_;
    // Runs f on the reader connection, or on store_ under db_mu_ when there is none.
    template <class F>
    auto read(F&& f) -> decltype(f(*store_)) {
        if (reader_) {
            std::lock_guard<std::mutex> lock(reader_mu_);
            return f(*reader_);
        }
        std::lock_guard<std::mutex> lock(db_mu_);
        return f(*store_);
    }
    std::mutex q_mu_;
    std::condition_variable q_cv_, idle_cv_;
    std::deque<std::function<void()>> queue_;
    bool busy_ = false, stop_ = false;
    std::string background_error_;
    std::thread thread_;
};

}  // namespace gb::app
