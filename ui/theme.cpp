// Themes: two colour sets, the palette and the style sheet made from them, and the system's
// preference.
#include "ui/theme.h"

#include <QAbstractAxis>
#include <QApplication>
#include <QChart>
#include <QChartView>
#include <QFontDatabase>
#include <QLegend>
#include <QPalette>
#include <QProcess>
#include <QSettings>
#include <QStandardPaths>
#include <QStyleFactory>
#include <cmath>

namespace gb::ui {

namespace {
const Theme* g_current = nullptr;
ThemeMode g_mode = ThemeMode::System;

Theme make_light() {
    Theme t;
    t.dark = false;
    t.window = QColor("#f4f5f7");
    t.panel = QColor("#fbfbfc");
    t.base = QColor("#ffffff");
    t.text = QColor("#1f2328");
    t.muted = QColor("#5b636e");
    t.border = QColor("#d5d9df");
    t.hover = QColor("#e9ecf0");
    t.accent = QColor("#2563eb");
    t.accent_text = QColor("#ffffff");
    t.user_bubble = QColor("#e7effc");
    t.user_border = QColor("#c9d8f5");
    t.assistant_bubble = QColor("#ffffff");
    t.reasoning_bg = QColor("#f3f4f6");
    t.reasoning_text = QColor("#4b5563");
    t.reasoning_rule = QColor("#a5b4cf");
    t.code_bg = QColor("#f6f8fa");
    t.code_border = QColor("#dde1e6");
    t.code_text = QColor("#1f2328");
    t.error_bg = QColor("#fbe3e3");
    t.error_text = QColor("#8a1c1c");
    t.error_border = QColor("#e0a0a0");
    t.note_bg = QColor("#fdf6d8");
    t.note_text = QColor("#5a4a00");
    t.note_border = QColor("#e6d68a");
    t.link = QColor("#1d4ed8");
    t.syn_keyword = QColor("#a626a4");
    t.syn_string = QColor("#2f7d32");
    t.syn_number = QColor("#b45309");
    t.syn_comment = QColor("#6b7280");
    t.syn_type = QColor("#0e7490");
    return t;
}

Theme make_dark() {
    Theme t;
    t.dark = true;
    t.window = QColor("#1b1d22");
    t.panel = QColor("#202329");
    t.base = QColor("#24272e");
    t.text = QColor("#e6e8eb");
    t.muted = QColor("#a1a9b4");
    t.border = QColor("#3a3f49");
    t.hover = QColor("#2f333b");
    t.accent = QColor("#2563eb");  // white on it: 5.2:1 (the Send button's text)
    t.accent_text = QColor("#ffffff");
    t.user_bubble = QColor("#263a5c");
    t.user_border = QColor("#34507d");
    t.assistant_bubble = QColor("#24272e");
    t.reasoning_bg = QColor("#2a2d34");
    t.reasoning_text = QColor("#b4bcc8");
    t.reasoning_rule = QColor("#4f6a96");
    t.code_bg = QColor("#16181c");
    t.code_border = QColor("#333842");
    t.code_text = QColor("#e6e8eb");
    t.error_bg = QColor("#4a1f22");
    t.error_text = QColor("#ffd7d7");
    t.error_border = QColor("#7a3036");
    t.note_bg = QColor("#3d3514");
    t.note_text = QColor("#f3e3a0");
    t.note_border = QColor("#6b5c1e");
    t.link = QColor("#8ab4ff");
    t.syn_keyword = QColor("#d19af5");
    t.syn_string = QColor("#98c379");
    t.syn_number = QColor("#e5a35c");
    t.syn_comment = QColor("#8b94a1");
    t.syn_type = QColor("#56c2d6");
    return t;
}

QPalette palette_of(const Theme& t) {
    QPalette p;
    p.setColor(QPalette::Window, t.window);
    p.setColor(QPalette::WindowText, t.text);
    p.setColor(QPalette::Base, t.base);
    p.setColor(QPalette::AlternateBase, t.panel);
    p.setColor(QPalette::ToolTipBase, t.base);
    p.setColor(QPalette::ToolTipText, t.text);
    p.setColor(QPalette::PlaceholderText, t.muted);
    p.setColor(QPalette::Text, t.text);
    p.setColor(QPalette::Button, t.dark ? QColor("#2c3038") : QColor("#f9fafb"));
    p.setColor(QPalette::ButtonText, t.text);
    p.setColor(QPalette::BrightText, Qt::red);
    p.setColor(QPalette::Highlight, t.accent);
    p.setColor(QPalette::HighlightedText, t.accent_text);
    p.setColor(QPalette::Link, t.link);
    p.setColor(QPalette::LinkVisited, t.link);
    p.setColor(QPalette::Light, t.dark ? QColor("#3a3f49") : QColor("#ffffff"));
    p.setColor(QPalette::Midlight, t.dark ? QColor("#30343c") : QColor("#e9ecf0"));
    p.setColor(QPalette::Mid, t.dark ? QColor("#5b626e") : QColor("#a0a7b1"));
    p.setColor(QPalette::Dark, t.dark ? QColor("#111317") : QColor("#8a919b"));
    p.setColor(QPalette::Shadow, QColor(0, 0, 0, 120));
    const QColor disabled = t.dark ? QColor("#6b727d") : QColor("#9aa1ab");
    for (auto role : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText})
        p.setColor(QPalette::Disabled, role, disabled);
    return p;
}

double channel(double c) {
    c /= 255.0;
    return c <= 0.03928 ? c / 12.92 : std::pow((c + 0.055) / 1.055, 2.4);
}
double luminance(const QColor& c) {
    return 0.2126 * channel(c.red()) + 0.7152 * channel(c.green()) + 0.0722 * channel(c.blue());
}
}  // namespace

