// Jinja lexer: text/tag splitting with the same whitespace rules as jinja2's lexer, then
// expression tokens inside tags.
#include "engine/template/jinja_lexer.h"

#include <cctype>
#include <cstdlib>

#include "engine/core/utf8.h"
#include "kernels/error.h"

namespace gb::jinja {
namespace {

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

class Lexer {
public:
    Lexer(std::string_view src, const LexOptions& opt) : src_(src), opt_(opt) {}

    std::vector<Token> run() {
        size_t pos = 0;
        while (pos < src_.size()) {
            size_t p = find_tag(pos);
            std::string text(src_.substr(pos, p - pos));
            if (p >= src_.size()) {
                emit_text(text, pos);
                break;
            }
            char kind = src_[p + 1];
            char sign = p + 2 < src_.size() ? src_[p + 2] : 0;
            if (sign == '-') {
                size_t e = text.size();
                while (e > 0 && is_space(text[e - 1])) --e;
                text.resize(e);
            } else if (opt_.lstrip_blocks && kind != '{' && sign != '+') {
                // Strip spaces/tabs between the line start and a block or comment tag.
                size_t lp = text.rfind('\n');
                lp = lp == std::string::npos ? 0 : lp + 1;
                bool line_start = pos == 0 || src_[pos - 1] == '\n';
                if (lp > 0 || line_start) {
                    bool blank = true;
                    for (size_t i = lp; i < text.size(); ++i)
                        if (text[i] != ' ' && text[i] != '\t') blank = false;
                    if (blank) text.resize(lp);
                }
            }
            emit_text(text, pos);
            size_t body = p + 2 + ((sign == '-' || sign == '+') ? 1 : 0);
            if (kind == '#')
                pos = comment(p, body);
            else if (kind == '%' && is_raw(body))
                pos = raw(p, body);
            else
                pos = tag(p, body, kind);
        }
        Token eof{Token::Type::Eof, "", 0, 0, 0, 0};
        locate(src_.size(), eof);
        toks_.push_back(eof);
        return std::move(toks_);
    }

private:
    size_t find_tag(size_t from) const {
        for (size_t i = from; i + 1 < src_.size(); ++i)
            if (src_[i] == '{' && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#'))
                return i;
        return src_.size();
    }

    void locate(size_t offset, Token& t) {
        // Incremental line/column tracking (offsets only move forward).
        while (loc_off_ < offset && loc_off_ < src_.size()) {
            if (src_[loc_off_] == '\n') {
                ++line_;
                col_ = 1;
            } else if ((static_cast<unsigned char>(src_[loc_off_]) & 0xC0) != 0x80) {
                ++col_;
            }
            ++loc_off_;
        }
        t.line = line_;
        t.col = col_;
    }

    [[noreturn]] void fail(size_t offset, const std::string& msg) {
        int line = 1, col = 1;
        for (size_t i = 0; i < offset && i < src_.size(); ++i) {
            if (src_[i] == '\n') {
                ++line;
                col = 1;
            } else if ((static_cast<unsigned char>(src_[i]) & 0xC0) != 0x80) {
                ++col;
            }
        }
        throw Error("template:" + std::to_string(line) + ":" + std::to_string(col) + ": " + msg);
    }

    void emit_text(const std::string& text, size_t at) {
        if (text.empty()) return;
        Token t{Token::Type::Text, text};
        locate(at, t);
        toks_.push_back(std::move(t));
    }

    // After a closing tag: '-' strips all whitespace, trim_blocks drops one newline.
    size_t after_close(size_t end, char sign, bool block) {
        if (sign == '-') {
            while (end < src_.size() && is_space(src_[end])) ++end;
        } else if (block && opt_.trim_blocks && sign != '+' && end < src_.size() &&
                   src_[end] == '\n') {
            ++end;
        }
        return end;
    }

    size_t comment(size_t start, size_t body) {
        size_t e = src_.find("#}", body);
        if (e == std::string_view::npos) fail(start, "unterminated comment");
        char sign = e > body && (src_[e - 1] == '-' || src_[e - 1] == '+') ? src_[e - 1] : 0;
        return after_close(e + 2, sign, true);
    }

    bool is_raw(size_t body) const {
        size_t i = body;
        while (i < src_.size() && is_space(src_[i])) ++i;
        return src_.substr(i, 3) == "raw" &&
               (i + 3 >= src_.size() ||
                !(std::isalnum(static_cast<unsigned char>(src_[i + 3])) || src_[i + 3] == '_'));
    }

    // {% raw %}...{% endraw %}: the body is text, untouched.
    size_t raw(size_t start, size_t body) {
        size_t close = src_.find("%}", body);
        if (close == std::string_view::npos) fail(start, "unterminated raw tag");
        char sign = src_[close - 1] == '-' ? '-' : 0;
        size_t text_start = after_close(close + 2, sign, true);
        size_t search = text_start;
        while (true) {
            size_t p = src_.find("{%", search);
            if (p == std::string_view::npos) fail(start, "missing endraw for raw block");
            size_t i = p + 2;
            char s2 = src_[i] == '-' ? '-' : 0;
            if (s2) ++i;
            while (i < src_.size() && is_space(src_[i])) ++i;
            if (src_.substr(i, 6) == "endraw") {
                size_t c = src_.find("%}", i);
                if (c == std::string_view::npos) fail(p, "unterminated endraw tag");
                std::string text(src_.substr(text_start, p - text_start));
                if (s2 == '-') {
                    while (!text.empty() && is_space(text.back())) text.pop_back();
                }
                emit_text(text, text_start);
                return after_close(c + 2, src_[c - 1] == '-' ? '-' : 0, true);
            }
            search = p + 2;
        }
    }

    size_t tag(size_t start, size_t body, char kind) {
        bool var = kind == '{';
        Token open{var ? Token::Type::VarBegin : Token::Type::BlockBegin, ""};
        locate(start, open);
        toks_.push_back(open);
        size_t i = body;
        int depth = 0;
        while (true) {
            while (i < src_.size() && is_space(src_[i])) ++i;
            if (i >= src_.size())
                fail(start, var ? "unterminated '{{' tag" : "unterminated '{%' tag");
            const char close = var ? '}' : '%';
            if (depth == 0) {
                char sign = 0;
                size_t j = i;
                if ((src_[j] == '-' || src_[j] == '+') && j + 2 < src_.size() + 0 &&
                    src_[j + 1] == close && src_[j + 2] == '}') {
                    sign = src_[j];
                    ++j;
                }
                if (j + 1 < src_.size() && src_[j] == close && src_[j + 1] == '}') {
                    Token t{var ? Token::Type::VarEnd : Token::Type::BlockEnd, ""};
                    locate(i, t);
                    toks_.push_back(t);
                    return after_close(j + 2, sign, !var);
                }
            }
            i = expr_token(i, depth);
        }
    }

    size_t expr_token(size_t i, int& depth) {
        Token t{Token::Type::Op, ""};
        locate(i, t);
        char c = src_[i];
        if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
            size_t j = i;
            while (j < src_.size() &&
                   (std::isalnum(static_cast<unsigned char>(src_[j])) || src_[j] == '_'))
                ++j;
            t.type = Token::Type::Name;
            t.text = std::string(src_.substr(i, j - i));
            toks_.push_back(std::move(t));
            return j;
        }
        if (std::isdigit(static_cast<unsigned char>(c))) {
            size_t j = i;
            std::string digits;
            bool is_float = false;
            auto take_digits = [&] {
                while (j < src_.size() &&
                       (std::isdigit(static_cast<unsigned char>(src_[j])) || src_[j] == '_')) {
                    if (src_[j] != '_') digits += src_[j];
                    ++j;
                }
            };
            take_digits();
            if (j + 1 < src_.size() && src_[j] == '.' &&
                std::isdigit(static_cast<unsigned char>(src_[j + 1]))) {
                is_float = true;
                digits += src_[j++];
                take_digits();
            }
            if (j < src_.size() && (src_[j] == 'e' || src_[j] == 'E')) {
                size_t k = j + 1;
                if (k < src_.size() && (src_[k] == '+' || src_[k] == '-')) ++k;
                if (k < src_.size() && std::isdigit(static_cast<unsigned char>(src_[k]))) {
                    is_float = true;
                    digits += 'e';
                    digits += std::string(src_.substr(j + 1, k - j - 1));
                    j = k;
                    take_digits();
                }
            }
            t.text = digits;
            if (is_float) {
                t.type = Token::Type::Float;
                t.float_value = std::strtod(digits.c_str(), nullptr);  // 1e999 is inf, as in Python
            } else {
                t.type = Token::Type::Int;
                try {
                    t.int_value = std::stoll(digits);
                } catch (const std::exception&) {
                    fail(i, "integer literal out of range");
                }
            }
            toks_.push_back(std::move(t));
            return j;
        }
        if (c == '\'' || c == '"') return string_token(i, std::move(t));
        static const char* ops2[] = {"//", "**", "==", "!=", "<=", ">="};
        for (const char* op : ops2)
            if (src_.substr(i, 2) == op) {
                t.text = op;
                toks_.push_back(std::move(t));
                return i + 2;
            }
        if (std::string_view("+-*/%~<>=()[]{},.:|;").find(c) == std::string_view::npos)
            fail(i, std::string("unexpected character '") + c + "'");
        if (c == '(' || c == '[' || c == '{') ++depth;
        if (c == ')' || c == ']' || c == '}') --depth;
        t.text = std::string(1, c);
        toks_.push_back(std::move(t));
        return i + 1;
    }

