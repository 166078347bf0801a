// A panel body that shows either a centred message (nothing to show yet, and why) or its page:
// the reasoning map, expert analytics and model anatomy panels are built on one.
#pragma once

#include <QString>

class QLabel;
class QStackedWidget;
class QVBoxLayout;
class QWidget;

namespace gb::ui {

struct PlaceholderStack {
    QStackedWidget* stack = nullptr;
    QLabel* placeholder = nullptr;  // word-wrapped, centred
    QWidget* page = nullptr;
    QVBoxLayout* page_layout = nullptr;  // no margins
    QLabel* summary = nullptr;           // the page's first row: rich text, selectable
};

// The stack goes into `layout` (stretch 1). Accessible names: "<what> status" and
// "<what> summary".
PlaceholderStack make_placeholder_stack(QWidget* parent, QVBoxLayout* layout, const QString& what);

}  // namespace gb::ui
