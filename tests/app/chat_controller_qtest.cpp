// ChatController, EngineWorker and the list models: streaming, branches, cancellation,
// conversation actions and errors with the synthetic engine, and full chat round trips
// against the tiny model fixtures (a MoE model with routing, a dense one).
#include <QElapsedTimer>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include "app/chat_controller.h"
#include "app/conversation_list_model.h"
#include "app/error_text.h"
#include "app/history/sqlite.h"
#include "app/history_conversation_store.h"
#include "app/local_engine.h"
#include "app/message_list_model.h"
#include "app/synthetic_engine.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/error.h"
#include "tests/app/controller_test_support.h"
#include "tests/forwarding_backend.h"

using namespace gb::app;

namespace {

struct Rig {
    explicit Rig(std::unique_ptr<ChatEngine> engine, std::unique_ptr<ConversationStore> s = nullptr)
        : owned(s ? std::move(s) : std::make_unique<MemoryConversationStore>()),
          store(*owned),
          worker(std::move(engine)),
          c(store, worker) {}
    std::unique_ptr<ConversationStore> owned;
    ConversationStore& store;
    EngineWorker worker;
    ChatController c;

    bool load(const std::string& path, int64_t n_ctx = 512) {
        return gb::test::load_model_and_wait(c, path, n_ctx);
    }
    bool reply(int timeout_ms = 20000) {
        QSignalSpy done(&c, &ChatController::streamingFinished);
        return done.count() > 0 || done.wait(timeout_ms);
    }
};

std::unique_ptr<ChatEngine> fast_synthetic(int n_think = 10, int n_answer = 10, double tps = 2000) {
    SyntheticOptions o;
    o.tokens_per_second = tps;
    o.n_reasoning_tokens = n_think;
    o.n_answer_tokens = n_answer;
    return std::make_unique<SyntheticEngine>(o);
}

// The CPU backend with a device fault injected: the n-th matmul fails as a GPU's illegal address
// does, and the backend is lost from then on (every op throws), as CudaBackend is after a sticky
// error.
class FaultyBackend final : public gb::test::ForwardingBackend {
public:
    FaultyBackend(int fail_at)
        : ForwardingBackend(std::make_unique<gb::cpu::CpuBackend>(1)), fail_at_(fail_at) {}
    bool lost() const override { return lost_; }
    void matmul(const gb::Weight& w, gb::Act x, gb::Act out) override {
        if (lost_ || ++calls_ == fail_at_) {
            lost_ = true;
            throw gb::Error("CUDA matmul: cudaErrorIllegalAddress (injected)");
        }
        ForwardingBackend::matmul(w, x, out);
    }

private:
    int fail_at_;
    int calls_ = 0;
    bool lost_ = false;
};

}  // namespace

class ChatControllerTest : public QObject {
    Q_OBJECT
private slots:
    void send_streams_then_stores_the_reply() {
        Rig r(fast_synthetic());
        QVERIFY(r.load("synthetic"));
        MessageListModel rows(r.c);
        QSignalSpy updates(&r.c, &ChatController::streamingUpdated);
        QSignalSpy inserted(&rows, &QAbstractItemModel::rowsInserted);
        r.c.send("Why is the sky blue?");
        QVERIFY(r.c.busy());
        QVERIFY(r.reply());
        QVERIFY(!r.c.busy());
        QCOMPARE(updates.count(), 21);   // 20 tokens and the final flush
        QVERIFY(inserted.count() >= 1);  // the streaming row appeared while streaming
        QCOMPARE(r.c.path().size(), size_t(2));
        const StoredMessage& a = r.c.path()[1];
        QCOMPARE(a.role, std::string("assistant"));
        QCOMPARE(a.n_reasoning_tokens, 10);
        QCOMPARE(a.n_answer_tokens, 10);
        QVERIFY(a.complete);
        QVERIFY(a.trace);
        QCOMPARE(a.content, a.trace->answer_text);
        QVERIFY(!a.reasoning.empty());
        QVERIFY(a.thought_ms > 0);
        QCOMPARE(rows.rowCount(), 2);
        QCOMPARE(rows.data(rows.index(1), MessageListModel::ReasoningTokensRole).toInt(), 10);
        // The first message names the conversation.
        QCOMPARE(r.store.summary(r.c.current_conversation()).title,
                 std::string("Why is the sky blue?"));
    }

