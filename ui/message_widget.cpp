// MessageWidget: layout of a bubble and its buttons.
#include "ui/message_widget.h"

#include <QAbstractTextDocumentLayout>
#include <QApplication>
#include <QClipboard>
#include <QHBoxLayout>
#include <QInputDialog>
#include <QLabel>
#include <QPlainTextDocumentLayout>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QScrollBar>
#include <QTextBrowser>
#include <QTextCursor>
#include <QTextDocument>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

namespace gb::ui {

QString thought_summary(const MessageView& m) {
    if (m.streaming && m.content.isEmpty())
        return QObject::tr("Thinking… %1 tokens").arg(m.reasoning_tokens);
    return QObject::tr("Thought for %1 s · %2 tokens")
        .arg(m.thought_ms / 1000.0, 0, 'f', 1)
        .arg(m.reasoning_tokens);
}

QString code_blocks(const QString& markdown) {
    static const QRegularExpression fence("```[^\\n]*\\n(.*?)```",
                                          QRegularExpression::DotMatchesEverythingOption);
    QStringList blocks;
    for (auto it = fence.globalMatch(markdown); it.hasNext();) blocks << it.next().captured(1);
    return blocks.join("\n");
}

qsizetype markdown_settled_prefix(const QString& md) {
    qsizetype settled = 0, line_start = 0;
    bool fence = false;
    while (line_start < md.size()) {
        const qsizetype end = md.indexOf('\n', line_start);
        if (end < 0) break;  // the last line is still being written
        const QStringView line = QStringView(md).mid(line_start, end - line_start).trimmed();
        if (line.startsWith(u"```") || line.startsWith(u"~~~")) fence = !fence;
        if (line.isEmpty() && !fence) settled = end + 1;
        line_start = end + 1;
    }
    return settled;
}

namespace {
QLabel* text_label(QWidget* parent) {
    auto* l = new QLabel(parent);
    l->setWordWrap(true);
    l->setTextFormat(Qt::MarkdownText);
    l->setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::TextSelectableByKeyboard |
                               Qt::LinksAccessibleByMouse);
    l->setOpenExternalLinks(true);
    // Ignored width: an unbreakable run (a long URL, a model's garbage) is clipped instead of
    // widening the whole conversation; Copy still gets it whole.
    l->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Minimum);
    return l;
}
// A plain-text box as tall as its text, up to kMaxLines lines; longer text scrolls inside.
class ReasoningBox final : public QPlainTextEdit {
public:
    static constexpr int kMaxLines = 14;
    explicit ReasoningBox(QWidget* parent) : QPlainTextEdit(parent) {
        setReadOnly(true);
        setFrameShape(QFrame::NoFrame);
        setLineWrapMode(QPlainTextEdit::WidgetWidth);
        setVerticalScrollBarPolicy(Qt::ScrollBarAsNeeded);
        setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
        setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Fixed);
        setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::TextSelectableByKeyboard);
    }
    QSize sizeHint() const override {
        // QPlainTextDocumentLayout measures the document in lines (wrapped lines once laid out).
        const double lines = document()->documentLayout()->documentSize().height();
        const int shown = std::clamp(static_cast<int>(std::ceil(lines)), 1, kMaxLines);
        const int margins = static_cast<int>(2 * document()->documentMargin()) + 2 * frameWidth();
        return {QPlainTextEdit::sizeHint().width(), shown * fontMetrics().lineSpacing() + margins};
    }
    QSize minimumSizeHint() const override { return {40, sizeHint().height()}; }
    // Appends when the text only grew; follows the end unless the reader scrolled up.
    void show_text(const QString& text, QString& shown) {
        QScrollBar* sb = verticalScrollBar();
        const bool at_end = sb->value() >= sb->maximum() - 2;
        if (text.startsWith(shown) && !shown.isEmpty()) {
            QTextCursor c(document());
            c.movePosition(QTextCursor::End);
            c.insertText(text.mid(shown.size()));
        } else {
            setPlainText(text);
        }
        shown = text;
        if (at_end) sb->setValue(sb->maximum());
        updateGeometry();
    }
};