    // String literals decode Python-style escapes; unknown escapes keep their backslash.
    size_t string_token(size_t i, Token t) {
        char q = src_[i];
        std::string out;
        size_t j = i + 1;
        while (true) {
            if (j >= src_.size()) fail(i, "unterminated string literal");
            char c = src_[j];
            if (c == q) break;
            if (c != '\\') {
                out += c;
                ++j;
                continue;
            }
            if (j + 1 >= src_.size()) fail(i, "unterminated string literal");
            char e = src_[j + 1];
            j += 2;
            switch (e) {
                case 'n': out += '\n'; break;
                case 't': out += '\t'; break;
                case 'r': out += '\r'; break;
                case '\\': out += '\\'; break;
                case '\'': out += '\''; break;
                case '"': out += '"'; break;
                case '\n': break;
                case 'a': out += '\a'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'v': out += '\v'; break;
                case '0': out += '\0'; break;
                case 'x':
                case 'u':
                case 'U': {
                    size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                    if (j + n > src_.size()) fail(j, "truncated escape in string literal");
                    uint32_t cp = 0;
                    for (size_t k = 0; k < n; ++k) {
                        char h = src_[j + k];
                        if (!std::isxdigit(static_cast<unsigned char>(h)))
                            fail(j, "bad escape in string literal");
                        cp = cp * 16 +
                             static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h))
                                                       ? h - '0'
                                                       : (std::tolower(h) - 'a' + 10));
                    }
                    utf8::append(out, cp);
                    j += n;
                    break;
                }
                default: out += '\\'; out += e;
            }
        }
        t.type = Token::Type::String;
        t.text = std::move(out);
        toks_.push_back(std::move(t));
        return j + 1;
    }

    std::string_view src_;
    LexOptions opt_;
    std::vector<Token> toks_;
    size_t loc_off_ = 0;
    int line_ = 1, col_ = 1;
};

}  // namespace

std::vector<Token> lex(std::string_view src, const LexOptions& opt) {
    // As jinja2 does before lexing: \r\n and \r become \n, and one trailing newline is dropped
    // (keep_trailing_newline is off in HF's environment).
    std::string norm;
    norm.reserve(src.size());
    for (size_t i = 0; i < src.size(); ++i) {
        if (src[i] == '\r') {
            norm += '\n';
            if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
        } else {
            norm += src[i];
        }
    }
    if (!norm.empty() && norm.back() == '\n') norm.pop_back();
    return Lexer(norm, opt).run();
}

}  // namespace gb::jinja
