// The desktop app as a user meets it: themes and their contrast, code blocks, reply footers,
// Markdown line breaks, the layout at narrow sizes and across runs, the banner, shortcuts, the
// conversation list, and what broke in ordinary use (sending with no model, the routing view
// after a dense model, renaming, the edit dialog, chart ticks). Real models where an engine is
// involved: our demo models, dense and MoE.
#include <QAbstractButton>
#include <QAction>
#include <QApplication>
#include <QChartView>
#include <QClipboard>
#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFontMetrics>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTest>
#include <QTextBlock>
#include <QTextBrowser>
#include <QTextLayout>
#include <QTimeZone>
#include <QToolButton>
#include <QValueAxis>
#include <map>

#include "app/chat_controller.h"
#include "app/engine_switch.h"
#include "app/gpu_monitor.h"
#include "app/history/history_store.h"
#include "app/history_conversation_store.h"
#include "app/local_engine.h"
#include "ui/chat_view.h"
#include "ui/code_blocks.h"
#include "ui/gpu_dashboard.h"
#include "ui/history_sidebar.h"
#include "ui/main_window.h"
#include "ui/message_widget.h"
#include "ui/routing_view.h"
#include "ui/text_edit_dialog.h"
#include "ui/theme.h"
#include "ui/welcome_panel.h"

using namespace gb;
using namespace gb::app;
using namespace gb::ui;

namespace {

const std::string kDense = GB_RESOURCES_DIR "/models/glassbox-demo-dense.gguf";
const std::string kMoe = GB_RESOURCES_DIR "/models/glassbox-demo-moe.gguf";

// The app as main.cpp builds it, on the real engine, conversations in memory.
struct RealApp {
    RealApp() {
        // One engine that switches, as the app has (ui/main.cpp).
        worker = std::make_unique<EngineWorker>(std::make_unique<EngineSwitch>(
            [] { return std::make_unique<LocalEngine>(); }, [] { return nullptr; }));
        c = std::make_unique<ChatController>(store, *worker);
        w = std::make_unique<MainWindow>(*c, nullptr);
        w->resize(1300, 800);
        w->show();
    }
    bool load(const std::string& path) {
        QSignalSpy changed(c.get(), &ChatController::modelChanged);
        LoadSettings s;
        s.path = path;
        s.n_ctx = 1024;
        s.n_threads = 1;
        c->load_model(s);
        return changed.wait(30000) && c->model_loaded() && c->model().path == path;
    }
    bool reply(const QString& text, int max_tokens = 400) {
        GenerationSettings s = c->settings();
        s.max_tokens = max_tokens;
        s.sampling.temperature = 0;
        c->set_settings(s);
        QSignalSpy done(c.get(), &ChatController::streamingFinished);
        return c->send(text) && done.wait(60000);
    }
    MemoryConversationStore store;
    std::unique_ptr<EngineWorker> worker;
    std::unique_ptr<ChatController> c;
    std::unique_ptr<MainWindow> w;
};

}  // namespace

