// TextEditDialog: label, wrapping editor, buttons.
#include "ui/text_edit_dialog.h"

#include <QDialogButtonBox>
#include <QLabel>
#include <QPlainTextEdit>
#include <QVBoxLayout>

namespace gb::ui {

TextEditDialog::TextEditDialog(const QString& title, const QString& label, const QString& text,
                               QWidget* parent)
    : QDialog(parent) {
    setWindowTitle(title);
    auto* v = new QVBoxLayout(this);
    auto* l = new QLabel(label, this);
    l->setWordWrap(true);
    v->addWidget(l);
    edit_ = new QPlainTextEdit(this);
    edit_->setLineWrapMode(QPlainTextEdit::WidgetWidth);
    edit_->setWordWrapMode(QTextOption::WrapAtWordBoundaryOrAnywhere);
    edit_->setPlainText(text);
    edit_->setAccessibleName(title);
    v->addWidget(edit_, 1);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    v->addWidget(buttons);
    resize(640, 420);
    edit_->setFocus();
    edit_->moveCursor(QTextCursor::End);
}

QString TextEditDialog::text() const { return edit_->toPlainText(); }

std::optional<QString> TextEditDialog::edit(QWidget* parent, const QString& title,
                                            const QString& label, const QString& text) {
    TextEditDialog d(title, label, text, parent);
    if (d.exec() != QDialog::Accepted) return std::nullopt;
    return d.text();
}

}  // namespace gb::ui
