// The RAII layer over SQLite's C API (sqlite.h).
#include "app/history/sqlite.h"

#include <sqlite3.h>

#include <cctype>
#include <utility>
#include <vector>

namespace gb::app::sql {

namespace {

// What a statement does, in words, for error messages: "updating messages", "reading
// conversations". Errors name the operation, never the SQL text (which means nothing to a user
// and would show the query's shape).
std::string operation_of(std::string_view sql) {
    // Words outside parentheses only: a subquery's FROM is not the statement's table.
    std::vector<std::string> words;
    std::string w;
    int depth = 0;
    for (char c : sql) {
        if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
            if (depth == 0) w += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            continue;
        }
        if (!w.empty()) words.push_back(std::move(w));
        w.clear();
        depth += c == '(' ? 1 : c == ')' && depth > 0 ? -1 : 0;
        if (words.size() > 64) break;
    }
    if (!w.empty()) words.push_back(std::move(w));
    if (words.empty()) return "an empty statement";
    auto after = [&](const char* key) -> std::string {
        for (size_t i = 0; i + 1 < words.size(); ++i)
            if (words[i] == key) return words[i + 1];
        return "the database";
    };
    const std::string& v = words[0];
    if (v == "select" || v == "with") return "reading " + after("from");
    if (v == "insert" || v == "replace") return "writing " + after("into");
    if (v == "update") return "updating " + (words.size() > 1 ? words[1] : "the database");
    if (v == "delete") return "deleting from " + after("from");
    if (v == "pragma") return "checking the database (" + (words.size() > 1 ? words[1] : v) + ")";
    if (v == "begin" || v == "commit" || v == "rollback" || v == "savepoint" || v == "release")
        return "a transaction (" + v + ")";
    if (v == "create" || v == "drop" || v == "alter") return "changing the schema";
    return "a database statement";
}

}  // namespace

Db::Db(const std::string& path, bool create) : path_(path) {
    const int flags =
        SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
    const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
        sqlite3_close_v2(db_);
        db_ = nullptr;
        throw SqlError("sqlite: cannot open " + path + ": " + msg, rc & 0xff);
    }
    sqlite3_extended_result_codes(db_, 1);
}

Db::Db(Db&& o) noexcept : db_(std::exchange(o.db_, nullptr)), path_(std::move(o.path_)) {}

Db& Db::operator=(Db&& o) noexcept {
    if (this != &o) {
        close();
        db_ = std::exchange(o.db_, nullptr);
        path_ = std::move(o.path_);
    }
    return *this;
}

Db::~Db() { close(); }

void Db::close() {
    // close_v2 defers the close until the last statement is finalised, so a leaked Stmt
    // cannot make the close fail.
    if (db_) sqlite3_close_v2(db_);
    db_ = nullptr;
}

void Db::fail(int rc, std::string_view what) const {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    throw SqlError("sqlite: " + std::string(what) + ": " + msg + " (" + path_ + ")", rc & 0xff);
}

void Db::exec(std::string_view sql) {
    char* err = nullptr;
    const std::string s(sql);
    const int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        std::string msg = err ? err : sqlite3_errstr(rc);
        sqlite3_free(err);
        throw SqlError("sqlite: " + operation_of(s) + ": " + msg + " (" + path_ + ")", rc & 0xff);
    }
}

int64_t Db::query_int(std::string_view sql) {
    Stmt st(*this, sql);
    if (!st.step()) fail(SQLITE_ERROR, "no row " + operation_of(sql));
    return st.i64(0);
}

std::string Db::query_text(std::string_view sql) {
    Stmt st(*this, sql);
    if (!st.step()) fail(SQLITE_ERROR, "no row " + operation_of(sql));
    return st.text(0);
}

int64_t Db::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }
int Db::changes() const { return sqlite3_changes(db_); }
bool Db::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

