// HistoryStore: opening (checks, migration, recovery), conversations, messages, streamed
// replies and traces. Search and metadata queries are in history_search.cpp.
#include "app/history/history_store.h"

#include <sqlite3.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <utility>

#include "app/history/schema.h"

namespace gb::app {

namespace fs = std::filesystem;
using Kind = HistoryError::Kind;

int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

const char* outcome_name(OpenOutcome o) {
    switch (o) {
        case OpenOutcome::Opened: return "opened";
        case OpenOutcome::Created: return "created";
        case OpenOutcome::Migrated: return "migrated";
        case OpenOutcome::Recovered: return "recovered";
    }
    return "?";
}

void rethrow_as_history_error(const sql::SqlError& e) {
    switch (e.code()) {
        case SQLITE_FULL:
            throw HistoryError(
                Kind::DiskFull,
                std::string(e.what()) + "; free some disk space (nothing saved before was lost)");
        case SQLITE_CORRUPT:
            throw HistoryError(Kind::Corrupt,
                               std::string(e.what()) + "; the history database is damaged");
        case SQLITE_NOTADB:
            throw HistoryError(Kind::NotOurs,
                               std::string(e.what()) + "; the file is not a SQLite database");
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
            throw HistoryError(Kind::Locked,
                               std::string(e.what()) + "; another process keeps the database busy");
        case SQLITE_CONSTRAINT:
        case SQLITE_MISMATCH:
        case SQLITE_RANGE: throw HistoryError(Kind::Invalid, e.what());
        default: throw HistoryError(Kind::Io, e.what());
    }
}

namespace {

// Runs f, turning SQLite errors into HistoryError.
template <class F>
auto guarded(F&& f) -> decltype(f()) {
    try {
        return f();
    } catch (const sql::SqlError& e) {
        rethrow_as_history_error(e);
    }
}

constexpr const char* kMessageColumns =
    "id, conversation_id, parent_id, role, content, reasoning, answer, status, created_ms, "
    "n_prompt_tokens, n_reasoning_tokens, n_answer_tokens, ttft_ms, prefill_tps, decode_tps, "
    "backend, device, model, model_hash, stop_reason, sampler_json, system_prompt, "
    "rendered_prompt, chat_template, engine_version, "
    "EXISTS(SELECT 1 FROM traces WHERE traces.message_id = messages.id), precision";

// A message row as the store wrote it; a damaged or crafted row (a column of the wrong type, a
// count beyond int, an unknown role) is an error naming the message and the column.
Message read_message(const sql::Stmt& st) {
    Message m;
    m.id = st.i64(0);
    auto bad = [&](const std::string& what) {
        return HistoryError(Kind::Corrupt,
                            "history: message " + std::to_string(m.id) + ": " + what);
    };
    auto integer = [&](int col, const char* name) {
        if (st.type(col) != sql::Type::Integer) throw bad(std::string(name) + " is not an integer");
        return st.i64(col);
    };
    auto count = [&](int col, const char* name) {
        const int64_t v = integer(col, name);
        if (v < 0 || v > std::numeric_limits<int>::max())
            throw bad(std::string(name) + " " + std::to_string(v) + " is out of range");
        return static_cast<int>(v);
    };
    auto number = [&](int col, const char* name) {
        const sql::Type t = st.type(col);
        if (t != sql::Type::Integer && t != sql::Type::Float)
            throw bad(std::string(name) + " is not a number");
        return st.f64(col);
    };
    m.conversation_id = integer(1, "conversation_id");
    if (!st.is_null(2)) m.parent_id = integer(2, "parent_id");
    try {
        m.role = role_from_name(st.text(3));
        m.status = status_from_name(st.text(7));
    } catch (const HistoryError& e) {
        std::string what = e.what();
        if (what.starts_with("history: ")) what.erase(0, 9);
        throw bad(what);
    }
    m.content = st.text(4);
    m.reasoning = st.text(5);
    m.answer = st.text(6);
    m.created_ms = integer(8, "created_ms");
    ReplyStats& s = m.stats;
    s.n_prompt_tokens = count(9, "n_prompt_tokens");
    s.n_reasoning_tokens = count(10, "n_reasoning_tokens");
    s.n_answer_tokens = count(11, "n_answer_tokens");
    s.ttft_ms = number(12, "ttft_ms");
    s.prefill_tps = number(13, "prefill_tps");
    s.decode_tps = number(14, "decode_tps");
    s.backend = st.text(15);
    s.device = st.text(16);
    s.model = st.text(17);
    s.model_hash = st.text(18);
    // A name this version does not know (a later version's, or a damaged row) reads as none:
    // the message still opens.
    try {
        s.stop_reason = stop_reason_from_name(st.text(19));
    } catch (const Error&) {
        s.stop_reason = StopReason::None;
    }
    if (!st.is_null(20)) {
        try {
            m.repro.sampler = sampler_from_json(st.text(20));
        } catch (const Error& e) {
            throw bad(std::string("sampler_json: ") + e.what());
        }
    }
    m.repro.system_prompt = st.text(21);
    m.repro.rendered_prompt = st.text(22);
    m.repro.chat_template = st.text(23);
    m.repro.engine_version = st.text(24);
    m.has_trace = st.i64(25) != 0;
    s.precision = st.text(26);
    return m;
}

ConversationInfo read_info(const sql::Stmt& st) {
    ConversationInfo c;
    c.id = st.i64(0);
    c.title = st.text(1);
    c.model = st.text(2);
    c.settings_json = st.text(3);
    c.created_ms = st.i64(4);
    c.updated_ms = st.i64(5);
    c.pinned = st.i64(6) != 0;
    c.current_leaf = st.opt_i64(7);
    return c;
}

constexpr const char* kInfoColumns =
    "id, title, model, settings_json, created_ms, updated_ms, pinned, current_leaf";

// "YYYYMMDD-HHMMSS" in local time, for the name of a file moved aside.
std::string timestamp() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
    return buf;
}

// Moves path (and its -wal / -shm, which belong to it) to a free "<path>.broken-<time>[-N]".
std::string move_aside(const std::string& path) {
    std::string base = path + ".broken-" + timestamp();
    std::string dest = base;
    for (int n = 2; fs::exists(dest); ++n) dest = base + "-" + std::to_string(n);
    std::error_code ec;
    fs::rename(path, dest, ec);
    if (ec)
        throw HistoryError(Kind::Io, "history: cannot move the damaged " + path + " aside to " +
                                         dest + ": " + ec.message());
    for (const char* suffix : {"-wal", "-shm"}) {
        if (fs::exists(path + suffix)) fs::rename(path + suffix, dest + suffix, ec);
    }
    return dest;
}

// SQLite files start with this 16-byte string (https://www.sqlite.org/fileformat.html).
bool looks_like_sqlite(const std::string& path, std::string* problem) {
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (ec || st.type() == fs::file_type::not_found) return true;  // SQLite makes a new one
    if (st.type() != fs::file_type::regular) {
        // SQLite would block on a named pipe forever, and fail obscurely on the rest.
        const char* kind =
            st.type() == fs::file_type::directory ? "a directory"
            : st.type() == fs::file_type::fifo    ? "a named pipe (FIFO)"
            : st.type() == fs::file_type::socket  ? "a socket"
            : st.type() == fs::file_type::character || st.type() == fs::file_type::block
                ? "a device"
                : "not a regular file";
        *problem = "history: " + path + " is " + kind + ", not a database file";
        return false;
    }
    const auto size = fs::file_size(path, ec);
    if (ec || size == 0) return true;  // empty: SQLite makes a new database
    std::ifstream in(path, std::ios::binary);
    char head[16] = {};
    in.read(head, sizeof head);
    if (in.gcount() == 16 &&
        std::string_view(head, 16) == std::string_view("SQLite format 3\0", 16))
        return true;
    *problem = "history: " + path +
               " is not a SQLite database (its first bytes are not the "
               "SQLite header)";
    return false;
}

// Conversations whose message tree a crafted or damaged file broke: a message not reachable
// from a root (it lies on or below a cycle of parents, or below a parent that is missing or in
// another conversation), or a current_leaf that is not one of the conversation's messages. Each
// query is a walk over the parent index, so opening stays fast on a large history.
std::vector<int64_t> find_damaged_conversations(sql::Db& db) {
    auto st = db.prepare(
        "WITH RECURSIVE reachable(id, conversation_id) AS ("
        "  SELECT id, conversation_id FROM messages WHERE parent_id IS NULL"
        "  UNION SELECT m.id, m.conversation_id FROM messages m JOIN reachable r"
        "    ON m.parent_id = r.id AND m.conversation_id = r.conversation_id) "
        "SELECT DISTINCT conversation_id FROM messages "
        "  WHERE id NOT IN (SELECT id FROM reachable) "
        "UNION SELECT c.id FROM conversations c WHERE c.current_leaf IS NOT NULL AND NOT EXISTS "
        "  (SELECT 1 FROM messages m WHERE m.id = c.current_leaf AND m.conversation_id = c.id) "
        "ORDER BY 1");
    std::vector<int64_t> out;
    while (st.step()) out.push_back(st.i64(0));
    return out;
}

}  // namespace

