// Action icons: the SVG read from the resource, its one colour (#000000) replaced with the
// theme's, rendered at the sizes buttons and menus ask for.
#include "ui/icons.h"

#include <QAbstractButton>
#include <QAction>
#include <QDir>
#include <QFile>
#include <QGuiApplication>
#include <QHash>
#include <QImage>
#include <QPainter>
#include <QPalette>
#include <QPixmap>
#include <QtGlobal>

#include "ui/theme.h"

#ifdef GLASSBOX_HAVE_SVG
#include <QSvgRenderer>
#endif

// Q_INIT_RESOURCE declares a function, so it must be used outside any namespace. The resource
// lives in the static gb_app library (resources/glassbox.qrc).
static void init_icon_resources() { Q_INIT_RESOURCE(glassbox); }

namespace gb::ui {

namespace {

constexpr char kNameProperty[] = "gbActionIcon";
constexpr char kToneProperty[] = "gbActionIconTone";
const QString kFolder = QStringLiteral(":/icons/actions/");

void ensure_resources() {
    static const bool done = (init_icon_resources(), true);
    Q_UNUSED(done);
}

QColor tone_colour(IconTone tone) {
    const Theme& t = current_theme();
    switch (tone) {
        case IconTone::Muted: return t.muted;
        case IconTone::OnAccent: return t.accent_text;
        case IconTone::Text: break;
    }
    return t.text;
}

// What a disabled button's text looks like: the palette's disabled colour (apply_theme sets
// it), and on the Send button the muted colour its style sheet gives it.
QColor disabled_colour(IconTone tone) {
    if (tone == IconTone::OnAccent) return current_theme().muted;
    return QGuiApplication::palette().color(QPalette::Disabled, QPalette::ButtonText);
}

#ifdef GLASSBOX_HAVE_SVG
QPixmap render(QSvgRenderer& svg, int px) {
    QImage image(px, px, QImage::Format_ARGB32_Premultiplied);
    image.fill(Qt::transparent);
    QPainter p(&image);
    p.setRenderHint(QPainter::Antialiasing);
    svg.render(&p, QRectF(0, 0, px, px));
    p.end();
    return QPixmap::fromImage(image);
}

QIcon make_icon(const QByteArray& svg, const QColor& normal, const QColor& disabled) {
    QIcon icon;
    for (auto [mode, colour] :
         {std::pair{QIcon::Normal, normal}, std::pair{QIcon::Disabled, disabled}}) {
        QByteArray coloured = svg;
        coloured.replace("#000000", colour.name(QColor::HexRgb).toLatin1());
        QSvgRenderer renderer(coloured);
        if (!renderer.isValid()) return {};
        for (int px : {16, 20, 24, 32, 48}) icon.addPixmap(render(renderer, px), mode);
    }
    return icon;
}
#else
// Without Qt SVG there is nothing to draw the icons with: buttons keep their text alone.
QIcon make_icon(const QByteArray&, const QColor&, const QColor&) { return {}; }
#endif

template <class Target>
bool apply_and_follow(Target* target, const QString& name, IconTone tone) {
    const bool first = !target->property(kNameProperty).isValid();
    target->setProperty(kNameProperty, name);
    target->setProperty(kToneProperty, static_cast<int>(tone));
    const QIcon icon = action_icon(name, tone);
    target->setIcon(icon);
    if (first)
        QObject::connect(&ThemeNotifier::instance(), &ThemeNotifier::changed, target, [target] {
            target->setIcon(
                action_icon(target->property(kNameProperty).toString(),
                            static_cast<IconTone>(target->property(kToneProperty).toInt())));
        });
    return !icon.isNull();
}

}  // namespace

QIcon action_icon(const QString& name, IconTone tone) {
    ensure_resources();
    const QColor normal = tone_colour(tone), disabled = disabled_colour(tone);
    const QString key = name + '|' + normal.name() + '|' + disabled.name();
    static QHash<QString, QIcon> cache;
    if (auto it = cache.constFind(key); it != cache.constEnd()) return *it;
    QFile file(kFolder + name + QStringLiteral(".svg"));
    QIcon icon;
    if (file.open(QIODevice::ReadOnly))
        icon = make_icon(file.readAll(), normal, disabled);
    else
        qWarning("no action icon named \"%s\" (%s)", qPrintable(name), qPrintable(file.fileName()));
    cache.insert(key, icon);
    return icon;
}

QStringList action_icon_names() {
    ensure_resources();
    QStringList names = QDir(kFolder).entryList({QStringLiteral("*.svg")}, QDir::Files, QDir::Name);
    for (QString& n : names) n.chop(4);
    return names;
}

bool set_action_icon(QAbstractButton* button, const QString& name, IconTone tone) {
    return apply_and_follow(button, name, tone);
}

bool set_action_icon(QAction* action, const QString& name, IconTone tone) {
    return apply_and_follow(action, name, tone);
}

QString action_icon_name(const QObject* object) {
    return object ? object->property(kNameProperty).toString() : QString();
}

}  // namespace gb::ui