// A read-only Markdown document that is exactly as tall as its text (no scroll bars: the chat
// scrolls), following its width.
class MarkdownBox final : public QTextBrowser {
public:
    explicit MarkdownBox(QWidget* parent) : QTextBrowser(parent) {
        setFrameShape(QFrame::NoFrame);
        setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
        setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
        setOpenExternalLinks(true);
        setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Fixed);
        viewport()->setAutoFillBackground(false);
        setStyleSheet("QTextBrowser { background: transparent; }");
        document()->setDocumentMargin(0);
        follow_height();
    }

    // A finished reply's Markdown, rendered whole. Parsed into a new document that no view
    // watches, then swapped in: the same text set into the shown document is laid out again
    // after each block the parser adds (a 4,000-token answer held the UI for 160 ms instead
    // of about 20).
    void show_whole(const QString& md) {
        QTextDocument* old = document();
        auto* doc = new QTextDocument(this);
        doc->setDefaultFont(old->defaultFont());
        doc->setDefaultStyleSheet(old->defaultStyleSheet());
        doc->setDefaultTextOption(old->defaultTextOption());
        doc->setDocumentMargin(old->documentMargin());
        doc->setMarkdown(md);
        doc->setTextWidth(viewport()->width());
        setDocument(doc);  // deletes the old one, a child of this box
        follow_height();
    }

private:
    // The height follows the document once per turn of the event loop: resizing on every
    // size change while a long text is set re-lays it out each time (30 ms become 1.3 s).
    void follow_height() {
        connect(document()->documentLayout(), &QAbstractTextDocumentLayout::documentSizeChanged,
                this, [this] { height_soon(); });
    }
    void height_soon() {
        if (height_pending_) return;
        height_pending_ = true;
        QTimer::singleShot(0, this, [this] {
            height_pending_ = false;
            setFixedHeight(static_cast<int>(std::ceil(document()->size().height())) + 2);
        });
    }

protected:
    void resizeEvent(QResizeEvent* e) override {
        QTextBrowser::resizeEvent(e);
        document()->setTextWidth(viewport()->width());
    }

private:
    bool height_pending_ = false;
};

QPushButton* small_button(const QString& text, const QString& accessible, QWidget* parent) {
    auto* b = new QPushButton(text, parent);
    b->setFlat(true);
    b->setAccessibleName(accessible);
    b->setToolTip(accessible);
    b->setCursor(Qt::PointingHandCursor);
    return b;
}
}  // namespace