HistoryStore::HistoryStore(std::string path, HistoryOptions options)
    : path_(std::move(path)), options_(options) {}

HistoryStore::~HistoryStore() {
    // A clean close checkpoints the WAL into the main file, so a copy of the .db alone is whole.
    db_.close();
}

std::unique_ptr<HistoryStore> HistoryStore::open(const std::string& path, HistoryOptions options,
                                                 OpenReport* report) {
    std::unique_ptr<HistoryStore> store(new HistoryStore(path, options));
    OpenReport local;
    store->open_database(report ? *report : local);
    return store;
}

void HistoryStore::open_database(OpenReport& report) {
    std::string problem;
    if (!looks_like_sqlite(path_, &problem)) throw HistoryError(Kind::NotOurs, problem);
    if (options_.instance_lock) lock_ = InstanceLock(path_);
    guarded([&] {
        db_ = sql::Db(path_, true);
        sqlite3_busy_timeout(db_.raw(), options_.busy_timeout_ms);
        // Identify the file before changing anything in it: a foreign database is left as is.
        const int64_t app_id = db_.query_int("PRAGMA application_id");
        const int version = static_cast<int>(db_.query_int("PRAGMA user_version"));
        const int64_t objects = db_.query_int("SELECT count(*) FROM sqlite_master");
        const bool fresh = app_id == 0 && version == 0 && objects == 0;
        if (!fresh && app_id != kHistoryApplicationId)
            throw HistoryError(Kind::NotOurs, "history: " + path_ +
                                                  " is a SQLite database of another application "
                                                  "(application_id " +
                                                  std::to_string(app_id) + ", " +
                                                  std::to_string(objects) +
                                                  " schema objects), not a Glassbox history");
        if (version > kHistorySchemaVersion)
            throw HistoryError(Kind::TooNew,
                               "history: " + path_ + " has schema version " +
                                   std::to_string(version) +
                                   ", written by a newer Glassbox (this one knows up to " +
                                   std::to_string(kHistorySchemaVersion) + "); update Glassbox");
        if (options_.quick_check_on_open && !fresh) {
            const std::string check = db_.query_text("PRAGMA quick_check(1)");
            if (check != "ok")
                throw HistoryError(Kind::Corrupt, "history: " + path_ + " is damaged: " + check);
        }
        const std::string mode = db_.query_text("PRAGMA journal_mode = WAL");
        if (mode != "wal")
            throw HistoryError(Kind::Io, "history: cannot use WAL journaling on " + path_ +
                                             " (journal_mode is " + mode + ")");
        db_.exec("PRAGMA foreign_keys = ON");
        db_.exec(options_.synchronous_full ? "PRAGMA synchronous = FULL"
                                           : "PRAGMA synchronous = NORMAL");
        report.from_version = version;
        if (version < kHistorySchemaVersion) {
            migrate(db_, version);
            report.outcome = fresh ? OpenOutcome::Created : OpenOutcome::Migrated;
        } else {
            report.outcome = OpenOutcome::Opened;
        }
        // Nobody else holds the database (the instance lock), so a reply still 'streaming'
        // was cut off by a crash or a kill.
        sql::Transaction tx(db_);
        db_.exec("UPDATE messages SET status = 'incomplete' WHERE status = 'streaming'");
        report.marked_incomplete = db_.changes();
        tx.commit();
        report.damaged = find_damaged_conversations(db_);
    });
}

