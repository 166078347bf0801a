// MainWindow: layout, actions, and the wiring between controller signals and views.
#include "ui/main_window.h"

#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QCloseEvent>
#include <QDialog>
#include <QFileDialog>
#include <QFileInfo>
#include <QFrame>
#include <QHBoxLayout>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSettings>
#include <QSplitter>
#include <QStatusBar>
#include <QStyle>
#include <QTabWidget>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>

#include "app/expert_usage_query.h"
#include "ui/chat_view.h"
#include "ui/compare_dialog.h"
#include "ui/expert_analytics_view.h"
#include "ui/gpu_dashboard.h"
#include "ui/history_sidebar.h"
#include "ui/icons.h"
#include "ui/lens_dialog.h"
#include "ui/library_dialog.h"
#include "ui/model_anatomy_view.h"
#include "ui/model_dialog.h"
#include "ui/reasoning_map_view.h"
#include "ui/replay_bar.h"
#include "ui/resample_dialog.h"
#include "ui/routing_view.h"
#include "ui/server_dialog.h"
#include "ui/settings_panel.h"
#include "ui/step_chooser.h"
#include "ui/text_edit_dialog.h"
#include "ui/theme.h"
#include "ui/token_inspector.h"

namespace gb::ui {

using namespace gb::app;

MainWindow::MainWindow(ChatController& controller, GpuMonitor* monitor, QWidget* parent)
    : QMainWindow(parent), c_(controller) {
    setWindowTitle(tr("Glassbox"));
    conversations_ = new ConversationListModel(c_.store(), this);
    messages_ = new MessageListModel(c_, this);

    auto* split = new QSplitter(Qt::Horizontal, this);
    split_ = split;
    sidebar_ = new HistorySidebar(conversations_, split);
    auto* center = new QWidget(split);
    auto* cv = new QVBoxLayout(center);
    cv->setContentsMargins(0, 0, 0, 0);
    // The banner: an error (or a note) in words, closed by its × or by the next action.
    banner_ = new QFrame(center);
    banner_->setObjectName("banner");
    auto* bl = new QHBoxLayout(banner_);
    bl->setContentsMargins(8, 4, 4, 4);
    error_ = new QLabel(banner_);
    error_->setWordWrap(true);
    error_->setAccessibleName(tr("Error message"));
    error_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    bl->addWidget(error_, 1);
    auto* close = new QToolButton(banner_);
    close->setText(QStringLiteral("×"));
    close->setAutoRaise(true);
    close->setAccessibleName(tr("Close the message"));
    close->setToolTip(tr("Close the message"));
    bl->addWidget(close, 0, Qt::AlignTop);
    connect(close, &QToolButton::clicked, banner_, &QWidget::hide);
    banner_->hide();
    cv->addWidget(banner_);
    chat_ = new ChatView(center);
    chat_->set_model(messages_);
    cv->addWidget(chat_, 1);
    auto* right = new QWidget(split);
    right_ = right;
    auto* rv = new QVBoxLayout(right);
    rv->setContentsMargins(0, 0, 0, 0);
    tabs_ = new QTabWidget(right);
    rv->addWidget(tabs_, 1);
    tabs_->setAccessibleName(tr("Panels"));
    inspector_ = new TokenInspector(tabs_);
    reasoning_map_ = new ReasoningMapView(tabs_);
    routing_ = new RoutingView(tabs_);
    experts_ = new ExpertAnalyticsView(tabs_);
    dashboard_ = new GpuDashboard(tabs_);
    settings_ = new SettingsPanel(tabs_);
    anatomy_ = new ModelAnatomyView(tabs_);
    tabs_->addTab(inspector_, tr("&Inspector"));
    tabs_->addTab(reasoning_map_, tr("R&easoning"));
    tabs_->addTab(routing_, tr("&Routing"));
    tabs_->addTab(experts_, tr("E&xperts"));
    tabs_->addTab(dashboard_, tr("&Hardware"));
    tabs_->addTab(settings_, tr("&Settings"));
    tabs_->addTab(anatomy_, tr("&Anatomy"));
    split->addWidget(sidebar_);
    split->addWidget(center);
    split->addWidget(right);
    split->setStretchFactor(0, 0);
    split->setStretchFactor(1, 3);
    split->setStretchFactor(2, 2);
    // The chat is never collapsed; the side parts may be (by dragging, or View > Show...), and
    // their own minimum sizes do not hold the chat narrow.
    split->setCollapsible(1, false);
    center->setMinimumWidth(kChatMinWidth);
    sidebar_->setMinimumWidth(160);
    right->setMinimumWidth(300);
    split->setSizes({220, 620, 460});
    setCentralWidget(split);
    model_label_ = new QLabel(this);
    statusBar()->addPermanentWidget(model_label_);
    if (monitor) dashboard_->attach(monitor);
    server_monitor_ = new gb::app::ServerMonitor(2000, this);
    connect(server_monitor_, &gb::app::ServerMonitor::polled, dashboard_,
            &GpuDashboard::add_server_sample);
    settings_->set_settings(c_.settings());
    create_actions();

    // Views -> controller.
    // A message that cannot be sent (no model yet) goes back into the box, not into the chat.
    connect(chat_, &ChatView::sendRequested, this, [this](const QString& t) {
        if (!c_.send(t)) chat_->restore_input(t);
    });
    connect(chat_, &ChatView::stopRequested, &c_, &ChatController::stop);
    connect(chat_, &ChatView::stopThinkingRequested, &c_, &ChatController::stop_thinking);
    connect(chat_, &ChatView::editThoughtRequested, this,
            [this](qint64 id, const QString& reasoning) {
                const auto edited = TextEditDialog::edit(
                    this, tr("Edit the thought"),
                    tr("The model thinks on from the end of your text, then answers (a new "
                       "branch of this reply):"),
                    reasoning);
                if (edited) edit_thought_of(id, *edited);
            });
    // "Stop thinking" is offered while the streamed reply is inside its reasoning.
    connect(&c_, &ChatController::streamingUpdated, this, [this] {
        const auto& s = c_.streaming();
        const bool thinking = s.active && s.n_answer == 0 && !s.tokens.empty() &&
                              s.tokens.back()->phase == Phase::Think && !s.tokens.back()->forced;
        if (thinking != chat_->stop_thinking_button()->isEnabled() && !thinking_stopped_)
            chat_->set_thinking(thinking);
    });
    connect(chat_, &ChatView::stopThinkingRequested, this, [this] { thinking_stopped_ = true; });
    // Step mode: the engine waits for each token to be picked.
    connect(&c_.worker(), &gb::app::EngineWorker::choiceNeeded, this,
            [this](quint64, int position, const std::vector<Alternative>& top, int32_t sampled) {
                chat_->step_chooser()->offer(position, top, sampled);
            });
    connect(chat_->step_chooser(), &StepChooser::chosen, this,
            [this](int token) { c_.choose(token); });
    connect(&c_, &ChatController::streamingStarted, this, [this] { thinking_stopped_ = false; });
    connect(chat_, &ChatView::editRequested, this,
            [this](qint64 id, const QString& t) { c_.edit(id, t); });
    connect(chat_, &ChatView::regenerateRequested, this, [this](qint64 id) { c_.regenerate(id); });
    connect(chat_, &ChatView::continueRequested, this, [this](qint64 id) {
        if (auto t = stored_trace(id)) c_.continue_reply(id, std::move(t));
    });
    connect(chat_, &ChatView::branchRequested, this,
            [this](qint64 id, int d) { c_.switch_branch(id, d); });
    connect(chat_, &ChatView::inspectRequested, this, &MainWindow::inspect);
    connect(sidebar_, &HistorySidebar::conversationActivated, this,
            [this](qint64 id) { c_.select_conversation(id); });
    connect(sidebar_, &HistorySidebar::newRequested, this, [this] { c_.new_conversation(); });
    connect(sidebar_, &HistorySidebar::renameRequested, this,
            [this](qint64 id, const QString& t) { c_.rename_conversation(id, t); });
    connect(sidebar_, &HistorySidebar::deleteRequested, this,
            [this](qint64 id) { c_.delete_conversation(id); });
    connect(sidebar_, &HistorySidebar::pinRequested, this,
            [this](qint64 id, bool p) { c_.set_pinned(id, p); });
    connect(settings_, &SettingsPanel::settingsEdited, this,
            [this](const GenerationSettings& s) { c_.set_settings(s); });
    connect(inspector_, &TokenInspector::tokenSelected, routing_, &RoutingView::select_token);
    connect(routing_, &RoutingView::tokenActivated, inspector_, &TokenInspector::select_token);
    connect(inspector_, &TokenInspector::tokenSelected, reasoning_map_,
            &ReasoningMapView::select_token);
    connect(reasoning_map_, &ReasoningMapView::tokenActivated, inspector_,
            &TokenInspector::select_token);

    // Controller -> views.
    connect(&c_, &ChatController::conversationsChanged, conversations_,
            &ConversationListModel::refresh);
    connect(&c_, &ChatController::currentConversationChanged, this,
            [this](qint64 id) { sidebar_->set_current(id); });
    connect(&c_, &ChatController::settingsChanged, this,
            [this] { settings_->set_settings(c_.settings()); });
    connect(&c_, &ChatController::errorOccurred, this, [this](const QString& m) { show_error(m); });
    connect(&c_, &ChatController::noticeOccurred, this,
            [this](const QString& m) { show_error(tr("Note: %1").arg(m), false); });
    connect(&c_, &ChatController::streamingStarted, this, [this] {
        chat_->set_busy(true);
        banner_->hide();
        update_status();
    });
    connect(&c_, &ChatController::streamingFinished, this, [this] {
        chat_->set_busy(false);
        update_status();
    });

    // The inspected reply -> the panels.
    reply_ = new gb::app::InspectedReply(c_, this);
    messages_->follow_replay(reply_);  // a replay grows its reply's bubble too
    connect(reply_, &gb::app::InspectedReply::traceChanged, this,
            [this](std::shared_ptr<const Trace> t, bool continues_live) {
                // A token picked while the reply streamed stays picked: the stored trace puts
                // the prompt first.
                const int picked = continues_live ? inspector_->selected() : -1;
                inspector_->set_trace(t);
                routing_->set_trace(t);
                reasoning_map_->set_trace(t);
                experts_->set_trace(t);
                if (t && !reply_->live())
                    dashboard_->set_engine_figures(*t, c_.context_use().n_ctx);
                if (picked >= 0 && t && t->n_prompt + picked < static_cast<int>(t->tokens.size()))
                    inspector_->select_token(t->n_prompt + picked);
            });
    // Branch and reproduce: a stored reply of the loaded model, shown whole, while nothing runs.
    auto branchable = [this] {
        const auto t = reply_->trace();
        inspector_->set_branchable(t && !reply_->live() && !reply_->replaying() &&
                                   !reply_->loading() && reply_->message_id() != 0 &&
                                   c_.model_loaded() && !c_.busy() && t->model == c_.model().name);
    };
    connect(reply_, &gb::app::InspectedReply::traceChanged, this, branchable);
    connect(reply_, &gb::app::InspectedReply::replayChanged, this, branchable);
    connect(&c_, &ChatController::streamingStarted, this, branchable);
    connect(&c_, &ChatController::streamingFinished, this, branchable);
    connect(&c_, &ChatController::modelChanged, this, branchable);
    connect(inspector_, &TokenInspector::branchRequested, this, [this](int at, int token) {
        c_.branch_from(reply_->message_id(), reply_->trace(), at, token);
    });
    connect(inspector_, &TokenInspector::reproduceRequested, this, [this] {
        statusBar()->showMessage(tr("Running the reply again…"));
        c_.reproduce(reply_->message_id(), reply_->trace());
    });
    // The reply's own tokens scored in the other precision mode, compared with it side by side.
    connect(inspector_, &TokenInspector::rescoreRequested, this, [this](bool precise) {
        const auto t = reply_->trace();
        if (!t) return;
        rescore_message_ = reply_->message_id();
        statusBar()->showMessage(precise ? tr("Scoring the reply precisely…")
                                         : tr("Scoring the reply in fast mode…"));
        c_.worker().rescore(++rescore_request_, t, precise);
    });
    connect(&c_.worker(), &gb::app::EngineWorker::rescored, this,
            [this](quint64 request, std::shared_ptr<const gb::Trace> t) {
                if (request != rescore_request_) return;
                statusBar()->clearMessage();
                if (reply_->message_id() != rescore_message_) return;  // another reply is shown
                CompareDialog* d = open_compare();
                d->add_trace(t, t->precision == "precise" ? tr("This reply, scored precisely")
                                                          : tr("This reply, scored in fast mode"));
            });
    connect(&c_.worker(), &gb::app::EngineWorker::rescoreFailed, this,
            [this](quint64 request, const QString& error) {
                if (request != rescore_request_) return;
                statusBar()->clearMessage();
                show_error(tr("The reply could not be scored again: %1").arg(error));
            });
    connect(inspector_, &TokenInspector::lensRequested, this, [this](int index) {
        const auto t = reply_->trace();
        if (!t || index <= 0 || index >= static_cast<int>(t->tokens.size())) return;
        if (!lens_) lens_ = new LensDialog(this);
        // The token and up to 24 positions either side of it, each read for what came next.
        const int first = std::max(0, index - 1 - 24);
        const int end = std::min(static_cast<int>(t->tokens.size()), index + 25);
        std::vector<int32_t> ids;
        for (int i = 0; i < end; ++i) ids.push_back(t->tokens[static_cast<size_t>(i)].id);
        lens_token_ = token_display(t->tokens[static_cast<size_t>(index)].text);
        lens_->set_waiting(lens_token_);
        lens_->show();
        lens_->raise();
        c_.worker().lens(++lens_request_, std::move(ids), index - 1, 5, first, end - 1 - first);
    });
    connect(&c_.worker(), &gb::app::EngineWorker::lensReady, this,
            [this](quint64 request, std::shared_ptr<const gb::app::ChatEngine::Lens> l) {
                if (lens_ && request == lens_request_) lens_->set_lens(*l, lens_token_);
            });
    connect(&c_.worker(), &gb::app::EngineWorker::lensFailed, this,
            [this](quint64 request, const QString& error) {
                if (lens_ && request == lens_request_) lens_->set_error(error);
            });
    connect(inspector_, &TokenInspector::resampleRequested, this, &MainWindow::open_resample);
    connect(&c_, &ChatController::resampleProgress, this, [this](qint64 id, int done, int k) {
        if (resample_ && id == resample_->message_id()) resample_->set_progress(done, k);
        statusBar()->showMessage(tr("Resampling: %1 of %2 rollouts…").arg(done).arg(k));
    });
    connect(&c_, &ChatController::resampleFinished, this,
            [this](qint64 id, qint64 stored, std::shared_ptr<const gb::ResampleResult> r) {
                statusBar()->showMessage(
                    tr("Resampling done: %1 rollouts, %2% give the answer counted")
                        .arg(r->rollouts.size())
                        .arg(100.0 * r->share, 0, 'f', 0),
                    15000);
                if (!resample_ || id != resample_->message_id()) return;
                resample_->set_running(false);
                refresh_resamplings();
                resample_->show_result(*r, stored);
            });
    connect(&c_, &ChatController::resampleFailed, this, [this](qint64 id, const QString& error) {
        statusBar()->clearMessage();
        if (resample_ && id == resample_->message_id()) resample_->set_error(error);
    });
    connect(&c_, &ChatController::resampleFailed, this, branchable);
    connect(&c_, &ChatController::resampleFinished, this, branchable);
    connect(&c_, &ChatController::reproduced, this, [this](qint64, bool, const QString& summary) {
        statusBar()->showMessage(summary, 30000);
        last_reproduce_ = summary;
    });
    connect(reply_, &gb::app::InspectedReply::traceGrew, this, [this](bool routing_due) {
        inspector_->trace_grew();
        // The routing view counts the whole reply again each time: once a second is enough.
        if (routing_due) {
            routing_->trace_grew();
            reasoning_map_->trace_grew();
            experts_->trace_grew();
        }
    });
    connect(reply_, &gb::app::InspectedReply::loadFailed, this,
            [this](const QString& m) { show_error(m); });
    // Replay: the newest token is the selected one, so every panel shows where the reply is.
    replay_bar_ = new ReplayBar(*reply_, right);
    rv->insertWidget(0, replay_bar_);
    connect(replay_bar_, &ReplayBar::presenterToggled, this, &MainWindow::set_presenter);
    connect(reply_, &gb::app::InspectedReply::replayChanged, this, [this] {
        for (QAction* a : step_actions_) a->setEnabled(reply_->replaying());
        const auto t = reply_->trace();
        if (reply_->replaying() && t && reply_->replay_position() > 0)
            inspector_->select_token(static_cast<int>(t->tokens.size()) - 1);
    });
    connect(reasoning_map_, &ReasoningMapView::exportBundleRequested, this, [this] {
        const QString dir = QFileDialog::getExistingDirectory(
            this, tr("Folder for the trace bundle (tokens.jsonl, expert_usage.csv, steps.csv, "
                     "analysis.json)"));
        if (!dir.isEmpty()) reply_->export_bundle(dir);
    });
    connect(reasoning_map_, &ReasoningMapView::compareRequested, this, [this] { open_compare(); });
    // The expert analytics over a set of stored replies: the history's expert-usage table,
    // summed off the UI thread.
    auto* usage = new gb::app::ExpertUsageQuery(c_.store(), this);
    connect(experts_, &ExpertAnalyticsView::scopeRequested, this,
            [this, usage](ExpertAnalyticsView::Scope scope) {
                if (scope == ExpertAnalyticsView::Scope::Conversation) {
                    std::vector<int64_t> ids;
                    for (const StoredMessage& m : c_.messages())
                        if (m.role == "assistant") ids.push_back(m.id);
                    usage->sum(std::move(ids));
                } else if (scope == ExpertAnalyticsView::Scope::Chosen) {
                    const std::vector<qint64> chosen = sidebar_->selected();
                    usage->sum_conversations({chosen.begin(), chosen.end()});
                } else {
                    const auto t = reply_->trace();
                    usage->sum({}, t ? t->model : c_.model().name);
                }
            });
    connect(sidebar_, &HistorySidebar::selectionChanged, this, [this] {
        if (experts_->scope() == ExpertAnalyticsView::Scope::Chosen)
            experts_->set_scope(ExpertAnalyticsView::Scope::Chosen);  // counts the new choice
    });
    connect(usage, &gb::app::ExpertUsageQuery::summed, this,
            [this](int replies, const std::vector<gb::app::ExpertUsage>& rows,
                   std::shared_ptr<const MoeAnalytics> full) {
                const auto t = reply_->trace();
                const int n_expert = t ? t->n_expert : static_cast<int>(c_.model().n_expert);
                const int k = t ? t->n_expert_used : static_cast<int>(c_.model().n_expert_used);
                experts_->set_aggregate(replies, rows, n_expert, k, std::move(full));
            });
    connect(usage, &gb::app::ExpertUsageQuery::failed, experts_,
            &ExpertAnalyticsView::set_aggregate_error);
    // Bookmarks of the inspected stored reply, kept in the history.
    // Read again only when another reply is shown: replay steps and live growth change nothing.
    connect(reply_, &gb::app::InspectedReply::traceChanged, this, [this] {
        if (bookmarks_shown_for_ != bookmarks_key()) refresh_bookmarks();
    });
    auto bookmark_op = [this](auto op) {
        try {
            op();
        } catch (const std::exception& e) {
            show_error(tr("The bookmark was not saved: %1").arg(QString::fromUtf8(e.what())));
        }
        refresh_bookmarks();
    };
    connect(reasoning_map_, &ReasoningMapView::bookmarkRequested, this,
            [this, bookmark_op](int token, const QString& note) {
                bookmark_op([&] {
                    c_.store().add_bookmark(reply_->message_id(), token, note.toStdString());
                });
            });
    connect(reasoning_map_, &ReasoningMapView::bookmarkNoteEdited, this,
            [this, bookmark_op](qint64 id, const QString& note) {
                bookmark_op([&] { c_.store().set_bookmark_note(id, note.toStdString()); });
            });
    connect(
        reasoning_map_, &ReasoningMapView::bookmarkRemoved, this,
        [this, bookmark_op](qint64 id) { bookmark_op([&] { c_.store().remove_bookmark(id); }); });
    connect(reasoning_map_, &ReasoningMapView::exportHtmlRequested, this, [this] {
        const QString path = QFileDialog::getSaveFileName(
            this, tr("Save the reply as a web page"), tr("reply.html"), tr("Web page (*.html)"));
        if (!path.isEmpty()) reply_->export_html(path);
    });
    connect(reply_, &gb::app::InspectedReply::exported, this,
            [this](const QString& dir, const QString& error) {
                if (!error.isEmpty())
                    show_error(tr("The export was not written: %1").arg(error));
                else
                    statusBar()->showMessage(tr("Written: %1").arg(dir), 8000);
            });
    connect(&c_, &ChatController::modelLoading, this, [this](const QString& path) {
        banner_->hide();  // a new attempt: what went wrong before no longer applies
        chat_->set_placeholder(
            tr("Loading %1…")
                .arg(QFileInfo(path).fileName().isEmpty() ? path : QFileInfo(path).fileName()));
        loading_ = path;
        update_status();
    });
    connect(&c_, &ChatController::modelChanged, this, [this] {
        loading_.clear();
        watch_server();
        anatomy_->set_model(c_.model_loaded() ? c_.model() : ModelInfo{});
        if (c_.model_loaded()) {
            const QString path = QString::fromStdString(c_.model().path);
            if (QFileInfo::exists(path)) remember_model(path);
            const QString name = QString::fromStdString(c_.model().name);
            chat_->set_placeholder(tr("%1 is ready. Type a message below.").arg(name));
            QString error;
            chat_->set_demo_prompts(gb::app::demo_prompts_for(name, &error));
            if (!error.isEmpty()) show_error(error);
        } else {
            chat_->set_placeholder(
                tr("Open a model (Ctrl+O, or the library: Ctrl+Shift+L), then "
                   "type a message below."));
            chat_->set_demo_prompts({});
        }
        routing_->set_loaded_model(c_.model_loaded() ? c_.model() : ModelInfo{});
        update_status();
    });
    connect(&c_, &ChatController::contextUseChanged, this, [this] {
        settings_->set_context_use(c_.context_use(), c_.model().template_keeps_reasoning);
        anatomy_->set_context(c_.context_use().n_ctx, c_.context_use().total());
    });
    update_status();
    chat_->input()->setFocus();  // typing starts in the message box
    style_charts(this);
    connect(&ThemeNotifier::instance(), &ThemeNotifier::changed, this, [this] {
        style_charts(this);
        for (QWidget* w : findChildren<QDialog*>()) style_charts(w);
    });
}

void MainWindow::create_actions() {
    auto add = [this](QMenu* menu, const QString& text, const QKeySequence& key, auto fn) {
        auto* a = new QAction(text, this);
        a->setShortcut(key);
        a->setShortcutContext(Qt::ApplicationShortcut);
        QString plain = text;
        a->setToolTip(plain.remove('&'));
        connect(a, &QAction::triggered, this, fn);
        menu->addAction(a);
        addAction(a);  // its shortcut keeps working while the menu bar is hidden (presenter)
        return a;
    };
    QMenu* file = menuBar()->addMenu(tr("&Model"));
    set_action_icon(
        add(file, tr("&Open model…"), QKeySequence::Open, [this] { open_model_dialog(); }), "open");
    set_action_icon(add(file, tr("&Connect to a server…"), QKeySequence(tr("Ctrl+Shift+O")),
                        [this] { open_server_dialog(); }),
                    "server");
    set_action_icon(add(file, tr("Model &library…"), QKeySequence(tr("Ctrl+Shift+L")),
                        [this] { open_library(); }),
                    "library");
    add(file, tr("&Unload the model"), QKeySequence(tr("Ctrl+Shift+U")),
        [this] { c_.unload_model(); });
    file->addSeparator();
    add(file, tr("&Quit"), QKeySequence::Quit, [] { QApplication::quit(); });
    QMenu* chat = menuBar()->addMenu(tr("&Chat"));
    set_action_icon(
        add(chat, tr("&New chat"), QKeySequence::New, [this] { c_.new_conversation(); }),
        "new-chat");
    set_action_icon(add(chat, tr("&Stop generating"), QKeySequence(Qt::CTRL | Qt::Key_Period),
                        [this] { c_.stop(); }),
                    "stop");
    set_action_icon(add(chat, tr("&Regenerate last reply"), QKeySequence(Qt::CTRL | Qt::Key_R),
                        [this] { c_.regenerate_last(); }),
                    "regenerate");
    add(chat, tr("&Focus the message box"), QKeySequence(Qt::CTRL | Qt::Key_L),
        [this] { chat_->input()->setFocus(); });
    set_action_icon(add(chat, tr("Search &conversations"), QKeySequence::Find,
                        [this] { sidebar_->search()->setFocus(); }),
                    "search");
    set_action_icon(add(chat, tr("Rena&me conversation"), QKeySequence(Qt::Key_F2),
                        [this] { sidebar_->rename_current(); }),
                    "rename");
    set_action_icon(
        add(chat, tr("&Pin / unpin conversation"), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_P),
            [this] { sidebar_->toggle_pin_current(); }),
        "pin");
    QMenu* view = menuBar()->addMenu(tr("&View"));
    set_action_icon(add(view, tr("Token &inspector"), QKeySequence(Qt::CTRL | Qt::Key_1),
                        [this] { show_panel(InspectorPanel); }),
                    "inspect");
    add(view, tr("R&easoning map"), QKeySequence(Qt::CTRL | Qt::Key_2),
        [this] { show_panel(ReasoningPanel); });
    add(view, tr("Expert &routing"), QKeySequence(Qt::CTRL | Qt::Key_3),
        [this] { show_panel(RoutingPanel); });
    add(view, tr("E&xpert analytics"), QKeySequence(Qt::CTRL | Qt::Key_4),
        [this] { show_panel(ExpertsPanel); });
    add(view, tr("&Hardware"), QKeySequence(Qt::CTRL | Qt::Key_5),
        [this] { show_panel(HardwarePanel); });
    set_action_icon(add(view, tr("&Settings and context"), QKeySequence(Qt::CTRL | Qt::Key_6),
                        [this] { show_panel(SettingsPanelTab); }),
                    "settings");
    add(view, tr("Model &anatomy"), QKeySequence(Qt::CTRL | Qt::Key_7),
        [this] { show_panel(AnatomyPanel); });
    view->addSeparator();
    set_action_icon(add(view, tr("&Compare replies…"), QKeySequence(Qt::CTRL | Qt::Key_D),
                        [this] { open_compare(); }),
                    "compare");
    view->addSeparator();
    show_sidebar_ = add(view, tr("Show the &conversation list"), QKeySequence(tr("Ctrl+Shift+H")),
                        [this] { set_sidebar_shown(show_sidebar_->isChecked()); });
    show_sidebar_->setCheckable(true);
    show_sidebar_->setChecked(true);
    show_panels_ = add(view, tr("Show the side &panels"), QKeySequence(Qt::CTRL | Qt::Key_J),
                       [this] { set_panels_shown(show_panels_->isChecked()); });
    show_panels_->setCheckable(true);
    show_panels_->setChecked(true);
    QMenu* theme = view->addMenu(tr("&Theme"));
    set_action_icon(theme->menuAction(), "theme");
    auto* themes = new QActionGroup(this);
    for (auto [mode, name] :
         {std::pair{ThemeMode::System, tr("Follow the &system")},
          std::pair{ThemeMode::Light, tr("&Light")}, std::pair{ThemeMode::Dark, tr("&Dark")}}) {
        QAction* a = theme->addAction(name);
        a->setCheckable(true);
        a->setChecked(current_theme_mode() == mode);
        a->setData(static_cast<int>(mode));
        themes->addAction(a);
        connect(a, &QAction::triggered, this, [mode] {
            set_theme_mode_setting(mode);
            apply_theme(*qApp, mode);
        });
    }
    QMenu* teach = menuBar()->addMenu(tr("&Teach"));
    QAction* replay =
        add(teach, tr("&Replay the inspected reply"), QKeySequence(Qt::Key_F5), [this] {
            if (reply_->replaying())
                reply_->stop_replay();
            else
                reply_->start_replay(replay_bar_->speed());
        });
    set_action_icon(replay, "replay");
    add(teach, tr("&Pause / resume the replay"), QKeySequence(Qt::Key_F6), [this] {
        if (reply_->replay_paused())
            reply_->resume_replay();
        else
            reply_->pause_replay();
    });
    // Page Down / Page Up (what presentation clickers send) step only while a replay runs, so
    // they scroll as usual otherwise.
    QAction* forward = add(teach, tr("Step &forward"), QKeySequence(Qt::Key_PageDown),
                           [this] { reply_->step_replay(+1); });
    QAction* back = add(teach, tr("Step &back"), QKeySequence(Qt::Key_PageUp),
                        [this] { reply_->step_replay(-1); });
    step_actions_ = {forward, back};
    for (QAction* a : step_actions_) a->setEnabled(false);
    set_action_icon(add(teach, tr("Pre&senter view"), QKeySequence(Qt::Key_F11),
                        [this] { set_presenter(!presenter_); }),
                    "presenter");
    teach->addSeparator();
    step_mode_action_ = add(teach, tr("Step &mode: pick each next token"), QKeySequence(Qt::Key_F7),
                            [this] { c_.set_step_mode(step_mode_action_->isChecked()); });
    step_mode_action_->setCheckable(true);
    step_mode_action_->setToolTip(
        tr("Each token of the next reply waits for you: pick one of the model's alternatives "
           "or let the sampler choose"));
}

