// The action icons (resources/icons/actions/*.svg): line drawings in one colour, recoloured to
// the current theme, and kept in step with it on the buttons and actions that show them.
#pragma once

#include <QIcon>
#include <QString>
#include <QStringList>

class QAbstractButton;
class QAction;
class QObject;

namespace gb::ui {

// Which of the theme's colours an icon's strokes take.
enum class IconTone {
    Text,      // the theme's text colour (ordinary buttons, menus)
    Muted,     // the muted colour (the small actions under a bubble, whose text is muted too)
    OnAccent,  // accent_text, on the accent-coloured Send button
};

// The icon `name` (a file under :/icons/actions, without ".svg") in the current theme: the
// Normal pixmaps in the tone's colour, the Disabled ones in the palette's disabled text colour,
// at 16, 20, 24, 32 and 48 px. Cached per name, tone and colours. A null icon (and a warning)
// for an unknown name; always null when Qt SVG was not found at build time (GLASSBOX_HAVE_SVG
// unset): buttons then show their text alone.
QIcon action_icon(const QString& name, IconTone tone = IconTone::Text);

// The names of all the action icons in the resource, sorted.
QStringList action_icon_names();

// Sets the icon `name` and sets it again, in the new colours, whenever the theme changes
// (ThemeNotifier::changed). Returns whether there is an icon to show (false for an unknown name
// or without Qt SVG), so that a caller may drop a button's text only when it has an icon.
bool set_action_icon(QAbstractButton* button, const QString& name, IconTone tone = IconTone::Text);
bool set_action_icon(QAction* action, const QString& name, IconTone tone = IconTone::Text);

// The icon name set on `object` with set_action_icon, or an empty string.
QString action_icon_name(const QObject* object);

}  // namespace gb::ui
