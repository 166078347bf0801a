// ChatView: bubbles kept in step with the model, input handling, auto-scroll.
#include "ui/chat_view.h"

#include <QKeyEvent>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScrollArea>
#include <QScrollBar>
#include <QTextCursor>
#include <QVBoxLayout>

#include "app/message_list_model.h"
#include "ui/icons.h"
#include "ui/message_widget.h"
#include "ui/step_chooser.h"
#include "ui/welcome_panel.h"

namespace gb::ui {

using gb::app::MessageListModel;

ChatView::ChatView(QWidget* parent) : QWidget(parent) {
    auto* v = new QVBoxLayout(this);
    v->setContentsMargins(0, 0, 0, 0);
    scroll_ = new QScrollArea(this);
    scroll_->setWidgetResizable(true);
    scroll_->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    scroll_->setAccessibleName(tr("Conversation"));
    list_ = new QWidget;
    list_layout_ = new QVBoxLayout(list_);
    welcome_ = new WelcomePanel(list_);
    connect(welcome_, &WelcomePanel::promptChosen, this, [this](const QString& text) {
        if (!stop_->isEnabled() && send_->isEnabled()) emit sendRequested(text);
    });
    list_layout_->addWidget(welcome_);
    list_layout_->addStretch();
    scroll_->setWidget(list_);
    v->addWidget(scroll_, 1);

    chooser_ = new StepChooser(this);
    v->addWidget(chooser_);
    auto* bottom = new QHBoxLayout;
    input_ = new QPlainTextEdit(this);
    input_->setPlaceholderText(tr("Message (Enter sends, Shift+Enter for a new line)"));
    input_->setAccessibleName(tr("Message input"));
    input_->setObjectName("messageInput");
    input_->setMaximumHeight(110);
    input_->installEventFilter(this);
    send_ = new QPushButton(tr("Send"), this);
    send_->setAccessibleName(tr("Send message"));
    send_->setObjectName("sendButton");
    send_->setToolTip(tr("Send (Enter)"));
    set_action_icon(send_, "send", IconTone::OnAccent);
    stop_ = new QPushButton(tr("Stop"), this);
    stop_->setAccessibleName(tr("Stop generating"));
    stop_->setToolTip(tr("Stop generating (Esc)"));
    stop_->setShortcut(QKeySequence(Qt::Key_Escape));
    stop_->setEnabled(false);
    set_action_icon(stop_, "stop");
    stop_thinking_ = new QPushButton(tr("Stop thinking"), this);
    stop_thinking_->setAccessibleName(tr("Stop thinking and answer"));
    stop_thinking_->setToolTip(
        tr("Close the reasoning now with the model's end-of-thinking marker, so that it answers "
           "(Shift+Esc)"));
    stop_thinking_->setShortcut(QKeySequence(Qt::SHIFT | Qt::Key_Escape));
    stop_thinking_->setEnabled(false);
    set_action_icon(stop_thinking_, "stop-thinking");
    bottom->addWidget(input_, 1);
    auto* buttons = new QVBoxLayout;
    buttons->addWidget(send_);
    buttons->addWidget(stop_);
    buttons->addWidget(stop_thinking_);
    bottom->addLayout(buttons);
    v->addLayout(bottom);

    connect(send_, &QPushButton::clicked, this, &ChatView::submit);
    connect(stop_, &QPushButton::clicked, this, &ChatView::stopRequested);
    connect(stop_thinking_, &QPushButton::clicked, this, [this] {
        stop_thinking_->setEnabled(false);  // once per reply
        emit stopThinkingRequested();
    });
    coalesce_.setSingleShot(true);
    coalesce_.setInterval(50);
    connect(&coalesce_, &QTimer::timeout, this, &ChatView::flush_pending);
}

bool ChatView::eventFilter(QObject* o, QEvent* e) {
    if (o == input_ && e->type() == QEvent::KeyPress) {
        auto* k = static_cast<QKeyEvent*>(e);
        if ((k->key() == Qt::Key_Return || k->key() == Qt::Key_Enter) &&
            !(k->modifiers() & Qt::ShiftModifier)) {
            submit();
            return true;
        }
    }
    return QWidget::eventFilter(o, e);
}

void ChatView::submit() {
    const QString text = input_->toPlainText().trimmed();
    if (text.isEmpty() || stop_->isEnabled()) return;
    input_->clear();
    emit sendRequested(text);
}

void ChatView::restore_input(const QString& text) {
    if (!input_->toPlainText().trimmed().isEmpty()) return;
    input_->setPlainText(text);
    input_->moveCursor(QTextCursor::End);
}

void ChatView::set_thinking(bool thinking) { stop_thinking_->setEnabled(thinking); }

void ChatView::set_busy(bool busy) {
    stop_->setEnabled(busy);
    if (!busy) {
        stop_thinking_->setEnabled(false);
        chooser_->clear();
    }
    send_->setEnabled(!busy);
    welcome_->set_prompts_enabled(!busy);
}

void ChatView::set_placeholder(const QString& text) { welcome_->set_status(text); }

void ChatView::set_demo_prompts(const gb::app::DemoPromptSet& set) { welcome_->set_prompts(set); }

void ChatView::set_model(QAbstractItemModel* model) {
    if (model_) disconnect(model_, nullptr, this, nullptr);
    model_ = model;
    connect(model_, &QAbstractItemModel::modelReset, this, &ChatView::rebuild);
    connect(model_, &QAbstractItemModel::rowsInserted, this, &ChatView::rebuild);
    connect(model_, &QAbstractItemModel::rowsRemoved, this, &ChatView::rebuild);
    connect(model_, &QAbstractItemModel::dataChanged, this,
            [this](const QModelIndex& tl, const QModelIndex&) {
                if (pending_row_ >= 0 && pending_row_ != tl.row()) flush_pending();
                pending_row_ = tl.row();
                if (!coalesce_.isActive()) coalesce_.start();
            });
    rebuild();
}

MessageWidget* ChatView::make_bubble() {
    auto* w = new MessageWidget(list_);
    connect(w, &MessageWidget::editRequested, this, &ChatView::editRequested);
    connect(w, &MessageWidget::regenerateRequested, this, &ChatView::regenerateRequested);
    connect(w, &MessageWidget::editThoughtRequested, this, &ChatView::editThoughtRequested);
    connect(w, &MessageWidget::continueRequested, this, &ChatView::continueRequested);
    connect(w, &MessageWidget::inspectRequested, this, &ChatView::inspectRequested);
    connect(w, &MessageWidget::branchRequested, this, &ChatView::branchRequested);
    return w;
}

void ChatView::rebuild() {
    coalesce_.stop();
    pending_row_ = -1;
    const int rows = model_ ? model_->rowCount() : 0;
    while (static_cast<int>(bubbles_.size()) > rows) {
        delete bubbles_.back();
        bubbles_.pop_back();
    }
    while (static_cast<int>(bubbles_.size()) < rows) {
        MessageWidget* w = make_bubble();
        list_layout_->insertWidget(list_layout_->count() - 1, w);
        bubbles_.push_back(w);
    }
    welcome_->setVisible(rows == 0);
    for (int r = 0; r < rows; ++r) update_row(r);
}

void ChatView::flush_pending() {
    coalesce_.stop();
    if (pending_row_ >= 0 && pending_row_ < static_cast<int>(bubbles_.size()))
        update_row(pending_row_);
    pending_row_ = -1;
}

void ChatView::update_row(int row) {
    const QModelIndex i = model_->index(row, 0);
    auto get = [&](int role) { return model_->data(i, role); };
    MessageView m;
    m.id = get(MessageListModel::IdRole).toLongLong();
    m.role = get(MessageListModel::RoleRole).toString();
    m.content = get(MessageListModel::ContentRole).toString();
    m.reasoning = get(MessageListModel::ReasoningRole).toString();
    m.streaming = get(MessageListModel::StreamingRole).toBool();
    m.complete = get(MessageListModel::CompleteRole).toBool();
    m.replay = get(MessageListModel::ReplayRole).toBool();
    m.stop_reason = get(MessageListModel::StopReasonRole).toString();
    m.thought_ms = get(MessageListModel::ThoughtMsRole).toDouble();
    m.reasoning_tokens = get(MessageListModel::ReasoningTokensRole).toInt();
    m.answer_tokens = get(MessageListModel::AnswerTokensRole).toInt();
    m.branch_index = get(MessageListModel::BranchIndexRole).toInt();
    m.branch_count = get(MessageListModel::BranchCountRole).toInt();
    m.prompt_tokens = get(MessageListModel::PromptTokensRole).toInt();
    m.ttft_ms = get(MessageListModel::TtftMsRole).toDouble();
    m.decode_tps = get(MessageListModel::DecodeTpsRole).toDouble();
    m.precision = get(MessageListModel::PrecisionRole).toString();
    QScrollBar* bar = scroll_->verticalScrollBar();
    const bool at_bottom = bar->value() >= bar->maximum() - 30;
    bubbles_[static_cast<size_t>(row)]->set_message(m);
    // Follow the stream only when the user was already at the bottom.
    if (at_bottom) QTimer::singleShot(0, bar, [bar] { bar->setValue(bar->maximum()); });
}

}  // namespace gb::ui