MessageWidget::MessageWidget(QWidget* parent) : QFrame(parent) {
    setFrameShape(QFrame::StyledPanel);
    setObjectName("messageBubble");
    auto* v = new QVBoxLayout(this);
    v->setContentsMargins(10, 6, 10, 6);
    auto* head = new QHBoxLayout;
    role_ = new QLabel(this);
    role_->setStyleSheet("font-weight: bold");
    head->addWidget(role_);
    head->addStretch();
    prev_ = new QToolButton(this);
    prev_->setText("‹");
    prev_->setAccessibleName(tr("Previous branch"));
    branch_label_ = new QLabel(this);
    next_ = new QToolButton(this);
    next_->setText("›");
    next_->setAccessibleName(tr("Next branch"));
    head->addWidget(prev_);
    head->addWidget(branch_label_);
    head->addWidget(next_);
    v->addLayout(head);

    think_toggle_ = new QToolButton(this);
    think_toggle_->setCheckable(true);
    think_toggle_->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    think_toggle_->setArrowType(Qt::RightArrow);
    think_toggle_->setAutoRaise(true);
    think_toggle_->setAccessibleName(tr("Show or hide the reasoning"));
    v->addWidget(think_toggle_);
    reasoning_ = new ReasoningBox(this);
    reasoning_->setStyleSheet(
        "QPlainTextEdit { color: palette(mid); background: transparent; "
        "border-left: 3px solid palette(mid); padding-left: 8px; }");
    reasoning_->setAccessibleName(tr("Reasoning"));
    v->addWidget(reasoning_);
    answer_ = text_label(this);
    answer_->setTextFormat(Qt::PlainText);
    answer_->setAccessibleName(tr("Message text"));
    v->addWidget(answer_);
    markdown_ = new MarkdownBox(this);
    markdown_->setAccessibleName(tr("Message text"));
    markdown_->hide();
    v->addWidget(markdown_);

    auto* actions = new QHBoxLayout;
    copy_ = small_button(tr("Copy"), tr("Copy the message"), this);
    copy_code_ = small_button(tr("Copy code"), tr("Copy the code blocks"), this);
    edit_ = small_button(tr("Edit"), tr("Edit this message (makes a branch)"), this);
    regen_ = small_button(tr("Regenerate"), tr("Regenerate this reply (makes a branch)"), this);
    inspect_ = small_button(tr("Inspect"), tr("Inspect this reply's tokens and routing"), this);
    edit_thought_ = small_button(
        tr("Edit thought"),
        tr("Edit this reply's chain of thought: the model thinks on from your edit and answers "
           "(makes a branch)"),
        this);
    continue_ = small_button(
        tr("Continue"),
        tr("Carry this reply on from where it was cut short (makes a branch that starts with it)"),
        this);
    for (QWidget* w : {static_cast<QWidget*>(copy_), static_cast<QWidget*>(copy_code_),
                       static_cast<QWidget*>(edit_), static_cast<QWidget*>(continue_),
                       static_cast<QWidget*>(regen_), static_cast<QWidget*>(edit_thought_),
                       static_cast<QWidget*>(inspect_)})
        actions->addWidget(w);
    actions->addStretch();
    v->addLayout(actions);

    connect(think_toggle_, &QToolButton::toggled, this, [this](bool on) {
        user_toggled_ = true;
        set_reasoning_expanded(on);
    });
    connect(copy_, &QPushButton::clicked, this, [this] {
        QApplication::clipboard()->setText(m_.content);
        emit copied(m_.content);
    });
    connect(copy_code_, &QPushButton::clicked, this, [this] {
        const QString code = code_blocks(m_.content);
        QApplication::clipboard()->setText(code);
        emit copied(code);
    });
    connect(edit_, &QPushButton::clicked, this, [this] {
        bool ok = false;
        const QString text = QInputDialog::getMultiLineText(
            this, tr("Edit message"), tr("New text (a new branch):"), m_.content, &ok);
        if (ok && !text.trimmed().isEmpty()) emit editRequested(m_.id, text);
    });
    connect(regen_, &QPushButton::clicked, this, [this] { emit regenerateRequested(m_.id); });
    connect(continue_, &QPushButton::clicked, this, [this] { emit continueRequested(m_.id); });
    connect(edit_thought_, &QPushButton::clicked, this,
            [this] { emit editThoughtRequested(m_.id, m_.reasoning); });
    connect(inspect_, &QPushButton::clicked, this, [this] { emit inspectRequested(m_.id); });
    connect(prev_, &QToolButton::clicked, this, [this] { emit branchRequested(m_.id, -1); });
    connect(next_, &QToolButton::clicked, this, [this] { emit branchRequested(m_.id, +1); });
}

bool MessageWidget::reasoning_expanded() const { return reasoning_->isVisibleTo(this); }

void MessageWidget::set_reasoning_expanded(bool on) {
    think_toggle_->blockSignals(true);
    think_toggle_->setChecked(on);
    think_toggle_->blockSignals(false);
    think_toggle_->setArrowType(on ? Qt::DownArrow : Qt::RightArrow);
    reasoning_->setVisible(on && !m_.reasoning.isEmpty());
}

QString MessageWidget::answer_text_shown() const {
    return m_.role == "user" ? answer_->text() : markdown_text_;
}