void MainWindow::set_sidebar_shown(bool on) {
    sidebar_->setVisible(on);
    if (show_sidebar_->isChecked() != on) show_sidebar_->setChecked(on);
}

void MainWindow::set_panels_shown(bool on) {
    right_->setVisible(on);
    if (show_panels_->isChecked() != on) show_panels_->setChecked(on);
}

bool MainWindow::restore_layout() {
    QSettings s;
    const bool had = restoreGeometry(s.value("window/geometry").toByteArray());
    split_->restoreState(s.value("window/splitter").toByteArray());
    set_sidebar_shown(s.value("window/sidebar", true).toBool());
    set_panels_shown(s.value("window/panels", true).toBool());
    return had;
}

void MainWindow::save_layout() const {
    QSettings s;
    s.setValue("window/geometry", saveGeometry());
    s.setValue("window/splitter", split_->saveState());
    s.setValue("window/sidebar", show_sidebar_->isChecked());
    s.setValue("window/panels", show_panels_->isChecked());
}

void MainWindow::closeEvent(QCloseEvent* e) {
    save_layout();
    QMainWindow::closeEvent(e);
}

void MainWindow::resizeEvent(QResizeEvent* e) {
    QMainWindow::resizeEvent(e);
    fit_chat();
}

void MainWindow::fit_chat() {
    // A narrow window keeps the chat readable: the side panels give way first (down to their
    // minimum), then the conversation list folds away.
    QList<int> sizes = split_->sizes();
    if (sizes.size() != 3 || !isVisible()) return;
    const int total = sizes[0] + sizes[1] + sizes[2];
    if (total < 400) return;  // not laid out yet
    const int want = std::min(kChatWantWidth, total * 45 / 100);
    if (sizes[1] >= want) return;
    int need = want - sizes[1];
    const int from_right = right_->isVisible() ? std::max(0, std::min(need, sizes[2] - 300)) : 0;
    sizes[2] -= from_right;
    sizes[1] += from_right;
    need -= from_right;
    if (need > 0 && sizes[0] > 0) {
        sizes[1] += sizes[0];
        sizes[0] = 0;  // folded, as a drag to the edge does
    }
    split_->setSizes(sizes);
}

