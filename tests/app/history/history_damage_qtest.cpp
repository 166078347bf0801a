// A damaged history database opened through the real app code (HistoryConversationStore +
// ChatController): a cycle of parents, a self-parent, a dangling parent, a dangling current_leaf
// and a zstd-bomb trace blob. Each damaged conversation is reported by id with its messages,
// quickly (the cycle once froze the UI at 100% CPU) and without a memory spike (the bomb once
// reached 3.6 GB); every other conversation loads, continues and exports as usual.
#include <sys/resource.h>

#include <QElapsedTimer>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include "app/chat_controller.h"
#include "app/history/history_export.h"
#include "app/history_conversation_store.h"
#include "app/synthetic_engine.h"
#include "tests/app/controller_test_support.h"
#include "tests/app/history/damaged_history.h"

using namespace gb::app;

namespace {

long peak_rss_mb() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss / 1024;
}

bool contains(const QString& s, const std::string& part) {
    return s.contains(QString::fromStdString(part));
}

}  // namespace

class HistoryDamageTest : public QObject {
    Q_OBJECT
private slots:
    void damaged_conversations_are_reported_and_the_rest_works() {
        QTemporaryDir dir;
        const std::string path = dir.filePath("history.sqlite").toStdString();
        const gb::test::DamagedHistory d = gb::test::make_damaged_history(path);

        QElapsedTimer timer;
        timer.start();
        std::string note;
        auto owned = HistoryConversationStore::open(path, &note);
        HistoryConversationStore* store = owned.get();
        QVERIFY2(timer.elapsed() < 2000, "opening took too long");
        // The note names the conversations whose tree is damaged, and only those.
        QVERIFY2(note.find("4 conversation(s) in the history are damaged (ids " +
                           std::to_string(d.cycle) + ", " + std::to_string(d.self) + ", " +
                           std::to_string(d.dangling) + ", " + std::to_string(d.leaf) + ")") !=
                     std::string::npos,
                 note.c_str());
        QCOMPARE(store->list().size(), size_t(7));  // every conversation is still listed

        SyntheticOptions so;
        so.tokens_per_second = 2000;
        so.n_reasoning_tokens = 3;
        so.n_answer_tokens = 3;
        EngineWorker worker(std::make_unique<SyntheticEngine>(so));
        ChatController c(*store, worker);
        QVERIFY(gb::test::load_model_and_wait(c, "synthetic", 512));

        struct Case {
            int64_t id;
            std::vector<std::string> says;
        };
        const std::string a = std::to_string(d.cycle_a), b = std::to_string(d.cycle_b);
        const std::vector<Case> damaged = {
            {d.cycle,
             {"the parents of messages form a cycle: " + a + " -> " + b + " -> " + a,
              "current_leaf " + b + " lies on a cycle"}},
            {d.self, {"message " + std::to_string(d.self_id) + " is its own parent"}},
            {d.dangling,
             {"message " + std::to_string(d.dangling_id) +
              " has parent 999999, which is not a message of this conversation"}},
            {d.leaf, {"current_leaf 888888 is not a message of this conversation"}},
        };
        for (const Case& k : damaged) {
            QSignalSpy errors(&c, &ChatController::errorOccurred);
            timer.restart();
            c.select_conversation(k.id);
            QVERIFY2(timer.elapsed() < 2000, "loading a damaged conversation took too long");
            QCOMPARE(errors.count(), 1);
            const QString e = errors.at(0).at(0).toString();
            QVERIFY2(contains(e, "history: conversation " + std::to_string(k.id) + " is damaged: "),
                     qPrintable(e));
            for (const std::string& part : k.says) QVERIFY2(contains(e, part), qPrintable(e));
            QVERIFY(!contains(e, "SELECT"));  // the operation, not the SQL
            QVERIFY(c.path().empty());        // reported, not shown cut short
            // Exports of a damaged conversation fail the same way, without hanging.
            QVERIFY_THROWS_EXCEPTION(HistoryError, export_markdown(store->history(), k.id));
            QVERIFY_THROWS_EXCEPTION(HistoryError, export_json(store->history(), {k.id}));
        }

        // The good conversations load, continue and export.
        QSignalSpy errors(&c, &ChatController::errorOccurred);
        c.select_conversation(d.good);
        QCOMPARE(c.path().size(), size_t(3));
        QVERIFY(store->trace(d.good_reply));
        c.send("and now?");
        QSignalSpy done(&c, &ChatController::streamingFinished);
        QVERIFY(done.wait(20000));
        QCOMPARE(c.path().size(), size_t(5));
        c.select_conversation(d.good2);
        QCOMPARE(c.path().size(), size_t(1));
        QVERIFY(export_json(store->history(), {d.good, d.good2}).find("and now?") !=
                std::string::npos);
        QVERIFY(export_markdown(store->history(), d.good).find("and now?") != std::string::npos);

        // The bomb's conversation opens; its trace is refused by its claimed size, at no cost.
        c.select_conversation(d.bomb);
        QCOMPARE(c.path().size(), size_t(2));
        QCOMPARE(errors.count(), 0);
        const long before = peak_rss_mb();
        try {
            store->trace(d.bomb_reply);
            QFAIL("the bomb's trace loaded");
        } catch (const HistoryError& e) {
            QVERIFY2(std::string(e.what()).find(
                         "history: trace of message " + std::to_string(d.bomb_reply) +
                         ": implausible size 3758096384") != std::string::npos,
                     e.what());
        }
        QVERIFY(peak_rss_mb() - before < 64);

        // A damaged conversation can be deleted, and the history is whole again.
        c.delete_conversation(d.cycle);
        c.delete_conversation(d.self);
        QCOMPARE(errors.count(), 0);
        QCOMPARE(store->list().size(), size_t(5));
    }
};

QTEST_GUILESS_MAIN(HistoryDamageTest)
#include "history_damage_qtest.moc"
