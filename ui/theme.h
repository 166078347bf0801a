// The app's look: a light and a dark theme (colours, the Fusion style's palette and one style
// sheet), following the system's preference by default or chosen in the settings. Views that
// paint their own colours read current_theme() and repaint on ThemeNotifier::changed.
#pragma once

#include <QColor>
#include <QFont>
#include <QObject>
#include <QString>

class QApplication;
class QChart;
class QWidget;

namespace gb::ui {

enum class ThemeMode { System, Light, Dark };

struct Theme {
    bool dark = false;
    QColor window, panel, base, text, muted, border, hover, accent, accent_text;
    QColor user_bubble, user_border, assistant_bubble;
    // The chain of thought: a tinted block whose text keeps at least WCAG AA contrast (4.5:1).
    QColor reasoning_bg, reasoning_text, reasoning_rule;
    QColor code_bg, code_border, code_text;
    QColor error_bg, error_text, error_border, note_bg, note_text, note_border, link;
    // Syntax highlighting in code blocks.
    QColor syn_keyword, syn_string, syn_number, syn_comment, syn_type;
};

const Theme& light_theme();
const Theme& dark_theme();
const Theme& current_theme();
ThemeMode current_theme_mode();

// Whether the desktop asks for dark applications: GLASSBOX_THEME (light|dark) first, then
// GTK_THEME's ":dark" suffix, GNOME's color-scheme setting, and the platform palette.
bool system_prefers_dark();

// Stored in QSettings ("appearance/theme": system, light or dark).
ThemeMode theme_mode_setting();
void set_theme_mode_setting(ThemeMode mode);
QString theme_mode_name(ThemeMode mode);
ThemeMode theme_mode_from_name(const QString& name);  // unknown names: System

// Sets the Fusion style, the palette and the style sheet of `app` (the whole app follows).
void apply_theme(QApplication& app, ThemeMode mode);
// The style sheet for a theme (exposed for tests).
QString theme_style_sheet(const Theme& t);

// WCAG 2 contrast ratio of two colours (1 to 21).
double contrast_ratio(const QColor& a, const QColor& b);

// Charts follow the theme: the chart's own theme, background and text colours. style_charts
// does it for every chart view under `root`.
void style_chart(QChart* chart);
void style_charts(QWidget* root);

// A monospace font of the UI font's size (tokens, code).
QFont mono_font();

// Emits changed() after apply_theme switched themes.
class ThemeNotifier : public QObject {
    Q_OBJECT
public:
    static ThemeNotifier& instance();
signals:
    void changed();
};

}  // namespace gb::ui
