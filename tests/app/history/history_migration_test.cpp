// Schema migrations: every earlier version's schema, kept here as it was released, is filled
// with data and opened by the current store, which must migrate it and keep every row.
#include <gtest/gtest.h>

#include "app/history/schema.h"
#include "engine/trace/trace_binary.h"
#include "tests/app/history/history_test_support.h"

using namespace gb;
using namespace gb::app;
using gb::test::TempDir;

namespace {

// Version 1 as released: conversations, messages, traces. (Do not edit: it is history.)
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE conversations(
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    settings_json TEXT NOT NULL DEFAULT '{}',
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    pinned INTEGER NOT NULL DEFAULT 0,
    current_leaf INTEGER REFERENCES messages(id) ON DELETE SET NULL
);
CREATE INDEX conversations_by_recency ON conversations(pinned DESC, updated_ms DESC, id DESC);
CREATE TABLE messages(
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK(role IN ('system', 'user', 'assistant')),
    content TEXT NOT NULL DEFAULT '',
    reasoning TEXT NOT NULL DEFAULT '',
    answer TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'complete'
        CHECK(status IN ('complete', 'incomplete', 'streaming')),
    created_ms INTEGER NOT NULL,
    n_prompt_tokens INTEGER NOT NULL DEFAULT 0,
    n_reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    n_answer_tokens INTEGER NOT NULL DEFAULT 0,
    ttft_ms REAL NOT NULL DEFAULT 0,
    prefill_tps REAL NOT NULL DEFAULT 0,
    decode_tps REAL NOT NULL DEFAULT 0,
    backend TEXT NOT NULL DEFAULT '',
    device TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    model_hash TEXT NOT NULL DEFAULT '',
    stop_reason TEXT NOT NULL DEFAULT '',
    seed INTEGER,
    sampler_json TEXT,
    system_prompt TEXT NOT NULL DEFAULT '',
    rendered_prompt TEXT NOT NULL DEFAULT '',
    chat_template TEXT NOT NULL DEFAULT '',
    engine_version TEXT NOT NULL DEFAULT ''
);
CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
CREATE INDEX messages_by_parent ON messages(parent_id);
CREATE INDEX messages_by_status ON messages(status) WHERE status != 'complete';
CREATE TABLE traces(
    message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    format_version INTEGER NOT NULL,
    codec TEXT NOT NULL,
    raw_size INTEGER NOT NULL,
    data BLOB NOT NULL
);
PRAGMA application_id = 1195526227;
PRAGMA user_version = 1;
)sql";

// Rows a version-1 database may hold: a branch, a traced MoE reply, a reply cut off while
// streaming.
void fill_v1(sql::Db& db) {
    db.exec(R"sql(
INSERT INTO conversations VALUES (1, 'Old chat about primes', 'r1-7b', '{"top_k":40}', 1000, 2000, 1, 3);
INSERT INTO messages(id, conversation_id, parent_id, role, content, created_ms)
    VALUES (1, 1, NULL, 'user', 'Is 91 prime?', 1100);
INSERT INTO messages(id, conversation_id, parent_id, role, reasoning, answer, created_ms,
                     n_reasoning_tokens, model, seed, sampler_json, engine_version)
    VALUES (2, 1, 1, 'assistant', 'Try 7: 7 times 13 is 91.', 'No, 91 = 7 x 13.', 1200, 12,
            'r1-7b', 42, '{"temperature":0.6,"top_k":40,"top_p":0.95,"min_p":0.05,"repeat_penalty":1,"repeat_last_n":64,"frequency_penalty":0,"presence_penalty":0,"seed":42}', '0.1.0');
INSERT INTO messages(id, conversation_id, parent_id, role, answer, status, created_ms)
    VALUES (3, 1, 1, 'assistant', 'Let me thi', 'streaming', 1300);
)sql");
    const StoredTrace blob = encode_trace(test::make_trace(3, 2, 2));
    auto st = db.prepare("INSERT INTO traces VALUES (2, ?, ?, ?, ?)");
    st.args(blob.format_version, blob.codec, blob.raw_size).bind_blob(4, blob.data).run();
}

TEST(HistoryMigration, ApplicationIdInTheOldSqlIsOurs) {
    EXPECT_EQ(kHistoryApplicationId, 1195526227);
}

