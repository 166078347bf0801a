// MessageWidget: layout of a bubble and its buttons.
#include "ui/message_widget.h"

#include <QAbstractTextDocumentLayout>
#include <QApplication>
#include <QClipboard>
#include <QDesktopServices>
#include <QEvent>
#include <QHBoxLayout>
#include <QLabel>
#include <QPlainTextDocumentLayout>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QScrollBar>
#include <QStyle>
#include <QTextBrowser>
#include <QTextCursor>
#include <QTextDocument>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <vector>

#include "ui/code_blocks.h"
#include "ui/icons.h"
#include "ui/text_edit_dialog.h"
#include "ui/theme.h"

namespace gb::ui {

QString thought_summary(const MessageView& m) {
    if (m.streaming && m.content.isEmpty())
        return QObject::tr("Thinking… %1 tokens").arg(m.reasoning_tokens);
    return QObject::tr("Thought for %1 s · %2 tokens")
        .arg(m.thought_ms / 1000.0, 0, 'f', 1)
        .arg(m.reasoning_tokens);
}

QString reply_footer(const MessageView& m) {
    if (m.role == "user" || m.streaming || m.id == 0) return {};
    QStringList parts;
    if (m.decode_tps > 0) parts << QObject::tr("%1 tok/s").arg(m.decode_tps, 0, 'f', 1);
    if (m.ttft_ms > 0) parts << QObject::tr("first token %1 s").arg(m.ttft_ms / 1000.0, 0, 'f', 2);
    if (m.reasoning_tokens > 0 && m.thought_ms > 0)
        parts << QObject::tr("thought %1 s").arg(m.thought_ms / 1000.0, 0, 'f', 1);
    const int total = m.reasoning_tokens + m.answer_tokens;
    if (m.reasoning_tokens > 0)
        parts << QObject::tr("%1 reasoning + %2 answer tokens")
                     .arg(m.reasoning_tokens)
                     .arg(m.answer_tokens);
    else if (total > 0)
        parts << QObject::tr("%n token(s)", nullptr, total);
    if (m.prompt_tokens > 0) parts << QObject::tr("%1 prompt tokens").arg(m.prompt_tokens);
    // Fast is the default and goes unsaid; a precise reply's probabilities can be quoted.
    if (m.precision == QLatin1String("precise")) parts << QObject::tr("precise");
    return parts.join(QStringLiteral(" · "));
}

QString with_hard_line_breaks(const QString& markdown) {
    static const QRegularExpression block_start(
        "^\\s{0,3}(#{1,6}\\s|[-*+]\\s|\\d{1,9}[.)]\\s|>|\\||```|~~~|[-=_*]{3,}\\s*$)");
    const QStringList lines = markdown.split('\n');
    QStringList out;
    out.reserve(lines.size());
    bool fence = false;
    for (qsizetype i = 0; i < lines.size(); ++i) {
        QString line = lines[i];
        const QString t = line.trimmed();
        if (t.startsWith(u"```") || t.startsWith(u"~~~")) {
            fence = !fence;
            out << line;
            continue;
        }
        const bool last = i + 1 == lines.size();
        if (!fence && !last && !t.isEmpty() && !lines[i + 1].trimmed().isEmpty() &&
            !line.startsWith(u"    ") && !line.startsWith('\t') && !t.startsWith('#') &&
            !t.startsWith('|') && !line.endsWith(u"  ") && !line.endsWith('\\') &&
            !block_start.match(lines[i + 1]).hasMatch())
            line += u"  ";
        out << line;
    }
    return out.join('\n');
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
        // Links open in the desktop's browser; a code block's "Copy" link copies it.
        setOpenLinks(false);
        connect(this, &QTextBrowser::anchorClicked, this, [this](const QUrl& url) {
            const int i = copy_link_index(url);
            if (i < 0) {
                QDesktopServices::openUrl(url);
                return;
            }
            const std::vector<CodeBlock> blocks = document_code_blocks(document());
            if (i < static_cast<int>(blocks.size()))
                QApplication::clipboard()->setText(blocks[static_cast<size_t>(i)].code);
        });
        setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Fixed);
        viewport()->setAutoFillBackground(false);
        setStyleSheet("QTextBrowser { background: transparent; }");
        document()->setDocumentMargin(0);
        highlighter_ = new CodeHighlighter(this);
        highlighter_->setDocument(document());
        follow_height();
    }

    // Code blocks get their tint (and, once whole, their header lines).
    void decorate(bool headers) { decorate_code_blocks(document(), current_theme(), headers); }

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
        decorate_code_blocks(doc, current_theme(), true);
        highlighter_->setDocument(doc);
        highlighter_->rehighlight();  // now, not on the next turn of the event loop
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
    CodeHighlighter* highlighter_ = nullptr;
};

