// Code blocks in a rendered Markdown answer: a tinted background, a header line with the
// language and a "Copy" link (gbcopy:N, N the block's index), and syntax highlighting for the
// languages models write most (Python, C/C++, JavaScript/TypeScript, Rust, Go, Java, shell,
// JSON, SQL); other languages get strings, numbers and comments only.
#pragma once

#include <QString>
#include <QSyntaxHighlighter>
#include <QUrl>
#include <vector>

class QTextDocument;

namespace gb::ui {

struct Theme;

// One fenced code block of a document: its language ("" when none was given) and its text.
struct CodeBlock {
    QString language;
    QString code;
};

// The document's fenced code blocks, in order (as the Markdown importer marks them).
std::vector<CodeBlock> document_code_blocks(const QTextDocument* doc);

// Gives each code block its background and monospace font; with `headers`, also inserts a
// header line above each ("python · Copy", the link gbcopy:N). Blocks already done are left
// alone, so it may run again as a streamed answer grows (without headers: they would move the
// streaming cursor's positions).
void decorate_code_blocks(QTextDocument* doc, const Theme& theme, bool headers);

// The block index of a "Copy" link (-1 for any other link).
int copy_link_index(const QUrl& url);

// Colours keywords, types, strings, numbers and comments inside code blocks only.
class CodeHighlighter final : public QSyntaxHighlighter {
public:
    // Owned by `owner` (not by a document: a view that swaps documents keeps its highlighter).
    explicit CodeHighlighter(QObject* owner);

protected:
    void highlightBlock(const QString& text) override;
};

}  // namespace gb::ui