int MainWindow::chat_width() const { return chat_->width(); }

void MainWindow::watch_server() {
    const ModelInfo& m = c_.model();
    if (!c_.model_loaded() || !m.remote) {
        server_monitor_->unwatch();
        dashboard_->set_server({});
        return;
    }
    const gb::app::RemoteSettings& r = c_.load_settings().remote;
    gb::remote::RemoteServer s;
    s.base_url = r.base_url;
    s.api_key = r.api_key;
    s.kind = gb::remote::server_kind_from_name(m.server_kind);
    dashboard_->set_server(QString::fromStdString(m.server));
    server_monitor_->watch(s, m.name);
}

std::shared_ptr<const Trace> MainWindow::stored_trace(qint64 message_id) {
    try {
        return c_.store().trace(message_id);
    } catch (const std::exception& e) {
        show_error(tr("The reply's trace could not be read: %1").arg(e.what()));
        return nullptr;
    }
}

void MainWindow::edit_thought_of(qint64 message_id, const QString& thought) {
    if (auto t = stored_trace(message_id)) c_.edit_thought(message_id, std::move(t), thought);
}

void MainWindow::show_panel(Panel p) { tabs_->setCurrentIndex(static_cast<int>(p)); }

void MainWindow::show_error(const QString& message, bool is_error) {
    banner_->setProperty("kind", is_error ? "error" : "note");
    banner_->style()->unpolish(banner_);
    banner_->style()->polish(banner_);
    error_->setText(message);
    banner_->show();
    statusBar()->showMessage(message, 8000);
    // Stale errors go away on their own; the status bar keeps the last one a while longer.
    QTimer::singleShot(20000, banner_, [this, message] {
        if (error_->text() == message) banner_->hide();
    });
}