// The actions under a bubble: their words beside their icons while the row fits, else their
// icons alone (tooltips and accessible names still say what they do). The row never widens
// the bubble: with the icons the words of a reply's five actions need about 480 px, more than
// a narrow window's chat has.
class ActionRow final : public QWidget {
public:
    explicit ActionRow(QWidget* parent) : QWidget(parent) {
        layout_ = new QHBoxLayout(this);
        layout_->setContentsMargins(0, 0, 0, 0);
        layout_->addStretch();
        setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Fixed);
    }
    void add(QPushButton* b) {
        b->setProperty("fullText", b->text());
        layout_->insertWidget(layout_->count() - 1, b);
        buttons_.push_back(b);
    }
    // Words or icons alone, for the buttons now shown and the row's width.
    void fit() {
        int needed = 0, shown = 0;
        for (QPushButton* b : buttons_) {
            if (!b->isVisibleTo(this)) continue;
            ++shown;
            needed += b->sizeHint().width();
            // QPushButton's size hint adds the text's width to the icon's.
            if (b->text().isEmpty())
                needed += b->fontMetrics().horizontalAdvance(b->property("fullText").toString());
        }
        needed += std::max(0, shown - 1) * layout_->spacing();
        const bool icons_only = needed > width();
        for (QPushButton* b : buttons_) {
            const QString text =
                icons_only && !b->icon().isNull() ? QString() : b->property("fullText").toString();
            if (b->text() != text) b->setText(text);
        }
    }

protected:
    void resizeEvent(QResizeEvent* e) override {
        QWidget::resizeEvent(e);
        fit();
    }
    void changeEvent(QEvent* e) override {
        QWidget::changeEvent(e);
        if (e->type() == QEvent::FontChange) fit();
    }

private:
    QHBoxLayout* layout_ = nullptr;
    std::vector<QPushButton*> buttons_;
};

QPushButton* small_button(const QString& icon, const QString& text, const QString& accessible,
                          QWidget* parent) {
    auto* b = new QPushButton(text, parent);
    set_action_icon(b, icon, IconTone::Muted);
    b->setObjectName("bubbleAction");
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
    role_->setObjectName("roleLabel");
    head->addWidget(role_);
    head->addStretch();
    prev_ = new QToolButton(this);
    prev_->setText("‹");
    prev_->setAccessibleName(tr("Previous branch"));
    prev_->setToolTip(tr("Previous branch"));
    set_action_icon(prev_, "branch-prev");
    branch_label_ = new QLabel(this);
    next_ = new QToolButton(this);
    next_->setText("›");
    next_->setAccessibleName(tr("Next branch"));
    next_->setToolTip(tr("Next branch"));
    set_action_icon(next_, "branch-next");
    head->addWidget(prev_);
    head->addWidget(branch_label_);
    head->addWidget(next_);
    v->addLayout(head);

    think_toggle_ = new QToolButton(this);
    think_toggle_->setObjectName("thinkToggle");
    think_toggle_->setCheckable(true);
    think_toggle_->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    think_toggle_->setArrowType(Qt::RightArrow);
    think_toggle_->setAutoRaise(true);
    think_toggle_->setAccessibleName(tr("Show or hide the reasoning"));
    v->addWidget(think_toggle_);
    reasoning_ = new ReasoningBox(this);
    reasoning_->setObjectName("reasoningBox");
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

    footer_ = new QLabel(this);
    footer_->setObjectName("replyFooter");
    footer_->setAccessibleName(tr("Reply statistics"));
    footer_->setWordWrap(true);
    footer_->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Minimum);
    QFont small = footer_->font();
    small.setPointSizeF(std::max(7.0, small.pointSizeF() * 0.88));
    footer_->setFont(small);
    footer_->hide();
    v->addWidget(footer_);

    auto* actions = new ActionRow(this);
    actions_ = actions;
    copy_ = small_button("copy", tr("Copy"), tr("Copy the message"), this);
    copy_code_ = small_button("copy-code", tr("Copy code"), tr("Copy the code blocks"), this);
    edit_ = small_button("edit", tr("Edit"), tr("Edit this message (makes a branch)"), this);
    regen_ = small_button("regenerate", tr("Regenerate"),
                          tr("Regenerate this reply (makes a branch)"), this);
    inspect_ =
        small_button("inspect", tr("Inspect"), tr("Inspect this reply's tokens and routing"), this);
    edit_thought_ = small_button(
        "edit-thought", tr("Edit thought"),
        tr("Edit this reply's chain of thought: the model thinks on from your edit and answers "
           "(makes a branch)"),
        this);
    continue_ = small_button(
        "continue", tr("Continue"),
        tr("Carry this reply on from where it was cut short (makes a branch that starts with it)"),
        this);
    for (QPushButton* b : {copy_, copy_code_, edit_, continue_, regen_, edit_thought_, inspect_})
        actions->add(b);
    v->addWidget(actions);

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
        const auto text = TextEditDialog::edit(this, tr("Edit message"),
                                               tr("New text (a new branch):"), m_.content);
        if (text && !text->trimmed().isEmpty()) emit editRequested(m_.id, *text);
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
    static_cast<MarkdownBox*>(markdown_)->decorate(false);
}
QString MessageWidget::footer_text() const {
    return footer_->isVisibleTo(this) ? footer_->text() : QString();
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
    // The theme's style sheet colours a bubble by its role; re-polished only when it changes.
    const QString role = user ? QStringLiteral("user") : QStringLiteral("assistant");
    if (property("role").toString() != role) {
        setProperty("role", role);
        style()->unpolish(this);
        style()->polish(this);
    }
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
        show_markdown(with_hard_line_breaks(text), m.streaming);
        markdown_->setVisible(!text.isEmpty());
    }
    const QString footer = reply_footer(m);
    if (footer_->text() != footer) footer_->setText(footer);
    footer_->setVisible(!footer.isEmpty());
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
    static_cast<ActionRow*>(actions_)->fit();
}

}  // namespace gb::ui
