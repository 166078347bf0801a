// ChatView: the conversation as bubbles (from a MessageListModel) and the input box. Streamed
// tokens are coalesced: the last bubble is redrawn at most every 50 ms, so Markdown layout
// never keeps the UI thread busy at 200 tokens/s.
#pragma once

#include <QAbstractItemModel>
#include <QPointer>
#include <QTimer>
#include <QWidget>
#include <vector>

#include "app/demo_prompts.h"

class QPlainTextEdit;
class QPushButton;
class QScrollArea;
class QVBoxLayout;
class QLabel;

namespace gb::ui {

class MessageWidget;
class WelcomePanel;

class ChatView : public QWidget {
    Q_OBJECT
public:
    explicit ChatView(QWidget* parent = nullptr);
    void set_model(QAbstractItemModel* model);
    void set_busy(bool busy);
    // While a reply thinks: "Stop thinking" closes its reasoning so that the answer follows.
    void set_thinking(bool thinking);
    QPushButton* stop_thinking_button() const { return stop_thinking_; }
    class StepChooser* step_chooser() const {
        return chooser_;
    }
    void set_placeholder(const QString& text);
    // The welcome panel's demo prompts (shown while the conversation is empty); a click sends one.
    void set_demo_prompts(const gb::app::DemoPromptSet& set);
    WelcomePanel* welcome() const { return welcome_; }
    QPlainTextEdit* input() const { return input_; }
    // A message that could not be sent goes back into the box (unless something new is there).
    void restore_input(const QString& text);
    int bubble_count() const { return static_cast<int>(bubbles_.size()); }
    MessageWidget* bubble(int i) const { return bubbles_[static_cast<size_t>(i)]; }
    void flush_pending();  // applies a coalesced update now (tests)

signals:
    void sendRequested(QString text);
    void stopRequested();
    void stopThinkingRequested();
    void editRequested(qint64 id, QString text);
    void regenerateRequested(qint64 id);
    void editThoughtRequested(qint64 id, QString reasoning);
    void continueRequested(qint64 id);
    void inspectRequested(qint64 id);
    void branchRequested(qint64 id, int delta);

protected:
    bool eventFilter(QObject* o, QEvent* e) override;

private:
    void rebuild();
    void update_row(int row);
    void submit();
    MessageWidget* make_bubble();

    QPointer<QAbstractItemModel> model_;
    QScrollArea* scroll_ = nullptr;
    QWidget* list_ = nullptr;
    QVBoxLayout* list_layout_ = nullptr;
    WelcomePanel* welcome_ = nullptr;
    std::vector<MessageWidget*> bubbles_;
    QPlainTextEdit* input_ = nullptr;
    QPushButton* send_ = nullptr;
    QPushButton* stop_ = nullptr;
    QPushButton* stop_thinking_ = nullptr;
    class StepChooser* chooser_ = nullptr;
    QTimer coalesce_;
    int pending_row_ = -1;
};

}  // namespace gb::ui
