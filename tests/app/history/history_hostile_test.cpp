// Hostile history databases, stored traces and import files: each must end with a clear
// HistoryError naming what is wrong, or load correctly, within 2 s; never a crash, a hang, an
// unbounded allocation or a silent acceptance. One parameterised case per input, so that
// tools/hostile_history.sh can run each alone under /usr/bin/time -v for its peak memory.
#include <gtest/gtest.h>
#include <zstd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <sstream>

#include "app/history/history_export.h"
#include "engine/trace/trace_binary.h"
#include "tests/app/history/damaged_history.h"
#include "tests/app/history/history_test_support.h"

namespace gb::app {
namespace {

using test::TempDir;

// The ids of the store every case starts from: a victim conversation (user -> reply with an
// MoE trace -> user) and a good one beside it.
struct Ids {
    int64_t victim = 0, user = 0, reply = 0, last = 0, good = 0;
};

std::string subst(std::string sql, const Ids& d) {
    const std::pair<const char*, int64_t> keys[] = {
        {"{v}", d.victim}, {"{u}", d.user}, {"{r}", d.reply}, {"{l}", d.last}, {"{g}", d.good}};
    for (const auto& [k, v] : keys)
        for (size_t at; (at = sql.find(k)) != std::string::npos;)
            sql.replace(at, std::strlen(k), std::to_string(v));
    return sql;
}

uint32_t crc32c(std::string_view s) {
    uint32_t c = 0xFFFFFFFFu;
    for (unsigned char ch : s) {
        c ^= ch;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? 0x82F63B78u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

std::string varint(uint64_t v) {
    std::string out;
    for (; v >= 0x80; v >>= 7) out += static_cast<char>(v | 0x80);
    return out + static_cast<char>(v);
}

// A binary trace with bytes [at, at + n) replaced and its checksum made valid again.
std::string patched_binary(const Trace& t, size_t at, size_t n, const std::string& with) {
    std::string b = write_binary(t);
    b.replace(at, n, with);
    const uint32_t c = crc32c(std::string_view(b).substr(0, b.size() - 4));
    std::memcpy(b.data() + b.size() - 4, &c, 4);
    return b;
}

std::string zstd(const std::string& raw) {
    std::string out(ZSTD_compressBound(raw.size()), '\0');
    out.resize(ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), 3));
    return out;
}

// An empty trace with every string empty: n_expert lies at byte 67, the token count at the end.
Trace empty_moe_trace() {
    Trace t;
    t.sampling.repeat_last_n = -1;
    t.n_expert = 8;
    t.n_expert_used = 2;
    return t;
}
constexpr size_t kNExpertAt = 16 + 6 + 1 + 4 + 1 + 4 + 4 + 4 + 1 + 4 + 4 + 8 + 1 + 1 + 8 + 8;

struct Case {
    std::string name;
    std::string kind;  // "tree", "schema", "types", "blob", "trace", "import"
    // Damages the closed database (raw connection, foreign keys off); for "import", edits a
    // good export of the victim conversation into the file to import.
    std::function<void(sql::Db&, const Ids&)> damage;
    std::function<std::string(const std::string&)> edit_import;
    std::string expect;  // a part of the first error; empty: everything loads
};

// SQL run on the raw connection. "-- reopen" splits it: what comes before runs, then the
// connection is opened again (a schema edited through writable_schema takes effect then).
// CHECK constraints are off, so values the schema forbids are written as a crafted file has them.
Case sql_case(std::string name, std::string kind, std::string sql, std::string expect) {
    return {name,
            kind,
            [sql](sql::Db& db, const Ids& d) {
                std::string rest = subst(sql, d);
                for (size_t at; (at = rest.find("-- reopen")) != std::string::npos;) {
                    db.exec("PRAGMA writable_schema = ON; " + rest.substr(0, at));
                    db = sql::Db(db.path(), false);
                    rest.erase(0, at + 9);
                }
                db.exec("PRAGMA ignore_check_constraints = ON; " + rest);
            },
            {},
            expect};
}

// Drops the NOT NULL constraints of a table, as a crafted file's schema may lack them.
std::string without_not_null(const std::string& table) {
    return "UPDATE sqlite_schema SET sql = replace(sql, 'NOT NULL', '') WHERE name = '" + table +
           "'; -- reopen ";
}

Case blob_case(std::string name, std::string kind, std::function<std::string()> raw,
               int64_t claim_delta, std::string expect, bool compress = true) {
    return {name,
            kind,
            [=](sql::Db& db, const Ids& d) {
                const std::string r = raw();
                db.prepare("UPDATE traces SET raw_size = ?, data = ? WHERE message_id = ?")
                    .args(static_cast<int64_t>(r.size()) + claim_delta)
                    .bind_blob(2, compress ? zstd(r) : r)
                    .bind(3, d.reply)
                    .run();
            },
            {},
            expect};
}

Case import_case(std::string name, std::function<std::string(const std::string&)> edit,
                 std::string expect) {
    return {name, "import", [](sql::Db&, const Ids&) {}, edit, expect};
}

std::vector<Case> cases() {
    std::vector<Case> c;
    const std::string damaged = "is damaged: ";
    // Message trees.
    c.push_back(sql_case("cycle_len1", "tree", "UPDATE messages SET parent_id = {u} WHERE id = {u}",
                         "message {u} is its own parent"));
    c.push_back(sql_case("cycle_len2", "tree", "UPDATE messages SET parent_id = {r} WHERE id = {u}",
                         "form a cycle: {u} -> {r} -> {u}"));
    c.push_back(
        {"cycle_len1000",
         "tree",
         [](sql::Db& db, const Ids& d) {
             // 1000 more messages, each the parent of the one before: m1 <- m2 ... and
             // the first's parent is the last.
             int64_t first = 0, prev = 0;
             for (int i = 0; i < 1000; ++i) {
                 db.prepare(
                       "INSERT INTO messages(conversation_id, parent_id, role, "
                       "created_ms) VALUES (?, ?, 'user', 1)")
                     .args(d.victim, prev ? std::optional<int64_t>(prev) : std::nullopt)
                     .run();
                 prev = db.last_insert_rowid();
                 if (!first) first = prev;
             }
             db.prepare("UPDATE messages SET parent_id = ? WHERE id = ?").args(prev, first).run();
         },
         {},
         "(1000 messages)"});
    c.push_back({"chain_10000_deep",
                 "tree",
                 [](sql::Db& db, const Ids& d) {
                     int64_t prev = d.last;
                     for (int i = 0; i < 10000; ++i) {
                         db.prepare(
                               "INSERT INTO messages(conversation_id, parent_id, role, "
                               "created_ms) VALUES (?, ?, 'user', 1)")
                             .args(d.victim, prev)
                             .run();
                         prev = db.last_insert_rowid();
                     }
                     db.prepare("UPDATE conversations SET current_leaf = ? WHERE id = ?")
                         .args(prev, d.victim)
                         .run();
                 },
                 {},
                 ""});
    c.push_back(sql_case("dangling_parent", "tree",
                         "UPDATE messages SET parent_id = 4242424 WHERE id = {l}",
                         "message {l} has parent 4242424, which is not a message"));
    c.push_back(sql_case("parent_in_other_conversation", "tree",
                         "INSERT INTO messages(conversation_id, role, created_ms) VALUES ({g}, "
                         "'user', 1); UPDATE messages SET parent_id = last_insert_rowid() WHERE "
                         "id = {l}",
                         "which is not a message of this conversation"));
    c.push_back(sql_case("dangling_current_leaf", "tree",
                         "UPDATE conversations SET current_leaf = 777 WHERE id = {v}",
                         "current_leaf 777 is not a message"));
    c.push_back(sql_case("current_leaf_in_other_conversation", "tree",
                         "INSERT INTO messages(conversation_id, role, created_ms) VALUES ({g}, "
                         "'user', 1); UPDATE conversations SET current_leaf = last_insert_rowid() "
                         "WHERE id = {v}",
                         "is not a message of this conversation"));
    c.push_back(sql_case("current_leaf_on_cycle", "tree",
                         "UPDATE messages SET parent_id = {r} WHERE id = {u}; UPDATE "
                         "conversations SET current_leaf = {u} WHERE id = {v}",
                         "current_leaf {u} lies on a cycle"));
    c.push_back(sql_case("negative_current_leaf", "tree",
                         "UPDATE conversations SET current_leaf = -1 WHERE id = {v}",
                         "current_leaf -1 is not a message"));
    c.push_back(sql_case("huge_ids", "tree",
                         "UPDATE messages SET id = 9223372036854775000 WHERE id = {l}; UPDATE "
                         "conversations SET current_leaf = 9223372036854775000 WHERE id = {v}",
                         ""));
    c.push_back(sql_case("negative_ids", "tree",
                         "UPDATE messages SET id = -5 WHERE id = {l}; UPDATE conversations SET "
                         "current_leaf = -5 WHERE id = {v}",
                         ""));
    c.push_back(sql_case("parent_id_text", "types",
                         "UPDATE messages SET parent_id = 'abc' WHERE id = {l}",
                         "parent_id is not an integer"));
    // Schema.
    c.push_back(sql_case("missing_messages_table", "schema",
                         "DROP TABLE message_fts; DROP TABLE messages", "no such table: messages"));
    c.push_back(
        sql_case("missing_traces_table", "schema", "DROP TABLE traces", "no such table: traces"));
    c.push_back(sql_case("missing_conversations_table", "schema",
                         "DROP TABLE title_fts; DROP TABLE conversations",
                         "no such table: conversations"));
    c.push_back(sql_case("missing_column", "schema",
                         "DROP TRIGGER IF EXISTS messages_fts_update; "
                         "ALTER TABLE messages DROP COLUMN engine_version",
                         "no such column: engine_version"));
    // Column types and values.
    c.push_back(sql_case("created_ms_text", "types",
                         "UPDATE messages SET created_ms = 'yesterday' WHERE id = {u}",
                         "message {u}: created_ms is not an integer"));
    c.push_back(sql_case(
        "created_ms_null", "types",
        without_not_null("messages") + "UPDATE messages SET created_ms = NULL WHERE id = {u}",
        "created_ms is not an integer"));
    c.push_back(sql_case("tokens_beyond_int", "types",
                         "UPDATE messages SET n_reasoning_tokens = 1099511627776 WHERE id = {r}",
                         "n_reasoning_tokens 1099511627776 is out of range"));
    c.push_back(sql_case("tokens_negative", "types",
                         "UPDATE messages SET n_answer_tokens = -3 WHERE id = {r}",
                         "n_answer_tokens -3 is out of range"));
    c.push_back(sql_case("ttft_text", "types",
                         "UPDATE messages SET ttft_ms = 'fast' WHERE id = {r}",
                         "ttft_ms is not a number"));
    c.push_back(
        sql_case("role_null", "types",
                 without_not_null("messages") + "UPDATE messages SET role = NULL WHERE id = {u}",
                 "message {u}: unknown role ''"));
    c.push_back(sql_case("role_unknown", "types",
                         "UPDATE messages SET role = 'robot' WHERE id = {u}",
                         "is damaged: CHECK constraint failed in messages"));
    c.push_back(sql_case("status_unknown", "types",
                         "UPDATE messages SET status = 'maybe' WHERE id = {r}",
                         "is damaged: CHECK constraint failed in messages"));
    c.push_back(sql_case("sampler_json_garbage", "types",
                         "UPDATE messages SET sampler_json = '{not json' WHERE id = {r}",
                         "message {r}: sampler_json: "));
    c.push_back(sql_case("content_blob", "types",
                         "UPDATE messages SET content = x'00ff00' WHERE id = {u}", ""));
    c.push_back(sql_case("settings_json_garbage", "types",
                         "UPDATE conversations SET settings_json = '[[[' WHERE id = {v}", ""));
    c.push_back(sql_case("stop_reason_unknown", "types",
                         "UPDATE messages SET stop_reason = 'tired' WHERE id = {r}", ""));
    // Trace rows and blobs.
    const std::string m = "trace of message {r}: ";
    c.push_back(sql_case("blob_truncated", "blob",
                         "UPDATE traces SET data = substr(data, 1, length(data) / 2) WHERE "
                         "message_id = {r}",
                         m + "zstd: the data is truncated"));
    c.push_back(sql_case("blob_zeros", "blob",
                         "UPDATE traces SET data = zeroblob(100) WHERE message_id = {r}",
                         m + "zstd: not a zstd frame"));
    c.push_back(sql_case("blob_text", "blob",
                         "UPDATE traces SET data = 'not a blob' WHERE message_id = {r}",
                         "wrong type"));
    c.push_back(sql_case("blob_empty", "blob",
                         "UPDATE traces SET data = x'', raw_size = 0 WHERE message_id = {r}",
                         m + "zstd: not a zstd frame"));
    c.push_back(sql_case("claimed_2_pow_63", "blob",
                         "UPDATE traces SET raw_size = 9223372036854775807 WHERE message_id = {r}",
                         m + "implausible size 9223372036854775807"));
    c.push_back(sql_case("claimed_negative", "blob",
                         "UPDATE traces SET raw_size = -9223372036854775808 WHERE message_id = {r}",
                         m + "implausible size -9223372036854775808"));
    c.push_back(sql_case("claimed_smaller", "blob",
                         "UPDATE traces SET raw_size = raw_size - 1 WHERE message_id = {r}",
                         "bytes but the row claims"));
    c.push_back(sql_case("claimed_1GiB", "blob",
                         "UPDATE traces SET raw_size = 1073741824 WHERE message_id = {r}",
                         "a damaged size or a decompression bomb"));
    c.push_back(sql_case("codec_unknown", "blob",
                         "UPDATE traces SET codec = 'gzip' WHERE message_id = {r}",
                         m + "unknown codec 'gzip'"));
    c.push_back(sql_case("format_version_huge", "blob",
                         "UPDATE traces SET format_version = 4294967297 WHERE message_id = {r}",
                         m + "invalid format version 4294967297"));
    c.push_back(sql_case("format_version_newer", "blob",
                         "UPDATE traces SET format_version = 5 WHERE message_id = {r}",
                         "newer than this build reads"));
    c.push_back(blob_case(
        "bomb_3_5GiB", "blob", [] { return std::string(size_t{64} << 20, '\0'); },
        (int64_t{7} << 29) - (int64_t{64} << 20), m + "implausible size 3758096384"));
    c.push_back(blob_case(
        "bomb_16MiB_claim", "blob", [] { return std::string(size_t{64} << 20, '\0'); },
        (int64_t{16} << 20) - (int64_t{64} << 20), "the frame holds 67108864 bytes"));
    c.push_back(blob_case(
        "blob_not_compressed", "blob", [] { return write_binary(test::make_trace(3, 3)); }, 0,
        "not a zstd frame", false));
    c.push_back(blob_case(
        "zstd_of_garbage", "trace", [] { return std::string(5000, 'x'); }, 0,
        "not a Glassbox binary trace"));
    c.push_back(blob_case(
        "trace_1e9_tokens", "trace",
        [] {
            const Trace t = empty_moe_trace();
            const std::string b = write_binary(t);
            return patched_binary(t, b.size() - 5, 1, varint(1000000000));
        },
        0, "impossible token count 1000000000"));
    c.push_back(blob_case(
        "trace_n_expert_1e6", "trace",
        [] { return patched_binary(empty_moe_trace(), kNExpertAt, 1, varint(1000000)); }, 0,
        "n_expert 1000000 is outside 0..65535"));
    c.push_back(blob_case(
        "trace_expert_id_beyond_n_expert", "trace",
        [] {
            Trace t = test::make_trace(1, 1, 1, 8);
            const std::string b = write_binary(t);
            // The last token's routing: k=2, layer 0, ids, weights (2 x 2), probs count 0.
            return patched_binary(t, b.size() - 4 - 1 - 4 - 2, 1, std::string(1, '\xC8'));
        },
        0, "expert id 200 is not below n_expert 8"));
    c.push_back(blob_case(
        "trace_nan_probabilities", "trace",
        [] {
            Trace t = test::make_trace(1, 1, 1, 4);
            for (TokenRecord& r : t.tokens)
                r.routing.probs.assign(4, std::numeric_limits<float>::quiet_NaN());
            return write_binary(t);
        },
        0, "non-finite router probability"));
    c.push_back(blob_case(
        "trace_nan_logprobs", "trace",
        [] {
            Trace t = test::make_trace(2, 2);
            for (TokenRecord& r : t.tokens) r.logprob = std::numeric_limits<float>::quiet_NaN();
            return write_binary(t);
        },
        0, ""));  // NaN stands for "not scored": a correct load
    c.push_back(sql_case("trace_on_user_message", "blob",
                         "INSERT INTO traces(message_id, format_version, codec, raw_size, data) "
                         "SELECT {u}, format_version, codec, raw_size, data FROM traces WHERE "
                         "message_id = {r}",
                         "message {u} is a user message; only replies carry a trace"));
    // Import files (the JSON export), each edited from a good export.
    auto edit = [](std::string from, std::string to) {
        return [=](const std::string& good) {
            std::string s = good;
            const size_t at = s.find(from);
            if (at == std::string::npos) return std::string("pattern not found: ") + from;
            return s.replace(at, from.size(), to);
        };
    };
    c.push_back(import_case("import_self_parent", edit("\"parent\":1,", "\"parent\":2,"),
                            "messages[1].parent: not the id of an earlier message"));
    c.push_back(import_case("import_forward_parent", edit("\"parent\":null", "\"parent\":3"),
                            "messages[0].parent: not the id of an earlier message"));
    c.push_back(import_case("import_dangling_leaf",
                            edit("\"current_leaf\":3", "\"current_leaf\":99"),
                            "current_leaf: not the id of a message"));
    c.push_back(import_case("import_huge_id", edit("{\"id\":1,", "{\"id\":18446744073709551616,"),
                            "messages[0]"));
    c.push_back(import_case("import_negative_ids", edit("{\"id\":1,", "{\"id\":-1,"),
                            "messages[1].parent: not the id of an earlier message"));
    c.push_back(import_case("import_expert_1e6", edit("\"experts\":[[", "\"experts\":[[1000000,"),
                            ".trace: trace: tokens[0].routing.experts[0]"));
    c.push_back(import_case("import_nan_probability",
                            edit("\"logprob\":", "\"logprob\":NaN,\"x\":"),
                            "history import: file"));
    c.push_back(import_case("import_float_beyond_range",
                            edit("\"temperature\":", "\"temperature\":1e39,\"x\":"),
                            "is not a finite float"));
    c.push_back(
        import_case("import_sampler_beyond_float",
                    edit("\"sampler\":null",
                         "\"sampler\":{\"temperature\":1e39,\"top_k\":1,\"top_p\":1,\"min_p\":0,"
                         "\"repeat_penalty\":1,\"repeat_last_n\":64,\"frequency_penalty\":0,"
                         "\"presence_penalty\":0,\"seed\":1}"),
                    "messages[1]: sampler.temperature is not a finite float"));
    c.push_back(import_case(
        "import_sampler_top_k_beyond_int",
        edit("\"sampler\":null",
             "\"sampler\":{\"temperature\":1,\"top_k\":4294967296,\"top_p\":1,\"min_p\":0,"
             "\"repeat_penalty\":1,\"repeat_last_n\":64,\"frequency_penalty\":0,"
             "\"presence_penalty\":0,\"seed\":1}"),
        "sampler.top_k 4294967296 is out of range"));
    // Found by history_import_fuzz: imported, then the conversation could not be read back.
    c.push_back(import_case("import_negative_token_count",
                            edit("\"n_prompt_tokens\":", "\"n_prompt_tokens\":-13,\"x\":"),
                            "messages[1]: stats.n_prompt_tokens -13 is out of range"));
    c.push_back(import_case("import_infinite_speed",
                            edit("\"decode_tps\":", "\"decode_tps\":1e400,\"x\":"),
                            "json: number out of range"));
    c.push_back(import_case("import_trace_on_user_message",
                            edit("\"role\":\"assistant\"", "\"role\":\"user\""),
                            ".trace: a user message cannot carry a trace"));
    c.push_back(
        import_case("import_1e9_tokens", edit("\"n_gen\": 4", "\"n_gen\": 1000000000"), ""));
    return c;
}

class HistoryHostile : public ::testing::TestWithParam<Case> {};

// The victim conversation and a good one, written by the store, closed.
Ids make_store(const std::string& path) {
    Ids d;
    auto s = HistoryStore::open(path, test::fast_options());
    d.victim = s->create_conversation("victim");
    d.user = s->add_message(d.victim, std::nullopt, Role::User, "q");
    const Trace t = test::make_trace(2, 2, 2);
    Message m;
    m.answer = "a";
    d.reply = s->add_reply(d.victim, d.user, m, &t);
    d.last = s->add_message(d.victim, d.reply, Role::User, "q2");
    d.good = s->create_conversation("good");
    s->add_message(d.good, std::nullopt, Role::User, "fine");
    return d;
}

TEST_P(HistoryHostile, EndsWithAClearErrorOrACorrectLoad) {
    const Case& k = GetParam();
    TempDir dir;
    const std::string path = dir.file("h.db");
    const Ids d = make_store(path);
    {
        sql::Db db(path, false);
        k.damage(db, d);
    }
    const auto start = std::chrono::steady_clock::now();
    std::string error;
    bool good_loads = false;
    try {
        auto s = HistoryStore::open(path, test::fast_options());
        if (k.edit_import) {
            // The edited export goes into a second, empty store; a failed import leaves it so.
            const std::string text = k.edit_import(export_json(*s, {d.victim}, true));
            auto other = HistoryStore::open(dir.file("import.db"), test::fast_options());
            try {
                const auto ids = import_json(*other, text);
                for (int64_t id : ids) other->load_conversation(id);
            } catch (const HistoryError&) {
                EXPECT_EQ(other->count_conversations(), 0);
                throw;
            }
        }
        s->list_conversations();
        s->load_conversation(d.victim);
        s->load_trace(d.reply);
        s->load_trace(d.user);
        export_json(*s, {d.victim}, true);
        export_markdown(*s, d.victim);
        s->load_conversation(d.good);
        good_loads = true;
    } catch (const HistoryError& e) {
        error = e.what();
    }
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_LT(s, 2.0) << k.name;
    if (k.expect.empty()) {
        EXPECT_EQ(error, "") << k.name;
        EXPECT_TRUE(good_loads);
    } else {
        EXPECT_NE(error.find(subst(k.expect, d)), std::string::npos)
            << k.name << ": expected \"" << subst(k.expect, d) << "\", got \"" << error << "\"";
    }
    EXPECT_EQ(error.find("SELECT"), std::string::npos) << error;  // operations, not SQL
    std::printf("[hostile] %-36s %-6s %.3f s  %s\n", k.name.c_str(), k.kind.c_str(), s,
                error.empty() ? "loads" : error.c_str());
}

INSTANTIATE_TEST_SUITE_P(Inputs, HistoryHostile, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace gb::app
