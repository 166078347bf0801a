// The action icons: every SVG in the resource is valid and drawn in the one colour code replaces;
// every icon the windows ask for exists (a misspelt name gives a null icon and fails here) and
// every drawn icon is used; the strokes take the theme's colours in light and in dark, and an
// icon already on screen follows a change of theme.
#include <QAbstractButton>
#include <QAction>
#include <QApplication>
#include <QDir>
#include <QFile>
#include <QPushButton>
#include <QRegularExpression>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTest>
#include <algorithm>
#include <set>

#include "app/chat_controller.h"
#include "app/conversation_store.h"
#include "app/synthetic_engine.h"
#include "ui/chat_view.h"
#include "ui/icons.h"
#include "ui/library_dialog.h"
#include "ui/main_window.h"
#include "ui/message_widget.h"
#include "ui/theme.h"

#ifdef GLASSBOX_HAVE_SVG
#include <QSvgRenderer>
#endif

using namespace gb;
using namespace gb::app;
using namespace gb::ui;

namespace {

// The colour of the icon's drawn pixels at `px`: each pixel at least half opaque must have the
// same colour (anti-aliasing changes only alpha); returns how many there are in *count.
QColor stroke_colour(const QIcon& icon, int px, QIcon::Mode mode, int* count) {
    const QImage image =
        icon.pixmap(QSize(px, px), mode).toImage().convertToFormat(QImage::Format_ARGB32);
    QColor found;
    *count = 0;
    for (int y = 0; y < image.height(); ++y)
        for (int x = 0; x < image.width(); ++x) {
            const QColor c = image.pixelColor(x, y);
            if (c.alpha() < 128) continue;
            ++*count;
            const QColor rgb(c.red(), c.green(), c.blue());
            if (!found.isValid()) found = rgb;
            // Unpremultiplying a half-opaque pixel may be off by one or two.
            if (std::abs(found.red() - rgb.red()) > 3 ||
                std::abs(found.green() - rgb.green()) > 3 ||
                std::abs(found.blue() - rgb.blue()) > 3)
                return QColor();  // two colours: invalid
        }
    return found;
}

bool near(const QColor& a, const QColor& b) {
    return a.isValid() && std::abs(a.red() - b.red()) <= 3 &&
           std::abs(a.green() - b.green()) <= 3 && std::abs(a.blue() - b.blue()) <= 3;
}

// The icon names on every button and action under `root`, each checked to have an icon.
void collect(QObject* root, std::set<QString>& names, QStringList& broken) {
    QList<QObject*> objects;
    for (auto* b : root->findChildren<QAbstractButton*>()) objects << b;
    for (auto* a : root->findChildren<QAction*>()) objects << a;
    for (QObject* o : objects) {
        const QString name = action_icon_name(o);
        if (name.isEmpty()) continue;
        names.insert(name);
        const QIcon icon = o->property("icon").value<QIcon>();
        if (icon.isNull() || icon.pixmap(24, 24).isNull()) broken << name;
    }
}

}  // namespace

class IconsTest : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName("GlassboxIconsTest");
        QSettings().clear();
#ifndef GLASSBOX_HAVE_SVG
        QSKIP("built without Qt SVG: the app shows its buttons' text without icons");
