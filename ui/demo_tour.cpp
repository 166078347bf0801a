// DemoTour: the screenshot sequence.
#include "ui/demo_tour.h"

#include <QCoreApplication>
#include <QDir>
#include <QDoubleSpinBox>
#include <QEventLoop>
#include <QPushButton>
#include <QSpinBox>
#include <QTabWidget>
#include <QTableWidget>
#include <QTextBrowser>
#include <QThread>
#include <QTimer>
#include <cstdio>
#include <memory>

#include "app/chat_controller.h"
#include "app/inspected_reply.h"
#include "ui/chat_view.h"
#include "ui/compare_dialog.h"
#include "ui/lens_dialog.h"
#include "ui/library_dialog.h"
#include "ui/main_window.h"
#include "ui/model_anatomy_view.h"
#include "ui/model_dialog.h"
#include "ui/reasoning_map_view.h"
#include "ui/resample_dialog.h"
#include "ui/routing_view.h"
#include "ui/step_chooser.h"
#include "ui/token_inspector.h"

namespace gb::ui {

DemoTour::DemoTour(MainWindow& window, gb::app::ChatController& controller, QString out_dir,
                   QString prompt, QObject* parent)
    : QObject(parent),
      w_(window),
      c_(controller),
      out_(std::move(out_dir)),
      prompt_(std::move(prompt)) {}

void DemoTour::shoot_step_mode() {
    c_.new_conversation();
    c_.set_step_mode(true);
    int picks = 0;
    auto* chooser = w_.chat()->step_chooser();
    auto pump = [&](auto done) {
        for (int i = 0; i < 250 && !done(); ++i) {
            QCoreApplication::processEvents(QEventLoop::AllEvents, 50);
            QThread::msleep(20);
        }
    };
    c_.send(prompt_);
    while (picks < 3) {
        pump([&] { return chooser->isVisible(); });
        if (!chooser->isVisible()) break;
        if (++picks < 3) chooser->pick(-1);
    }
    if (chooser->isVisible()) shoot("10-step-mode");
    c_.set_step_mode(false);
    c_.stop();
    pump([&] { return !c_.busy(); });
}

void DemoTour::save_dialog(QWidget* d, const QString& name) {
    QCoreApplication::processEvents();
    const QString path = QDir(out_).filePath(name + ".png");
    std::fprintf(stderr, "screenshot %s: %s\n", qPrintable(path),
                 d->grab().save(path) ? "saved" : "FAILED");
}

void DemoTour::shoot(const QString& name) {
    QCoreApplication::processEvents();
    const QString path = QDir(out_).filePath(name + ".png");
    const bool ok = w_.grab().save(path);
    std::fprintf(stderr, "screenshot %s: %s\n", qPrintable(path), ok ? "saved" : "FAILED");
}

void DemoTour::start() {
    QDir().mkpath(out_);
    connect(&c_, &gb::app::ChatController::modelChanged, this, [this] {
        if (sent_) return;
        if (!c_.model_loaded()) {
            shoot("error");
            emit done(1);
            return;
        }
        sent_ = true;
        QTimer::singleShot(300, this, [this] {
            shoot("0-welcome");
            gb::app::GenerationSettings s = c_.settings();
            s.max_tokens = 700;  // a whole worked problem of the demo model
            s.sampling.temperature = 0;
            c_.set_settings(s);
            // The streaming shot is taken mid-reply, from the stream itself: a timer missed it
            // once the demo model wrote its whole reply in half a second.
            auto shot = std::make_shared<QMetaObject::Connection>();
            *shot = connect(&c_, &gb::app::ChatController::streamingUpdated, this, [this, shot] {
                if (c_.streaming().tokens.size() < 120) return;
                disconnect(*shot);
                w_.chat()->flush_pending();
                shoot("1-chat-streaming");
            });
            c_.send(prompt_);
        });
    });
    connect(&c_, &gb::app::ChatController::streamingFinished, this, &DemoTour::after_reply);
}

void DemoTour::after_reply(qint64 id) {
    // Give the hardware monitor a few samples and the views a moment to lay out.
    QTimer::singleShot(1200, this, [this, id] {
        shoot("2-chat");
        w_.inspect(id);
        // The stored trace loads off the UI thread: wait for it (a few ms) before picking.
        for (int i = 0; i < 250 && w_.reply()->loading(); ++i) {
            QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
            QThread::msleep(5);
        }
        QCoreApplication::processEvents();
        auto* ins = w_.inspector();
        if (ins->trace()) {
            // The first generated token that is not whitespace: an interesting one to show.
            const auto& toks = ins->trace()->tokens;
            int pick = -1;
            for (size_t i = static_cast<size_t>(ins->trace()->n_prompt);
                 i < toks.size() && pick < 0; ++i)
                if (toks[i].phase != Phase::Prompt &&
                    toks[i].text.find_first_not_of(" \n") != std::string::npos)
                    pick = static_cast<int>(i + (toks.size() - i > 3 ? 2 : 0));
            ins->select_token(std::max(0, pick));
        }
        w_.show_panel(MainWindow::InspectorPanel);
        shoot("3-inspector");
        w_.show_panel(MainWindow::ReasoningPanel);
        auto* map = w_.reasoning_map();
        if (!map->map().forks.empty()) {
            // The fork with the highest entropy: where the model hesitated most.
            const auto& forks = map->map().forks;
            const auto top = std::max_element(
                forks.begin(), forks.end(),
                [](const auto& a, const auto& b) { return a.entropy < b.entropy; });
            map->select_token(top->token);
            ins->select_token(top->token);
        }
        shoot("3b-reasoning-map");
        // What if, on that fork: a hotter temperature spreads what could have been drawn.
        w_.show_panel(MainWindow::InspectorPanel);
        if (ins->selected() >= 0) ins->set_what_if(true, 1.6, 0, 1.0);
        shoot("3c-what-if");
        ins->set_what_if(false);
        w_.show_panel(MainWindow::RoutingPanel);
        w_.routing()->select_expert(0, 0);
        shoot("4-routing");
        w_.show_panel(MainWindow::ExpertsPanel);
        shoot("4b-experts");
        w_.show_panel(MainWindow::HardwarePanel);
        shoot("5-hardware");
        w_.show_panel(MainWindow::SettingsPanelTab);
        shoot("6-settings-context");
        w_.show_panel(MainWindow::AnatomyPanel);
        shoot("6b-anatomy");
        w_.anatomy()->show_reference(true);
        shoot("6c-anatomy-deepseek");
        w_.anatomy()->show_reference(false);
        // Teaching: the reply replayed to 40% in the presenter view.
        w_.show_panel(MainWindow::ReasoningPanel);
        if (w_.reply()->start_replay(5)) {
            w_.reply()->step_replay(w_.reply()->replay_length() * 2 / 5);
            w_.set_presenter(true);
            shoot("8-presenter-replay");
            w_.set_presenter(false);
            w_.reply()->stop_replay();
        }
        // The logit lens of the selected token (the highest-entropy fork), read by the engine.
        w_.show_panel(MainWindow::InspectorPanel);
        auto* ins2 = w_.inspector();
        if (const auto& forks = w_.reasoning_map()->map().forks; !forks.empty())
            ins2->select_token(
                std::max_element(forks.begin(), forks.end(), [](const auto& a, const auto& b) {
                    return a.entropy < b.entropy;
                })->token);
        if (ins2->lens_button()->isEnabled()) {
            ins2->lens_button()->click();
            for (int i = 0;
                 i < 200 && w_.lens_dialog() && w_.lens_dialog()->table()->rowCount() == 0; ++i) {
                QCoreApplication::processEvents(QEventLoop::AllEvents, 50);
                QThread::msleep(20);
            }
            if (LensDialog* lens = w_.lens_dialog()) {
                QCoreApplication::processEvents();
                const QString path = QDir(out_).filePath("9-logit-lens.png");
                std::fprintf(stderr, "screenshot %s: %s\n", qPrintable(path),
                             lens->grab().save(path) ? "saved" : "FAILED");
                lens->close();
            }
        }
        // Forking paths: 8 rollouts at temperature 1.5 from each of five fork tokens, kept with
        // the reply and charted by position; the screenshot shows the last one's answers.
        auto wait_for = [&](auto done) {
            for (int i = 0; i < 500 && !done(); ++i) {
                QCoreApplication::processEvents(QEventLoop::AllEvents, 50);
                QThread::msleep(20);
            }
        };
        if (const auto& forks = w_.reasoning_map()->map().forks; !forks.empty()) {
            std::vector<int> picks;
            for (size_t i = 0; i < 5; ++i) picks.push_back(forks[i * forks.size() / 5].token);
            for (int token : picks) {
                ins2->select_token(token);
                if (!ins2->resample_button()->isEnabled()) break;
                ins2->resample_button()->click();
                ResampleDialog* rd = w_.resample_dialog();
                rd->rollouts_box()->setValue(8);
                rd->temperature_box()->setValue(1.5);
                rd->start_button()->click();
                wait_for([&] { return !c_.resampling(); });
            }
            if (ResampleDialog* rd = w_.resample_dialog()) {
                QCoreApplication::processEvents();
                const QString path = QDir(out_).filePath("11-resample.png");
                std::fprintf(stderr, "screenshot %s: %s\n", qPrintable(path),
                             rd->grab().save(path) ? "saved" : "FAILED");
                rd->close();
            }
        }
        // Fast against precise: the reply's own tokens scored precisely and compared with it,
        // probability against probability.
        if (ins2->rescore_button()->isEnabled()) {
            ins2->rescore_button()->click();
            CompareDialog* cd = nullptr;
            wait_for([&] { return (cd = w_.findChild<CompareDialog*>()) && cd->result(); });
            if (cd && cd->result()) {
                save_dialog(cd, "15-compare-precise");
                cd->close();
            }
        }
        // Step mode: a new reply (in a new chat: the demo models answer single problems) waits
        // for its third token to be picked. A served model samples its own tokens: no step mode.
        if (!c_.model().remote) shoot_step_mode();
        ModelDialog d(&w_);
        d.set_path(QString::fromStdString(c_.model().path));
        d.show();
        for (int i = 0; i < 50 && d.inspecting(); ++i) {
            QCoreApplication::processEvents(QEventLoop::AllEvents, 50);
            QThread::msleep(20);
        }
        QCoreApplication::processEvents();
        const QString path = QDir(out_).filePath("7-model-dialog.png");
        std::fprintf(stderr, "screenshot %s: %s\n", qPrintable(path),
                     d.grab().save(path) ? "saved" : "FAILED");
        d.close();
        // The model library (the bundled demo models and the models folder), and its download
        // dialog with a repository typed in.
        if (LibraryDialog* lib = w_.open_library()) {
            for (int i = 0; i < 250 && lib->scanning(); ++i) {
                QCoreApplication::processEvents(QEventLoop::AllEvents, 50);
                QThread::msleep(20);
            }
            save_dialog(lib, "12-library");
            DownloadDialog dl(library_folder(), &w_);
            dl.set_repo("bartowski/Qwen2.5-0.5B-Instruct-GGUF",
                        "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf");
            dl.show();
            save_dialog(&dl, "13-download");
            dl.close();
            lib->close();
        }
        // A narrow window: the chat keeps its room, the side panels give way.
        const QSize full = w_.size();
        w_.resize(1100, 680);
        QCoreApplication::processEvents();
        shoot("14-narrow-window");
        w_.resize(full);
        emit done(0);
    });
}

}  // namespace gb::ui