    void regenerate_and_edit_make_branches() {
        Rig r(fast_synthetic(2, 3));
        QVERIFY(r.load("synthetic"));
        r.c.send("first");
        QVERIFY(r.reply());
        const int64_t user_id = r.c.path()[0].id, reply1 = r.c.path()[1].id;
        r.c.regenerate(reply1);
        QVERIFY(r.reply());
        const int64_t reply2 = r.c.path()[1].id;
        QVERIFY(reply2 != reply1);
        QCOMPARE(r.c.siblings(reply2).size(), size_t(2));
        MessageListModel rows(r.c);
        QCOMPARE(rows.data(rows.index(1), MessageListModel::BranchIndexRole).toInt(), 2);
        QCOMPARE(rows.data(rows.index(1), MessageListModel::BranchCountRole).toInt(), 2);
        r.c.switch_branch(reply2, -1);
        QCOMPARE(r.c.path()[1].id, reply1);
        r.c.switch_branch(reply1, -1);  // nothing before the first: stays
        QCOMPARE(r.c.path()[1].id, reply1);

        r.c.edit(user_id, "first, edited");
        QVERIFY(r.reply());
        QCOMPARE(r.c.path().size(), size_t(2));
        QCOMPARE(r.c.path()[0].content, std::string("first, edited"));
        QCOMPARE(r.c.siblings(r.c.path()[0].id).size(), size_t(2));
        // Back to the original user turn: its newest reply is shown.
        r.c.switch_branch(r.c.path()[0].id, -1);
        QCOMPARE(r.c.path()[0].id, user_id);
        QCOMPARE(r.c.path()[1].id, reply2);
        // The store remembers the leaf on show.
        QCOMPARE(*r.store.summary(r.c.current_conversation()).current_leaf, reply2);
    }

    void stop_cancels_within_100_ms() {
        Rig r(fast_synthetic(500, 500, 50));  // 20 ms per token
        QVERIFY(r.load("synthetic"));
        QSignalSpy done(&r.c, &ChatController::streamingFinished);
        QSignalSpy updates(&r.c, &ChatController::streamingUpdated);
        r.c.send("count slowly");
        while (updates.count() < 3) QVERIFY(updates.wait(2000));
        QElapsedTimer t;
        t.start();
        r.c.stop();
        QVERIFY(done.wait(2000));
        const qint64 ms = t.elapsed();
        qInfo("stop -> reply finished: %lld ms", static_cast<long long>(ms));
        QVERIFY2(ms < 100, qPrintable(QString("cancel took %1 ms").arg(ms)));
        const StoredMessage& a = r.c.path().back();
        QCOMPARE(a.stop_reason, gb::StopReason::Cancelled);
        QVERIFY(!a.complete);
        QVERIFY(a.n_reasoning_tokens < 500);
    }

