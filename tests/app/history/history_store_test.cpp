// HistoryStore basics: conversations, the message tree, streamed replies and their flushing,
// traces and the expert-usage summary, database settings.
#include <gtest/gtest.h>

#include <map>
#include <thread>
#include <tuple>

#include "engine/session/interventions.h"
#include "engine/trace/trace_binary.h"
#include "tests/app/history/history_test_support.h"

using namespace gb;
using namespace gb::app;
using gb::test::TempDir;

namespace {

TEST(HistoryStore, CreatesAnEmptyDatabaseWithWalAndForeignKeys) {
    TempDir dir;
    OpenReport report;
    auto store = HistoryStore::open(dir.file("h.db"), {}, &report);
    EXPECT_EQ(report.outcome, OpenOutcome::Created);
    EXPECT_EQ(store->database().query_text("PRAGMA journal_mode"), "wal");
    EXPECT_EQ(store->database().query_int("PRAGMA foreign_keys"), 1);
    EXPECT_EQ(store->database().query_int("PRAGMA synchronous"), 2);  // FULL
    EXPECT_EQ(store->database().query_int("PRAGMA user_version"), 5);
    EXPECT_EQ(store->count_conversations(), 0);
    store.reset();
    auto again = HistoryStore::open(dir.file("h.db"), {}, &report);
    EXPECT_EQ(report.outcome, OpenOutcome::Opened);
}

TEST(HistoryStore, ListsPinnedFirstThenMostRecent) {
    TempDir dir;
    auto store = HistoryStore::open(dir.file("h.db"), test::fast_options());
    const int64_t a = store->create_conversation("first", "m1", R"({"temperature":0.6})");
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    const int64_t b = store->create_conversation("second");
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    const int64_t c = store->create_conversation("third");
    store->set_pinned(a, true);
    auto list = store->list_conversations();
    ASSERT_EQ(list.size(), 3u);
    EXPECT_EQ(list[0].id, a);
    EXPECT_EQ(list[1].id, c);
    EXPECT_EQ(list[2].id, b);
    EXPECT_EQ(list[0].settings_json, R"({"temperature":0.6})");
    EXPECT_EQ(list[0].model, "m1");
    EXPECT_TRUE(list[0].pinned);
    // A new message moves a conversation up.
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    store->add_message(b, std::nullopt, Role::User, "hello");
    list = store->list_conversations(1, 1);
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0].id, b);
    store->rename_conversation(b, "renamed");
    EXPECT_EQ(store->conversation_info(b).title, "renamed");
    EXPECT_THROW(store->rename_conversation(999, "x"), HistoryError);
}

TEST(HistoryStore, MessagesFormATreeOfBranches) {
    TempDir dir;
    auto store = HistoryStore::open(dir.file("h.db"), test::fast_options());
    const int64_t c = store->create_conversation("tree");
    const int64_t sys = store->add_message(c, std::nullopt, Role::System, "be brief");
    const int64_t u1 = store->add_message(c, sys, Role::User, "question");
    Message r;
    r.answer = "first answer";
    const int64_t a1 = store->add_reply(c, u1, r);
    r.answer = "regenerated answer";
    const int64_t a2 = store->add_reply(c, u1, r);  // a regeneration: a sibling branch
    const int64_t u2 = store->add_message(c, sys, Role::User, "edited question");  // an edit
    EXPECT_EQ(store->conversation_info(c).current_leaf, u2);
    auto kids = store->children(u1);
    ASSERT_EQ(kids.size(), 2u);
    EXPECT_EQ(kids[0].id, a1);
    EXPECT_EQ(kids[1].id, a2);

    store->set_current_leaf(c, a2);
    const Conversation conv = store->load_conversation(c);
    EXPECT_EQ(conv.messages.size(), 5u);
    const auto branch = conv.branch();
    ASSERT_EQ(branch.size(), 3u);
    EXPECT_EQ(branch[0]->id, sys);
    EXPECT_EQ(branch[1]->id, u1);
    EXPECT_EQ(branch[2]->answer, "regenerated answer");
    EXPECT_EQ(conv.branch(u2).size(), 2u);

    // A parent from another conversation is refused; so is a leaf from another conversation.
    const int64_t other = store->create_conversation("other");
    EXPECT_THROW(store->add_message(other, u1, Role::User, "x"), HistoryError);
    EXPECT_THROW(store->set_current_leaf(other, u1), HistoryError);

    store->delete_conversation(c);
    EXPECT_EQ(store->database().query_int("SELECT count(*) FROM messages"), 0);
    EXPECT_THROW(store->load_conversation(c), HistoryError);
}