QString MainWindow::error_text() const {
    return banner_->isVisibleTo(this) ? error_->text() : QString();
}

void MainWindow::close_banner() { banner_->hide(); }

void MainWindow::update_status() {
    QString s;
    if (!loading_.isEmpty())
        s = tr("Loading %1…").arg(loading_);
    else if (c_.model_loaded()) {
        const ModelInfo& m = c_.model();
        s = tr("%1 · %2%3")
                .arg(QString::fromStdString(m.name), QString::fromStdString(m.arch),
                     m.is_moe() ? tr(" · %1 experts").arg(m.n_expert) : QString());
        if (m.n_cpu_layers > 0)
            s += tr(" · %1 of %2 layers on the CPU").arg(m.n_cpu_layers).arg(m.n_layer);
    } else {
        s = tr("No model loaded (Ctrl+O)");
    }
    if (c_.busy()) s += tr(" · generating (Esc stops)");
    model_label_->setText(s);
}

void MainWindow::inspect(qint64 message_id) { reply_->inspect(message_id); }

qint64 MainWindow::bookmarks_key() const {
    const qint64 id = reply_->message_id();
    return id > 0 && !reply_->live() && !reply_->loading() ? id : 0;
}

void MainWindow::refresh_bookmarks() {
    const qint64 id = bookmarks_key();
    const bool stored = id > 0;
    bookmarks_shown_for_ = id;
    std::vector<gb::app::Bookmark> marks;
    if (stored) {
        try {
            marks = c_.store().bookmarks(id);
        } catch (const std::exception& e) {
            show_error(tr("Bookmarks could not be read: %1").arg(QString::fromUtf8(e.what())));
        }
    }
    reasoning_map_->set_bookmarks(marks, stored);
}