std::unique_ptr<HistoryStore> HistoryStore::open_reader(const std::string& path,
                                                        HistoryOptions options) {
    options.instance_lock = false;
    std::unique_ptr<HistoryStore> store(new HistoryStore(path, options));
    guarded([&] {
        store->db_ = sql::Db(path, false);
        sqlite3_busy_timeout(store->db_.raw(), options.busy_timeout_ms);
        const int64_t app_id = store->db_.query_int("PRAGMA application_id");
        const int version = static_cast<int>(store->db_.query_int("PRAGMA user_version"));
        if (app_id != kHistoryApplicationId || version != kHistorySchemaVersion)
            throw HistoryError(Kind::NotOurs, "history: " + path +
                                                  " is not an open Glassbox history of schema "
                                                  "version " +
                                                  std::to_string(kHistorySchemaVersion) +
                                                  " (a reader connects to one already open)");
        store->db_.exec("PRAGMA query_only = ON");
    });
    return store;
}

HistoryStore::Opened HistoryStore::open_or_recover(const std::string& path,
                                                   HistoryOptions options) {
    Opened out;
    try {
        out.store = open(path, options, &out.report);
        return out;
    } catch (const HistoryError& e) {
        if (e.kind() != Kind::Corrupt && e.kind() != Kind::NotOurs) throw;
        out.report.problem = e.what();
    }
    // The failed store (and its lock and connection) is gone; the file can move.
    out.report.moved_aside_to = move_aside(path);
    OpenReport fresh;
    out.store = open(path, options, &fresh);
    out.report.outcome = OpenOutcome::Recovered;
    out.report.from_version = fresh.from_version;
    return out;
}

std::string HistoryStore::integrity_check() {
    return guarded([&] {
        auto st = db_.prepare("PRAGMA integrity_check");
        std::string out;
        while (st.step()) out += (out.empty() ? "" : "\n") + st.text(0);
        return out;
    });
}

// ---- conversations ----

int64_t HistoryStore::create_conversation(std::string_view title, std::string_view model,
                                          std::string_view settings_json) {
    return guarded([&] {
        sql::Transaction tx(db_);
        const int64_t t = now_ms();
        db_.prepare(
               "INSERT INTO conversations(title, model, settings_json, created_ms, updated_ms) "
               "VALUES (?, ?, ?, ?, ?)")
            .args(title, model, settings_json.empty() ? std::string_view("{}") : settings_json, t,
                  t)
            .run();
        const int64_t id = db_.last_insert_rowid();
        tx.commit();
        return id;
    });
}