void MessageWidget::show_markdown(const QString& text, bool streaming) {
    if (!streaming) {  // finished (or stored): rendered whole, once
        if (!markdown_whole_ || text != markdown_text_) {
            static_cast<MarkdownBox*>(markdown_)->show_whole(text);
            markdown_text_ = text;
            markdown_whole_ = true;
        }
        return;
    }
    QTextDocument* doc = markdown_->document();
    if (markdown_whole_ || !text.startsWith(markdown_text_.left(markdown_settled_))) {
        doc->clear();  // a new reply in this bubble
        markdown_settled_ = 0;
        markdown_tail_ = 0;
        markdown_whole_ = false;
    }
    QTextCursor c(doc);
    const qsizetype settled = std::max(markdown_settled_, markdown_settled_prefix(text));
    if (settled > markdown_settled_) {
        // The open block (and maybe more) settled: it replaces the tail once, then a new empty
        // block holds what is written next.
        c.setPosition(markdown_tail_);
        c.movePosition(QTextCursor::End, QTextCursor::KeepAnchor);
        c.removeSelectedText();
        c.insertMarkdown(text.mid(markdown_settled_, settled - markdown_settled_));
        c.movePosition(QTextCursor::End);
        c.insertBlock();
        markdown_tail_ = c.position();
        markdown_settled_ = settled;
    }
    c.setPosition(markdown_tail_);
    c.movePosition(QTextCursor::End, QTextCursor::KeepAnchor);
    c.removeSelectedText();
    c.insertMarkdown(text.mid(markdown_settled_));
    markdown_text_ = text;
}
QString MessageWidget::reasoning_text_shown() const { return reasoning_->toPlainText(); }
QString MessageWidget::answer_document_text() const { return markdown_->toPlainText(); }

void MessageWidget::set_message(const MessageView& m) {
    m_ = m;
    const bool user = m.role == "user";
    role_->setText(user          ? tr("You")
                   : m.replay    ? tr("Assistant (replay)")
                   : m.streaming ? tr("Assistant (writing…)")
                                 : tr("Assistant"));
    // Style sheets re-polish the whole bubble: set one only when the role changes.
    const QString sheet = user ? "#messageBubble { background: palette(alternate-base); }" : "";
    if (styleSheet() != sheet) setStyleSheet(sheet);
    const bool has_reasoning = !user && (!m.reasoning.isEmpty() || m.reasoning_tokens > 0);
    think_toggle_->setVisible(has_reasoning);
    think_toggle_->setText(thought_summary(m));
    // While the model thinks the reasoning is open; once the answer starts it folds away,
    // unless the user chose otherwise.
    if (!user_toggled_)
        set_reasoning_expanded(m.streaming && m.content.isEmpty());
    else
        set_reasoning_expanded(think_toggle_->isChecked());
    if (reasoning_shown_ != m.reasoning)
        static_cast<ReasoningBox*>(reasoning_)->show_text(m.reasoning, reasoning_shown_);
    QString text = m.content;
    if (!user && !m.streaming && !m.complete)
        text +=
            "\n\n*" +
            tr("(stopped: %1)").arg(m.stop_reason.isEmpty() ? tr("incomplete") : m.stop_reason) +
            "*";
    if (user) {
        if (answer_->text() != text) answer_->setText(text);
        answer_->setVisible(!text.isEmpty());
        markdown_->hide();
    } else {
        answer_->hide();
        show_markdown(text, m.streaming);
        markdown_->setVisible(!text.isEmpty());
    }
    const bool done = !m.streaming && m.id != 0;
    copy_->setVisible(done);
    copy_code_->setVisible(done && !code_blocks(m.content).isEmpty());
    edit_->setVisible(done && user);
    regen_->setVisible(done && !user);
    continue_->setVisible(done && !user && !m.replay && !m.complete);
    edit_thought_->setVisible(done && !user && !m.replay && !m.reasoning.isEmpty());
    inspect_->setVisible(done && !user);
    const bool branches = m.branch_count > 1;
    prev_->setVisible(branches);
    next_->setVisible(branches);
    branch_label_->setVisible(branches);
    branch_label_->setText(QStringLiteral("%1/%2").arg(m.branch_index).arg(m.branch_count));
    prev_->setEnabled(m.branch_index > 1);
    next_->setEnabled(m.branch_index < m.branch_count);
}

}  // namespace gb::ui
