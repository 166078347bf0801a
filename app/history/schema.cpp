// Schema versions of the history database. Never edit a released step: add a new one.
// The tests keep each earlier version's SQL of their own and migrate it (history_migration_test).
#include "app/history/schema.h"

#include <string>

#include "app/history/trace_blob.h"

namespace gb::app {
namespace {

// Version 1: conversations, the message tree, traces.
constexpr const char* kV1 = R"sql(
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
)sql";

// Version 2: what the inspector searches by. Full-text indexes over titles and messages
// (a streaming reply is indexed when it ends, not at every flush), the per-reply expert-usage
// summary, and indexes for the metadata queries.
constexpr const char* kV2 = R"sql(
CREATE INDEX messages_by_model ON messages(model, created_ms) WHERE role = 'assistant';
CREATE INDEX messages_by_reasoning_tokens ON messages(n_reasoning_tokens) WHERE role = 'assistant';
CREATE TABLE expert_usage(
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    layer INTEGER NOT NULL,
    expert INTEGER NOT NULL,
    phase INTEGER NOT NULL,      -- 0 prompt, 1 reasoning (think), 2 answer
    count INTEGER NOT NULL,      -- tokens routed to this expert
    weight_sum REAL NOT NULL,    -- sum of their gate weights
    PRIMARY KEY(message_id, layer, expert, phase)
) WITHOUT ROWID;
CREATE INDEX expert_usage_by_expert ON expert_usage(layer, expert, phase, message_id);

CREATE VIRTUAL TABLE title_fts USING fts5(title, tokenize = 'unicode61 remove_diacritics 2');
CREATE VIRTUAL TABLE message_fts USING fts5(prompt, reasoning, answer,
                                            tokenize = 'unicode61 remove_diacritics 2');
INSERT INTO title_fts(rowid, title) SELECT id, title FROM conversations;
INSERT INTO message_fts(rowid, prompt, reasoning, answer)
    SELECT id, CASE WHEN role = 'assistant' THEN '' ELSE content END, reasoning, answer
    FROM messages WHERE status != 'streaming';

CREATE TRIGGER conversations_fts_insert AFTER INSERT ON conversations BEGIN
    INSERT INTO title_fts(rowid, title) VALUES (new.id, new.title);
END;
CREATE TRIGGER conversations_fts_update AFTER UPDATE OF title ON conversations BEGIN
    UPDATE title_fts SET title = new.title WHERE rowid = new.id;
END;
CREATE TRIGGER conversations_fts_delete AFTER DELETE ON conversations BEGIN
    DELETE FROM title_fts WHERE rowid = old.id;
END;
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.status != 'streaming' BEGIN
    INSERT INTO message_fts(rowid, prompt, reasoning, answer) VALUES (new.id,
        CASE WHEN new.role = 'assistant' THEN '' ELSE new.content END, new.reasoning, new.answer);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF status, content, reasoning, answer ON messages
        WHEN new.status != 'streaming' BEGIN
    DELETE FROM message_fts WHERE rowid = old.id;
    INSERT INTO message_fts(rowid, prompt, reasoning, answer) VALUES (new.id,
        CASE WHEN new.role = 'assistant' THEN '' ELSE new.content END, new.reasoning, new.answer);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    DELETE FROM message_fts WHERE rowid = old.id;
END;
)sql";

// Version 3: bookmarks with notes on tokens of a reply (teaching mode): the token is an index into
// the reply's trace.
constexpr const char* kV3 = R"sql(
CREATE TABLE bookmarks(
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    token INTEGER NOT NULL CHECK(token >= 0),
    note TEXT NOT NULL DEFAULT '',
    created_ms INTEGER NOT NULL
);
CREATE INDEX bookmarks_by_message ON bookmarks(message_id, token);
)sql";

// Version 4: resamplings of a reply at its positions (forking paths), the engine's result as JSON.
constexpr const char* kV4 = R"sql(
CREATE TABLE resamplings(
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    at INTEGER NOT NULL CHECK(at >= 0),
    k INTEGER NOT NULL CHECK(k >= 1),
    result_json TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX resamplings_by_message ON resamplings(message_id, at);
)sql";

// Fills expert_usage from the traces stored under version 1.
void backfill_expert_usage(sql::Db& db) {
    auto st = db.prepare("SELECT message_id, format_version, codec, raw_size, data FROM traces");
    while (st.step()) {
        const int64_t id = st.i64(0);
        StoredTrace blob{static_cast<int>(st.i64(1)), st.text(2), st.i64(3), st.blob(4)};
        write_expert_usage(db, id, decode_trace(blob, id));
    }
}

// Version 5: how a local reply was computed ("fast", "precise"; '' when not known).
constexpr const char* kV5 = R"sql(
ALTER TABLE messages ADD COLUMN precision TEXT NOT NULL DEFAULT '';
)sql";

}  // namespace

void migrate(sql::Db& db, int from) {
    sql::Transaction tx(db);
    if (from < 1) {
        db.exec(kV1);
        db.exec("PRAGMA application_id = " + std::to_string(kHistoryApplicationId));
    }
    if (from < 2) {
        db.exec(kV2);
        backfill_expert_usage(db);
    }
    if (from < 3) db.exec(kV3);
    if (from < 4) db.exec(kV4);
    if (from < 5) db.exec(kV5);
    db.exec("PRAGMA user_version = " + std::to_string(kHistorySchemaVersion));
    tx.commit();
}

}  // namespace gb::app