    void conversations_new_rename_pin_delete_search() {
        Rig r(fast_synthetic(1, 2));
        QVERIFY(r.load("synthetic"));
        ConversationListModel list(r.store);
        QSignalSpy changed(&r.c, &ChatController::conversationsChanged);
        connect(&r.c, &ChatController::conversationsChanged, &list,
                &ConversationListModel::refresh);
        r.c.send("about cats");
        QVERIFY(r.reply());
        const int64_t a = r.c.current_conversation();
        const int64_t b = r.c.new_conversation();
        r.c.send("about dogs");
        QVERIFY(r.reply());
        QCOMPARE(list.rowCount(), 2);
        QCOMPARE(list.id_at(0), b);  // most recent first
        r.c.set_pinned(a, true);
        QCOMPARE(list.id_at(0), a);  // pinned first
        QVERIFY(list.data(list.index(0), ConversationListModel::PinnedRole).toBool());
        r.c.rename_conversation(b, "Dogs");
        QCOMPARE(list.data(list.index(1), Qt::DisplayRole).toString(), QString("Dogs"));
        list.set_filter("cats");
        QCOMPARE(list.rowCount(), 1);
        QCOMPARE(list.id_at(0), a);
        list.set_filter("");
        r.c.select_conversation(a);
        QCOMPARE(r.c.path()[0].content, std::string("about cats"));
        r.c.delete_conversation(a);
        QCOMPARE(r.c.current_conversation(), int64_t(0));
        QVERIFY(r.c.path().empty());
        QCOMPARE(list.rowCount(), 1);
        QVERIFY(changed.count() > 0);
    }

    void settings_are_kept_per_conversation() {
        Rig r(fast_synthetic(1, 1));
        QVERIFY(r.load("synthetic"));
        const int64_t a = r.c.new_conversation();
        GenerationSettings s = r.c.settings();
        s.sampling.temperature = 0.25f;
        s.sampling.seed = 1234567890123ull;
        s.system_prompt = "Be terse.";
        s.reasoning = ReasoningPolicy::Strip;
        s.thinking = false;
        r.c.set_settings(s);
        r.c.new_conversation();  // a new chat starts from the settings in use
        QCOMPARE(r.c.settings().system_prompt, std::string("Be terse."));
        GenerationSettings other = r.c.settings();
        other.system_prompt = "Be verbose.";
        r.c.set_settings(other);
        r.c.select_conversation(a);
        QCOMPARE(r.c.settings().sampling.temperature, 0.25f);
        QCOMPARE(r.c.settings().sampling.seed, 1234567890123ull);
        QCOMPARE(r.c.settings().system_prompt, std::string("Be terse."));
        QVERIFY(r.c.settings().reasoning == ReasoningPolicy::Strip);
        QVERIFY(!r.c.settings().thinking);
        // Thinking off: the synthetic engine answers without reasoning.
        r.c.send("hi");
        QVERIFY(r.reply());
        QCOMPARE(r.c.path().back().n_reasoning_tokens, 0);
    }

    void errors_are_reported_not_thrown() {
        Rig r(fast_synthetic());
        QSignalSpy errors(&r.c, &ChatController::errorOccurred);
        r.c.send("no model yet");
        QCOMPARE(errors.count(), 1);
        QVERIFY(errors.at(0).at(0).toString().contains("No model"));
        QVERIFY(!r.load("missing.gguf"));
        QVERIFY(errors.count() >= 2);
        QVERIFY(errors.last().at(0).toString().contains("no such file"));

        Rig local(std::make_unique<LocalEngine>());
        QSignalSpy lerr(&local.c, &ChatController::errorOccurred);
        QVERIFY(!local.load("/nonexistent/model.gguf"));
        QVERIFY(lerr.count() >= 1);
        QVERIFY(lerr.last().at(0).toString().contains("nonexistent"));
        // A file that is not a model at all.
        QVERIFY(!local.load(GB_FIXTURES_DIR "/../CMakeLists.txt"));
        QVERIFY(lerr.count() >= 2);
    }

    // Settings come from the history file too: both engines refuse the same bad ones with the
    // same message (the synthetic one used to generate with anything).
    // A bare std::bad_alloc reaches the window as what ran out and what to change.
    void out_of_memory_is_explained() {
        QVERIFY(error_text(std::bad_alloc()).contains("Out of memory"));
        QVERIFY(error_text(std::bad_alloc()).contains("context size"));
        QVERIFY(!error_text(std::bad_alloc()).contains("bad_alloc"));
        QCOMPARE(error_text(gb::Error("history: disk full")), QString("history: disk full"));
    }