TEST(HistoryMigration, Version1IsMigratedAndKeepsEveryRow) {
    TempDir dir;
    const std::string path = dir.file("v1.db");
    {
        sql::Db db(path, true);
        db.exec(kSchemaV1);
        fill_v1(db);
    }
    OpenReport report;
    auto store = HistoryStore::open(path, test::fast_options(), &report);
    EXPECT_EQ(report.outcome, OpenOutcome::Migrated);
    EXPECT_EQ(report.from_version, 1);
    EXPECT_EQ(report.marked_incomplete, 1);
    EXPECT_EQ(store->database().query_int("PRAGMA user_version"), kHistorySchemaVersion);
    // Version 3's bookmarks and version 4's resamplings are there, empty.
    EXPECT_EQ(store->database().query_int("SELECT count(*) FROM bookmarks"), 0);
    EXPECT_EQ(store->database().query_int("SELECT count(*) FROM resamplings"), 0);

    const Conversation c = store->load_conversation(1);
    EXPECT_EQ(c.info.title, "Old chat about primes");
    EXPECT_EQ(c.info.settings_json, R"({"top_k":40})");
    EXPECT_EQ(c.info.created_ms, 1000);
    EXPECT_EQ(c.info.updated_ms, 2000);
    EXPECT_TRUE(c.info.pinned);
    EXPECT_EQ(c.info.current_leaf, 3);
    ASSERT_EQ(c.messages.size(), 3u);
    EXPECT_EQ(c.messages[0].content, "Is 91 prime?");
    EXPECT_EQ(c.messages[1].reasoning, "Try 7: 7 times 13 is 91.");
    EXPECT_EQ(c.messages[1].answer, "No, 91 = 7 x 13.");
    EXPECT_EQ(c.messages[1].stats.n_reasoning_tokens, 12);
    ASSERT_TRUE(c.messages[1].repro.sampler);
    EXPECT_EQ(c.messages[1].repro.sampler->seed, 42u);
    EXPECT_EQ(c.messages[1].repro.sampler->temperature, 0.6f);
    EXPECT_EQ(c.messages[2].status, MessageStatus::Incomplete);
    EXPECT_EQ(c.messages[2].answer, "Let me thi");
    auto trace = store->load_trace(2);
    ASSERT_TRUE(trace);
    EXPECT_EQ(write_binary(*trace), write_binary(test::make_trace(3, 2, 2)));

    // Version 2's derived data was built from version 1's rows.
    EXPECT_EQ(store->expert_usage(2), summarise_expert_usage(test::make_trace(3, 2, 2)));
    EXPECT_EQ(store->replies_using_expert(0, 3).size(), 1u);
    EXPECT_EQ(store->search("primes", kSearchTitle).size(), 1u);
    EXPECT_EQ(store->search("13", kSearchReasoning).size(), 1u);
    EXPECT_EQ(store->search("91", kSearchPrompt).size(), 1u);
    EXPECT_EQ(store->search("thi", kSearchAnswer).size(), 1u);  // indexed once marked incomplete
    EXPECT_EQ(store->replies_by_model("r1-7b").size(), 1u);
    EXPECT_EQ(store->integrity_check(), "ok");
}

TEST(HistoryMigration, Version0IsAnEmptyDatabase) {
    TempDir dir;
    const std::string path = dir.file("v0.db");
    {
        sql::Db db(path, true);
        db.exec("PRAGMA user_version = 0");
    }
    OpenReport report;
    auto store = HistoryStore::open(path, test::fast_options(), &report);
    EXPECT_EQ(report.outcome, OpenOutcome::Created);
    EXPECT_EQ(store->count_conversations(), 0);
}

TEST(HistoryMigration, ANewerSchemaIsRefusedAndLeftAlone) {
    TempDir dir;
    const std::string path = dir.file("v99.db");
    {
        sql::Db db(path, true);
        db.exec(kSchemaV1);
        db.exec("PRAGMA user_version = 99");
    }
    try {
        HistoryStore::open_or_recover(path, test::fast_options());
        FAIL() << "expected TooNew";
    } catch (const HistoryError& e) {
        EXPECT_EQ(e.kind(), HistoryError::Kind::TooNew);
        EXPECT_NE(std::string(e.what()).find("newer Glassbox"), std::string::npos) << e.what();
    }
    sql::Db db(path, false);
    EXPECT_EQ(db.query_int("PRAGMA user_version"), 99);  // not moved, not changed
}

}  // namespace
