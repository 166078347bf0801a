// gb::app::HistoryStore: every conversation, reply, reasoning and trace, kept in SQLite so that
// nothing is lost: WAL, every write in a transaction, streamed replies saved at least once a
// second, damaged or foreign files moved aside rather than overwritten. Qt-free.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app/history/history_types.h"
#include "app/history/instance_lock.h"
#include "app/history/sqlite.h"
#include "app/history/trace_blob.h"
#include "engine/trace/trace.h"

namespace gb::app {

struct HistoryOptions {
    // A streamed reply reaches the database at least this often (the issue asks for <= 1 s).
    int flush_interval_ms = 500;
    // FULL: each commit is fsynced, so even a power cut loses at most the last flush. NORMAL
    // survives process crashes and kills equally well, and is faster for bulk work.
    bool synchronous_full = true;
    int busy_timeout_ms = 5000;
    // Refuse to open a database another instance holds (instance_lock.h).
    bool instance_lock = true;
    // PRAGMA quick_check when opening: finds damaged files before they are written to.
    bool quick_check_on_open = true;
};

enum class OpenOutcome {
    Opened,     // an existing database of the current version
    Created,    // a new, empty database
    Migrated,   // an existing database brought up to the current schema
    Recovered,  // the file was damaged or not ours: moved aside, and a new database made
};
const char* outcome_name(OpenOutcome o);

struct OpenReport {
    OpenOutcome outcome = OpenOutcome::Opened;
    int from_version = 0;        // schema version found (0: none)
    int marked_incomplete = 0;   // replies left 'streaming' by a crash, now 'incomplete'
    std::string problem;         // Recovered: what was wrong with the old file
    std::string moved_aside_to;  // Recovered: where the old file is now
    // Conversations whose message tree is damaged (a cycle of parents, a missing parent, a
    // current_leaf that is not theirs): the others open as usual; loading one of these is a
    // HistoryError(Corrupt) that names the messages.
    std::vector<int64_t> damaged;
};

// What is known when a reply starts; the rest comes with finish().
struct ReplyStart {
    std::string model;
    std::string backend;
    std::string device;
    std::string model_hash;
    Reproduction repro;
};

class HistoryStore;

// A reply being generated. Call append_* on every token; the writer batches and commits at
// least every flush_interval_ms. finish() stores the final texts, stats and trace in one
// transaction. A writer dropped without finish() marks its message incomplete.
class ReplyWriter {
public:
    ReplyWriter(ReplyWriter&& o) noexcept;
    ReplyWriter& operator=(ReplyWriter&&) = delete;
    ReplyWriter(const ReplyWriter&) = delete;
    ~ReplyWriter();

    int64_t id() const { return id_; }
    // Throw HistoryError (e.g. DiskFull) when a due flush fails; the text stays pending and
    // goes with the next flush, so the caller may go on generating.
    void append_reasoning(std::string_view text, int n_tokens = 1);
    void append_answer(std::string_view text, int n_tokens = 1);
    void flush();
    // status: Complete, or Incomplete for a reply that was cancelled. With a trace, the texts
    // stored are the trace's reasoning_text / answer_text (markers excluded, trimmed), else
    // what was appended.
    // prepared: the trace already encoded (prepare_trace, e.g. on another thread); else it is
    // encoded here.
    void finish(const ReplyStats& stats, const Trace* trace = nullptr,
                MessageStatus status = MessageStatus::Complete,
                const PreparedTrace* prepared = nullptr);

private:
    friend class HistoryStore;
    ReplyWriter(HistoryStore* store, int64_t id);
    void maybe_flush();

    HistoryStore* store_;
    int64_t id_;
    std::string reasoning_, answer_;                 // all text so far
    size_t saved_reasoning_ = 0, saved_answer_ = 0;  // how much of it is in the database
    int n_reasoning_ = 0, n_answer_ = 0;
    bool dirty_ = false;
    bool finished_ = false;
    std::chrono::steady_clock::time_point last_flush_;
};

class HistoryStore {
public:
    // Opens or creates the database at path. Throws HistoryError: NotOurs, Corrupt, TooNew,
    // Locked, Io. Replies left 'streaming' by a crash are marked 'incomplete'.
    static std::unique_ptr<HistoryStore> open(const std::string& path, HistoryOptions options = {},
                                              OpenReport* report = nullptr);
    // As open(), but a damaged file or a file that is not ours is renamed aside
    // ("<path>.broken-YYYYMMDD-HHMMSS", with its -wal/-shm) and a new database created; the
    // report says what was wrong and where the old file went. Locked, TooNew, Io still throw:
    // those files are fine and must not be moved.
    struct Opened {
        std::unique_ptr<HistoryStore> store;
        OpenReport report;
    };
    static Opened open_or_recover(const std::string& path, HistoryOptions options = {});
    // A second connection to a history another HistoryStore of this process has open, for
    // reading only: in WAL mode its reads see the last commit and never wait for the writer's
    // (a commit's fsync), so the UI thread can list conversations while a finished reply is
    // written. It takes no instance lock and changes nothing; writing through it is a caller
    // error. Throws HistoryError when the file is not a current Glassbox history.
    static std::unique_ptr<HistoryStore> open_reader(const std::string& path,
                                                     HistoryOptions options = {});

    ~HistoryStore();
    HistoryStore(const HistoryStore&) = delete;
    HistoryStore& operator=(const HistoryStore&) = delete;