TEST(HistoryStore, StreamedReplyIsFlushedAndFinishedWithItsTrace) {
    TempDir dir;
    HistoryOptions opt = test::fast_options();
    opt.flush_interval_ms = 1000000;  // only explicit flushes and finish() write
    auto store = HistoryStore::open(dir.file("h.db"), opt);
    const int64_t c = store->create_conversation("stream");
    const int64_t u = store->add_message(c, std::nullopt, Role::User, "Why?");
    ReplyStart start;
    start.model = "tiny-moe";
    start.backend = "cpu";
    start.device = "test cpu";
    start.model_hash = "abc123";
    start.repro.sampler = SamplerSettings{};
    start.repro.sampler->seed = 0xfedcba9876543210ull;
    start.repro.system_prompt = "sys";
    start.repro.rendered_prompt = "<|user|>Why?<|assistant|>";
    start.repro.chat_template = "{{ messages }}";
    start.repro.engine_version = "0.1.0";
    auto w = store->begin_reply(c, u, start);
    EXPECT_EQ(store->load_message(w.id()).status, MessageStatus::Streaming);
    w.append_reasoning("be");
    w.append_reasoning("cause");
    EXPECT_EQ(store->load_message(w.id()).reasoning, "");  // batched, not yet due
    w.flush();
    EXPECT_EQ(store->load_message(w.id()).reasoning, "because");
    w.append_answer("it is");
    w.append_answer(" so");
    w.flush();
    Message m = store->load_message(w.id());
    EXPECT_EQ(m.answer, "it is so");
    EXPECT_EQ(m.stats.n_reasoning_tokens, 2);
    EXPECT_EQ(m.stats.n_answer_tokens, 2);
    EXPECT_EQ(m.status, MessageStatus::Streaming);

    const Trace trace = test::make_trace(3, 2, 2);
    ReplyStats stats;
    stats.n_prompt_tokens = 2;
    stats.n_reasoning_tokens = 3;
    stats.n_answer_tokens = 2;
    stats.ttft_ms = 12.5;
    stats.prefill_tps = 160;
    stats.decode_tps = 62.3;
    stats.stop_reason = gb::StopReason::Eog;
    w.finish(stats, &trace);
    m = store->load_message(w.id());
    EXPECT_EQ(m.status, MessageStatus::Complete);
    EXPECT_EQ(m.reasoning, "because");
    EXPECT_EQ(m.answer, "it is so");
    EXPECT_EQ(m.stats.n_reasoning_tokens, 3);
    EXPECT_EQ(m.stats.decode_tps, 62.3);
    EXPECT_EQ(m.stats.backend, "cpu");  // from the start, kept when finish() gives none
    EXPECT_EQ(m.stats.model_hash, "abc123");
    EXPECT_EQ(m.stats.device, "test cpu");
    EXPECT_EQ(m.repro, start.repro);
    EXPECT_EQ(m.repro.sampler->seed, 0xfedcba9876543210ull);
    EXPECT_TRUE(m.has_trace);
    auto loaded = store->load_trace(w.id());
    ASSERT_TRUE(loaded);
    EXPECT_EQ(write_binary(*loaded), write_binary(trace));
    EXPECT_THROW(w.append_answer("late"), HistoryError);
}

TEST(HistoryStore, FlushesOnItsOwnWhenTheIntervalHasPassed) {
    TempDir dir;
    HistoryOptions opt = test::fast_options();
    opt.flush_interval_ms = 20;
    auto store = HistoryStore::open(dir.file("h.db"), opt);
    const int64_t c = store->create_conversation("stream");
    auto w = store->begin_reply(c, std::nullopt, {});
    w.append_answer("a");
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    w.append_answer("b");  // due: this append writes both
    EXPECT_EQ(store->load_message(w.id()).answer, "ab");
}

