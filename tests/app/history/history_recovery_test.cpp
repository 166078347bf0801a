// Bad files and hard conditions: a non-SQLite file, a damaged database, another application's
// database, a full disk, two instances on one database.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <thread>

#include "tests/app/history/history_test_support.h"

using namespace gb;
using namespace gb::app;
using gb::test::TempDir;
namespace fs = std::filesystem;

namespace {

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

HistoryError::Kind open_error(const std::string& path) {
    try {
        HistoryStore::open(path, test::fast_options());
    } catch (const HistoryError& e) {
        return e.kind();
    }
    ADD_FAILURE() << "opened " << path;
    return HistoryError::Kind::Invalid;
}

// Checks that open() refuses the file, open_or_recover() moves it aside unchanged and offers a
// working new database.
void expect_recovered(const TempDir& dir, const std::string& path, HistoryError::Kind kind,
                      const std::string& needle) {
    const std::string before = read_file(path);
    EXPECT_EQ(open_error(path), kind);
    EXPECT_EQ(read_file(path), before);  // open() changed nothing
    auto opened = HistoryStore::open_or_recover(path, test::fast_options());
    EXPECT_EQ(opened.report.outcome, OpenOutcome::Recovered);
    EXPECT_NE(opened.report.problem.find(needle), std::string::npos) << opened.report.problem;
    ASSERT_FALSE(opened.report.moved_aside_to.empty());
    EXPECT_NE(opened.report.moved_aside_to.find(".broken-"), std::string::npos);
    EXPECT_EQ(read_file(opened.report.moved_aside_to), before);  // kept, byte for byte
    EXPECT_EQ(opened.store->count_conversations(), 0);
    opened.store->create_conversation("fresh start");
    EXPECT_EQ(opened.store->integrity_check(), "ok");
    (void)dir;
}

TEST(HistoryRecovery, NonSqliteFile) {
    TempDir dir;
    const std::string path = dir.file("h.db");
    write_file(path, "These are my notes, not a database.\n" + std::string(5000, 'x'));
    expect_recovered(dir, path, HistoryError::Kind::NotOurs, "not a SQLite database");
}

// A named pipe where the database should be used to hang the app at start (SQLite blocked
// reading it); now it is refused at once, naming what it is, like any file that is not ours.
TEST(HistoryRecovery, NamedPipeOrDirectoryIsRefusedWithoutBlocking) {
    TempDir dir;
    const std::string fifo = dir.file("fifo.db");
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    try {
        HistoryStore::open(fifo, test::fast_options());
        ADD_FAILURE() << "a FIFO opened as a history";
    } catch (const HistoryError& e) {
        EXPECT_EQ(e.kind(), HistoryError::Kind::NotOurs);
        EXPECT_NE(std::string(e.what()).find("a named pipe (FIFO)"), std::string::npos) << e.what();
    }
    const std::string sub = dir.file("sub.db");
    fs::create_directories(sub);
    try {
        HistoryStore::open(sub, test::fast_options());
        ADD_FAILURE() << "a directory opened as a history";
    } catch (const HistoryError& e) {
        EXPECT_NE(std::string(e.what()).find("is a directory"), std::string::npos) << e.what();
    }
}

TEST(HistoryRecovery, AnotherApplicationsDatabase) {
    TempDir dir;
    const std::string path = dir.file("h.db");
    {
        sql::Db db(path, true);
        db.exec(
            "CREATE TABLE contacts(name TEXT, phone TEXT); INSERT INTO contacts VALUES ('a', '1')");
    }
    expect_recovered(dir, path, HistoryError::Kind::NotOurs, "another application");
}

TEST(HistoryRecovery, DamagedDatabase) {
    TempDir dir;
    const std::string path = dir.file("h.db");
    {
        auto store = HistoryStore::open(path, test::fast_options());
        for (int i = 0; i < 200; ++i) {
            const int64_t c = store->create_conversation("conversation " + std::to_string(i));
            store->add_message(c, std::nullopt, Role::User, std::string(500, 'a' + i % 26));
        }
    }  // closed: the WAL is checkpointed into the file
    std::string bytes = read_file(path);
    ASSERT_GT(bytes.size(), 20000u);
    const size_t page = 4096;
    // Garbage over pages 2..4 (b-tree pages of the schema's tables and indexes).
    for (size_t i = page; i < 4 * page; ++i) bytes[i] = static_cast<char>((i * 7919) & 0xff);
    write_file(path, bytes);
    expect_recovered(dir, path, HistoryError::Kind::Corrupt, "");
}

TEST(HistoryRecovery, DamagedHeaderIsNotADatabase) {
    TempDir dir;
    const std::string path = dir.file("h.db");
    { HistoryStore::open(path, test::fast_options())->create_conversation("x"); }
    std::string bytes = read_file(path);
    bytes.replace(0, 6, "GARBLE");
    write_file(path, bytes);
    expect_recovered(dir, path, HistoryError::Kind::NotOurs, "not a SQLite database");
}

TEST(HistoryRecovery, AnEmptyFileBecomesANewDatabase) {
    TempDir dir;
    const std::string path = dir.file("h.db");
    write_file(path, "");
    OpenReport report;
    auto store = HistoryStore::open(path, test::fast_options(), &report);
    EXPECT_EQ(report.outcome, OpenOutcome::Created);
}

TEST(HistoryRecovery, FullDiskIsAnErrorAndLosesNothingSaved) {
    TempDir dir;
    const std::string path = dir.file("h.db");
    auto store = HistoryStore::open(path, test::fast_options());
    const int64_t c = store->create_conversation("saved");
    const int64_t u = store->add_message(c, std::nullopt, Role::User, "keep me");
    Message r;
    r.answer = "kept answer";
    const Trace trace = test::make_trace(4, 4, 2);
    const int64_t a = store->add_reply(c, u, r, &trace);
    // SQLite's own size cap stands in for a full disk: the file may not grow past this.
    const int64_t pages = store->database().query_int("PRAGMA page_count");
    store->database().exec("PRAGMA max_page_count = " + std::to_string(pages + 2));

    auto w = store->begin_reply(c, u, {});
    bool full = false;
    std::string chunk(2000, 'z');
    for (int i = 0; i < 200 && !full; ++i) {
        try {
            w.append_answer(chunk);
            w.flush();
        } catch (const HistoryError& e) {
            EXPECT_EQ(e.kind(), HistoryError::Kind::DiskFull) << e.what();
            EXPECT_NE(std::string(e.what()).find("full"), std::string::npos) << e.what();
            full = true;
        }
    }
    ASSERT_TRUE(full);
    // Other writes fail the same way, and leave the store usable for reading.
    try {
        store->add_reply(c, u, r, &trace);
        ADD_FAILURE() << "expected DiskFull";
    } catch (const HistoryError& e) {
        EXPECT_EQ(e.kind(), HistoryError::Kind::DiskFull);
    }
    EXPECT_EQ(store->load_message(a).answer, "kept answer");
    const int64_t streamed = w.id();
    const std::string partial = store->load_message(streamed).answer;
    EXPECT_EQ(partial, std::string(partial.size(), 'z'));  // whole flushes only

    // Space comes back: the pending text is written by the next flush.
    store->database().exec("PRAGMA max_page_count = 1000000");
    w.finish({});
    EXPECT_GT(store->load_message(streamed).answer.size(), partial.size());
    store.reset();
    auto again = HistoryStore::open(path, test::fast_options());
    EXPECT_EQ(again->integrity_check(), "ok");
    EXPECT_EQ(again->load_message(u).content, "keep me");
    EXPECT_EQ(again->load_message(a).answer, "kept answer");
    EXPECT_TRUE(again->load_trace(a));
}

TEST(HistoryRecovery, SecondInstanceIsToldWhoHoldsTheDatabase) {
    TempDir dir;
    const std::string path = dir.file("h.db");
    auto first = HistoryStore::open(path, test::fast_options());
    first->create_conversation("mine");
    try {
        HistoryStore::open_or_recover(path, test::fast_options());
        FAIL() << "expected Locked";
    } catch (const HistoryError& e) {
        EXPECT_EQ(e.kind(), HistoryError::Kind::Locked);
        EXPECT_NE(std::string(e.what()).find("pid " + std::to_string(getpid())), std::string::npos)
            << e.what();
        EXPECT_NE(std::string(e.what()).find("another Glassbox instance"), std::string::npos);
    }
    EXPECT_TRUE(fs::exists(path));  // a locked database is never moved aside
    first.reset();
    auto second = HistoryStore::open(path, test::fast_options());  // released on close
    EXPECT_EQ(second->count_conversations(), 1);
}

TEST(HistoryRecovery, TwoWritersWithoutTheLockDoNotCorrupt) {
    // Even when the instance lock is bypassed, SQLite's own locking keeps the file whole:
    // both writers' rows all arrive.
    TempDir dir;
    const std::string path = dir.file("h.db");
    HistoryOptions opt = test::fast_options();
    opt.instance_lock = false;
    { HistoryStore::open(path, opt); }
    auto writer = [&](int who) {
        auto store = HistoryStore::open(path, opt);
        for (int i = 0; i < 100; ++i) {
            const int64_t c = store->create_conversation("w" + std::to_string(who));
            auto w = store->begin_reply(c, std::nullopt, {});
            w.append_answer("answer " + std::to_string(i));
            w.finish({});
        }
    };
    std::thread a(writer, 1), b(writer, 2);
    a.join();
    b.join();
    auto store = HistoryStore::open(path, opt);
    EXPECT_EQ(store->integrity_check(), "ok");
    EXPECT_EQ(store->count_conversations(), 200);
    EXPECT_EQ(
        store->database().query_int("SELECT count(*) FROM messages WHERE status = 'complete'"),
        200);
}

}  // namespace
