// MessageWidget: one chat bubble. A user turn, or a reply with its reasoning in a collapsible
// block ("Thought for 12.4 s · 418 tokens") above the answer, Markdown rendered, with copy,
// edit / regenerate, inspect and branch switching. It only renders and forwards clicks.
#pragma once

#include <QFrame>
#include <QString>

class QLabel;
class QToolButton;
class QPushButton;
class QPlainTextEdit;
class QTextBrowser;

namespace gb::ui {

struct MessageView {
    qint64 id = 0;  // 0 while streaming
    QString role, content, reasoning, stop_reason;
    bool streaming = false, complete = true;
    bool replay = false;  // a replay (teaching mode) shows this reply
    double thought_ms = 0;
    int reasoning_tokens = 0, answer_tokens = 0, branch_index = 1, branch_count = 1;
    int prompt_tokens = 0;
    double ttft_ms = 0, decode_tps = 0;  // 0: unknown
    QString precision;                   // "precise" is said in the footer
};

// The line under a finished reply: speed, time to first token, reasoning time and token
// counts ("31.4 tok/s · first token 0.18 s · thought 2.1 s · 273 + 12 tokens"); "" for a user
// turn or a reply still being written.
QString reply_footer(const MessageView& m);
// Markdown with each single line break made a hard one (outside code blocks and before block
// syntax), as chat answers are meant: "a\nb" shows two lines, not "a b".
QString with_hard_line_breaks(const QString& markdown);

// The "Thought for ..." line of a reply.
QString thought_summary(const MessageView& m);
// The fenced code blocks of a Markdown text, joined (what "Copy code" copies).
QString code_blocks(const QString& markdown);
// Where a streaming Markdown text can be cut into a settled part and the part still being
// written: just after the last blank line outside a code fence (0: nowhere yet).
qsizetype markdown_settled_prefix(const QString& markdown);

class MessageWidget : public QFrame {
    Q_OBJECT
public:
    explicit MessageWidget(QWidget* parent = nullptr);
    void set_message(const MessageView& m);
    const MessageView& message() const { return m_; }
    bool reasoning_expanded() const;
    void set_reasoning_expanded(bool on);
    QString answer_text_shown() const;
    QString reasoning_text_shown() const;
    QString answer_document_text() const;  // the rendered answer as plain text (tests)
    QPushButton* edit_thought_button() const { return edit_thought_; }
    QPushButton* continue_button() const { return continue_; }
    QString footer_text() const;
    QTextBrowser* answer_view() const { return markdown_; }

signals:
    void editRequested(qint64 id, QString text);
    void regenerateRequested(qint64 id);
    void editThoughtRequested(qint64 id, QString reasoning);
    void continueRequested(qint64 id);  // a cut reply carried on
    void inspectRequested(qint64 id);
    void branchRequested(qint64 id, int delta);
    void copied(QString what);

private:
    MessageView m_;
    QLabel* role_ = nullptr;
    QToolButton* think_toggle_ = nullptr;
    // The reasoning: a read-only plain-text box of at most ~14 lines that scrolls, follows the
    // end while it streams, and takes each update as an append (a long chain of thought is
    // tens of thousands of tokens: re-setting a label's whole text per update would stall).
    QPlainTextEdit* reasoning_ = nullptr;
    QString reasoning_shown_;
    QLabel* answer_ = nullptr;  // a user's text (plain)
    // A reply's answer as Markdown in one document as tall as its text. While it streams the
    // settled blocks are appended once and only the block being written is replaced per update
    // (re-rendering a whole 4,000-token answer per token stalls the UI); the finished answer is
    // rendered whole once.
    QTextBrowser* markdown_ = nullptr;
    QString markdown_text_;           // what markdown_ shows, as Markdown
    qsizetype markdown_settled_ = 0;  // chars of markdown_text_ appended as settled blocks
    int markdown_tail_ = 0;           // document position where the open block starts
    bool markdown_whole_ = false;     // rendered whole (setMarkdown), not by appends
    void show_markdown(const QString& text, bool streaming);
    QLabel* branch_label_ = nullptr;
    QLabel* footer_ = nullptr;
    QToolButton *prev_ = nullptr, *next_ = nullptr;
    QPushButton *copy_ = nullptr, *copy_code_ = nullptr, *edit_ = nullptr, *regen_ = nullptr,
                *inspect_ = nullptr, *edit_thought_ = nullptr, *continue_ = nullptr;
    QWidget* actions_ = nullptr;  // the row of those buttons: words while they fit, else icons
    bool user_toggled_ = false;
};

}  // namespace gb::ui