Stmt::Stmt(Db& db, std::string_view sql) : db_(&db) {
    const int rc =
        sqlite3_prepare_v2(db.raw(), sql.data(), static_cast<int>(sql.size()), &s_, nullptr);
    if (rc != SQLITE_OK) db.fail(rc, operation_of(sql));
}

Stmt::Stmt(Stmt&& o) noexcept : s_(std::exchange(o.s_, nullptr)), db_(o.db_) {}

Stmt& Stmt::operator=(Stmt&& o) noexcept {
    if (this != &o) {
        sqlite3_finalize(s_);
        s_ = std::exchange(o.s_, nullptr);
        db_ = o.db_;
    }
    return *this;
}

Stmt::~Stmt() { sqlite3_finalize(s_); }

static void check_bind(Db* db, int rc) {
    if (rc != SQLITE_OK) db->fail(rc, "bind");
}

Stmt& Stmt::bind(int i, int64_t v) {
    check_bind(db_, sqlite3_bind_int64(s_, i, v));
    return *this;
}
Stmt& Stmt::bind(int i, double v) {
    check_bind(db_, sqlite3_bind_double(s_, i, v));
    return *this;
}
Stmt& Stmt::bind(int i, std::string_view text) {
    // A zero-length text must still be text, not NULL: data() may be nullptr for an empty view.
    check_bind(db_, sqlite3_bind_text64(s_, i, text.data() ? text.data() : "", text.size(),
                                        SQLITE_TRANSIENT, SQLITE_UTF8));
    return *this;
}
Stmt& Stmt::bind(int i, std::optional<int64_t> v) { return v ? bind(i, *v) : bind_null(i); }
Stmt& Stmt::bind_blob(int i, std::string_view bytes) {
    check_bind(db_, sqlite3_bind_blob64(s_, i, bytes.data() ? bytes.data() : "", bytes.size(),
                                        SQLITE_TRANSIENT));
    return *this;
}
Stmt& Stmt::bind_null(int i) {
    check_bind(db_, sqlite3_bind_null(s_, i));
    return *this;
}

bool Stmt::step() {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    const char* sql = sqlite3_sql(s_);
    db_->fail(rc, operation_of(sql ? sql : ""));
}

void Stmt::run() {
    while (step()) {
    }
    reset();
}

void Stmt::reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
}

bool Stmt::is_null(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
Type Stmt::type(int col) const {
    switch (sqlite3_column_type(s_, col)) {
        case SQLITE_INTEGER: return Type::Integer;
        case SQLITE_FLOAT: return Type::Float;
        case SQLITE_TEXT: return Type::Text;
        case SQLITE_BLOB: return Type::Blob;
        default: return Type::Null;
    }
}
int64_t Stmt::i64(int col) const { return sqlite3_column_int64(s_, col); }
double Stmt::f64(int col) const { return sqlite3_column_double(s_, col); }
std::string Stmt::text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, col))) : std::string();
}
std::string Stmt::blob(int col) const {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(s_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, col))) : std::string();
}
std::optional<int64_t> Stmt::opt_i64(int col) const {
    if (is_null(col)) return std::nullopt;
    return i64(col);
}

Transaction::Transaction(Db& db) : db_(db), nested_(db.in_transaction()) {
    db_.exec(nested_ ? "SAVEPOINT gb_tx" : "BEGIN IMMEDIATE");
}

Transaction::~Transaction() {
    if (done_) return;
    // A failed statement (SQLITE_FULL, IOERR) may already have rolled SQLite back; a second
    // rollback then fails harmlessly, so errors here are ignored.
    const char* sql = nested_ ? "ROLLBACK TO gb_tx; RELEASE gb_tx" : "ROLLBACK";
    sqlite3_exec(db_.raw(), sql, nullptr, nullptr, nullptr);
}

void Transaction::commit() {
    db_.exec(nested_ ? "RELEASE gb_tx" : "COMMIT");
    done_ = true;
}

}  // namespace gb::app::sql
