// A thin RAII layer over the SQLite C API: a connection, prepared statements, transactions.
// Only what the history store needs; every failure becomes a SqlError naming the SQL and code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "kernels/error.h"

struct sqlite3;
struct sqlite3_stmt;

namespace gb::app::sql {

// code is SQLite's primary result code (SQLITE_FULL, SQLITE_CORRUPT, SQLITE_NOTADB...).
class SqlError : public gb::Error {
public:
    SqlError(const std::string& what, int code) : gb::Error(what), code_(code) {}
    int code() const { return code_; }

private:
    int code_;
};

class Db;

// SQLite's storage classes: a column's value may have any of them whatever its declared type.
enum class Type { Integer, Float, Text, Blob, Null };

// A prepared statement. Parameters are 1-based (SQLite's convention), columns 0-based.
class Stmt {
public:
    Stmt() = default;
    Stmt(Db& db, std::string_view sql);
    Stmt(Stmt&& o) noexcept;
    Stmt& operator=(Stmt&& o) noexcept;
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    ~Stmt();

    Stmt& bind(int i, int64_t v);
    Stmt& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
    Stmt& bind(int i, bool v) { return bind(i, static_cast<int64_t>(v ? 1 : 0)); }
    Stmt& bind(int i, double v);
    Stmt& bind(int i, std::string_view text);
    Stmt& bind(int i, const std::string& text) { return bind(i, std::string_view(text)); }
    Stmt& bind(int i, const char* text) { return bind(i, std::string_view(text)); }
    Stmt& bind(int i, std::optional<int64_t> v);
    Stmt& bind_blob(int i, std::string_view bytes);
    Stmt& bind_null(int i);

    // Binds every argument in order, from parameter 1.
    template <class... A>
    Stmt& args(const A&... a) & {
        int i = 0;
        (bind(++i, a), ...);
        return *this;
    }
    // On a temporary (db.prepare(...).args(...)), so `auto st = ...` takes the statement over.
    template <class... A>
    Stmt&& args(const A&... a) && {
        int i = 0;
        (bind(++i, a), ...);
        return std::move(*this);
    }

    // true: a row is ready; false: done. Errors throw SqlError.
    bool step();
    // Runs a statement that returns no rows (or ignores them).
    void run();
    void reset();

    bool is_null(int col) const;
    Type type(int col) const;
    int64_t i64(int col) const;
    double f64(int col) const;
    std::string text(int col) const;
    std::string blob(int col) const;
    std::optional<int64_t> opt_i64(int col) const;

private:
    sqlite3_stmt* s_ = nullptr;
    Db* db_ = nullptr;
};

class Db {
public:
    Db() = default;
    // Opens (creating if asked) a database file. Does not read it yet: SQLite reads the
    // header lazily, so "not a database" shows up at the first statement.
    Db(const std::string& path, bool create);
    Db(Db&& o) noexcept;
    Db& operator=(Db&& o) noexcept;
    Db(const Db&) = delete;
    Db& operator=(const Db&) = delete;
    ~Db();

    bool is_open() const { return db_ != nullptr; }
    void close();
    // One or more statements without parameters (schema, pragmas).
    void exec(std::string_view sql);
    Stmt prepare(std::string_view sql) { return Stmt(*this, sql); }
    // The single value of a one-row query (e.g. a pragma).
    int64_t query_int(std::string_view sql);
    std::string query_text(std::string_view sql);
    int64_t last_insert_rowid() const;
    int changes() const;
    bool in_transaction() const;
    const std::string& path() const { return path_; }
    sqlite3* raw() { return db_; }

    // Throws SqlError for rc (not SQLITE_OK/ROW/DONE) with what + SQLite's message.
    [[noreturn]] void fail(int rc, std::string_view what) const;

private:
    sqlite3* db_ = nullptr;
    std::string path_;
};

// BEGIN IMMEDIATE (so a writer takes the write lock up front and waits on busy_timeout rather
// than failing later), or a SAVEPOINT when a transaction is already open, so calls nest.
// Rolls back unless commit() was called.
class Transaction {
public:
    explicit Transaction(Db& db);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit();

private:
    Db& db_;
    bool nested_;
    bool done_ = false;
};

}  // namespace gb::app::sql