TEST(HistoryStore, AbandonedReplyIsIncompleteAndStreamingIsMarkedOnOpen) {
    TempDir dir;
    const std::string path = dir.file("h.db");
    int64_t dropped = 0, cut = 0;
    {
        auto store = HistoryStore::open(path, test::fast_options());
        const int64_t c = store->create_conversation("x");
        {
            auto w = store->begin_reply(c, std::nullopt, {});
            w.append_answer("partial");
            dropped = w.id();
        }  // dropped without finish()
        Message m = store->load_message(dropped);
        EXPECT_EQ(m.status, MessageStatus::Incomplete);
        EXPECT_EQ(m.answer, "partial");
        // What a crash leaves: a message still 'streaming'.
        cut = store->add_message(c, std::nullopt, Role::User, "q");
        store->database()
            .prepare("UPDATE messages SET status = 'streaming' WHERE id = ?")
            .args(cut)
            .run();
    }
    OpenReport report;
    auto store = HistoryStore::open(path, test::fast_options(), &report);
    EXPECT_EQ(report.marked_incomplete, 1);
    EXPECT_EQ(store->load_message(cut).status, MessageStatus::Incomplete);
}

TEST(HistoryStore, ExpertUsageSummarisesTheRouting) {
    TempDir dir;
    auto store = HistoryStore::open(dir.file("h.db"), test::fast_options());
    const int64_t c = store->create_conversation("moe");
    // 2 prompt + 3 think + 2 answer tokens, 2 layers, 8 experts: token i, layer l -> experts
    // (i + l) % 8 (weight 0.75) and (i + l + 1) % 8 (weight 0.25).
    const Trace trace = test::make_trace(3, 2, 2);
    const int64_t r = store->add_reply(c, std::nullopt, Message{}, &trace);
    std::map<std::tuple<int, int, int>, std::pair<int64_t, double>> expected;
    for (int i = 0; i < 7; ++i) {
        const int phase = i < 2 ? 0 : (i < 5 ? 1 : 2);
        for (int l = 0; l < 2; ++l) {
            auto& a = expected[{l, (i + l) % 8, phase}];
            a.first += 1;
            a.second += 0.75;
            auto& b = expected[{l, (i + l + 1) % 8, phase}];
            b.first += 1;
            b.second += 0.25;
        }
    }
    const auto usage = store->expert_usage(r);
    ASSERT_EQ(usage.size(), expected.size());
    for (const auto& u : usage) {
        const auto it = expected.find({u.layer, u.expert, u.phase});
        ASSERT_NE(it, expected.end()) << u.layer << " " << u.expert << " " << u.phase;
        EXPECT_EQ(u.count, it->second.first);
        EXPECT_DOUBLE_EQ(u.weight_sum, it->second.second);
    }
    // Replacing the trace replaces the summary.
    const Trace dense = test::make_trace(3, 2, 0);
    store->save_trace(r, dense);
    EXPECT_TRUE(store->expert_usage(r).empty());
}

TEST(HistoryStore, DamagedTraceBlobIsAClearError) {
    TempDir dir;
    auto store = HistoryStore::open(dir.file("h.db"), test::fast_options());
    const int64_t c = store->create_conversation("x");
    const Trace trace = test::make_trace(2, 2);
    const int64_t r = store->add_reply(c, std::nullopt, Message{}, &trace);
    store->database()
        .prepare("UPDATE traces SET data = zeroblob(40) WHERE message_id = ?")
        .args(r)
        .run();
    try {
        store->load_trace(r);
        FAIL() << "expected an error";
    } catch (const HistoryError& e) {
        EXPECT_EQ(e.kind(), HistoryError::Kind::Corrupt);
        EXPECT_NE(std::string(e.what()).find("message " + std::to_string(r)), std::string::npos)
            << e.what();
    }
}