    void both_engines_refuse_the_same_bad_settings() {
        for (const bool local : {false, true}) {
            Rig r(local ? std::unique_ptr<ChatEngine>(std::make_unique<LocalEngine>())
                        : fast_synthetic());
            QVERIFY(r.load(local ? GB_FIXTURES_DIR "/models/tiny_llama.gguf" : "synthetic"));
            QSignalSpy errors(&r.c, &ChatController::errorOccurred);
            GenerationSettings s = r.c.settings();
            s.top_n = 2000000000;
            r.c.set_settings(s);
            r.c.send("hello");
            QTRY_VERIFY_WITH_TIMEOUT(errors.count() >= 1, 10000);
            QVERIFY2(errors.last().at(0).toString().contains("must be 0..100"),
                     qPrintable(errors.last().at(0).toString()));
            s.top_n = 5;
            s.sampling.top_p = 2.0f;
            r.c.set_settings(s);
            QTRY_VERIFY_WITH_TIMEOUT(!r.c.busy(), 10000);
            r.c.send("hello again");
            QTRY_VERIFY_WITH_TIMEOUT(errors.count() >= 2, 10000);
            QVERIFY2(errors.last().at(0).toString().contains("top_p"),
                     qPrintable(errors.last().at(0).toString()));
        }
    }

    void round_trip_tiny_moe_model_records_routing() {
        Rig r(std::make_unique<LocalEngine>());
        QVERIFY(r.load(GB_FIXTURES_DIR "/models/tiny_qwen3moe.gguf"));
        QVERIFY(r.c.model().is_moe());
        QVERIFY(r.c.model().n_expert > 0);
        GenerationSettings s = r.c.settings();
        s.max_tokens = 6;
        s.sampling.temperature = 0;
        r.c.set_settings(s);
        QSignalSpy notices(&r.c, &ChatController::noticeOccurred);
        r.c.send("hello there");
        QVERIFY(r.reply());
        // The fixture has no chat template: the user is told the built-in format is used, once.
        QCOMPARE(notices.count(), 1);
        QVERIFY(notices.at(0).at(0).toString().contains("built-in"));
        const StoredMessage& a = r.c.path().back();
        QVERIFY(a.trace);
        QCOMPARE(a.trace->n_gen, 6);
        QCOMPARE(a.trace->n_expert, static_cast<int>(r.c.model().n_expert));
        int routed = 0;
        for (const auto& t : a.trace->tokens)
            if (t.phase != gb::Phase::Prompt && !t.routing.empty()) ++routed;
        QCOMPARE(routed, 6);
        QVERIFY(a.trace->n_prompt > 2);
        // Context accounting arrives after the reply.
        QSignalSpy ctx(&r.c, &ChatController::contextUseChanged);
        r.c.refresh_context_use();
        QVERIFY(ctx.wait(5000));
        QCOMPARE(r.c.context_use().n_ctx, int64_t(512));
        QVERIFY(r.c.context_use().user >= 2);
        QVERIFY(r.c.context_use().total() > r.c.context_use().user);
    }

    // The default model, through the app as a first-time user meets it: its own template renders
    // (no built-in-format notice), the reply thinks then answers correctly, and every generated
    // token carries its experts.
    void demo_model_thinks_and_routes_in_the_app() {
        Rig r(std::make_unique<LocalEngine>());
        QVERIFY(r.load(GB_RESOURCES_DIR "/models/glassbox-demo-moe.gguf", 1024));
        QCOMPARE(QString::fromStdString(r.c.model().name), QString("glassbox-demo-moe"));
        QVERIFY(r.c.model().is_moe());
        GenerationSettings s = r.c.settings();
        s.max_tokens = 700;
        s.sampling.temperature = 0;
        r.c.set_settings(s);
        QSignalSpy notices(&r.c, &ChatController::noticeOccurred);
        r.c.send("48213+9077");
        QVERIFY(r.reply(60000));
        QCOMPARE(notices.count(), 0);
        const StoredMessage& a = r.c.path().back();
        QVERIFY2(a.reasoning.find("units of 48213 and 9077: 3+7=10") != std::string::npos,
                 a.reasoning.c_str());
        QVERIFY2(a.content.find("57290") != std::string::npos, a.content.c_str());
        QVERIFY(a.trace);
        int generated = 0, routed = 0;
        for (const auto& t : a.trace->tokens) {
            if (t.phase == gb::Phase::Prompt) continue;
            ++generated;
            routed += !t.routing.empty();
        }
        QVERIFY(generated > 50);
        QCOMPARE(routed, generated);
    }