const Theme& light_theme() {
    static const Theme t = make_light();
    return t;
}
const Theme& dark_theme() {
    static const Theme t = make_dark();
    return t;
}
const Theme& current_theme() { return g_current ? *g_current : light_theme(); }
ThemeMode current_theme_mode() { return g_mode; }

double contrast_ratio(const QColor& a, const QColor& b) {
    const double la = luminance(a), lb = luminance(b);
    return (std::max(la, lb) + 0.05) / (std::min(la, lb) + 0.05);
}

bool system_prefers_dark() {
    // A platform theme that already paints windows dark (read once, before ours replaces it).
    static const int platform_lightness =
        QGuiApplication::palette().color(QPalette::Window).lightness();
    const QString forced = qEnvironmentVariable("GLASSBOX_THEME").toLower();
    if (forced == "dark") return true;
    if (forced == "light") return false;
    if (qEnvironmentVariable("GTK_THEME").toLower().contains(":dark")) return true;
    // GNOME (and others that follow it) keep the preference in the color-scheme key.
    if (!QStandardPaths::findExecutable("gsettings").isEmpty() &&
        !qEnvironmentVariableIsEmpty("DBUS_SESSION_BUS_ADDRESS")) {
        QProcess p;
        p.start("gsettings", {"get", "org.gnome.desktop.interface", "color-scheme"});
        if (p.waitForFinished(400) && p.exitCode() == 0)
            return QString::fromUtf8(p.readAllStandardOutput()).contains("dark");
    }
    return platform_lightness < 110;
}

QString theme_mode_name(ThemeMode mode) {
    switch (mode) {
        case ThemeMode::Light: return "light";
        case ThemeMode::Dark: return "dark";
        case ThemeMode::System: break;
    }
    return "system";
}

ThemeMode theme_mode_from_name(const QString& name) {
    if (name == "light") return ThemeMode::Light;
    if (name == "dark") return ThemeMode::Dark;
    return ThemeMode::System;
}

ThemeMode theme_mode_setting() {
    return theme_mode_from_name(QSettings().value("appearance/theme", "system").toString());
}
void set_theme_mode_setting(ThemeMode mode) {
    QSettings().setValue("appearance/theme", theme_mode_name(mode));
}

QFont mono_font() {
    QFont f = QFontDatabase::systemFont(QFontDatabase::FixedFont);
    f.setPointSizeF(QApplication::font().pointSizeF() > 0 ? QApplication::font().pointSizeF()
                                                          : f.pointSizeF());
    return f;
}

void style_chart(QChart* chart) {
    const Theme& t = current_theme();
    chart->setTheme(t.dark ? QChart::ChartThemeDark : QChart::ChartThemeLight);
    chart->setBackgroundBrush(t.base);
    chart->setTitleBrush(t.text);
    chart->legend()->setLabelColor(t.text);
    for (QAbstractAxis* a : chart->axes()) {
        a->setLabelsColor(t.muted);
        a->setTitleBrush(t.muted);
        a->setGridLineColor(t.dark ? QColor("#343944") : QColor("#e3e6ea"));
        a->setLinePenColor(t.border);
    }
}

void style_charts(QWidget* root) {
    if (!root) return;
    for (QChartView* v : root->findChildren<QChartView*>())
        if (v->chart()) style_chart(v->chart());
}

QString theme_style_sheet(const Theme& t) {
    auto c = [](const QColor& x) { return x.name(); };
    QString s = QStringLiteral(R"(
QToolTip { color: %TEXT%; background: %BASE%; border: 1px solid %BORDER%; padding: 4px; }
QPushButton { border: 1px solid %BORDER%; border-radius: 6px; padding: 4px 12px;
              background: %BUTTON%; }
QPushButton:hover { background: %HOVER%; }
QPushButton:disabled { color: %DISABLED%; }
QPushButton#sendButton { background: %ACCENT%; color: %ACCENT_TEXT%; border: none;
                         font-weight: 600; padding: 6px 18px; }
QPushButton#sendButton:disabled { background: %BORDER%; color: %MUTED%; }
QPushButton#sidebarButton { padding: 4px 4px; }
QPushButton#bubbleAction { border: none; background: transparent; color: %MUTED%;
                           padding: 2px 8px; border-radius: 5px; }