static void expect_change(sql::Db& db, const char* what, int64_t id) {
    if (db.changes() == 0)
        throw HistoryError(Kind::NotFound,
                           std::string("history: no ") + what + " with id " + std::to_string(id));
}

void HistoryStore::rename_conversation(int64_t id, std::string_view title) {
    guarded([&] {
        sql::Transaction tx(db_);
        // A new title is not activity: the conversation keeps its place in the list.
        db_.prepare("UPDATE conversations SET title = ? WHERE id = ?").args(title, id).run();
        expect_change(db_, "conversation", id);
        tx.commit();
    });
}

void HistoryStore::set_pinned(int64_t id, bool pinned) {
    guarded([&] {
        sql::Transaction tx(db_);
        db_.prepare("UPDATE conversations SET pinned = ? WHERE id = ?").args(pinned, id).run();
        expect_change(db_, "conversation", id);
        tx.commit();
    });
}

void HistoryStore::set_settings(int64_t id, std::string_view settings_json) {
    guarded([&] {
        sql::Transaction tx(db_);
        db_.prepare("UPDATE conversations SET settings_json = ?, updated_ms = ? WHERE id = ?")
            .args(settings_json, now_ms(), id)
            .run();
        expect_change(db_, "conversation", id);
        tx.commit();
    });
}

void HistoryStore::set_current_leaf(int64_t conversation_id, int64_t message_id) {
    guarded([&] {
        sql::Transaction tx(db_);
        auto st = db_.prepare("SELECT conversation_id FROM messages WHERE id = ?").args(message_id);
        if (!st.step() || st.i64(0) != conversation_id)
            throw HistoryError(Kind::NotFound, "history: message " + std::to_string(message_id) +
                                                   " is not in conversation " +
                                                   std::to_string(conversation_id));
        db_.prepare("UPDATE conversations SET current_leaf = ? WHERE id = ?")
            .args(message_id, conversation_id)
            .run();
        tx.commit();
    });
}

void HistoryStore::delete_conversation(int64_t id) {
    guarded([&] {
        sql::Transaction tx(db_);
        // current_leaf points into the messages being deleted; clear it first so the cascade
        // does not have to update the row it is deleting.
        db_.prepare("UPDATE conversations SET current_leaf = NULL WHERE id = ?").args(id).run();
        db_.prepare("DELETE FROM conversations WHERE id = ?").args(id).run();
        expect_change(db_, "conversation", id);
        tx.commit();
    });
}

int64_t HistoryStore::count_conversations() {
    return guarded([&] { return db_.query_int("SELECT count(*) FROM conversations"); });
}

std::vector<ConversationInfo> HistoryStore::list_conversations(int64_t offset, int64_t limit) {
    return guarded([&] {
        auto st = db_.prepare(std::string("SELECT ") + kInfoColumns +
                              " FROM conversations ORDER BY pinned DESC, updated_ms DESC, id DESC "
                              "LIMIT ? OFFSET ?");
        st.args(limit, offset);
        std::vector<ConversationInfo> out;
        while (st.step()) out.push_back(read_info(st));
        return out;
    });
}

ConversationInfo HistoryStore::conversation_info(int64_t id) {
    return guarded([&] {
        auto st =
            db_.prepare(std::string("SELECT ") + kInfoColumns + " FROM conversations WHERE id = ?");
        st.args(id);
        if (!st.step())
            throw HistoryError(Kind::NotFound,
                               "history: no conversation with id " + std::to_string(id));
        return read_info(st);
    });
}

Conversation HistoryStore::load_conversation(int64_t id) {
    return guarded([&] {
        // One read transaction, so the conversation and its messages are one snapshot.
        const bool own = !db_.in_transaction();
        if (own) db_.exec("BEGIN");
        try {
            Conversation c;
            c.info = conversation_info(id);
            auto st = db_.prepare(std::string("SELECT ") + kMessageColumns +
                                  " FROM messages WHERE conversation_id = ? ORDER BY id");
            st.args(id);
            while (st.step()) c.messages.push_back(read_message(st));
            if (own) db_.exec("COMMIT");
            // A damaged tree is reported whole, not shown cut short (nor walked forever).
            const std::string damage = tree_damage(c);
            if (!damage.empty())
                throw HistoryError(Kind::Corrupt,
                                   "history: conversation " + std::to_string(id) +
                                       " is damaged: " + damage +
                                       " (the other conversations are unaffected; this one "
                                       "can be deleted)");
            return c;
        } catch (...) {
            if (own) sqlite3_exec(db_.raw(), "ROLLBACK", nullptr, nullptr, nullptr);
            throw;
        }
    });
}

Message HistoryStore::load_message(int64_t id) {
    return guarded([&] {
        auto st =
            db_.prepare(std::string("SELECT ") + kMessageColumns + " FROM messages WHERE id = ?");
        st.args(id);
        if (!st.step())
            throw HistoryError(Kind::NotFound, "history: no message with id " + std::to_string(id));
        return read_message(st);
    });
}

