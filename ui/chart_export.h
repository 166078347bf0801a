// Exporting a chart or heatmap as an image for slides and papers: PNG (the widget as drawn, at
// twice its pixels) or SVG (its painting recorded as vectors, where Qt SVG is built in). The
// bytes are made here; the file is written whole or not at all (engine/core/file_write.h).
#pragma once

#include <QByteArray>
#include <QString>

class QWidget;

namespace gb::ui {

enum class ImageFormat { Png, Svg };

bool svg_export_available();
// The widget rendered in the format; empty for SVG when Qt SVG is not built in.
QByteArray render_widget(QWidget* w, ImageFormat format, const QString& title = {});
// Adds "Save as PNG…" and "Save as SVG…" to the widget's context menu (right click); the file
// is asked for and written (errors go to the window's status bar).
void add_export_menu(QWidget* w, const QString& title);

}  // namespace gb::ui
