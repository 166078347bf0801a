// Code blocks: finding them in a document the Markdown importer made, decorating them, and a
// small rule-based highlighter.
#include "ui/code_blocks.h"

#include <QRegularExpression>
#include <QSet>
#include <QTextBlock>
#include <QTextCursor>
#include <QTextDocument>

#include "ui/theme.h"

namespace gb::ui {

namespace {

// Our marks on blocks: the header line we inserted, and code blocks already decorated.
constexpr int kHeaderProperty = QTextFormat::UserProperty + 71;
constexpr int kDecoratedProperty = QTextFormat::UserProperty + 72;

bool is_code(const QTextBlock& b) {
    const QTextBlockFormat f = b.blockFormat();
    if (f.hasProperty(kHeaderProperty)) return false;
    if (f.hasProperty(QTextFormat::BlockCodeFence) || f.hasProperty(QTextFormat::BlockCodeLanguage))
        return true;
    // An indented code block: unbreakable lines in a fixed-pitch font.
    return f.nonBreakableLines() && b.charFormat().fontFixedPitch();
}

QString language_of(const QTextBlock& b) {
    return b.blockFormat().stringProperty(QTextFormat::BlockCodeLanguage).trimmed().toLower();
}

// The runs of consecutive code blocks with the same language: one fenced block each.
struct Run {
    QTextBlock first, last;
    QString language;
};
std::vector<Run> code_runs(const QTextDocument* doc) {
    std::vector<Run> runs;
    for (QTextBlock b = doc->begin(); b.isValid(); b = b.next()) {
        if (!is_code(b)) continue;
        const QString lang = language_of(b);
        QTextBlock prev = b.previous();
        if (!runs.empty() && prev.isValid() && prev == runs.back().last &&
            runs.back().language == lang)
            runs.back().last = b;
        else
            runs.push_back({b, b, lang});
    }
    return runs;
}

QString run_text(const Run& r) {
    QStringList lines;
    for (QTextBlock b = r.first; b.isValid(); b = b.next()) {
        // The importer may put a code block's lines in one block, separated by U+2028.
        lines << b.text().replace(QChar::LineSeparator, '\n');
        if (b == r.last) break;
    }
    return lines.join('\n');
}

enum class Family { None, Python, CLike, Rust, Go, Js, Java, Shell, Json, Sql };

Family family_of(const QString& lang) {
    static const QHash<QString, Family> names = {
        {"python", Family::Python}, {"py", Family::Python},     {"python3", Family::Python},
        {"c", Family::CLike},       {"cpp", Family::CLike},     {"c++", Family::CLike},
        {"cc", Family::CLike},      {"h", Family::CLike},       {"hpp", Family::CLike},
        {"cuda", Family::CLike},    {"cs", Family::CLike},      {"csharp", Family::CLike},
        {"rust", Family::Rust},     {"rs", Family::Rust},       {"go", Family::Go},
        {"golang", Family::Go},     {"js", Family::Js},         {"javascript", Family::Js},
        {"ts", Family::Js},         {"typescript", Family::Js}, {"jsx", Family::Js},
        {"tsx", Family::Js},        {"java", Family::Java},     {"kotlin", Family::Java},
        {"bash", Family::Shell},    {"sh", Family::Shell},      {"shell", Family::Shell},
        {"zsh", Family::Shell},     {"console", Family::Shell}, {"json", Family::Json},
        {"jsonl", Family::Json},    {"sql", Family::Sql},       {"sqlite", Family::Sql},
    };
    return names.value(lang, Family::None);
}

QSet<QString> words(const char* list) {
    QSet<QString> out;
    for (const QString& w : QString::fromLatin1(list).split(' ', Qt::SkipEmptyParts)) out << w;
    return out;
}

const QSet<QString>& keywords(Family f) {
    static const QSet<QString> none;
    static const QSet<QString> python = words(
        "False None True and as assert async await break class continue def del elif else "
        "except finally for from global if import in is lambda nonlocal not or pass raise "
        "return try while with yield match case self");
    static const QSet<QString> clike = words(
        "auto break case catch class const constexpr continue default delete do else enum "
        "explicit extern for friend goto if inline namespace new noexcept nullptr operator "
        "private protected public return sizeof static static_cast struct switch template this "
        "throw try typedef typename union using virtual volatile while include define ifdef "
        "ifndef endif pragma override final co_await co_return co_yield");
    static const QSet<QString> rust = words(
        "as async await break const continue crate dyn else enum extern false fn for if impl "
        "in let loop match mod move mut pub ref return self Self static struct super trait "
        "true type unsafe use where while");
    static const QSet<QString> go = words(
        "break case chan const continue default defer else fallthrough for func go goto if "
        "import interface map package range return select struct switch type var nil true "
        "false");
    static const QSet<QString> js = words(
        "async await break case catch class const continue debugger default delete do else "
        "export extends false finally for from function if import in instanceof let new null "
        "of return super switch this throw true try typeof undefined var void while with "
        "yield interface type enum implements");
    static const QSet<QString> java = words(
        "abstract assert break case catch class const continue default do else enum extends "
        "final finally for if implements import instanceof interface native new null package "
        "private protected public return static super switch synchronized this throw throws "
        "try void volatile while true false fun val var when");
    static const QSet<QString> shell = words(
        "if then else elif fi case esac for while until do done in function return export "
        "local readonly set unset echo cd exit source sudo");
    static const QSet<QString> json = words("true false null");
    static const QSet<QString> sql = words(
        "select from where insert into values update set delete create table index drop alter "
        "join left right inner outer on group by order having limit offset as and or not null "
        "is in primary key foreign references distinct union all case when then else end "
        "SELECT FROM WHERE INSERT INTO VALUES UPDATE SET DELETE CREATE TABLE INDEX DROP ALTER "
        "JOIN LEFT RIGHT INNER OUTER ON GROUP BY ORDER HAVING LIMIT OFFSET AS AND OR NOT NULL "
        "IS IN PRIMARY KEY FOREIGN REFERENCES DISTINCT UNION ALL CASE WHEN THEN ELSE END");
    switch (f) {
        case Family::Python: return python;
        case Family::CLike: return clike;
        case Family::Rust: return rust;
        case Family::Go: return go;
        case Family::Js: return js;
        case Family::Java: return java;
        case Family::Shell: return shell;
        case Family::Json: return json;
        case Family::Sql: return sql;
        case Family::None: break;
    }
    return none;
}

const QSet<QString>& types(Family f) {
    static const QSet<QString> none;
    static const QSet<QString> common = words(
        "int float double char bool void long short unsigned signed size_t int8_t int16_t "
        "int32_t int64_t uint8_t uint16_t uint32_t uint64_t string std vector map str list dict "
        "tuple set bytes object i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 usize isize String Vec "
        "Option Result Box byte rune error number boolean any");
    return f == Family::None || f == Family::Json || f == Family::Shell ? none : common;
}

QString line_comment(Family f) {
    switch (f) {
        case Family::Python:
        case Family::Shell: return "#";
        case Family::Sql: return "--";
        case Family::Json:
        case Family::None: return {};
        default: return "//";
    }
}

bool block_comments(Family f) {
    return f == Family::CLike || f == Family::Rust || f == Family::Go || f == Family::Js ||
           f == Family::Java || f == Family::Sql;
}

}  // namespace

std::vector<CodeBlock> document_code_blocks(const QTextDocument* doc) {
    std::vector<CodeBlock> out;
    for (const Run& r : code_runs(doc)) out.push_back({r.language, run_text(r)});
    return out;
}

int copy_link_index(const QUrl& url) {
    if (url.scheme() != "gbcopy") return -1;
    bool ok = false;
    const int i = url.path().toInt(&ok);
    return ok && i >= 0 ? i : -1;
}

void decorate_code_blocks(QTextDocument* doc, const Theme& theme, bool headers) {
    const std::vector<Run> runs = code_runs(doc);
    QTextCursor c(doc);
    c.beginEditBlock();
    int index = 0;
    for (const Run& r : runs) {
        const int n = index++;
        if (r.first.blockFormat().hasProperty(kDecoratedProperty) &&
            (!headers || r.first.previous().blockFormat().hasProperty(kHeaderProperty)))
            continue;
        for (QTextBlock b = r.first; b.isValid(); b = b.next()) {
            QTextBlockFormat f;
            f.setBackground(theme.code_bg);
            f.setLeftMargin(10);
            f.setRightMargin(6);
            f.setProperty(kDecoratedProperty, true);
            c.setPosition(b.position());
            c.mergeBlockFormat(f);
            if (b == r.last) break;
        }
        if (!headers || r.first.previous().blockFormat().hasProperty(kHeaderProperty)) continue;
        // The header: a line of its own above the code, in the code's tint.
        const QTextBlockFormat code_format = r.first.blockFormat();
        const QTextCharFormat code_chars = r.first.charFormat();
        c.setPosition(r.first.position());
        QTextBlockFormat hf;
        hf.setBackground(theme.code_border);
        hf.setLeftMargin(10);
        hf.setRightMargin(6);
        hf.setTopMargin(6);
        hf.setProperty(kHeaderProperty, true);
        hf.setNonBreakableLines(true);
        QTextCharFormat label;
        label.setForeground(theme.muted);
        label.setFontPointSize(std::max(7.0, doc->defaultFont().pointSizeF() * 0.85));
        // Splitting at the code's start moves the code into a new block (given the code's own
        // format) and leaves an empty block before it: that one becomes the header.
        c.insertBlock(code_format, code_chars);
        c.movePosition(QTextCursor::PreviousBlock);
        c.setBlockFormat(hf);
        c.setBlockCharFormat(label);
        c.insertText(r.language.isEmpty() ? QObject::tr("code") : r.language, label);
        c.insertText(QStringLiteral("   "), label);
        QTextCharFormat link = label;
        link.setAnchor(true);
        link.setAnchorHref(QStringLiteral("gbcopy:%1").arg(n));
        link.setForeground(theme.link);
        link.setFontUnderline(false);
        c.insertText(QObject::tr("Copy"), link);
    }
    c.endEditBlock();
}

CodeHighlighter::CodeHighlighter(QObject* owner) : QSyntaxHighlighter(owner) {}

void CodeHighlighter::highlightBlock(const QString& text) {
    setCurrentBlockState(0);
    const QTextBlock b = currentBlock();
    if (!is_code(b)) return;
    const Theme& t = current_theme();
    const Family f = family_of(language_of(b));
    QTextCharFormat kw, ty, str, num, com;
    kw.setForeground(t.syn_keyword);
    kw.setFontWeight(QFont::DemiBold);
    ty.setForeground(t.syn_type);
    str.setForeground(t.syn_string);
    num.setForeground(t.syn_number);
    com.setForeground(t.syn_comment);
    com.setFontItalic(true);

    static const QRegularExpression ident("[A-Za-z_][A-Za-z0-9_]*");
    static const QRegularExpression number(
        "\\b(0[xX][0-9a-fA-F_]+|\\d[\\d_]*(\\.\\d+)?([eE][+-]?\\d+)?)\\b");
    const QSet<QString>& kws = keywords(f);
    const QSet<QString>& tys = types(f);
    for (auto it = ident.globalMatch(text); it.hasNext();) {
        const auto m = it.next();
        if (kws.contains(m.captured()))
            setFormat(static_cast<int>(m.capturedStart()), static_cast<int>(m.capturedLength()),
                      kw);
        else if (tys.contains(m.captured()))
            setFormat(static_cast<int>(m.capturedStart()), static_cast<int>(m.capturedLength()),
                      ty);
    }
    for (auto it = number.globalMatch(text); it.hasNext();) {
        const auto m = it.next();
        setFormat(static_cast<int>(m.capturedStart()), static_cast<int>(m.capturedLength()), num);
    }
    // Strings and comments, left to right, so that a quote inside a comment (or a comment
    // marker inside a string) is not taken for one.
    const QString lc = line_comment(f);
    const bool blocks = block_comments(f);
    const int n = static_cast<int>(text.size());
    int i = 0;
    if (blocks && previousBlockState() == 1) {  // inside a /* */ comment from earlier lines
        const int end = static_cast<int>(text.indexOf(QStringLiteral("*/")));
        if (end < 0) {
            setFormat(0, n, com);
            setCurrentBlockState(1);
            return;
        }
        setFormat(0, end + 2, com);
        i = end + 2;
    }
    while (i < n) {
        const QChar ch = text[i];
        if (!lc.isEmpty() && QStringView(text).mid(i).startsWith(lc)) {
            setFormat(i, n - i, com);
            return;
        }
        if (blocks && QStringView(text).mid(i).startsWith(u"/*")) {
            const int end = static_cast<int>(text.indexOf(QStringLiteral("*/"), i + 2));
            if (end < 0) {
                setFormat(i, n - i, com);
                setCurrentBlockState(1);
                return;
            }
            setFormat(i, end + 2 - i, com);
            i = end + 2;
            continue;
        }
        const bool quote = ch == '"' || ch == '\'' || (ch == '`' && f == Family::Js);
        // A Rust lifetime ('a) is not a string.
        if (quote && !(f == Family::Rust && ch == '\'' && i + 2 < n && text[i + 2] != '\'')) {
            int j = i + 1;
            while (j < n && text[j] != ch) j += text[j] == '\\' ? 2 : 1;
            const int end = std::min(n, j + 1);
            setFormat(i, end - i, str);
            i = end;
            continue;
        }
        ++i;
    }
}

}  // namespace gb::ui
