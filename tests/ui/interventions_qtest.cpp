// Interventions in the app: a branch from a token picked in the inspector (real engine, demo
// reasoning model: the kept prefix comes from the KV cache, the branch is a sibling reply),
// "Run again" (reproduce), the thinking budget setting reaching the engine, and "Stop thinking"
// (synthetic engine, slow enough to press it mid-reasoning).
#include <QAction>
#include <QCheckBox>
#include <QComboBox>
#include <QLineEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTableWidget>
#include <QTest>
#include <QTimer>
#include <cmath>

#include "app/chat_controller.h"
#include "app/conversation_store.h"
#include "app/engine_worker.h"
#include "app/inspected_reply.h"
#include "app/local_engine.h"
#include "app/synthetic_engine.h"
#include "engine/session/interventions.h"
#include "engine/trace/trace.h"
#include "ui/chat_view.h"
#include "ui/compare_dialog.h"
#include "ui/heatmap_widget.h"
#include "ui/lens_dialog.h"
#include "ui/main_window.h"
#include "ui/message_widget.h"
#include "ui/resample_dialog.h"
#include "ui/settings_panel.h"
#include "ui/step_chooser.h"
#include "ui/token_inspector.h"

using namespace gb;
using namespace gb::app;
using namespace gb::ui;

namespace {

struct Window {
    MemoryConversationStore store;
    std::unique_ptr<EngineWorker> worker;
    std::unique_ptr<ChatController> c;
    std::unique_ptr<MainWindow> w;
    explicit Window(std::unique_ptr<ChatEngine> engine, const std::string& model) {
        worker = std::make_unique<EngineWorker>(std::move(engine));
        c = std::make_unique<ChatController>(store, *worker);
        w = std::make_unique<MainWindow>(*c, nullptr);
        w->resize(1400, 860);
        w->show();
        QSignalSpy loaded(c.get(), &ChatController::modelChanged);
        LoadSettings ls;
        ls.path = model;
        ls.n_ctx = 1024;
        ls.n_threads = 2;
        c->load_model(ls);
        loaded.wait(20000);
    }
    // Sends and waits for the stored, inspected reply.
    std::shared_ptr<const Trace> reply(const QString& prompt) {
        QSignalSpy done(c.get(), &ChatController::streamingFinished);
        c->send(prompt);
        if (!done.wait(60000)) return nullptr;
        const qint64 id = done.at(0).at(0).toLongLong();
        if (!QTest::qWaitFor(
                [&] {
                    return w->reply()->message_id() == id && w->inspector()->trace() &&
                           w->inspector()->trace()->n_prompt > 0;
                },
                10000))
            return nullptr;
        return w->inspector()->trace();
    }
};

const TokenRecord& gen_at(const Trace& t, int i) {
    return t.tokens[static_cast<size_t>(t.n_prompt + i)];
}

}  // namespace