std::vector<Message> HistoryStore::children(int64_t message_id) {
    return guarded([&] {
        auto st = db_.prepare(std::string("SELECT ") + kMessageColumns +
                              " FROM messages WHERE parent_id = ? ORDER BY id");
        st.args(message_id);
        std::vector<Message> out;
        while (st.step()) out.push_back(read_message(st));
        return out;
    });
}

// ---- messages ----

void HistoryStore::touch(int64_t conversation_id, std::optional<int64_t> leaf) {
    if (leaf)
        db_.prepare("UPDATE conversations SET updated_ms = ?, current_leaf = ? WHERE id = ?")
            .args(now_ms(), *leaf, conversation_id)
            .run();
    else
        db_.prepare("UPDATE conversations SET updated_ms = ? WHERE id = ?")
            .args(now_ms(), conversation_id)
            .run();
}

// The parent must be a message of the same conversation (SQLite's foreign key only checks
// that it exists).
static void check_parent(sql::Db& db, int64_t conversation_id, std::optional<int64_t> parent) {
    auto c = db.prepare("SELECT 1 FROM conversations WHERE id = ?").args(conversation_id);
    if (!c.step())
        throw HistoryError(Kind::NotFound,
                           "history: no conversation with id " + std::to_string(conversation_id));
    if (!parent) return;
    auto st = db.prepare("SELECT conversation_id FROM messages WHERE id = ?").args(*parent);
    if (!st.step() || st.i64(0) != conversation_id)
        throw HistoryError(Kind::Invalid, "history: parent message " + std::to_string(*parent) +
                                              " is not in conversation " +
                                              std::to_string(conversation_id));
}

