// Chart export: rendering and the context menu.
#include "ui/chart_export.h"

#include <QAction>
#include <QBuffer>
#include <QFileDialog>
#include <QMessageBox>
#include <QPainter>
#include <QWidget>

#include "engine/core/file_write.h"

#if GLASSBOX_HAVE_SVG
#include <QSvgGenerator>
#endif

namespace gb::ui {

bool svg_export_available() {
#if GLASSBOX_HAVE_SVG
    return true;
#else
    return false;
#endif
}

QByteArray render_widget(QWidget* w, ImageFormat format, const QString& title) {
    QByteArray bytes;
    QBuffer buffer(&bytes);
    buffer.open(QIODevice::WriteOnly);
    if (format == ImageFormat::Png) {
        // Twice the pixels, so the image stays sharp on a projector or in a paper.
        QImage image(w->size() * 2, QImage::Format_ARGB32);
        image.setDevicePixelRatio(2);
        image.fill(Qt::white);
        w->render(&image);
        image.save(&buffer, "PNG");
        return bytes;
    }
#if GLASSBOX_HAVE_SVG
    QSvgGenerator svg;
    svg.setOutputDevice(&buffer);
    svg.setSize(w->size());
    svg.setViewBox(QRect(QPoint(0, 0), w->size()));
    svg.setTitle(title);
    svg.setDescription(QObject::tr("Exported from Glassbox"));
    QPainter p(&svg);
    w->render(&p);
    p.end();
#else
    (void)title;
#endif
    return bytes;
}

void add_export_menu(QWidget* w, const QString& title) {
    w->setContextMenuPolicy(Qt::ActionsContextMenu);
    auto save = [w, title](ImageFormat f) {
        const bool png = f == ImageFormat::Png;
        const QString path = QFileDialog::getSaveFileName(
            w, QObject::tr("Save %1").arg(title), title + (png ? ".png" : ".svg"),
            png ? QObject::tr("PNG image (*.png)") : QObject::tr("SVG image (*.svg)"));
        if (path.isEmpty()) return;
        const QByteArray bytes = render_widget(w, f, title);
        try {
            write_file_atomically(
                path.toStdString(),
                std::string_view(bytes.constData(), static_cast<size_t>(bytes.size())));
        } catch (const std::exception& e) {
            QMessageBox::warning(w, QObject::tr("Not saved"), QString::fromUtf8(e.what()));
        }
    };
    auto* png = new QAction(QObject::tr("Save as PNG…"), w);
    QObject::connect(png, &QAction::triggered, w, [save] { save(ImageFormat::Png); });
    w->addAction(png);
    auto* svg = new QAction(QObject::tr("Save as SVG…"), w);
    svg->setEnabled(svg_export_available());
    if (!svg_export_available()) svg->setToolTip(QObject::tr("Needs Qt SVG (qt6-svg-dev)"));
    QObject::connect(svg, &QAction::triggered, w, [save] { save(ImageFormat::Svg); });
    w->addAction(svg);
}

}  // namespace gb::ui