// Only replies carry a trace: one offered for a user message is refused wherever it comes in.
TEST(HistoryStore, ATraceOnAUserMessageIsRefused) {
    TempDir dir;
    auto store = HistoryStore::open(dir.file("h.db"), test::fast_options());
    const int64_t c = store->create_conversation("x");
    const int64_t u = store->add_message(c, std::nullopt, Role::User, "q");
    const Trace trace = test::make_trace(2, 2);
    try {
        store->save_trace(u, trace);
        FAIL() << "saved";
    } catch (const HistoryError& e) {
        EXPECT_EQ(e.kind(), HistoryError::Kind::Invalid);
        EXPECT_EQ(std::string(e.what()), "history: message " + std::to_string(u) +
                                             " is a user message; only replies carry a trace");
    }
    Message m;
    m.role = Role::User;
    m.content = "imported";
    try {
        store->import_message(c, u, m, &trace);
        FAIL() << "imported";
    } catch (const HistoryError& e) {
        EXPECT_EQ(e.kind(), HistoryError::Kind::Invalid);
        EXPECT_NE(std::string(e.what()).find("a user message cannot carry a trace"),
                  std::string::npos)
            << e.what();
    }
    EXPECT_EQ(store->load_conversation(c).messages.size(), 1u);
    EXPECT_FALSE(store->load_trace(u));
}

// A failing statement is named by what it does, never by its SQL text.
TEST(HistoryStore, ErrorsNameTheOperationNotTheSql) {
    TempDir dir;
    auto store = HistoryStore::open(dir.file("h.db"), test::fast_options());
    const int64_t c = store->create_conversation("x");
    store->database().exec("DROP TABLE traces");
    try {
        store->load_conversation(c);
        FAIL() << "loaded";
    } catch (const HistoryError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("sqlite: reading messages: no such table: traces"), std::string::npos)
            << what;
        EXPECT_EQ(what.find("SELECT"), std::string::npos) << what;
        EXPECT_EQ(what.find("message_id"), std::string::npos) << what;
    }
}

}  // namespace

// The replies of one model with a stored trace, and their expert usage summed (what the expert
// analytics view shows for "every stored reply of this model"), against a count made here.
TEST(HistoryStore, RepliesOfAModelAndTheirSummedExpertUsage) {
    TempDir dir;
    auto store = HistoryStore::open(dir.file("h.db"), test::fast_options());
    const int64_t c = store->create_conversation("moe");
    Message mine;
    mine.stats.model = "tiny-moe";
    Message other = mine;
    other.stats.model = "another-moe";
    const Trace t1 = test::make_trace(3, 2, 2), t2 = test::make_trace(1, 4, 2);
    const int64_t r1 = store->add_reply(c, std::nullopt, mine, &t1);
    store->add_reply(c, std::nullopt, other, &t1);
    store->add_reply(c, std::nullopt, mine, nullptr);  // no trace: nothing to count
    const int64_t r4 = store->add_reply(c, std::nullopt, mine, &t2);
    EXPECT_EQ(store->replies_of_model("tiny-moe"), (std::vector<int64_t>{r1, r4}));
    EXPECT_TRUE(store->replies_of_model("nobody").empty());

    std::map<std::tuple<int, int, int>, int64_t> expected;
    for (const Trace* t : {&t1, &t2})
        for (const TokenRecord& tok : t->tokens)
            for (size_t row = 0; row < tok.routing.n_layers(); ++row)
                for (uint16_t e : tok.routing.experts_of(row))
                    ++expected[{tok.routing.layers[row], e, static_cast<int>(tok.phase)}];
    const auto summed = sum_expert_usage({store->expert_usage(r1), store->expert_usage(r4)});
    ASSERT_EQ(summed.size(), expected.size());
    for (const auto& u : summed)
        EXPECT_EQ(u.count, (expected[{u.layer, u.expert, u.phase}])) << u.layer;
}

// A resampling result as the engine writes it, at `at` with k rollouts.
std::string resampling_text(int at, int k, const std::string& answer = "42") {
    gb::ResampleResult r;
    r.at = at;
    r.k = k;
    r.original_answer = answer;
    for (int i = 0; i < k; ++i) r.rollouts.push_back({static_cast<uint64_t>(i), answer, 5});
    r.answers = gb::count_answers(std::vector<std::string>(static_cast<size_t>(k), answer));
    r.share = 1;
    return gb::resampling_json(r);
}