void MainWindow::open_resample(int index) {
    const auto t = reply_->trace();
    if (!t || index < t->n_prompt || index >= static_cast<int>(t->tokens.size())) return;
    if (!resample_) {
        resample_ = new ResampleDialog(this);
        style_charts(resample_);
        connect(resample_, &ResampleDialog::startRequested, this,
                [this](const gb::ResampleOptions& opt) {
                    c_.resample(resample_->message_id(), resample_->trace(), resample_->at(), opt);
                    if (c_.resampling()) resample_->set_running(true);
                });
        connect(resample_, &ResampleDialog::stopRequested, this, [this] { c_.stop(); });
        connect(resample_, &ResampleDialog::removeRequested, this, [this](qint64 id) {
            try {
                c_.store().remove_resampling(id);
            } catch (const std::exception& e) {
                show_error(
                    tr("The resampling could not be deleted: %1").arg(QString::fromUtf8(e.what())));
            }
            refresh_resamplings();
        });
    }
    if (!resample_->running()) {
        std::vector<gb::app::StoredResampling> earlier;
        try {
            earlier = c_.store().resamplings(reply_->message_id());
        } catch (const std::exception& e) {
            show_error(tr("The reply's resamplings could not be read: %1")
                           .arg(QString::fromUtf8(e.what())));
        }
        resample_->set_target(reply_->message_id(), t, index - t->n_prompt, earlier);
    }
    resample_->show();
    resample_->raise();
}

