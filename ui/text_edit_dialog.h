// TextEditDialog: a long text edited in a box that wraps at its width (a message, a chain of
// thought), sized for reading, with OK / Cancel. Replaces QInputDialog's multi-line box, which
// scrolls sideways on long lines.
#pragma once

#include <QDialog>
#include <optional>

class QLabel;
class QPlainTextEdit;

namespace gb::ui {

class TextEditDialog : public QDialog {
    Q_OBJECT
public:
    TextEditDialog(const QString& title, const QString& label, const QString& text,
                   QWidget* parent = nullptr);
    QString text() const;
    QPlainTextEdit* editor() const { return edit_; }

    // Runs the dialog; the edited text, or nothing when cancelled.
    static std::optional<QString> edit(QWidget* parent, const QString& title, const QString& label,
                                       const QString& text);

private:
    QPlainTextEdit* edit_ = nullptr;
};

}  // namespace gb::ui