// Resamplings kept with a reply: listed by position with the position and count read from the
// result, removed, gone with their reply; a result that is not one, or no such reply, refused.
TEST(HistoryStore, ResamplingsOfAReply) {
    TempDir dir;
    auto store = HistoryStore::open(dir.file("h.db"), test::fast_options());
    const int64_t c = store->create_conversation("forks");
    const Trace trace = test::make_trace(3, 2, 2);
    const int64_t r = store->add_reply(c, std::nullopt, Message{}, &trace);
    const int64_t late = store->add_resampling(r, resampling_text(9, 4), 1700000000000);
    const int64_t early = store->add_resampling(r, resampling_text(3, 8));
    auto runs = store->resamplings(r);
    ASSERT_EQ(runs.size(), 2u);
    EXPECT_EQ(runs[0].id, early);  // by position
    EXPECT_EQ(runs[0].at, 3);
    EXPECT_EQ(runs[0].k, 8);
    EXPECT_EQ(runs[1].at, 9);
    EXPECT_EQ(runs[1].k, 4);
    EXPECT_EQ(runs[1].created_ms, 1700000000000);
    EXPECT_EQ(runs[1].result_json, resampling_text(9, 4));
    EXPECT_EQ(gb::resampling_from_json(runs[0].result_json).rollouts.size(), 8u);
    store->remove_resampling(late);
    EXPECT_EQ(store->resamplings(r).size(), 1u);
    auto kind_of = [&](auto f) {
        try {
            f();
        } catch (const HistoryError& e) {
            return e.kind();
        }
        ADD_FAILURE() << "no error";
        return HistoryError::Kind::Io;
    };
    EXPECT_EQ(kind_of([&] { store->add_resampling(9999, resampling_text(1, 1)); }),
              HistoryError::Kind::NotFound);
    EXPECT_EQ(kind_of([&] { store->remove_resampling(late); }), HistoryError::Kind::NotFound);
    EXPECT_EQ(kind_of([&] { store->add_resampling(r, "{\"at\":1}"); }),
              HistoryError::Kind::Invalid);
    EXPECT_EQ(kind_of([&] { store->add_resampling(r, "not json"); }), HistoryError::Kind::Invalid);
    EXPECT_EQ(kind_of([&] {
                  store->add_resampling(
                      r, resampling_text(1, 1, std::string(kMaxResamplingJson, 'x')));
              }),
              HistoryError::Kind::Invalid);
    EXPECT_EQ(store->resamplings(r).size(), 1u);
    store->delete_conversation(c);
    EXPECT_EQ(store->database().query_int("SELECT count(*) FROM resamplings"), 0);
}

// Bookmarks with notes on a reply's tokens: added, listed by token, edited, removed, gone with
// their reply; bad arguments are refused with what is wrong.
TEST(HistoryStore, BookmarksOnTokensOfAReply) {
    TempDir dir;
    auto store = HistoryStore::open(dir.file("h.db"), test::fast_options());
    const int64_t c = store->create_conversation("teach");
    const Trace trace = test::make_trace(3, 2, 2);
    const int64_t r = store->add_reply(c, std::nullopt, Message{}, &trace);
    const int64_t b2 = store->add_bookmark(r, 5, "the slip: 9-3=6 twice");
    const int64_t b1 = store->add_bookmark(r, 3, "");
    auto marks = store->bookmarks(r);
    ASSERT_EQ(marks.size(), 2u);
    EXPECT_EQ(marks[0].id, b1);  // by token
    EXPECT_EQ(marks[1].note, "the slip: 9-3=6 twice");
    store->set_bookmark_note(b1, "fork: 5 or 6?");
    EXPECT_EQ(store->bookmarks(r)[0].note, "fork: 5 or 6?");
    store->remove_bookmark(b2);
    EXPECT_EQ(store->bookmarks(r).size(), 1u);
    try {
        store->add_bookmark(9999, 0, "x");
        ADD_FAILURE() << "no error";
    } catch (const HistoryError& e) {
        EXPECT_EQ(e.kind(), HistoryError::Kind::NotFound);
        EXPECT_NE(std::string(e.what()).find("9999"), std::string::npos);
    }
    EXPECT_THROW(store->add_bookmark(r, -1, "x"), HistoryError);
    EXPECT_THROW(store->add_bookmark(r, 0, std::string(kMaxBookmarkNote + 1, 'a')), HistoryError);
    EXPECT_THROW(store->set_bookmark_note(b2, "gone"), HistoryError);
    // Deleting the conversation deletes its replies' bookmarks.
    store->delete_conversation(c);
    EXPECT_EQ(store->database().query_int("SELECT count(*) FROM bookmarks"), 0);
}