void MainWindow::refresh_resamplings() {
    if (!resample_) return;
    try {
        resample_->set_earlier(c_.store().resamplings(resample_->message_id()));
    } catch (const std::exception& e) {
        show_error(
            tr("The reply's resamplings could not be read: %1").arg(QString::fromUtf8(e.what())));
    }
}

void MainWindow::set_presenter(bool on) {
    if (on == presenter_) return;
    presenter_ = on;
    if (on) {
        normal_font_ = font();
        normal_palette_ = palette();
        presenter_fonts_.clear();
        for (QWidget* w : chat_->findChildren<QWidget*>())
            presenter_fonts_[w] = w->testAttribute(Qt::WA_SetFont) ? w->font() : QFont();
        QFont big = font();
        big.setPointSizeF(big.pointSizeF() * 1.5);
        setFont(big);
        // High contrast: black on white, a strong selection colour.
        QPalette p = palette();
        for (auto role : {QPalette::Window, QPalette::Base, QPalette::AlternateBase})
            p.setColor(role, Qt::white);
        for (auto role : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText})
            p.setColor(role, Qt::black);
        p.setColor(QPalette::Highlight, QColor(0, 70, 200));
        p.setColor(QPalette::HighlightedText, Qt::white);
        setPalette(p);
        // The bubbles' parts carry style sheets, which stop a parent's font from reaching
        // them: the chat gets its size from a sheet of its own.
        chat_->setStyleSheet(QString("* { font-size: %1pt; }").arg(big.pointSizeF(), 0, 'f', 1));
    } else {
        setFont(normal_font_);
        setPalette(normal_palette_);
        chat_->setStyleSheet({});
        // Fonts a style sheet gave stay set on the widgets after it is removed: each gets back
        // the font it had (one made meanwhile inherits the window's again).
        for (QWidget* w : chat_->findChildren<QWidget*>()) {
            const auto it = presenter_fonts_.find(w);
            w->setFont(it != presenter_fonts_.end() ? it->second : QFont());
        }
        presenter_fonts_.clear();
    }
    sidebar_->setVisible(!on && show_sidebar_->isChecked());
    menuBar()->setVisible(!on);
    statusBar()->setVisible(!on);
    // The step keys must not go to the message box.
    if (on) tabs_->setFocus();
    replay_bar_->show_presenter(on);
}