#endif
    }

    // Each file: a valid SVG on a 24 px grid, drawn in #000000 only (the colour code replaces).
    void every_resource_is_a_one_colour_svg() {
        const QStringList names = action_icon_names();
        QVERIFY2(names.size() >= 24, qPrintable(names.join(", ")));
        static const QRegularExpression colour("#[0-9A-Fa-f]{6}\\b|#[0-9A-Fa-f]{3}\\b|rgb\\(");
        for (const QString& name : names) {
            QFile f(":/icons/actions/" + name + ".svg");
            QVERIFY2(f.open(QIODevice::ReadOnly), qPrintable(name));
            const QByteArray svg = f.readAll();
#ifdef GLASSBOX_HAVE_SVG
            QSvgRenderer r(svg);
            QVERIFY2(r.isValid(), qPrintable(name));
            QCOMPARE(r.viewBoxF(), QRectF(0, 0, 24, 24));
#endif
            QVERIFY2(svg.contains("#000000"), qPrintable(name));
            for (auto it = colour.globalMatch(QString::fromUtf8(svg)); it.hasNext();) {
                const QString c = it.next().captured();
                QVERIFY2(c == "#000000", qPrintable(name + ": " + c));
            }
        }
    }

    void an_unknown_name_gives_no_icon() {
        QTest::ignoreMessage(QtWarningMsg, QRegularExpression("no action icon named \"sned\""));
        QVERIFY(action_icon("sned").isNull());
        QPushButton b("Send");
        QVERIFY(!set_action_icon(&b, "sned"));  // warned once, above
        QVERIFY(set_action_icon(&b, "send"));
    }

    // The strokes take the tone's colour, disabled the palette's disabled text, in both themes.
    void icons_take_the_themes_colours() {
        for (ThemeMode mode : {ThemeMode::Light, ThemeMode::Dark}) {
            apply_theme(*qApp, mode);
            const Theme& t = current_theme();
            const QColor disabled = qApp->palette().color(QPalette::Disabled, QPalette::ButtonText);
            for (const QString& name : action_icon_names()) {
                const QIcon icon = action_icon(name);
                QVERIFY2(!icon.isNull(), qPrintable(name));
                int n = 0;
                QVERIFY2(near(stroke_colour(icon, 24, QIcon::Normal, &n), t.text),
                         qPrintable(name + " in " + theme_mode_name(mode)));
                QVERIFY2(n >= 12, qPrintable(name + ": " + QString::number(n) + " pixels"));
                QVERIFY2(near(stroke_colour(icon, 24, QIcon::Disabled, &n), disabled),
                         qPrintable(name));
                for (int px : {16, 48}) {
                    QVERIFY2(near(stroke_colour(icon, px, QIcon::Normal, &n), t.text),
                             qPrintable(name));
                    QVERIFY(n > 0);
                }
            }
            int n = 0;
            QVERIFY(near(stroke_colour(action_icon("copy", IconTone::Muted), 24, QIcon::Normal, &n),
                         t.muted));
            QVERIFY(
                near(stroke_colour(action_icon("send", IconTone::OnAccent), 24, QIcon::Normal, &n),
                     t.accent_text));
            // One pixel on the stroke: the middle of the filled stop square.
            const QImage stop = action_icon("stop").pixmap(24, 24).toImage();
            QCOMPARE(stop.pixelColor(12, 12), t.text);
        }
    }

    // What the windows ask for exists, and each drawn icon is used somewhere.
    void every_icon_the_code_uses_exists_and_every_icon_is_used() {
        apply_theme(*qApp, ThemeMode::Light);
        std::set<QString> used;
        QStringList broken;

        SyntheticOptions o;
        MemoryConversationStore store;
        EngineWorker worker(std::make_unique<SyntheticEngine>(o));
        ChatController c(store, worker);
        {
            MainWindow w(c, nullptr);
            collect(&w, used, broken);
        }
        MessageWidget bubble;
        collect(&bubble, used, broken);
        {
            LibraryDialog library({}, QString());
            QSignalSpy scanned(&library, &LibraryDialog::scanned);
            collect(&library, used, broken);
            if (library.scanning()) QVERIFY(scanned.wait(10000));
        }
        DownloadDialog download(QDir::tempPath());
        collect(&download, used, broken);

        QVERIFY2(broken.isEmpty(), qPrintable("no icon for: " + broken.join(", ")));
        QStringList unused;
        for (const QString& name : action_icon_names())
            if (!used.count(name)) unused << name;
        QVERIFY2(unused.isEmpty(), qPrintable("drawn but not used: " + unused.join(", ")));
        QVERIFY(used.size() >= 24);
    }

    // A button and a menu action already shown take the new theme's colour when it changes.
    void switching_theme_recolours_shown_icons() {
        apply_theme(*qApp, ThemeMode::Light);
        ChatView chat;
        chat.show();
        QVERIFY(QTest::qWaitForWindowExposed(&chat));
        QPushButton* stop_button = nullptr;
        for (auto* b : chat.findChildren<QPushButton*>())
            if (action_icon_name(b) == "stop") stop_button = b;
        QVERIFY(stop_button);
        QAction action("Stop");
        set_action_icon(&action, "stop");
        auto centre = [](const QIcon& icon) {
            return icon.pixmap(24, 24).toImage().pixelColor(12, 12);
        };
        QCOMPARE(centre(stop_button->icon()), light_theme().text);
        QCOMPARE(centre(action.icon()), light_theme().text);
        apply_theme(*qApp, ThemeMode::Dark);
        QCOMPARE(centre(stop_button->icon()), dark_theme().text);
        QCOMPARE(centre(action.icon()), dark_theme().text);
        apply_theme(*qApp, ThemeMode::Light);
        QCOMPARE(centre(stop_button->icon()), light_theme().text);
    }

    // A reply's actions say their words while they fit and show icons alone when not; they
    // never make the bubble wider than the chat (a narrow window's bubble ran off its right).
    void bubble_actions_fit_a_narrow_chat() {
        MessageWidget w;
        MessageView m;
        m.id = 7;
        m.role = "assistant";
        m.content = "The answer is 28196.";
        m.reasoning = "742*8 = 5936";
        m.reasoning_tokens = 5;
        m.complete = false;  // cut short: Continue shows too
        w.set_message(m);
        w.resize(900, 300);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        auto shown = [&] {
            QList<QPushButton*> out;
            for (auto* b : w.findChildren<QPushButton*>())
                if (b->isVisibleTo(&w) && !action_icon_name(b).isEmpty()) out << b;
            return out;
        };
        QCOMPARE(shown().size(), 5);  // Copy, Continue, Regenerate, Edit thought, Inspect
        auto all_say_words = [&](bool words) {
            const QList<QPushButton*> buttons = shown();
            return std::all_of(buttons.begin(), buttons.end(),
                               [words](QPushButton* b) { return b->text().isEmpty() != words; });
        };
        QTRY_VERIFY(all_say_words(true));
        w.resize(300, 300);
        QTRY_VERIFY(all_say_words(false));
        QVERIFY(w.minimumSizeHint().width() <= 300);
        for (QPushButton* b : shown()) {
            QVERIFY(b->geometry().right() < 300);
            QVERIFY(!b->toolTip().isEmpty() && !b->accessibleName().isEmpty());
        }
        w.resize(900, 300);
        QTRY_COMPARE(shown().front()->text(), QString("Copy"));
    }

    // Icon-only buttons keep their tooltip and accessible name.
    void icon_only_buttons_say_what_they_do() {
        SyntheticOptions o;
        MemoryConversationStore store;
        EngineWorker worker(std::make_unique<SyntheticEngine>(o));
        ChatController c(store, worker);
        MainWindow w(c, nullptr);
        MessageWidget bubble;
        int icon_only = 0;
        for (QWidget* root : {static_cast<QWidget*>(&w), static_cast<QWidget*>(&bubble)})
            for (auto* b : root->findChildren<QAbstractButton*>()) {
                if (action_icon_name(b).isEmpty()) continue;
                const bool shows_text =
                    !b->text().isEmpty() &&
                    (!b->inherits("QToolButton") ||
                     b->property("toolButtonStyle").toInt() != Qt::ToolButtonIconOnly);
                if (shows_text) continue;
                ++icon_only;
                QVERIFY2(!b->accessibleName().isEmpty(), qPrintable(action_icon_name(b)));
                QVERIFY2(!b->toolTip().isEmpty(), qPrintable(action_icon_name(b)));
            }
        QVERIFY(icon_only >= 6);  // the list's four, the branch arrows
    }
};

QTEST_MAIN(IconsTest)
#include "icons_qtest.moc"