QPushButton#bubbleAction:hover { background: %HOVER%; color: %TEXT%; }
QPlainTextEdit#messageInput { border: 1px solid %BORDER%; border-radius: 10px; padding: 6px;
                              background: %BASE%; }
QPlainTextEdit#messageInput:focus { border: 1px solid %ACCENT%; }
QLineEdit { border: 1px solid %BORDER%; border-radius: 6px; padding: 3px 6px; background: %BASE%; }
QLineEdit:focus { border: 1px solid %ACCENT%; }
#messageBubble { border-radius: 12px; }
#messageBubble[role="user"] { background: %USER%; border: 1px solid %USER_BORDER%; }
#messageBubble[role="assistant"] { background: %ASSISTANT%; border: 1px solid %BORDER%; }
#roleLabel { font-weight: 600; }
#replyFooter, QLabel#settingNote { color: %MUTED%; }
QPlainTextEdit#reasoningBox { color: %REASONING_TEXT%; background: %REASONING_BG%;
                              border: none; border-left: 3px solid %REASONING_RULE%;
                              border-radius: 4px; padding-left: 6px; }
QToolButton#thinkToggle { color: %MUTED%; border: none; }
#banner { border-radius: 6px; }
#banner[kind="error"] { background: %ERROR_BG%; border: 1px solid %ERROR_BORDER%; }
#banner[kind="error"] QLabel, #banner[kind="error"] QToolButton { color: %ERROR_TEXT%; }
#banner[kind="note"] { background: %NOTE_BG%; border: 1px solid %NOTE_BORDER%; }
#banner[kind="note"] QLabel, #banner[kind="note"] QToolButton { color: %NOTE_TEXT%; }
QLabel#alert { background: %ERROR_BG%; color: %ERROR_TEXT%; border: 1px solid %ERROR_BORDER%;
               border-radius: 4px; padding: 4px; }
#welcomeTitle { font-size: 20pt; font-weight: 600; }
#welcomeStatus { color: %MUTED%; font-size: 12pt; }
#welcomePrompt { border: 1px solid %BORDER%; border-radius: 10px; padding: 8px 12px;
                 background: %BASE%; text-align: left; }
#welcomePrompt:hover { border: 1px solid %ACCENT%; background: %HOVER%; }
QTabWidget::pane { border: 1px solid %BORDER%; border-radius: 6px; top: -1px; }
QTabBar::tab { padding: 5px 10px; border: 1px solid transparent; border-bottom: none;
               color: %MUTED%; }
QTabBar::tab:selected { color: %TEXT%; background: %BASE%; border: 1px solid %BORDER%;
                        border-bottom: 2px solid %ACCENT%; border-top-left-radius: 6px;
                        border-top-right-radius: 6px; }
QTabBar::tab:hover:!selected { color: %TEXT%; }
QListView#conversationList { border: none; background: %PANEL%; }
QSplitter::handle { background: %WINDOW%; }
QSplitter::handle:hover { background: %BORDER%; }
)");
    const QColor disabled = t.dark ? QColor("#6b727d") : QColor("#9aa1ab");
    const QColor button = t.dark ? QColor("#2c3038") : QColor("#f9fafb");
    const std::pair<const char*, QColor> vars[] = {
        {"%TEXT%", t.text},
        {"%BASE%", t.base},
        {"%BORDER%", t.border},
        {"%BUTTON%", button},
        {"%HOVER%", t.hover},
        {"%DISABLED%", disabled},
        {"%ACCENT_TEXT%", t.accent_text},
        {"%ACCENT%", t.accent},
        {"%MUTED%", t.muted},
        {"%USER_BORDER%", t.user_border},
        {"%USER%", t.user_bubble},
        {"%ASSISTANT%", t.assistant_bubble},
        {"%REASONING_TEXT%", t.reasoning_text},
        {"%REASONING_BG%", t.reasoning_bg},
        {"%REASONING_RULE%", t.reasoning_rule},
        {"%ERROR_BG%", t.error_bg},
        {"%ERROR_BORDER%", t.error_border},
        {"%ERROR_TEXT%", t.error_text},
        {"%NOTE_BG%", t.note_bg},
        {"%NOTE_BORDER%", t.note_border},
        {"%NOTE_TEXT%", t.note_text},
        {"%PANEL%", t.panel},
        {"%WINDOW%", t.window},
    };
    for (const auto& [k, v] : vars) s.replace(QLatin1String(k), c(v));
    return s;
}

void apply_theme(QApplication& app, ThemeMode mode) {
    g_mode = mode;
    const bool dark =
        mode == ThemeMode::Dark || (mode == ThemeMode::System && system_prefers_dark());
    const Theme* next = dark ? &dark_theme() : &light_theme();
    const bool changed = next != g_current;
    g_current = next;
    if (QStyle* fusion = QStyleFactory::create("Fusion")) app.setStyle(fusion);
    app.setPalette(palette_of(*next));
    app.setStyleSheet(theme_style_sheet(*next));
    if (changed) emit ThemeNotifier::instance().changed();
}

ThemeNotifier& ThemeNotifier::instance() {
    static ThemeNotifier n;
    return n;
}

}  // namespace gb::ui