class InterventionsTest : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName("GlassboxTest");
    }

    void branch_from_the_inspector_and_run_again() {
        Window win(std::make_unique<LocalEngine>(),
                   GB_RESOURCES_DIR "/models/glassbox-demo-moe.gguf");
        QVERIFY(win.c->model_loaded());
        GenerationSettings s = win.c->settings();
        s.sampling.temperature = 0.7f;
        s.sampling.seed = 5;
        s.max_tokens = 400;
        win.c->set_settings(s);
        const auto parent = win.reply("742*38");
        QVERIFY(parent);
        QVERIFY(parent->n_gen > 20);
        TokenInspector* ins = win.w->inspector();
        QTRY_VERIFY(ins->branchable());
        // A prompt token cannot be branched; a generated one lists its other alternatives.
        ins->select_token(0);
        QVERIFY(!ins->branch_button()->isEnabled());
        const int at = 12;
        ins->select_token(parent->n_prompt + at);
        QVERIFY(ins->branch_button()->isEnabled());
        const TokenRecord& here = gen_at(*parent, at);
        QCOMPARE(ins->branch_choice()->count(), static_cast<int>(here.top.size()) - 1);
        ins->branch_choice()->setCurrentIndex(0);
        const int token = ins->branch_choice()->currentData().toInt();
        QVERIFY(token != here.id);
        const qint64 parent_id = win.w->reply()->message_id();

        QSignalSpy done(win.c.get(), &ChatController::streamingFinished);
        QTest::mouseClick(ins->branch_button(), Qt::LeftButton);
        QVERIFY(done.wait(60000));
        const qint64 branch_id = done.at(0).at(0).toLongLong();
        QVERIFY(branch_id != 0 && branch_id != parent_id);
        // A sibling of the original reply: the chat shows 2/2 under the same question.
        QCOMPARE(win.c->siblings(branch_id).size(), size_t{2});
        QTRY_VERIFY(win.w->reply()->message_id() == branch_id && win.w->inspector()->trace() &&
                    win.w->inspector()->trace()->n_prompt > 0);
        const auto branch = win.w->inspector()->trace();
        // The shared start came from the KV cache: only the last kept token and the new one ran.
        QCOMPARE(branch->n_cached, parent->n_prompt + at - 1);
        for (int i = 0; i < at; ++i) QCOMPARE(gen_at(*branch, i).id, gen_at(*parent, i).id);
        QCOMPARE(gen_at(*branch, at).id, token);
        QVERIFY(gen_at(*branch, at).forced);
        QCOMPARE(branch->interventions.size(), size_t{1});
        QCOMPARE(branch->interventions[0].kind, std::string("branch"));
        QCOMPARE(branch->interventions[0].replaced, here.id);
        ChatView* chat = win.w->chat();
        MessageWidget* last = chat->bubble(chat->bubble_count() - 1);
        QTRY_COMPARE(last->message().branch_count, 2);
        QCOMPARE(last->message().branch_index, 2);
        QCOMPARE(last->message().content, QString::fromStdString(branch->answer_text));

        // Run again: the branch reproduces, its start and all.
        QSignalSpy rep(win.c.get(), &ChatController::reproduced);
        QVERIFY(ins->reproduce_button()->isEnabled());
        QTest::mouseClick(ins->reproduce_button(), Qt::LeftButton);
        QVERIFY(rep.wait(60000));
        QVERIFY(rep.at(0).at(1).toBool());
        QVERIFY2(win.w->last_reproduce().contains("identical"),
                 qPrintable(win.w->last_reproduce()));

        // The logit lens of the selected token: one row per layer, the last the model's own
        // probability of it (which the trace recorded).
        const int pick = branch->n_prompt + at + 3;
        ins->select_token(pick);
        QVERIFY(ins->lens_button()->isEnabled());
        QTest::mouseClick(ins->lens_button(), Qt::LeftButton);
        QVERIFY(win.w->lens_dialog());
        QTRY_VERIFY_WITH_TIMEOUT(win.w->lens_dialog()->table()->rowCount() == 4, 20000);
        const double p_last = win.w->lens_dialog()->table()->item(3, 0)->text().toDouble();
        QVERIFY(std::fabs(p_last - std::exp(branch->tokens[static_cast<size_t>(pick)].logprob)) <
                2e-3);
        QVERIFY(win.w->lens_dialog()->heatmap()->rows() == 4);
        win.w->lens_dialog()->close();

        // Not while replaying (the shown trace is then a part of the reply).
        QVERIFY(win.w->reply()->start_replay(5));
        QVERIFY(!ins->branchable());
        win.w->reply()->stop_replay();
        QTRY_VERIFY(ins->branchable());
    }

    void thinking_budget_setting_reaches_the_engine() {
        Window win(std::make_unique<LocalEngine>(),
                   GB_RESOURCES_DIR "/models/glassbox-demo-moe.gguf");
        GenerationSettings s = win.c->settings();
        s.sampling.temperature = 0;
        s.max_tokens = 400;
        s.think_budget = 15;
        win.c->set_settings(s);
        const auto t = win.reply("48213+9077");
        QVERIFY(t);
        QCOMPARE(t->interventions.size(), size_t{1});
        QCOMPARE(t->interventions[0].kind, std::string("think-budget"));
        int n_think = 0;
        for (int i = 0; i < t->interventions[0].at; ++i)
            n_think += gen_at(*t, i).phase == Phase::Think;
        QCOMPARE(n_think, 15);
        QVERIFY(t->reasoning_complete);
        // The budget is a conversation setting: kept with it.
        QCOMPARE(settings_from_json(to_json(s)).think_budget, 15);

        // Expert steering from the settings: no token goes to expert 3; the trace says so.
        win.c->new_conversation();
        s.think_budget = -1;
        s.disable_experts = "*:3";
        win.c->set_settings(s);
        QCOMPARE(settings_from_json(to_json(s)).disable_experts, std::string("*:3"));
        const auto steered = win.reply("742*38");
        QVERIFY(steered);
        QCOMPARE(steered->interventions.size(), size_t{1});
        QCOMPARE(steered->interventions[0].spec, std::string("disable *:3"));
        for (const TokenRecord& r : steered->tokens)
            for (uint16_t e : r.routing.experts) QVERIFY(e != 3);
        // A bad spec: the reply fails with the reason, nothing is stored.
        s.disable_experts = "*:99";
        win.c->set_settings(s);
        QSignalSpy errors(win.c.get(), &ChatController::errorOccurred);
        QSignalSpy done(win.c.get(), &ChatController::streamingFinished);
        win.c->send("12+34");
        QVERIFY(done.wait(20000));
        QCOMPARE(done.at(0).at(0).toLongLong(), 0);
        QVERIFY(!errors.isEmpty());
        QVERIFY2(errors.last().at(0).toString().contains("expert 99 does not exist"),
                 qPrintable(errors.last().at(0).toString()));
    }

    // Edit thought (real engine): the bubble offers it; the edited reasoning becomes a new
    // branch whose thought starts with the edit and goes on from it; a planted slip carries into
    // the answer.
    void edit_thought_makes_a_branch() {
        Window win(std::make_unique<LocalEngine>(),
                   GB_RESOURCES_DIR "/models/glassbox-demo-moe.gguf");
        GenerationSettings s = win.c->settings();
        s.sampling.temperature = 0;
        s.max_tokens = 400;
        win.c->set_settings(s);
        const auto parent = win.reply("742*38");
        QVERIFY(parent);
        const qint64 id = win.w->reply()->message_id();
        ChatView* chat = win.w->chat();
        MessageWidget* bubble = chat->bubble(chat->bubble_count() - 1);
        QTRY_VERIFY(bubble->edit_thought_button()->isVisibleTo(bubble));
        const QString edit = QString::fromUtf8(
            "742*38: multiply 742 by each digit of 38, then add.\n742*8:\n"
            "units of 742: 2*8=16, carry 1 \u2192 6\n"
            "tens of 74: 4*8=32, +1=33, carry 3 \u2192 36\n"
            "hundreds of 7: 7*8=56, +3=59 \u2192 6936\n");
        QSignalSpy done(win.c.get(), &ChatController::streamingFinished);
        win.w->edit_thought_of(id, edit);
        QVERIFY(done.wait(60000));
        const qint64 branch_id = done.at(0).at(0).toLongLong();
        QCOMPARE(win.c->siblings(branch_id).size(), size_t{2});
        QTRY_VERIFY(win.w->reply()->message_id() == branch_id && win.w->inspector()->trace() &&
                    win.w->inspector()->trace()->n_prompt > 0);
        const auto t = win.w->inspector()->trace();
        QCOMPARE(t->interventions.size(), size_t{1});
        QCOMPARE(t->interventions[0].kind, std::string("edit-thought"));
        QVERIFY(QString::fromStdString(t->reasoning_text).startsWith(edit.trimmed()));
        QVERIFY(t->n_cached == parent->n_prompt - 1);
        QCOMPARE(final_answer(t->answer_text), std::string("29196"));  // 742*38 with the slip
    }

    // Step mode with the real engine: every token waits; the offered alternatives are the ones
    // the trace records; a pick other than the sampler's is used and marked; Stop ends a wait.
    void step_mode_picks_each_token() {
        Window win(std::make_unique<LocalEngine>(),
                   GB_RESOURCES_DIR "/models/glassbox-demo-moe.gguf");
        GenerationSettings s = win.c->settings();
        s.sampling.temperature = 0;
        s.max_tokens = 12;
        win.c->set_settings(s);
        win.w->step_mode_action()->trigger();
        QVERIFY(win.c->step_mode());
        StepChooser* chooser = win.w->chat()->step_chooser();
        int offers = 0;
        int32_t picked_at_2 = -1;
        connect(&win.c->worker(), &EngineWorker::choiceNeeded, chooser,
                [&](quint64, int position, const std::vector<Alternative>& top, int32_t sampled) {
                    ++offers;
                    QTimer::singleShot(0, chooser, [&, position, top, sampled] {
                        QVERIFY(chooser->isVisible());
                        QCOMPARE(chooser->offered(), static_cast<int>(top.size()));
                        if (position == 2) {
                            const int i = top[0].id == sampled ? 1 : 0;
                            picked_at_2 = top[static_cast<size_t>(i)].id;
                            chooser->pick(i);
                        } else {
                            chooser->pick(-1);
                        }
                    });
                });
        const auto t = win.reply("12+34");
        QVERIFY(t);
        QCOMPARE(offers, 12);
        QCOMPARE(t->n_gen, 12);
        QCOMPARE(gen_at(*t, 2).id, picked_at_2);
        QVERIFY(gen_at(*t, 2).forced);
        QVERIFY(!gen_at(*t, 3).forced);
        QCOMPARE(t->interventions.size(), size_t{1});
        QCOMPARE(t->interventions[0].kind, std::string("manual"));
        QVERIFY(!chooser->isVisible());
        // Stop while a token waits: the reply ends, nothing hangs.
        disconnect(&win.c->worker(), &EngineWorker::choiceNeeded, chooser, nullptr);
        QSignalSpy done(win.c.get(), &ChatController::streamingFinished);
        win.c->send("45+67");
        QTRY_VERIFY_WITH_TIMEOUT(chooser->isVisible(), 10000);
        win.c->stop();
        QVERIFY(done.wait(10000));
        QTRY_VERIFY(!chooser->isVisible());
        win.w->step_mode_action()->trigger();
        QVERIFY(!win.c->step_mode());
    }

    // Resample from a token picked in the inspector (real engine, demo model): the dialog
    // estimates the cost, runs the rollouts, and shows what the engine's resample_at gives for
    // the same options on another generator; the result is kept with the reply, listed and
    // charted by position when the dialog opens again, and can be deleted; Stop keeps the
    // rollouts done.
    void resample_from_the_inspector() {
        Window win(std::make_unique<LocalEngine>(),
                   GB_RESOURCES_DIR "/models/glassbox-demo-moe.gguf");
        QVERIFY(win.c->model_loaded());
        GenerationSettings s = win.c->settings();
        s.sampling.temperature = 0;
        s.max_tokens = 400;
        win.c->set_settings(s);
        const auto parent = win.reply("987*89");
        QVERIFY(parent);
        QVERIFY(parent->n_gen > 60);
        TokenInspector* ins = win.w->inspector();
        QTRY_VERIFY(ins->branchable());
        ins->select_token(0);
        QVERIFY(!ins->resample_button()->isEnabled());  // a prompt token
        const int at = parent->n_gen - 40;
        ins->select_token(parent->n_prompt + at);
        QVERIFY(ins->resample_button()->isEnabled());
        QTest::mouseClick(ins->resample_button(), Qt::LeftButton);
        ResampleDialog* d = win.w->resample_dialog();
        QVERIFY(d && d->isVisible());
        QCOMPARE(d->at(), at);
        QVERIFY(
            d->status_text().contains(QString::fromStdString(final_answer(parent->answer_text))));
        QVERIFY(d->earlier_table()->rowCount() == 0);
        d->rollouts_box()->setValue(3);
        d->length_box()->setValue(120);
        const double estimate = resample_estimate_ms(*parent, at, 3, 120);
        QVERIFY2(d->estimate_text().contains(QString::number(estimate / 1000.0, 'f', 1)),
                 qPrintable(d->estimate_text()));
        const ResampleOptions opt = d->options();
        QCOMPARE(opt.k, 3);
        QCOMPARE(opt.first_seed, parent->sampling.seed + 1);
        QCOMPARE(opt.temperature, 0.8f);  // the reply was greedy

        QSignalSpy finished(win.c.get(), &ChatController::resampleFinished);
        QTest::mouseClick(d->start_button(), Qt::LeftButton);
        QVERIFY(win.c->resampling());
        QVERIFY(finished.wait(60000));
        const auto result = finished.at(0).at(2).value<std::shared_ptr<const ResampleResult>>();
        const qint64 stored = finished.at(0).at(1).toLongLong();
        QVERIFY(stored != 0);
        QCOMPARE(result->rollouts.size(), size_t{3});
        // The same options on an engine of our own (a fresh cache) give the same rollouts.
        LocalEngine own;
        LoadSettings ls;
        ls.path = GB_RESOURCES_DIR "/models/glassbox-demo-moe.gguf";
        ls.n_ctx = 1024;
        ls.n_threads = 2;
        own.load(ls);
        const ResampleResult again = own.resample(*parent, at, opt, {}, {});
        for (size_t i = 0; i < 3; ++i) {
            QCOMPARE(result->rollouts[i].answer, again.rollouts[i].answer);
            QCOMPARE(result->rollouts[i].tokens, again.rollouts[i].tokens);
        }
        QCOMPARE(result->share, again.share);
        // Shown: every answer and every rollout, and the share in words.
        QCOMPARE(d->answers_table()->rowCount(), static_cast<int>(again.answers.size()));
        QCOMPARE(d->rollouts_table()->rowCount(), 3);
        QCOMPARE(d->rollouts_table()->item(1, 1)->text(),
                 QString::fromStdString(
                     again.rollouts[1].answer.empty() ? "(no answer)" : again.rollouts[1].answer));
        QVERIFY2(d->result_text().contains(QString("of 3 rollouts")), qPrintable(d->result_text()));
        // Kept with the reply, listed and charted.
        const auto kept = win.store.resamplings(win.w->reply()->message_id());
        QCOMPARE(kept.size(), size_t{1});
        QCOMPARE(kept[0].id, stored);
        QCOMPARE(kept[0].at, at);
        QCOMPARE(d->earlier_table()->rowCount(), 1);
        QCOMPARE(d->chart_points().size(), size_t{1});
        QCOMPARE(d->chart_points()[0].first, at);
        QCOMPARE(d->chart_points()[0].second, again.share);

        // A second position: the chart has both, by position.
        d->close();
        ins->select_token(parent->n_prompt + at - 20);
        QTest::mouseClick(ins->resample_button(), Qt::LeftButton);
        QCOMPARE(d->at(), at - 20);
        QCOMPARE(d->earlier_table()->rowCount(), 1);  // listed on opening
        d->rollouts_box()->setValue(2);
        QTest::mouseClick(d->start_button(), Qt::LeftButton);
        QVERIFY(finished.wait(60000));
        QCOMPARE(d->chart_points().size(), size_t{2});
        QCOMPARE(d->chart_points()[0].first, at - 20);
        QCOMPARE(d->chart_points()[1].first, at);

        // Stop keeps the rollouts done.
        d->rollouts_box()->setValue(500);
        QSignalSpy progress(win.c.get(), &ChatController::resampleProgress);
        QTest::mouseClick(d->start_button(), Qt::LeftButton);
        QVERIFY(progress.wait(30000));
        QTest::mouseClick(d->start_button(), Qt::LeftButton);  // now "Stop"
        QVERIFY(finished.wait(30000));
        const auto partial = finished.last().at(2).value<std::shared_ptr<const ResampleResult>>();
        QVERIFY(!partial->rollouts.empty());
        QVERIFY(partial->rollouts.size() < 500u);
        QVERIFY2(d->result_text().contains("Stopped after"), qPrintable(d->result_text()));
        QCOMPARE(win.store.resamplings(win.w->reply()->message_id()).size(), size_t{3});
        QVERIFY(!win.c->busy());

        // Selecting a kept one shows it; deleting it removes it from the store and the chart.
        d->earlier_table()->selectRow(0);
        QVERIFY(d->result_text().contains("of 2 rollouts"));
        QVERIFY(d->remove_button()->isEnabled());
        QTest::mouseClick(d->remove_button(), Qt::LeftButton);
        QCOMPARE(win.store.resamplings(win.w->reply()->message_id()).size(), size_t{2});
        QCOMPARE(d->earlier_table()->rowCount(), 2);
    }

    // An engine that cannot resample (the synthetic one) says why in the dialog.
    // Precise probabilities: the settings switch reaches the engine, the trace, the stored reply
    // and its footer; the inspector says which mode made a reply, and "Compare precise" scores
    // a fast reply's own tokens precisely and opens them side by side (real engine).
    void precise_setting_and_compare_precise() {
        Window win(std::make_unique<LocalEngine>(),
                   GB_RESOURCES_DIR "/models/glassbox-demo-moe.gguf");
        QVERIFY(win.c->model_loaded());
        GenerationSettings s = win.c->settings();
        s.sampling.temperature = 0;
        s.max_tokens = 60;
        s.precise = false;
        win.c->set_settings(s);
        const auto fast = win.reply("48213+9077");
        QVERIFY(fast);
        QCOMPARE(fast->precision, std::string("fast"));
        TokenInspector* ins = win.w->inspector();
        QTRY_VERIFY(ins->branchable());
        QVERIFY2(ins->details_text().contains("Fast mode"), qPrintable(ins->details_text()));
        QCOMPARE(ins->rescore_button()->text(), QString("Compare precise"));
        QVERIFY(ins->rescore_button()->isEnabled());

        QTest::mouseClick(ins->rescore_button(), Qt::LeftButton);
        CompareDialog* d = nullptr;
        QTRY_VERIFY_WITH_TIMEOUT((d = win.w->findChild<CompareDialog*>()) != nullptr, 30000);
        QTRY_VERIFY_WITH_TIMEOUT(d->result() != nullptr, 30000);
        QCOMPARE(d->side(1)->currentText(), QString("This reply, scored precisely"));
        // The same tokens, all shared; the summary says which side is which mode.
        QCOMPARE(d->result()->same, fast->n_gen);
        QCOMPARE(d->result()->first_divergence, -1);
        QVERIFY2(d->summary_text().contains("A was computed in fast mode, B in precise mode"),
                 qPrintable(d->summary_text()));
        d->close();

        // The switch in the settings panel: the next reply is precise, and says so.
        QCheckBox* box = nullptr;
        for (QCheckBox* b : win.w->settings()->findChildren<QCheckBox*>())
            if (b->accessibleName() == "Precise probabilities") box = b;
        QVERIFY(box);
        QVERIFY(!box->isChecked());
        box->setChecked(true);
        QTRY_VERIFY(win.c->settings().precise);
        const auto precise = win.reply("48213+9077");
        QVERIFY(precise);
        QCOMPARE(precise->precision, std::string("precise"));
        QVERIFY2(ins->details_text().contains("Precise mode"), qPrintable(ins->details_text()));
        QCOMPARE(ins->rescore_button()->text(), QString("Compare fast"));
        ChatView* chat = win.w->chat();
        MessageWidget* last = chat->bubble(chat->bubble_count() - 1);
        QTRY_VERIFY2(last->footer_text().endsWith("precise"), qPrintable(last->footer_text()));
        // Stored with the reply.
        bool stored = false;
        for (const StoredMessage& m : win.c->messages())
            if (m.role == "assistant" && m.precision == "precise") stored = true;
        QVERIFY(stored);
    }

    void resample_refused_by_the_synthetic_engine() {
        Window win(std::make_unique<SyntheticEngine>(SyntheticOptions{}), "synthetic");
        const auto parent = win.reply("hello");
        QVERIFY(parent);
        TokenInspector* ins = win.w->inspector();
        QTRY_VERIFY(ins->branchable());
        ins->select_token(parent->n_prompt + 1);
        QTest::mouseClick(ins->resample_button(), Qt::LeftButton);
        ResampleDialog* d = win.w->resample_dialog();
        QSignalSpy failed(win.c.get(), &ChatController::resampleFailed);
        QTest::mouseClick(d->start_button(), Qt::LeftButton);
        QVERIFY(failed.wait(10000));
        QVERIFY2(d->result_text().contains("resampling needs a real model"),
                 qPrintable(d->result_text()));
        QVERIFY(!win.c->busy());
    }

    void stop_thinking_button() {
        SyntheticOptions o;
        o.tokens_per_second = 100;
        o.n_reasoning_tokens = 400;
        o.n_answer_tokens = 10;
        o.n_layers = 0;
        Window win(std::make_unique<SyntheticEngine>(o), "synthetic");
        QPushButton* stop = win.w->chat()->stop_thinking_button();
        QVERIFY(!stop->isEnabled());
        QSignalSpy done(win.c.get(), &ChatController::streamingFinished);
        win.c->send("think at length");
        QTRY_VERIFY_WITH_TIMEOUT(stop->isEnabled(), 5000);
        QTRY_VERIFY_WITH_TIMEOUT(win.c->streaming().n_reasoning >= 5, 5000);
        QTest::mouseClick(stop, Qt::LeftButton);
        QVERIFY(!stop->isEnabled());
        QVERIFY(done.wait(20000));
        // The stored trace (prompt first) replaces the live one.
        QTRY_VERIFY(win.w->inspector()->trace() && win.w->inspector()->trace()->n_prompt > 0);
        const auto t = win.w->inspector()->trace();
        QCOMPARE(t->interventions.size(), size_t{1});
        QCOMPARE(t->interventions[0].kind, std::string("stop-thinking"));
        QVERIFY(t->interventions[0].at < 100);  // long before the 400 scripted reasoning tokens
        QVERIFY(gen_at(*t, t->interventions[0].at).forced);
        QVERIFY(!t->answer_text.empty());
        QVERIFY(t->reasoning_complete);
        QVERIFY(!stop->isEnabled());
        // The synthetic engine has no layers: the lens says so.
        TokenInspector* ins = win.w->inspector();
        QTRY_VERIFY(ins->branchable());
        ins->select_token(t->n_prompt + 2);
        QTest::mouseClick(ins->lens_button(), Qt::LeftButton);
        QTRY_VERIFY(win.w->lens_dialog() &&
                    win.w->lens_dialog()->status_text().contains("no layers to read"));
    }
};

QTEST_MAIN(InterventionsTest)
#include "interventions_qtest.moc"
