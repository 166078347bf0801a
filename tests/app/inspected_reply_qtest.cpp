// InspectedReply: the live trace of a streaming reply carries every token's routing as it
// arrives (the real engine on our demo MoE model), the stored trace takes over when the reply
// is saved and is loaded off the UI thread, a newer request wins over a slow load, and a load
// that fails says why.
#include <QSignalSpy>
#include <QTest>
#include <QThread>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "app/chat_controller.h"
#include "app/inspected_reply.h"
#include "app/local_engine.h"
#include "app/synthetic_engine.h"
#include "kernels/error.h"
#include "tests/app/controller_test_support.h"

using namespace gb::app;

namespace {

// The in-memory store as the app uses it, and what its trace() loads saw: the thread, and a
// delay or a failure for one message.
class WatchedStore : public MemoryConversationStore {
public:
    std::shared_ptr<const gb::Trace> trace(int64_t id) override {
        callers.push_back(QThread::currentThread());
        if (id == slow_id) std::this_thread::sleep_for(std::chrono::milliseconds(300));
        if (id == broken_id)
            throw gb::Error("trace of message " + std::to_string(id) + " is damaged");
        return MemoryConversationStore::trace(id);
    }
    std::vector<QThread*> callers;  // read after the loads are done
    std::atomic<int64_t> slow_id{0}, broken_id{0};
};

struct Rig {
    explicit Rig(std::unique_ptr<ChatEngine> engine)
        : worker(std::move(engine)), c(store, worker), reply(c) {
        reply.set_intervals(0, 0);
    }
    bool load(const std::string& path, int64_t n_ctx = 1024) {
        return gb::test::load_model_and_wait(c, path, n_ctx);
    }
    qint64 send(const QString& text, int timeout_ms = 60000) {
        QSignalSpy done(&c, &ChatController::streamingFinished);
        c.send(text);
        if (!done.wait(timeout_ms)) return 0;
        return done.at(0).at(0).toLongLong();
    }
    WatchedStore store;
    EngineWorker worker;
    ChatController c;
    InspectedReply reply;
};

std::unique_ptr<ChatEngine> synthetic(double tokens_per_second = 2000) {
    SyntheticOptions o;
    o.tokens_per_second = tokens_per_second;
    o.n_reasoning_tokens = 6;
    o.n_answer_tokens = 6;
    return std::make_unique<SyntheticEngine>(o);
}

}  // namespace

class InspectedReplyTest : public QObject {
    Q_OBJECT
private slots:
    // The real engine on the demo MoE model: every token the live trace shows has its experts
    // in every MoE layer the moment it is shown, and the stored trace that replaces it holds the
    // same tokens with the same routing, after the prompt.
    void live_tokens_carry_their_routing_with_the_real_engine() {
        Rig r(std::make_unique<LocalEngine>());
        QVERIFY(r.load(GB_RESOURCES_DIR "/models/glassbox-demo-moe.gguf"));
        GenerationSettings s = r.c.settings();
        s.max_tokens = 700;
        s.sampling.temperature = 0;
        r.c.set_settings(s);
        int grew = 0, unrouted = 0;
        size_t layers = 0;
        std::shared_ptr<const gb::Trace> live;
        connect(&r.reply, &InspectedReply::traceGrew, &r.reply, [&] {
            ++grew;
            live = r.reply.trace();
            for (const auto& t : live->tokens) {
                unrouted += t.routing.empty();
                layers = std::max(layers, t.routing.n_layers());
            }
        });
        QSignalSpy changed(&r.reply, &InspectedReply::traceChanged);
        const qint64 id = r.send("742*38");
        QVERIFY(id > 0);
        QVERIFY(grew > 1);
        QCOMPARE(unrouted, 0);
        QCOMPARE(layers, size_t(3));        // the demo model's three MoE layers
        QTRY_VERIFY(changed.count() >= 2);  // the live trace, then the stored one
        QCOMPARE(changed.first().at(1).toBool(), false);
        QCOMPARE(changed.last().at(1).toBool(), true);
        const auto stored = r.reply.trace();
        QVERIFY(stored && stored != live);
        QCOMPARE(r.reply.message_id(), id);
        QVERIFY(stored->n_prompt > 0);
        QCOMPARE(static_cast<size_t>(stored->n_gen), live->tokens.size());
        for (size_t i = 0; i < live->tokens.size(); ++i) {
            const auto& a = live->tokens[i];
            const auto& b = stored->tokens[static_cast<size_t>(stored->n_prompt) + i];
            QCOMPARE(a.id, b.id);
            QVERIFY(a.routing.experts == b.routing.experts);
        }
    }