    // stop_at_end = false (fixed-length speed runs) writes on past the end-of-generation token
    // to max_tokens, in both engines, from the first message of a new chat on (the setting is
    // the session's, not stored with a conversation); by default each stops where the model (or
    // its script) ends.
    void both_engines_write_on_past_the_end_when_told() {
        for (const bool local : {false, true}) {
            Rig r(local ? std::unique_ptr<ChatEngine>(std::make_unique<LocalEngine>())
                        : fast_synthetic(10, 10));
            QVERIFY(r.load(local ? GB_RESOURCES_DIR "/models/glassbox-demo-moe.gguf" : "synthetic",
                           1024));
            GenerationSettings s = r.c.settings();
            s.max_tokens = 300;
            s.sampling.temperature = 0;
            s.stop_at_end = false;
            r.c.set_settings(s);
            r.c.send("12+30");
            QVERIFY(r.reply(60000));
            const auto& full = r.c.path().back().trace;
            QVERIFY(full);
            QCOMPARE(full->n_gen, 300);
            QCOMPARE(full->stop_reason, gb::StopReason::MaxTokens);
            r.c.new_conversation();
            QCOMPARE(r.c.settings().stop_at_end, false);
            s.stop_at_end = true;
            r.c.set_settings(s);
            r.c.send("12+30");
            QVERIFY(r.reply(60000));
            const auto& ended = r.c.path().back().trace;
            QVERIFY(ended);
            QCOMPARE(ended->stop_reason, gb::StopReason::Eog);
            QVERIFY2(ended->n_gen < 300, qPrintable(QString::number(ended->n_gen)));
        }
    }

    // A sticky GPU error mid-reply: the user gets an error that says the GPU was reset and the
    // model loaded again, the conversation is kept, and the next message gets a reply.
    void lost_backend_is_rebuilt_and_the_app_goes_on() {
        int made = 0;
        auto factory = [&made](const std::string&, int) -> std::unique_ptr<gb::Backend> {
            if (made++ == 0) return std::make_unique<FaultyBackend>(40);
            return std::make_unique<gb::cpu::CpuBackend>(1);
        };
        Rig r(std::make_unique<LocalEngine>(factory));
        QVERIFY(r.load(GB_FIXTURES_DIR "/models/tiny_llama.gguf"));
        QCOMPARE(made, 1);
        GenerationSettings s = r.c.settings();
        s.max_tokens = 8;
        r.c.set_settings(s);
        QSignalSpy errors(&r.c, &ChatController::errorOccurred);
        r.c.send("hello");
        QVERIFY(r.reply());
        QCOMPARE(errors.count(), 1);
        const QString msg = errors.at(0).at(0).toString();
        QVERIFY2(msg.contains("IllegalAddress") && msg.contains("loaded again"), qPrintable(msg));
        QCOMPARE(made, 2);  // a fresh backend
        QVERIFY(r.c.model_loaded());
        QVERIFY(!r.c.path().empty());
        QCOMPARE(r.c.path().front().content, std::string("hello"));
        r.c.send("hello again");
        QVERIFY(r.reply());
        QCOMPARE(errors.count(), 1);
        QCOMPARE(r.c.path().back().role, std::string("assistant"));
        QVERIFY(r.c.path().back().trace);
        QCOMPARE(r.c.path().back().trace->n_gen, 8);
    }