static int64_t insert_message(sql::Db& db, int64_t conversation_id, std::optional<int64_t> parent,
                              const Message& m) {
    auto st = db.prepare(
        "INSERT INTO messages(conversation_id, parent_id, role, content, reasoning, answer, "
        "status, "
        "created_ms, n_prompt_tokens, n_reasoning_tokens, n_answer_tokens, ttft_ms, prefill_tps, "
        "decode_tps, backend, device, model, model_hash, stop_reason, seed, sampler_json, "
        "system_prompt, rendered_prompt, chat_template, engine_version, precision) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    const ReplyStats& s = m.stats;
    // What read_message would refuse must not be written.
    if (s.n_prompt_tokens < 0 || s.n_reasoning_tokens < 0 || s.n_answer_tokens < 0)
        throw HistoryError(Kind::Invalid, "history: a message's token counts cannot be negative");
    st.args(conversation_id, parent, role_name(m.role), m.content, m.reasoning, m.answer,
            status_name(m.status), m.created_ms ? m.created_ms : now_ms(), s.n_prompt_tokens,
            s.n_reasoning_tokens, s.n_answer_tokens, s.ttft_ms, s.prefill_tps, s.decode_tps,
            s.backend, s.device, s.model, s.model_hash,
            std::string(stop_reason_name(s.stop_reason)));
    if (m.repro.sampler) {
        // The seed column is for queries; a uint64 seed is stored bit for bit as SQLite's int64.
        st.bind(20, static_cast<int64_t>(m.repro.sampler->seed));
        st.bind(21, sampler_to_json(*m.repro.sampler));
    } else {
        st.bind_null(20).bind_null(21);
    }
    st.bind(22, m.repro.system_prompt).bind(23, m.repro.rendered_prompt);
    st.bind(24, m.repro.chat_template).bind(25, m.repro.engine_version);
    st.bind(26, s.precision);
    st.run();
    return db.last_insert_rowid();
}

int64_t HistoryStore::add_message(int64_t conversation_id, std::optional<int64_t> parent, Role role,
                                  std::string_view content) {
    return guarded([&] {
        sql::Transaction tx(db_);
        check_parent(db_, conversation_id, parent);
        Message m;
        m.role = role;
        m.content = std::string(content);
        const int64_t id = insert_message(db_, conversation_id, parent, m);
        touch(conversation_id, id);
        tx.commit();
        return id;
    });
}

static void store_prepared_trace(sql::Db& db, int64_t message_id, const PreparedTrace& p) {
    db.prepare(
          "INSERT OR REPLACE INTO traces(message_id, format_version, codec, raw_size, data) "
          "VALUES (?, ?, ?, ?, ?)")
        .args(message_id, p.blob.format_version, p.blob.codec, p.blob.raw_size)
        .bind_blob(5, p.blob.data)
        .run();
    write_expert_usage(db, message_id, p.usage);
}

static void store_trace(sql::Db& db, int64_t message_id, const Trace& trace) {
    store_prepared_trace(db, message_id, prepare_trace(trace));
}

int64_t HistoryStore::add_reply(int64_t conversation_id, std::optional<int64_t> parent,
                                const Message& reply, const Trace* trace) {
    return guarded([&] {
        sql::Transaction tx(db_);
        check_parent(db_, conversation_id, parent);
        Message m = reply;
        m.role = Role::Assistant;
        if (m.status == MessageStatus::Streaming) m.status = MessageStatus::Incomplete;
        const int64_t id = insert_message(db_, conversation_id, parent, m);
        if (trace) store_trace(db_, id, *trace);
        touch(conversation_id, id);
        tx.commit();
        return id;
    });
}

int64_t HistoryStore::import_conversation(const ConversationInfo& info) {
    return guarded([&] {
        sql::Transaction tx(db_);
        db_.prepare(
               "INSERT INTO conversations(title, model, settings_json, created_ms, updated_ms, "
               "pinned) "
               "VALUES (?, ?, ?, ?, ?, ?)")
            .args(info.title, info.model, info.settings_json, info.created_ms, info.updated_ms,
                  info.pinned)
            .run();
        const int64_t id = db_.last_insert_rowid();
        tx.commit();
        return id;
    });
}

int64_t HistoryStore::import_message(int64_t conversation_id, std::optional<int64_t> parent,
                                     const Message& m, const Trace* trace) {
    return guarded([&] {
        sql::Transaction tx(db_);
        check_parent(db_, conversation_id, parent);
        if (trace && m.role != Role::Assistant)
            throw HistoryError(Kind::Invalid, std::string("history: a ") + role_name(m.role) +
                                                  " message cannot carry a trace (only replies "
                                                  "have one)");
        Message copy = m;
        if (copy.status == MessageStatus::Streaming) copy.status = MessageStatus::Incomplete;
        const int64_t id = insert_message(db_, conversation_id, parent, copy);
        if (trace) store_trace(db_, id, *trace);
        tx.commit();
        return id;
    });
}

void HistoryStore::save_trace(int64_t message_id, const Trace& trace) {
    guarded([&] {
        sql::Transaction tx(db_);
        auto st = db_.prepare("SELECT role FROM messages WHERE id = ?").args(message_id);
        if (!st.step())
            throw HistoryError(Kind::NotFound,
                               "history: no message with id " + std::to_string(message_id));
        if (st.text(0) != "assistant")
            throw HistoryError(Kind::Invalid, "history: message " + std::to_string(message_id) +
                                                  " is a " + st.text(0) +
                                                  " message; only replies carry a trace");
        store_trace(db_, message_id, trace);
        tx.commit();
    });
}

std::optional<Trace> HistoryStore::load_trace(int64_t message_id) {
    return guarded([&]() -> std::optional<Trace> {
        // The sizes first: a damaged or hostile row is refused before its blob is read.
        auto st = db_.prepare(
            "SELECT format_version, codec, raw_size, length(data), typeof(data), "
            "(SELECT role FROM messages WHERE id = message_id) FROM traces WHERE message_id = ?");
        st.args(message_id);
        if (!st.step()) return std::nullopt;
        const std::string where = "history: trace of message " + std::to_string(message_id);
        if (st.text(5) != "assistant")
            throw HistoryError(Kind::Corrupt, where + ": message " + std::to_string(message_id) +
                                                  " is a " + st.text(5) +
                                                  " message; only replies carry a trace");
        if (st.type(0) != sql::Type::Integer || st.type(2) != sql::Type::Integer ||
            st.text(4) != "blob")
            throw HistoryError(Kind::Corrupt, where +
                                                  ": the row's format_version, raw_size or "
                                                  "data has the wrong type");
        const int64_t version = st.i64(0);
        if (version < 1 || version > std::numeric_limits<int>::max())
            throw HistoryError(Kind::Corrupt,
                               where + ": invalid format version " + std::to_string(version));
        check_trace_size(st.i64(2), st.i64(3), message_id);
        StoredTrace blob{static_cast<int>(version), st.text(1), st.i64(2), {}};
        auto data = db_.prepare("SELECT data FROM traces WHERE message_id = ?").args(message_id);
        if (!data.step()) return std::nullopt;
        blob.data = data.blob(0);
        return decode_trace(blob, message_id);
    });
}

std::vector<ExpertUsage> HistoryStore::expert_usage(int64_t message_id) {
    return guarded([&] {
        auto st = db_.prepare(
            "SELECT layer, expert, phase, count, weight_sum FROM expert_usage "
            "WHERE message_id = ? ORDER BY layer, expert, phase");
        st.args(message_id);
        std::vector<ExpertUsage> out;
        while (st.step())
            out.push_back({static_cast<int>(st.i64(0)), static_cast<int>(st.i64(1)),
                           static_cast<int>(st.i64(2)), st.i64(3), st.f64(4)});
        return out;
    });
}

// ---- bookmarks and resamplings: rows about one message ----

static void require_message(sql::Db& db, int64_t message_id) {
    auto exists = db.prepare("SELECT 1 FROM messages WHERE id = ?");
    exists.args(message_id);
    if (!exists.step())
        throw HistoryError(Kind::NotFound,
                           "history: no message with id " + std::to_string(message_id));
}

// Deletes row `id` of `table` (one of ours, never user text), NotFound when there is none.
static void remove_row(sql::Db& db, const char* table, const char* what, int64_t id) {
    sql::Transaction tx(db);
    db.prepare(std::string("DELETE FROM ") + table + " WHERE id = ?").args(id).run();
    expect_change(db, what, id);
    tx.commit();
}

int64_t HistoryStore::add_bookmark(int64_t message_id, int token, std::string_view note,
                                   int64_t created_ms) {
    check_bookmark(token, note);
    return guarded([&] {
        sql::Transaction tx(db_);
        require_message(db_, message_id);
        db_.prepare(
               "INSERT INTO bookmarks(message_id, token, note, created_ms) VALUES (?, ?, ?, ?)")
            .args(message_id, token, note, created_ms ? created_ms : now_ms())
            .run();
        const int64_t id = db_.last_insert_rowid();
        tx.commit();
        return id;
    });
}

void HistoryStore::set_bookmark_note(int64_t id, std::string_view note) {
    check_bookmark(0, note);
    guarded([&] {
        sql::Transaction tx(db_);
        db_.prepare("UPDATE bookmarks SET note = ? WHERE id = ?").args(note, id).run();
        expect_change(db_, "bookmark", id);
        tx.commit();
    });
}

void HistoryStore::remove_bookmark(int64_t id) {
    guarded([&] { remove_row(db_, "bookmarks", "bookmark", id); });
}

std::vector<Bookmark> HistoryStore::bookmarks(int64_t message_id) {
    return guarded([&] {
        auto st = db_.prepare(
            "SELECT id, token, note, created_ms FROM bookmarks WHERE message_id = ? "
            "ORDER BY token, id");
        st.args(message_id);
        std::vector<Bookmark> out;
        while (st.step())
            out.push_back(
                {st.i64(0), message_id, static_cast<int>(st.i64(1)), st.text(2), st.i64(3)});
        return out;
    });
}

int64_t HistoryStore::add_resampling(int64_t message_id, std::string_view result_json,
                                     int64_t created_ms) {
    // Plain variables: a lambda may not capture structured bindings before C++20 compilers
    // all allow it (clang 14 refuses).
    const std::pair<int, int> at_k = check_resampling(result_json);
    const int at = at_k.first, k = at_k.second;
    return guarded([&] {
        sql::Transaction tx(db_);
        require_message(db_, message_id);
        db_.prepare(
               "INSERT INTO resamplings(message_id, at, k, result_json, created_ms) "
               "VALUES (?, ?, ?, ?, ?)")
            .args(message_id, at, k, result_json, created_ms ? created_ms : now_ms())
            .run();
        const int64_t id = db_.last_insert_rowid();
        tx.commit();
        return id;
    });
}

void HistoryStore::remove_resampling(int64_t id) {
    guarded([&] { remove_row(db_, "resamplings", "resampling", id); });
}

std::vector<StoredResampling> HistoryStore::resamplings(int64_t message_id) {
    return guarded([&] {
        auto st = db_.prepare(
            "SELECT id, at, k, result_json, created_ms FROM resamplings WHERE message_id = ? "
            "ORDER BY at, id");
        st.args(message_id);
        std::vector<StoredResampling> out;
        while (st.step())
            out.push_back({st.i64(0), message_id, static_cast<int>(st.i64(1)),
                           static_cast<int>(st.i64(2)), st.text(3), st.i64(4)});
        return out;
    });
}

std::vector<int64_t> HistoryStore::replies_of_model(const std::string& model) {
    return guarded([&] {
        auto st = db_.prepare(
            "SELECT m.id FROM messages m JOIN traces t ON t.message_id = m.id "
            "WHERE m.role = 'assistant' AND m.model = ? ORDER BY m.id");
        st.args(model);
        std::vector<int64_t> out;
        while (st.step()) out.push_back(st.i64(0));
        return out;
    });
}

// ---- streamed replies ----

ReplyWriter HistoryStore::begin_reply(int64_t conversation_id, std::optional<int64_t> parent,
                                      const ReplyStart& start) {
    return guarded([&] {
        sql::Transaction tx(db_);
        check_parent(db_, conversation_id, parent);
        Message m;
        m.role = Role::Assistant;
        m.status = MessageStatus::Streaming;
        m.stats.model = start.model;
        m.stats.backend = start.backend;
        m.stats.device = start.device;
        m.stats.model_hash = start.model_hash;
        m.repro = start.repro;
        const int64_t id = insert_message(db_, conversation_id, parent, m);
        touch(conversation_id, id);
        tx.commit();
        return ReplyWriter(this, id);
    });
}

void HistoryStore::flush_reply(ReplyWriter& w, const ReplyStats* stats, const Trace* trace,
                               std::optional<MessageStatus> status, const PreparedTrace* prepared) {
    // Encode outside the transaction when the caller has not: the slow part holds no lock.
    std::optional<PreparedTrace> own;
    if (status && trace && !prepared) prepared = &own.emplace(prepare_trace(*trace));
    guarded([&] {
        sql::Transaction tx(db_);
        // Appending only the unsaved tail keeps a flush cheap to bind however long the reply.
        db_.prepare(
               "UPDATE messages SET reasoning = reasoning || ?, answer = answer || ?, "
               "n_reasoning_tokens = ?, n_answer_tokens = ? WHERE id = ?")
            .args(std::string_view(w.reasoning_).substr(w.saved_reasoning_),
                  std::string_view(w.answer_).substr(w.saved_answer_), w.n_reasoning_, w.n_answer_,
                  w.id_)
            .run();
        if (status) {
            const bool from_trace = trace != nullptr;
            std::string reasoning = from_trace ? trace->reasoning_text : w.reasoning_;
            std::string answer = from_trace ? trace->answer_text : w.answer_;
            ReplyStats s = stats ? *stats : ReplyStats{};
            auto st = db_.prepare(
                "UPDATE messages SET reasoning = ?, answer = ?, status = ?, n_prompt_tokens = ?, "
                "n_reasoning_tokens = ?, n_answer_tokens = ?, ttft_ms = ?, prefill_tps = ?, "
                "decode_tps = ?, stop_reason = ?, "
                "backend = CASE WHEN ? = '' THEN backend ELSE ? END, "
                "device = CASE WHEN ? = '' THEN device ELSE ? END, "
                "model = CASE WHEN ? = '' THEN model ELSE ? END, "
                "model_hash = CASE WHEN ? = '' THEN model_hash ELSE ? END, "
                "precision = CASE WHEN ? = '' THEN precision ELSE ? END WHERE id = ?");
            st.args(reasoning, answer, status_name(*status), s.n_prompt_tokens,
                    s.n_reasoning_tokens > 0 ? s.n_reasoning_tokens : w.n_reasoning_,
                    s.n_answer_tokens > 0 ? s.n_answer_tokens : w.n_answer_, s.ttft_ms,
                    s.prefill_tps, s.decode_tps, std::string(stop_reason_name(s.stop_reason)),
                    s.backend, s.backend, s.device, s.device, s.model, s.model, s.model_hash,
                    s.model_hash, s.precision, s.precision, w.id_);
            st.run();
            if (trace) store_prepared_trace(db_, w.id_, *prepared);
            db_.prepare(
                   "UPDATE conversations SET updated_ms = ? WHERE id = "
                   "(SELECT conversation_id FROM messages WHERE id = ?)")
                .args(now_ms(), w.id_)
                .run();
        }
        tx.commit();
        w.saved_reasoning_ = w.reasoning_.size();
        w.saved_answer_ = w.answer_.size();
        w.dirty_ = false;
        w.last_flush_ = std::chrono::steady_clock::now();
    });
}

ReplyWriter::ReplyWriter(HistoryStore* store, int64_t id)
    : store_(store), id_(id), last_flush_(std::chrono::steady_clock::now()) {}

ReplyWriter::ReplyWriter(ReplyWriter&& o) noexcept
    : store_(std::exchange(o.store_, nullptr)),
      id_(o.id_),
      reasoning_(std::move(o.reasoning_)),
      answer_(std::move(o.answer_)),
      saved_reasoning_(o.saved_reasoning_),
      saved_answer_(o.saved_answer_),
      n_reasoning_(o.n_reasoning_),
      n_answer_(o.n_answer_),
      dirty_(o.dirty_),
      finished_(o.finished_),
      last_flush_(o.last_flush_) {}

ReplyWriter::~ReplyWriter() {
    if (!store_ || finished_) return;
    try {
        store_->flush_reply(*this, nullptr, nullptr, MessageStatus::Incomplete);
    } catch (...) {
        // Nothing to report to from a destructor; the next open marks the reply incomplete.
    }
}

void ReplyWriter::append_reasoning(std::string_view text, int n_tokens) {
    if (!store_ || finished_)
        throw HistoryError(Kind::Invalid, "history: reply writer already finished");
    reasoning_.append(text);
    n_reasoning_ += n_tokens;
    dirty_ = true;
    maybe_flush();
}

void ReplyWriter::append_answer(std::string_view text, int n_tokens) {
    if (!store_ || finished_)
        throw HistoryError(Kind::Invalid, "history: reply writer already finished");
    answer_.append(text);
    n_answer_ += n_tokens;
    dirty_ = true;
    maybe_flush();
}

void ReplyWriter::maybe_flush() {
    const auto due = last_flush_ + std::chrono::milliseconds(store_->options_.flush_interval_ms);
    if (std::chrono::steady_clock::now() >= due) flush();
}

void ReplyWriter::flush() {
    if (!store_ || finished_)
        throw HistoryError(Kind::Invalid, "history: reply writer already finished");
    if (dirty_) store_->flush_reply(*this, nullptr, nullptr, std::nullopt);
}

void ReplyWriter::finish(const ReplyStats& stats, const Trace* trace, MessageStatus status,
                         const PreparedTrace* prepared) {
    if (!store_ || finished_)
        throw HistoryError(Kind::Invalid, "history: reply writer already finished");
    if (status == MessageStatus::Streaming) status = MessageStatus::Incomplete;
    store_->flush_reply(*this, &stats, trace, status, prepared);
    finished_ = true;
}

}  // namespace gb::app