    // The routing view is told to count the reply at most every routing_ms, and once at the end
    // (when tokens came in since it last did), in the same emission as the last tokens.
    void routing_is_counted_once_more_at_the_end() {
        Rig r(synthetic(150));  // 12 tokens over 80 ms: several batches
        QVERIFY(r.load("synthetic"));
        r.reply.set_intervals(0, 1000000);  // never due by time after the first count
        std::vector<bool> emitted;
        connect(&r.reply, &InspectedReply::traceGrew, &r.reply,
                [&](bool routing_due) { emitted.push_back(routing_due); });
        QVERIFY(r.send("count me") > 0);
        QVERIFY(emitted.size() >= 2);
        QCOMPARE(emitted.front(), true);  // the first tokens: never counted before
        QCOMPARE(emitted.back(), true);   // the end
        QCOMPARE(std::count(emitted.begin(), emitted.end(), true), 2);
    }

    void stored_traces_load_off_the_ui_thread() {
        Rig r(synthetic());
        QVERIFY(r.load("synthetic"));
        const qint64 a = r.send("first");
        const qint64 b = r.send("second");
        QVERIFY(a > 0 && b > 0);
        QTRY_VERIFY(!r.reply.loading());
        r.store.callers.clear();
        QSignalSpy changed(&r.reply, &InspectedReply::traceChanged);
        r.reply.inspect(a);
        QVERIFY(r.reply.loading());
        QCOMPARE(changed.count(), 0);  // nothing shown before the load is back
        QTRY_COMPARE(changed.count(), 1);
        QCOMPARE(r.reply.trace(), r.store.MemoryConversationStore::trace(a));
        QCOMPARE(r.store.callers.size(), size_t(1));
        QVERIFY(r.store.callers[0] != QThread::currentThread());
    }

    // Asked for a slow reply and then another, the view ends on the second, and the first never
    // shows in between.
    void a_newer_request_wins_over_a_slow_load() {
        Rig r(synthetic());
        QVERIFY(r.load("synthetic"));
        const qint64 a = r.send("first");
        const qint64 b = r.send("second");
        QTRY_VERIFY(!r.reply.loading());
        r.store.slow_id = a;
        QSignalSpy changed(&r.reply, &InspectedReply::traceChanged);
        r.reply.inspect(a);
        r.reply.inspect(b);
        QTRY_COMPARE(changed.count(), 1);
        QTest::qWait(500);  // the slow load has come back by now, and is dropped
        QCOMPARE(changed.count(), 1);
        QCOMPARE(r.reply.message_id(), b);
        QCOMPARE(r.reply.trace(), r.store.MemoryConversationStore::trace(b));
    }

    void a_failing_load_says_why() {
        Rig r(synthetic());
        QVERIFY(r.load("synthetic"));
        const qint64 a = r.send("first");
        QTRY_VERIFY(!r.reply.loading());
        const auto before = r.reply.trace();
        r.store.broken_id = a;
        QSignalSpy failed(&r.reply, &InspectedReply::loadFailed);
        r.reply.inspect(a);
        QTRY_COMPARE(failed.count(), 1);
        QVERIFY2(failed.at(0).at(0).toString().contains("is damaged"),
                 qPrintable(failed.at(0).at(0).toString()));
        QVERIFY(!r.reply.loading());
        QCOMPARE(r.reply.trace(), before);  // what was shown stays
    }
};

QTEST_MAIN(InspectedReplyTest)
#include "inspected_reply_qtest.moc"
