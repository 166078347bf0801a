// PlaceholderStack: the two pages and their labels.
#include "ui/placeholder_stack.h"

#include <QLabel>
#include <QStackedWidget>
#include <QVBoxLayout>

namespace gb::ui {

PlaceholderStack make_placeholder_stack(QWidget* parent, QVBoxLayout* layout, const QString& what) {
    PlaceholderStack p;
    p.stack = new QStackedWidget(parent);
    layout->addWidget(p.stack, 1);
    p.placeholder = new QLabel(p.stack);
    p.placeholder->setWordWrap(true);
    p.placeholder->setAlignment(Qt::AlignCenter);
    p.placeholder->setAccessibleName(QObject::tr("%1 status").arg(what));
    p.stack->addWidget(p.placeholder);
    p.page = new QWidget(p.stack);
    p.page_layout = new QVBoxLayout(p.page);
    p.page_layout->setContentsMargins(0, 0, 0, 0);
    p.summary = new QLabel(p.page);
    p.summary->setWordWrap(true);
    p.summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    p.summary->setAccessibleName(QObject::tr("%1 summary").arg(what));
    p.stack->addWidget(p.page);
    return p;
}

}  // namespace gb::ui