    void round_trip_tiny_dense_model() {
        Rig r(std::make_unique<LocalEngine>());
        QVERIFY(r.load(GB_FIXTURES_DIR "/models/tiny_llama.gguf"));
        QVERIFY(!r.c.model().is_moe());
        GenerationSettings s = r.c.settings();
        s.max_tokens = 5;
        r.c.set_settings(s);
        r.c.send("hello");
        QVERIFY(r.reply());
        const StoredMessage& a = r.c.path().back();
        QVERIFY(a.trace);
        QCOMPARE(a.trace->n_expert, 0);
        QCOMPARE(a.trace->n_gen, 5);
        for (const auto& t : a.trace->tokens) QVERIFY(t.routing.empty());
    }

    void inspect_model_reads_metadata_without_loading() {
        const ModelInfo m = inspect_model(GB_FIXTURES_DIR "/models/tiny_qwen3moe.gguf");
        QVERIFY2(m.error.empty(), m.error.c_str());
        QCOMPARE(m.arch, std::string("qwen3moe"));
        QVERIFY(m.n_params > 0);
        QVERIFY(m.n_expert > 0 && m.n_expert_used > 0);
        QVERIFY(!m.quant_mix.empty());
        QVERIFY(m.memory_needed(1024) > m.weight_bytes);
        const ModelInfo bad = inspect_model("/nonexistent.gguf");
        QVERIFY(!bad.error.empty());
    }

    void history_persists_across_a_restart() {
        QTemporaryDir dir;
        const std::string db = dir.filePath("history.sqlite").toStdString();
        int64_t conv = 0, reply = 0;
        {
            Rig r(fast_synthetic(4, 5), HistoryConversationStore::open(db));
            QVERIFY(r.load("synthetic"));
            r.c.send("remember me");
            QVERIFY(r.reply());
            r.c.regenerate(r.c.path()[1].id);
            QVERIFY(r.reply());
            conv = r.c.current_conversation();
            reply = r.c.path()[1].id;
            GenerationSettings s = r.c.settings();
            s.system_prompt = "persisted";
            r.c.set_settings(s);
            r.c.set_pinned(conv, true);
        }
        Rig r(fast_synthetic(), HistoryConversationStore::open(db));  // the app restarted
        ConversationListModel list(r.store);
        QCOMPARE(list.rowCount(), 1);
        QVERIFY(list.data(list.index(0), ConversationListModel::PinnedRole).toBool());
        r.c.select_conversation(conv);
        QCOMPARE(r.c.path().size(), size_t(2));
        QCOMPARE(r.c.path()[0].content, std::string("remember me"));
        QCOMPARE(r.c.path()[1].id, reply);  // the branch on show is remembered
        QCOMPARE(r.c.siblings(reply).size(), size_t(2));
        QCOMPARE(r.c.path()[1].n_reasoning_tokens, 4);
        QVERIFY(!r.c.path()[1].reasoning.empty());
        QCOMPARE(r.c.settings().system_prompt, std::string("persisted"));
        auto t = r.store.trace(reply);
        QVERIFY(t);
        QCOMPARE(t->n_gen, 9);
        QCOMPARE(t->n_expert, 16);
        QVERIFY(r.c.path()[1].complete);
        QCOMPARE(r.store.search("remember"), std::vector<int64_t>{conv});
        QCOMPARE(r.store.search("remem"), std::vector<int64_t>{conv});  // title as typed so far
    }