CompareDialog* MainWindow::open_compare() {
    auto* d = new CompareDialog(c_, reply_->message_id(), this);
    style_charts(d);
    d->setAttribute(Qt::WA_DeleteOnClose);
    d->show();
    return d;
}

void MainWindow::open_server_dialog() {
    ServerDialog d(this);
    if (d.exec() != QDialog::Accepted) return;
    c_.load_model(d.settings());
}

LibraryDialog* MainWindow::open_library() {
    auto* d =
        new LibraryDialog(bundled_models_.toStdString(),
                          c_.model_loaded() ? QString::fromStdString(c_.model().path) : "", this);
    d->setAttribute(Qt::WA_DeleteOnClose);
    connect(d, &LibraryDialog::loadRequested, this, [this, d](const QString& path) {
        LoadSettings s;
        s.path = path.toStdString();
        s.n_ctx = 4096;
        for (const gb::app::LibraryEntry& e : d->entries())
            if (e.path == s.path && e.n_ctx_train > 0 && e.n_ctx_train < s.n_ctx)
                s.n_ctx = e.n_ctx_train;
        c_.load_model(s);
    });
    connect(d, &LibraryDialog::unloadRequested, this, [this] { c_.unload_model(); });
    d->show();
    return d;
}

void MainWindow::open_model_dialog() {
    ModelDialog d(this);
    if (d.exec() != QDialog::Accepted || d.settings().path.empty()) return;
    c_.load_model(d.settings());
}

}  // namespace gb::ui