class PolishTest : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName("GlassboxPolishTest");
        QSettings().clear();
    }

    // Contrast ratios from WCAG 2's formula, checked against published figures first.
    void contrast_ratio_matches_wcag_and_reasoning_text_is_readable() {
        QCOMPARE(qRound(contrast_ratio(Qt::black, Qt::white) * 100), 2100);
        QCOMPARE(qRound(contrast_ratio(QColor("#777777"), Qt::white) * 100), 448);
        // What the issue measured: #B8B8B8 on #EFEFEF, far below AA.
        QVERIFY(contrast_ratio(QColor("#B8B8B8"), QColor("#EFEFEF")) < 2);
        for (const Theme* t : {&light_theme(), &dark_theme()}) {
            QVERIFY(contrast_ratio(t->reasoning_text, t->reasoning_bg) >= 4.5);
            QVERIFY(contrast_ratio(t->text, t->assistant_bubble) >= 7);
            QVERIFY(contrast_ratio(t->text, t->user_bubble) >= 7);
            QVERIFY(contrast_ratio(t->muted, t->base) >= 4.5);  // footers, dates
            QVERIFY(contrast_ratio(t->code_text, t->code_bg) >= 7);
            QVERIFY(contrast_ratio(t->error_text, t->error_bg) >= 4.5);
            QVERIFY(contrast_ratio(t->accent_text, t->accent) >= 4.5);  // the Send button
        }
    }

    // The style sheet really reaches the widgets: a bubble's reasoning takes the theme's
    // colours, in both themes, and switching themes repaints what is already on screen.
    void themes_reach_the_widgets() {
        auto& app = *qApp;
        for (ThemeMode mode : {ThemeMode::Dark, ThemeMode::Light}) {
            QSignalSpy changed(&ThemeNotifier::instance(), &ThemeNotifier::changed);
            apply_theme(app, mode);
            const Theme& t = current_theme();
            QCOMPARE(t.dark, mode == ThemeMode::Dark);
            QCOMPARE(app.palette().color(QPalette::Window), t.window);
            MessageWidget w;
            MessageView m;
            m.role = "assistant";
            m.streaming = true;
            m.reasoning = "step one\nstep two";
            m.reasoning_tokens = 4;
            w.set_message(m);
            w.show();
            auto* box = w.findChild<QPlainTextEdit*>("reasoningBox");
            QVERIFY(box);
            QCOMPARE(box->palette().color(QPalette::Text), t.reasoning_text);
            QVERIFY(contrast_ratio(box->palette().color(QPalette::Text), t.reasoning_bg) >= 4.5);
            QCOMPARE(w.property("role").toString(), QString("assistant"));
        }
        // "System" follows the desktop: GLASSBOX_THEME first, then GTK_THEME's ":dark".
        qputenv("GLASSBOX_THEME", "dark");
        QVERIFY(system_prefers_dark());
        apply_theme(app, ThemeMode::System);
        QVERIFY(current_theme().dark);
        qputenv("GLASSBOX_THEME", "light");
        QVERIFY(!system_prefers_dark());
        qunsetenv("GLASSBOX_THEME");
        qputenv("GTK_THEME", "Adwaita:dark");
        QVERIFY(system_prefers_dark());
        qunsetenv("GTK_THEME");
        apply_theme(app, ThemeMode::Light);
        QCOMPARE(theme_mode_from_name("dark"), ThemeMode::Dark);
        QCOMPARE(theme_mode_from_name("nonsense"), ThemeMode::System);
        set_theme_mode_setting(ThemeMode::Dark);
        QCOMPARE(theme_mode_setting(), ThemeMode::Dark);
        set_theme_mode_setting(ThemeMode::System);
    }

    // A fenced block: tinted, a header with its language and a Copy link that copies exactly
    // the code, and keywords, strings and comments coloured.
    void code_blocks_have_a_header_copy_and_highlighting() {
        apply_theme(*qApp, ThemeMode::Light);
        MessageWidget w;
        w.resize(600, 400);
        w.show();
        MessageView m;
        m.id = 7;
        m.role = "assistant";
        m.content =
            "Here:\n\n```python\ndef f(x):\n    return \"hi\"  # "
            "greet\n```\n\nand\n\n```\nplain\n```";
        w.set_message(m);
        QTextDocument* doc = w.answer_view()->document();
        const std::vector<CodeBlock> blocks = document_code_blocks(doc);
        QCOMPARE(blocks.size(), size_t(2));
        QCOMPARE(blocks[0].language, QString("python"));
        QCOMPARE(blocks[0].code, QString("def f(x):\n    return \"hi\"  # greet"));
        QCOMPARE(blocks[1].code, QString("plain"));
        // Headers: "python   Copy" and "code   Copy", each with its gbcopy link.
        QStringList headers;
        QStringList links;
        for (QTextBlock b = doc->begin(); b.isValid(); b = b.next())
            for (auto it = b.begin(); !it.atEnd(); ++it)
                if (it.fragment().charFormat().isAnchor())
                    links << it.fragment().charFormat().anchorHref(), headers << b.text();
        QCOMPARE(links, QStringList({"gbcopy:0", "gbcopy:1"}));
        QVERIFY(headers[0].startsWith("python"));
        QVERIFY(headers[1].startsWith("code"));
        // The code's background and the highlighter's colours.
        std::map<QString, QColor> colour_of;
        bool tinted = false;
        for (QTextBlock b = doc->begin(); b.isValid(); b = b.next()) {
            if (!b.text().startsWith("def f")) continue;
            tinted = b.blockFormat().background().color() == current_theme().code_bg;
            for (const QTextLayout::FormatRange& r : b.layout()->formats()) {
                colour_of[b.text().mid(r.start, r.length)] = r.format.foreground().color();
            }
        }
        QVERIFY(tinted);
        QCOMPARE(colour_of["def"], current_theme().syn_keyword);
        bool string_coloured = false, comment_coloured = false;
        for (QTextBlock b = doc->begin(); b.isValid(); b = b.next())
            for (const QTextLayout::FormatRange& r : b.layout()->formats()) {
                const QString part = b.text().mid(r.start, r.length);
                if (part == "\"hi\"")
                    string_coloured = r.format.foreground().color() == current_theme().syn_string;
                if (part == "# greet")
                    comment_coloured = r.format.foreground().color() == current_theme().syn_comment;
            }
        QVERIFY(string_coloured);
        QVERIFY(comment_coloured);
        // Copy: the link copies the block, nothing else.
        if (!qEnvironmentVariableIsEmpty("GB_SHOTS")) {  // a look at it, in both themes
            for (ThemeMode mode : {ThemeMode::Light, ThemeMode::Dark}) {
                apply_theme(*qApp, mode);
                MessageWidget shot;
                shot.resize(560, 330);
                MessageView sm = m;
                sm.reasoning = "The user wants a function.\nA greeting is enough.";
                sm.reasoning_tokens = 12;
                sm.thought_ms = 800;
                sm.answer_tokens = 40;
                sm.decode_tps = 31.4;
                sm.ttft_ms = 180;
                shot.set_message(sm);
                shot.set_reasoning_expanded(true);
                shot.show();
                QTest::qWait(30);
                shot.grab().save(qEnvironmentVariable("GB_SHOTS") + "/code-block-" +
                                 theme_mode_name(mode) + ".png");
            }
            apply_theme(*qApp, ThemeMode::Light);
        }
        QApplication::clipboard()->clear();
        emit w.answer_view()->anchorClicked(QUrl("gbcopy:0"));
        QCOMPARE(QApplication::clipboard()->text(), blocks[0].code);
        QCOMPARE(copy_link_index(QUrl("https://example.com")), -1);
        QCOMPARE(copy_link_index(QUrl("gbcopy:x")), -1);
    }

    // Chat answers mean their line breaks; block syntax and code stay as they are.
    void single_line_breaks_are_kept() {
        QCOMPARE(with_hard_line_breaks("a\nb"), QString("a  \nb"));
        QCOMPARE(with_hard_line_breaks("a\n\nb"), QString("a\n\nb"));
        QCOMPARE(with_hard_line_breaks("```\nx\ny\n```"), QString("```\nx\ny\n```"));
        QCOMPARE(with_hard_line_breaks("intro\n- one\n- two"), QString("intro\n- one\n- two"));
        QCOMPARE(with_hard_line_breaks("| a | b |\n|---|---|\n| 1 | 2 |"),
                 QString("| a | b |\n|---|---|\n| 1 | 2 |"));
        QCOMPARE(with_hard_line_breaks("# Title\ntext"), QString("# Title\ntext"));
        MessageWidget w;
        w.resize(500, 300);
        w.show();
        MessageView m;
        m.id = 3;
        m.role = "assistant";
        m.content = "Roses are red\nviolets are blue";
        w.set_message(m);
        const QString shown = w.answer_document_text();
        QVERIFY2(!shown.contains("red violets"), qPrintable(shown));
        QVERIFY(shown.contains("red\nviolets") || shown.contains(QString("red") + QChar(0x2028)));
    }

    void reply_footer_says_speed_and_counts() {
        MessageView m;
        m.id = 1;
        m.role = "assistant";
        m.decode_tps = 31.44;
        m.ttft_ms = 180;
        m.thought_ms = 2100;
        m.reasoning_tokens = 273;
        m.answer_tokens = 12;
        m.prompt_tokens = 9;
        QCOMPARE(reply_footer(m), QString("31.4 tok/s · first token 0.18 s · thought 2.1 s · 273 "
                                          "reasoning + 12 answer tokens · 9 prompt tokens"));
        m.streaming = true;
        QCOMPARE(reply_footer(m), QString());
        m.streaming = false;
        m.role = "user";
        QCOMPARE(reply_footer(m), QString());
    }

    // Sending with no model used to store the user's turn with no reply: Regenerate then did
    // nothing and the next send made two user bubbles in a row. Now nothing is stored, the
    // text stays in the box, and once a model is there the same text sends normally.
    void sending_without_a_model_keeps_the_text_and_stores_nothing() {
        RealApp a;
        ChatView* chat = a.w->chat();
        QTest::keyClicks(chat->input(), "48213+9077");
        QTest::keyClick(chat->input(), Qt::Key_Return);
        QVERIFY(a.w->error_text().contains("No model is loaded"));
        QCOMPARE(chat->input()->toPlainText(), QString("48213+9077"));
        QCOMPARE(chat->bubble_count(), 0);
        QVERIFY(a.c->path().empty());
        QVERIFY(a.load(kDense));
        QVERIFY(a.w->error_text().isEmpty());  // the new load cleared the stale banner
        QSignalSpy done(a.c.get(), &ChatController::streamingFinished);
        QTest::keyClick(chat->input(), Qt::Key_Return);
        QVERIFY(done.wait(60000));
        chat->flush_pending();
        QCOMPARE(chat->bubble_count(), 2);
        QCOMPARE(a.c->path()[0].role, std::string("user"));
        QCOMPARE(a.c->path()[1].role, std::string("assistant"));
        QVERIFY(chat->input()->toPlainText().isEmpty());
        // The real reply's footer: its speed and counts, from the real trace.
        const QString footer = chat->bubble(1)->footer_text();
        QVERIFY2(footer.contains("tok/s") && footer.contains("first token") &&
                     footer.contains("reasoning"),
                 qPrintable(footer));
        // Ctrl+R on a turn left without a reply gives it one.
        QSignalSpy again(a.c.get(), &ChatController::streamingFinished);
        a.c->regenerate_last();
        QVERIFY(again.wait(60000));
        QCOMPARE(a.c->siblings(a.c->path()[1].id).size(), size_t(2));
    }

    // A failed load's banner went away only after 20 s and could not be closed; now it has a
    // close button and the next load attempt clears it.
    void banner_closes_and_clears_on_the_next_load() {
        RealApp a;
        QSignalSpy changed(a.c.get(), &ChatController::modelChanged);
        LoadSettings bad;
        bad.path = "/nonexistent/model.gguf";
        a.c->load_model(bad);
        QVERIFY(changed.wait(10000));
        QVERIFY(a.w->error_text().contains("Could not load"));
        auto* close = a.w->findChild<QFrame*>("banner")->findChild<QToolButton*>();
        QVERIFY(close);
        close->click();
        QVERIFY(a.w->error_text().isEmpty());
        a.c->load_model(bad);
        QVERIFY(changed.wait(10000));
        QVERIFY(!a.w->error_text().isEmpty());
        QVERIFY(a.load(kMoe));
        QVERIFY2(a.w->error_text().isEmpty(), qPrintable(a.w->error_text()));
    }

    // F2 was bound twice (window and sidebar), so Qt ran neither. No key may be bound twice.
    void no_two_actions_share_a_shortcut() {
        RealApp a;
        std::map<QString, QStringList> by_key;
        for (QAction* act : a.w->findChildren<QAction*>())
            for (const QKeySequence& k : act->shortcuts()) by_key[k.toString()] << act->text();
        // Keys bound to different widgets (Del in the list and in the bookmarks) do not clash;
        // a window- or application-wide key clashes with any other use of it.
        std::map<QString, int> wide;
        for (QAction* act : a.w->findChildren<QAction*>())
            if (act->shortcutContext() != Qt::WidgetShortcut &&
                act->shortcutContext() != Qt::WidgetWithChildrenShortcut)
                for (const QKeySequence& k : act->shortcuts()) ++wide[k.toString()];
        // A button's shortcut is window-wide (Ctrl+B bookmarks a token on the reasoning map).
        for (QAbstractButton* b : a.w->findChildren<QAbstractButton*>())
            if (!b->shortcut().isEmpty()) {
                by_key[b->shortcut().toString()] << b->text();
                ++wide[b->shortcut().toString()];
            }
        QStringList clashes;
        for (const auto& [k, names] : by_key)
            if (names.size() > 1 && wide[k] > 0) clashes << k + ": " + names.join(" / ");
        QVERIFY2(clashes.isEmpty(), qPrintable(clashes.join("; ")));
        QVERIFY(by_key.count("F2"));
    }

    // While a reply thinks, its reasoning block shows up to 14 lines as it grows.
    void streaming_reasoning_block_grows() {
        MessageWidget w;
        w.resize(600, 800);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        MessageView m;
        m.role = "assistant";
        m.streaming = true;
        for (int i = 0; i < 30; ++i) {
            m.reasoning += QString("line %1\n").arg(i);
            m.reasoning_tokens = i + 1;
            w.set_message(m);
        }
        QTest::qWait(20);
        auto* box = w.findChild<QPlainTextEdit*>("reasoningBox");
        QVERIFY(box->height() >= 10 * box->fontMetrics().lineSpacing());
    }

    // Loaded after a dense model, an MoE model's routing view said "This model is dense".
    void routing_view_follows_the_model_loaded_after_a_dense_one() {
        RealApp a;
        QVERIFY(a.load(kDense));
        QVERIFY(a.reply("742*38", 60));
        a.w->inspect(a.c->path().back().id);
        QTRY_VERIFY(a.w->routing()->showing_dense_message() &&
                    a.w->routing()->summary_text().contains("dense"));
        QVERIFY(a.load(kMoe));
        // The inspected reply is still the dense model's: the view says whose it is, and that
        // the loaded model routes.
        const QString text = a.w->routing()->summary_text();
        QVERIFY2(text.contains("glassbox-demo-dense") && text.contains("glassbox-demo-moe") &&
                     text.contains("of 16 experts"),
                 qPrintable(text));
        a.c->new_conversation();
        QVERIFY(a.reply("305*40", 120));
        QTRY_VERIFY(!a.w->routing()->showing_dense_message());
        QVERIFY(a.w->routing()->summary_text().contains("MoE layers"));
    }

    // Renaming is not activity: the conversation keeps its place, in the history store and in
    // the in-memory store alike.
    void renaming_keeps_a_conversations_place() {
        const QString db = QDir::temp().filePath(
            QString("gb_polish_%1.db").arg(QCoreApplication::applicationPid()));
        QFile::remove(db);
        std::vector<std::unique_ptr<ConversationStore>> stores;
        stores.push_back(std::make_unique<MemoryConversationStore>());
        stores.push_back(HistoryConversationStore::open(db.toStdString()));
        for (auto& s : stores) {
            const int64_t older = s->create("older", "{}");
            QTest::qWait(5);
            const int64_t newer = s->create("newer", "{}");
            QCOMPARE(s->list()[0].id, newer);
            QTest::qWait(5);
            s->rename(older, "renamed");
            QCOMPARE(s->list()[0].id, newer);
            QCOMPARE(s->list()[1].title, std::string("renamed"));
        }
        stores.clear();
        for (const QString& suffix : {"", "-wal", "-shm", ".lock"}) QFile::remove(db + suffix);
    }

    void conversation_list_shows_dates_and_elides_titles() {
        const QTimeZone utc = QTimeZone::utc();
        const QDateTime now(QDate(2026, 12, 4), QTime(16, 30), utc);
        auto at = [&](QDate d, QTime t) { return QDateTime(d, t, utc).toMSecsSinceEpoch(); };
        QCOMPARE(conversation_date(at(QDate(2026, 12, 4), QTime(9, 5)), now), QString("09:05"));
        QCOMPARE(conversation_date(at(QDate(2026, 12, 3), QTime(23, 0)), now),
                 QString("Yesterday"));
        QCOMPARE(conversation_date(at(QDate(2026, 11, 30), QTime(8, 0)), now), QString("Monday"));
        QCOMPARE(conversation_date(at(QDate(2026, 11, 3), QTime(8, 0)), now), QString("3 Nov"));
        QCOMPARE(conversation_date(at(QDate(2025, 11, 3), QTime(8, 0)), now),
                 QString("3 Nov 2025"));
        QCOMPARE(conversation_date(0, now), QString());
        const QFontMetrics fm(QApplication::font());
        const QString long_title = "Why does a mixture of experts route tokens the way it does";
        const QString cut = elided_title(long_title, fm, 120);
        QVERIFY(cut.endsWith(QChar(0x2026)));
        QVERIFY(fm.horizontalAdvance(cut) <= 120);
        QCOMPARE(elided_title("short", fm, 400), QString("short"));
    }

    // The edit dialog wraps long lines instead of scrolling sideways.
    void edit_dialog_wraps() {
        TextEditDialog d("Edit message", "New text:", QString(2000, 'x').replace(7, 1, ' '));
        d.show();
        QVERIFY(QTest::qWaitForWindowExposed(&d));
        QCOMPARE(d.editor()->lineWrapMode(), QPlainTextEdit::WidgetWidth);
        const QTextBlock b = d.editor()->document()->firstBlock();
        QVERIFY(b.layout()->lineCount() > 5);
        QCOMPARE(d.text().size(), 2000);
    }

    // At 1100x680 the chat kept about 250 px; the side panels now give way first. The layout
    // is remembered across runs, and typing starts in the message box.
    void layout_keeps_the_chat_wide_and_is_remembered() {
        QSettings().remove("window");
        {
            RealApp a;
            a.w->resize(1100, 680);
            QTest::qWait(50);
            QVERIFY2(a.w->chat_width() >= 480, qPrintable(QString::number(a.w->chat_width())));
            QCOMPARE(a.w->focusWidget(), static_cast<QWidget*>(a.w->chat()->input()));
            a.w->set_sidebar_shown(false);
            a.w->resize(1234, 700);
            QTest::qWait(50);
            a.w->save_layout();
        }
        RealApp b;
        QVERIFY(b.w->restore_layout());
        QVERIFY(!b.w->sidebar()->isVisible());
        QCOMPARE(b.w->width(), 1234);
        b.w->set_sidebar_shown(true);
        QVERIFY(b.w->sidebar()->isVisible());
        QSettings().remove("window");
    }

    // The empty state on a narrow chat: prompts in one column and the status line wrapped, not
    // cut ("…Type a me"). A loading model says so.
    void welcome_fits_a_narrow_chat_and_loading_says_so() {
        WelcomePanel p;
        gb::app::DemoPromptSet set;
        set.title = "Watch a model think";
        set.prompts = {{"Add", "1+1"}, {"Subtract", "3-2"}, {"Multiply", "4*5"}};
        p.set_prompts(set);
        p.set_status("glassbox-demo-moe is ready. Type a message below.");
        p.resize(250, 600);
        p.show();
        QVERIFY(QTest::qWaitForWindowExposed(&p));
        QCOMPARE(p.columns(), 1);
        for (QLabel* l : p.findChildren<QLabel*>())
            if (l->isVisible()) QVERIFY(l->geometry().right() <= p.width());
        p.resize(900, 600);
        QTest::qWait(20);
        QCOMPARE(p.columns(), 3);

        RealApp a;
        QSignalSpy loading(a.c.get(), &ChatController::modelLoading);
        QSignalSpy changed(a.c.get(), &ChatController::modelChanged);
        LoadSettings s;
        s.path = kMoe;
        s.n_ctx = 512;
        a.c->load_model(s);
        QVERIFY(loading.count() > 0 || loading.wait(10000));
        QVERIFY(a.w->chat()->welcome()->status().startsWith("Loading glassbox-demo-moe.gguf"));
        QVERIFY(changed.count() > 0 || changed.wait(30000));
        QVERIFY(a.w->chat()->welcome()->status().contains("is ready"));
    }

    // Unload frees the model: the app says no model is loaded, and sending is refused again.
    void unload_frees_the_model() {
        RealApp a;
        QVERIFY(a.load(kMoe));
        QSignalSpy changed(a.c.get(), &ChatController::modelChanged);
        a.c->unload_model();
        QVERIFY(changed.wait(10000));
        QVERIFY(!a.c->model_loaded());
        QVERIFY(a.w->chat()->welcome()->status().startsWith("Open a model"));
        QVERIFY(!a.c->send("1+1"));
        QVERIFY(a.w->error_text().contains("No model is loaded"));
        QVERIFY(a.load(kDense));  // and loads again
        QVERIFY(a.reply("1+1", 30));
    }

    // Hardware charts: round ticks, and the app's own CPU share from /proc/self/stat.
    void hardware_ticks_and_the_apps_own_cpu() {
        QCOMPARE(nice_tick_interval(82, 5), 20.0);
        QCOMPARE(nice_tick_interval(100, 4), 25.0);
        QCOMPARE(nice_tick_interval(24105, 5), 5000.0);
        QCOMPARE(nice_tick_interval(7, 5), 2.0);
        QCOMPARE(stat_cpu_ticks("4242 (glass box) (x)) S 1 2 3 4 5 6 7 8 9 10 300 45 0 0 20"),
                 345LL);
        QCOMPARE(stat_cpu_ticks("garbage"), -1LL);
        QCOMPARE(process_cpu_share_pct(50, 200), 25.0);
        QCOMPARE(process_cpu_share_pct(5, 0), 0.0);
        // The real sampler on this machine: its own share appears after two readings.
        auto sampler = open_proc_sampler();
        HwSample s;
        QVERIFY(sampler->sample(s));
        volatile double burn = 0;
        for (int i = 0; i < 20000000; ++i) burn = burn + i * 1e-9;
        QTest::qWait(50);
        QVERIFY(sampler->sample(s));
        QVERIFY(s.app_cpu_pct > 0 && s.app_cpu_pct <= 100);
        QVERIFY(s.app_mem_mb > 1);
        // The dashboard's axes get round steps.
        GpuDashboard d;
        s.t_s = 82;
        s.mem_total_mb = 24105;
        d.add_sample(s);
        QStringList intervals;
        for (QChartView* v : d.findChildren<QChartView*>())
            for (QAbstractAxis* ax : v->chart()->axes())
                if (auto* va = qobject_cast<QValueAxis*>(ax); va && va->max() > 0)
                    intervals << QString::number(va->tickInterval());
        QVERIFY2(intervals.contains("20") && intervals.contains("5000"),
                 qPrintable(intervals.join(",")));
    }
};

QTEST_MAIN(PolishTest)
#include "polish_qtest.moc"