    void a_reply_is_saved_while_it_streams() {
        QTemporaryDir dir;
        const std::string db = dir.filePath("history.sqlite").toStdString();
        auto owned = HistoryConversationStore::open(db);
        HistoryConversationStore* hs = owned.get();
        Rig r(fast_synthetic(200, 200, 100), std::move(owned));  // 4 s at 100 tokens/s
        QVERIFY(r.load("synthetic"));
        QSignalSpy updates(&r.c, &ChatController::streamingUpdated);
        r.c.send("stream and save");
        QTest::qWait(1300);
        QVERIFY(r.c.busy());
        // The reply is already in the database, with the text so far (flushed every 500 ms by
        // the store's writer thread: wait for what it was handed so far).
        hs->drain();
        const auto msgs = hs->history().load_conversation(r.c.current_conversation()).messages;
        QCOMPARE(msgs.size(), size_t(2));
        QVERIFY(msgs[1].status == MessageStatus::Streaming);
        QVERIFY(msgs[1].reasoning.size() > 20);
        r.c.stop();
        QVERIFY(r.reply());
        hs->drain();  // the finished reply is written by the store's background thread
        const auto after = hs->history().load_conversation(r.c.current_conversation()).messages;
        QCOMPARE(after.size(), size_t(2));  // the same row, finished
        QVERIFY(after[1].status == MessageStatus::Incomplete);
        QCOMPARE(after[1].id, r.c.path()[1].id);
        QVERIFY(hs->history().load_trace(after[1].id).has_value());
    }

    // The UI thread lists conversations, searches and reads bookmarks while the store's writer
    // thread commits a finished reply; on a busy disk that commit's fsync took 340 ms, and the
    // UI waited for it. Here another connection holds the database's write lock, so the
    // finished reply's commit waits (up to the 5 s busy timeout): the reads must not.
    void reads_do_not_wait_for_the_writer_threads_commit() {
        QTemporaryDir dir;
        const std::string db = dir.filePath("history.sqlite").toStdString();
        auto hs = HistoryConversationStore::open(db);
        const int64_t conv = hs->create("locked out", "{}");
        StoredMessage user;
        user.role = "user";
        user.content = "hello";
        const int64_t user_id = hs->add_message(conv, user);
        hs->reply_started(conv, user_id);
        hs->reply_text(false, "the answer");
        hs->drain();
        gb::app::sql::Db other(db, false);
        other.exec("BEGIN IMMEDIATE");  // the write lock, as a slow commit holds it
        StoredMessage reply;
        reply.role = "assistant";
        reply.parent = user_id;
        reply.content = "the answer";
        reply.complete = true;
        const int64_t reply_id = hs->add_message(conv, reply);  // finished on the writer thread
        QTest::qWait(200);  // the writer thread is now inside its commit, waiting for the lock
        QElapsedTimer t;
        t.start();
        const std::vector<ConversationSummary> list = hs->list();
        QCOMPARE(list.size(), size_t(1));
        QCOMPARE(list[0].title, std::string("locked out"));
        QVERIFY(hs->bookmarks(reply_id).empty());
        QCOMPARE(hs->search("locked"), std::vector<int64_t>{conv});
        const qint64 waited = t.elapsed();
        QVERIFY2(waited < 1000, qPrintable(QString("the reads waited %1 ms").arg(waited)));
        other.exec("ROLLBACK");
        hs->drain();  // the commit goes through once the lock is free
        const auto msgs = hs->messages(conv);
        QCOMPARE(msgs.size(), size_t(2));
        QCOMPARE(msgs[1].content, std::string("the answer"));
        QVERIFY(msgs[1].complete);
    }

    void settings_json_round_trip_and_defaults() {
        GenerationSettings s;
        s.sampling.top_k = 7;
        s.max_tokens = 99;
        s.reasoning = ReasoningPolicy::Keep;
        const GenerationSettings back = settings_from_json(to_json(s));
        QCOMPARE(back.sampling.top_k, 7);
        QCOMPARE(back.max_tokens, 99);
        QVERIFY(back.reasoning == ReasoningPolicy::Keep);
        const GenerationSettings junk = settings_from_json("not json");
        QCOMPARE(junk.max_tokens, GenerationSettings{}.max_tokens);
    }
};

QTEST_GUILESS_MAIN(ChatControllerTest)
#include "chat_controller_qtest.moc"