    // Conversations.
    int64_t create_conversation(std::string_view title, std::string_view model = {},
                                std::string_view settings_json = "{}");
    void rename_conversation(int64_t id, std::string_view title);
    void set_pinned(int64_t id, bool pinned);
    void set_settings(int64_t id, std::string_view settings_json);
    void set_current_leaf(int64_t conversation_id, int64_t message_id);
    void delete_conversation(int64_t id);
    int64_t count_conversations();
    // Pinned first, then most recently updated. limit < 0: all.
    std::vector<ConversationInfo> list_conversations(int64_t offset = 0, int64_t limit = -1);
    ConversationInfo conversation_info(int64_t id);
    // Every message of every branch, without traces (load_trace fetches one on demand).
    Conversation load_conversation(int64_t id);
    Message load_message(int64_t id);
    std::vector<Message> children(int64_t message_id);

    // Messages. Each becomes the conversation's current leaf.
    int64_t add_message(int64_t conversation_id, std::optional<int64_t> parent, Role role,
                        std::string_view content);
    // A finished assistant reply in one go (import, non-streaming back ends). reply.id and
    // reply.conversation_id / parent_id are ignored in favour of the arguments.
    int64_t add_reply(int64_t conversation_id, std::optional<int64_t> parent, const Message& reply,
                      const Trace* trace = nullptr);
    ReplyWriter begin_reply(int64_t conversation_id, std::optional<int64_t> parent,
                            const ReplyStart& start);
    // Import: a conversation or message exactly as given, timestamps included (info.id,
    // info.current_leaf, m.id, m.conversation_id and m.parent_id are ignored).
    int64_t import_conversation(const ConversationInfo& info);
    int64_t import_message(int64_t conversation_id, std::optional<int64_t> parent, const Message& m,
                           const Trace* trace = nullptr);
    // Stores (or replaces) a reply's trace and its expert-usage summary.
    void save_trace(int64_t message_id, const Trace& trace);
    std::optional<Trace> load_trace(int64_t message_id);
    std::vector<ExpertUsage> expert_usage(int64_t message_id);
    // Bookmarks on a reply's tokens, by token then id. add_bookmark: HistoryError NotFound for
    // no such message, Invalid for a negative token or a note over kMaxBookmarkNote bytes.
    // created_ms 0: now (an import passes the original time).
    int64_t add_bookmark(int64_t message_id, int token, std::string_view note,
                         int64_t created_ms = 0);
    void set_bookmark_note(int64_t id, std::string_view note);
    void remove_bookmark(int64_t id);
    std::vector<Bookmark> bookmarks(int64_t message_id);
    // Resamplings of a reply (StoredResampling), by position then id. add_resampling:
    // HistoryError NotFound for no such message, Invalid for a result check_resampling refuses.
    int64_t add_resampling(int64_t message_id, std::string_view result_json,
                           int64_t created_ms = 0);
    void remove_resampling(int64_t id);
    std::vector<StoredResampling> resamplings(int64_t message_id);
    // The replies (assistant messages with a stored trace) made by `model`, oldest first.
    std::vector<int64_t> replies_of_model(const std::string& model);

    // Full-text search: every word must occur as a whole token (case and diacritics folded),
    // word* matches a prefix, a quoted "phrase" matches in order; the user's text can never
    // be an FTS5 syntax error. One hit per matching field, best (bm25) first.
    std::vector<SearchHit> search(std::string_view text, unsigned fields = kSearchAll,
                                  int limit = 50);
    // Metadata queries, newest first.
    std::vector<ReplyRef> replies_with_reasoning_over(int n_tokens, int limit = 100);
    std::vector<ReplyRef> replies_by_model(std::string_view model, int limit = 100);
    // Replies in which expert `expert` of MoE layer `layer` was chosen for at least one token
    // (of the given phase, else of the reasoning or the answer).
    std::vector<ReplyRef> replies_using_expert(int layer, int expert,
                                               std::optional<Phase> phase = std::nullopt,
                                               int limit = 100);

    // PRAGMA integrity_check: "ok" or SQLite's list of problems.
    std::string integrity_check();
    // Runs f inside one transaction (bulk work: imports, benchmarks); calls nest.
    template <class F>
    void batch(F&& f) {
        sql::Transaction tx(db_);
        f();
        tx.commit();
    }

    const std::string& path() const { return path_; }
    const HistoryOptions& options() const { return options_; }
    // For tests and tools (e.g. PRAGMA max_page_count to simulate a full disk).
    sql::Db& database() { return db_; }

private:
    friend class ReplyWriter;
    HistoryStore(std::string path, HistoryOptions options);
    void open_database(OpenReport& report);
    void flush_reply(ReplyWriter& w, const ReplyStats* stats, const Trace* trace,
                     std::optional<MessageStatus> status, const PreparedTrace* prepared = nullptr);
    void touch(int64_t conversation_id, std::optional<int64_t> leaf);
    std::vector<ReplyRef> reply_refs(sql::Stmt& st);

    std::string path_;
    HistoryOptions options_;
    InstanceLock lock_;
    sql::Db db_;
};

// Unix time in milliseconds.
int64_t now_ms();
// Turns SQLite failures into HistoryError with the matching kind (DiskFull, Corrupt...).
[[noreturn]] void rethrow_as_history_error(const sql::SqlError& e);

}  // namespace gb::app
