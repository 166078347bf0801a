// Recursive-descent parser of the Jinja subset; precedence follows jinja2 (or < and < not <
// comparisons < + - < ~ < * / // % < ** < unary, with filters and tests binding tightest).
#include "engine/template/jinja_parser.h"

#include <algorithm>
#include <initializer_list>

#include "engine/template/jinja_budget.h"
#include "kernels/error.h"

namespace gb::jinja {
namespace {

using T = Token::Type;

class Parser {
public:
    explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

    Body parse_all() {
        std::string end;
        Body b = parse_body({}, end);
        return b;
    }

private:
    const Token& cur() const { return t_[i_]; }
    const Token& peek(size_t k = 1) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
    const Token& next() { return t_[i_ < t_.size() - 1 ? i_++ : i_]; }

    [[noreturn]] void fail(const Token& at, const std::string& msg) const {
        throw Error("template:" + std::to_string(at.line) + ":" + std::to_string(at.col) + ": " +
                    msg);
    }
    static std::string describe(const Token& t) {
        switch (t.type) {
            case T::Eof: return "end of template";
            case T::VarEnd: return "'}}'";
            case T::BlockEnd: return "'%}'";
            case T::Text: return "text";
            case T::String: return "string literal";
            default: return "'" + t.text + "'";
        }
    }
    bool is_op(const char* op) const { return cur().type == T::Op && cur().text == op; }
    bool is_name(const char* n) const { return cur().type == T::Name && cur().text == n; }
    void expect_op(const char* op) {
        if (!is_op(op)) fail(cur(), std::string("expected '") + op + "', found " + describe(cur()));
        next();
    }
    std::string expect_name() {
        if (cur().type != T::Name) fail(cur(), "expected a name, found " + describe(cur()));
        return next().text;
    }
    void expect_block_end() {
        if (cur().type != T::BlockEnd) fail(cur(), "expected '%}', found " + describe(cur()));
        next();
    }

    // Syntax tree nodes are a few hundred bytes each: a 1 MiB template of `[1,1,1,...]` would
    // take hundreds of MB, so their number is bounded (real templates have a few thousand).
    void count_node(const Token& at) {
        if (++nodes_ > kMaxParseNodes)
            fail(at, "template too large (more than " + std::to_string(kMaxParseNodes) +
                         " expressions and statements)");
    }
    ExprPtr make(Expr::Kind k, const Token& at) {
        count_node(at);
        auto e = std::make_unique<Expr>();
        e->kind = k;
        e->line = at.line;
        e->col = at.col;
        return e;
    }
    StmtPtr make_stmt(Stmt::Kind k, const Token& at) {
        count_node(at);
        auto s = std::make_unique<Stmt>();
        s->kind = k;
        s->line = at.line;
        s->col = at.col;
        return s;
    }

    // Parses statements until a block tag whose name is in `enders`; `end` receives that name
    // (the name token is consumed, the rest of the tag is not).
    Body parse_body(std::initializer_list<const char*> enders, std::string& end) {
        Body body;
        while (true) {
            const Token& tok = cur();
            if (tok.type == T::Eof) {
                if (enders.size() == 0) return body;
                fail(tok, std::string("unexpected end of template, expected '") +
                              *(enders.end() - 1) + "'");
            }
            if (tok.type == T::Text) {
                auto s = make_stmt(Stmt::Kind::Text, tok);
                s->text = tok.text;
                next();
                body.push_back(std::move(s));
            } else if (tok.type == T::VarBegin) {
                next();
                auto s = make_stmt(Stmt::Kind::Output, tok);
                s->expr = parse_tuple(true);
                if (cur().type != T::VarEnd) fail(cur(), "expected '}}', found " + describe(cur()));
                next();
                body.push_back(std::move(s));
            } else if (tok.type == T::BlockBegin) {
                next();
                const Token& kw = cur();
                if (kw.type != T::Name)
                    fail(kw, "expected a statement name, found " + describe(kw));
                for (const char* e : enders)
                    if (kw.text == e) {
                        end = kw.text;
                        next();
                        return body;
                    }
                body.push_back(parse_statement());
            } else {
                fail(tok, "unexpected " + describe(tok));
            }
        }
    }

    // After an end tag name: an optional repeated name (endmacro foo), then '%}'.
    void finish_end_tag() {
        if (cur().type == T::Name) next();
        expect_block_end();
    }

    StmtPtr parse_statement() {
        DepthGuard guard(*this, cur());
        const Token& kw = next();
        const std::string& k = kw.text;
        if (k == "if") return parse_if(kw);
        if (k == "for") return parse_for(kw);
        if (k == "set") return parse_set(kw);
        if (k == "macro") return parse_macro(kw);
        if (k == "call") return parse_call(kw);
        if (k == "filter") return parse_filter_block(kw);
        if (k == "break" || k == "continue") {
            // Inside a macro body a loop around the macro's call does not count (as in jinja2).
            if (loops_ == 0) fail(kw, "'" + k + "' outside a for loop");
            auto s = make_stmt(k == "break" ? Stmt::Kind::Break : Stmt::Kind::Continue, kw);
            expect_block_end();
            return s;
        }
        if (k == "generation") {  // HF's assistant-mask extension: renders its body unchanged
            auto s = make_stmt(Stmt::Kind::Scope, kw);
            expect_block_end();
            std::string end;
            s->body = parse_body({"endgeneration"}, end);
            finish_end_tag();
            return s;
        }
        if (k == "include" || k == "extends" || k == "import" || k == "from" || k == "block")
            fail(kw, "'" + k +
                         "' is not supported: a chat template must be self-contained (there are no "
                         "other templates to load)");
        fail(kw, "unknown or unsupported statement '" + k + "'");
    }

    StmtPtr parse_if(const Token& kw) {
        auto s = make_stmt(Stmt::Kind::If, kw);
        ExprPtr cond = parse_expression();
        while (true) {
            expect_block_end();
            std::string end;
            Body b = parse_body({"elif", "else", "endif"}, end);
            s->branches.emplace_back(std::move(cond), std::move(b));
            if (end == "elif") {
                cond = parse_expression();
                continue;
            }
            if (end == "else") {
                expect_block_end();
                Body eb = parse_body({"endif"}, end);
                s->branches.emplace_back(nullptr, std::move(eb));
            }
            finish_end_tag();
            return s;
        }
    }

    StmtPtr parse_for(const Token& kw) {
        auto s = make_stmt(Stmt::Kind::For, kw);
        s->targets.push_back(expect_name());
        while (is_op(",")) {
            next();
            s->targets.push_back(expect_name());
        }
        if (!is_name("in")) fail(cur(), "expected 'in' in for loop, found " + describe(cur()));
        next();
        s->expr = parse_tuple(false);
        if (is_name("if")) {
            next();
            s->cond = parse_expression();
        }
        if (is_name("recursive")) {
            next();
            s->recursive = true;
        }
        expect_block_end();
        std::string end;
        ++loops_;
        s->body = parse_body({"else", "endfor"}, end);
        --loops_;
        if (end == "else") {
            expect_block_end();
            s->else_body = parse_body({"endfor"}, end);
        }
        finish_end_tag();
        return s;
    }

    StmtPtr parse_set(const Token& kw) {
        auto s = make_stmt(Stmt::Kind::Set, kw);
        s->targets.push_back(expect_name());
        if (is_op(".")) {
            next();
            s->attr = expect_name();
        } else {
            while (is_op(",")) {
                next();
                s->targets.push_back(expect_name());
            }
        }
        if (is_op("=")) {
            next();
            s->expr = parse_tuple(true);
            expect_block_end();
            return s;
        }
        if (s->targets.size() != 1 || !s->attr.empty())
            fail(cur(), "expected '=' in set statement");
        s->kind = Stmt::Kind::SetBlock;
        if (is_op("|")) s->filter = parse_filter_chain(kw);  // {% set x | upper %}...{% endset %}
        expect_block_end();
        std::string end;
        s->body = parse_body({"endset"}, end);
        finish_end_tag();
        return s;
    }

    // `(a, b=default, ...)` of a macro or a call block.
    void parse_params(Stmt& s) {
        expect_op("(");
        while (!is_op(")")) {
            if (!s.params.empty()) expect_op(",");
            if (is_op(")")) break;
            std::string p = expect_name();
            ExprPtr def;
            if (is_op("=")) {
                next();
                def = parse_expression();
            }
            s.params.emplace_back(p, std::move(def));
        }
        next();
    }

    Body parse_macro_body(Stmt& s, const char* end_tag) {
        macros_.push_back(&s);
        const int loops = loops_;
        loops_ = 0;
        std::string end;
        Body body = parse_body({end_tag}, end);
        loops_ = loops;
        macros_.pop_back();
        finish_end_tag();
        return body;
    }

    StmtPtr parse_macro(const Token& kw) {
        auto s = make_stmt(Stmt::Kind::Macro, kw);
        s->attr = expect_name();
        parse_params(*s);
        expect_block_end();
        s->body = parse_macro_body(*s, "endmacro");
        return s;
    }

    // {% call(args) macro(...) %}body{% endcall %}: the body becomes caller(args) in the macro.
    StmtPtr parse_call(const Token& kw) {
        auto s = make_stmt(Stmt::Kind::CallBlock, kw);
        if (is_op("(")) parse_params(*s);
        s->expr = parse_expression();
        if (s->expr->kind != Expr::Kind::Call) fail(kw, "expected a macro call after 'call'");
        expect_block_end();
        s->body = parse_macro_body(*s, "endcall");
        return s;
    }

    // `| f | g(x)` (or `f | g(x)` after {% filter) applied to the captured block text.
    ExprPtr parse_filter_chain(const Token& kw) {
        auto input = make(Expr::Kind::Name, kw);
        input->name = "\x01filter_body";
        if (is_op("|")) next();
        ExprPtr f = parse_filter(std::move(input));
        while (is_op("|")) {
            next();
            f = parse_filter(std::move(f));
        }
        return f;
    }

    StmtPtr parse_filter_block(const Token& kw) {
        auto s = make_stmt(Stmt::Kind::FilterBlock, kw);
        s->filter = parse_filter_chain(kw);
        expect_block_end();
        std::string end;
        s->body = parse_body({"endfilter"}, end);
        finish_end_tag();
        return s;
    }

    // ---- expressions ----

    // An expression, or a tuple when commas follow (`a, b`).
    ExprPtr parse_tuple(bool with_condexpr) {
        const Token& at = cur();
        ExprPtr first = with_condexpr ? parse_expression() : parse_or();
        if (!is_op(",")) return first;
        auto t = make(Expr::Kind::TupleLit, at);
        t->args.push_back(std::move(first));
        while (is_op(",")) {
            next();
            if (cur().type == T::VarEnd || cur().type == T::BlockEnd || is_op(")")) break;
            t->args.push_back(with_condexpr ? parse_expression() : parse_or());
        }
        return t;
    }

    ExprPtr parse_expression() {
        // The else branch recurses here (x if c else y if d else ...): it is guarded like every
        // other recursive rule, or a long chain overflows the stack.
        DepthGuard guard(*this, cur());
        ExprPtr e = parse_or();
        int extra = 0;
        while (is_name("if")) {
            chain(extra, cur());
            const Token& at = next();
            auto c = make(Expr::Kind::Cond, at);
            c->a = std::move(e);
            c->b = parse_or();
            if (is_name("else")) {
                next();
                c->c = parse_expression();
            }
            e = std::move(c);
        }
        return e;
    }

    ExprPtr parse_or() {
        ExprPtr l = parse_and();
        int extra = 0;
        while (is_name("or")) {
            chain(extra, cur());
            auto n = make(Expr::Kind::Or, next());
            n->a = std::move(l);
            n->b = parse_and();
            l = std::move(n);
        }
        return l;
    }

    ExprPtr parse_and() {
        ExprPtr l = parse_not();
        int extra = 0;
        while (is_name("and")) {
            chain(extra, cur());
            auto n = make(Expr::Kind::And, next());
            n->a = std::move(l);
            n->b = parse_not();
            l = std::move(n);
        }
        return l;
    }

    ExprPtr parse_not() {
        DepthGuard guard(*this, cur());
        if (is_name("not")) {
            auto n = make(Expr::Kind::Unary, next());
            n->name = "not";
            n->a = parse_not();
            return n;
        }
        return parse_compare();
    }

    ExprPtr binary(std::string op, ExprPtr l, ExprPtr r, const Token& at) {
        auto n = make(Expr::Kind::Binary, at);
        n->name = std::move(op);
        n->a = std::move(l);
        n->b = std::move(r);
        return n;
    }

    // One comparison per operand pair. Python (and jinja2) read a < b < c as a < b and b < c;
    // rather than give that a different meaning, a chain is refused with a clear error.
    ExprPtr parse_compare() {
        ExprPtr l = parse_math1();
        int extra = 0;
        bool compared = false;
        while (true) {
            chain(extra, cur());
            const Token& at = cur();
            const bool is_compare =
                (at.type == T::Op && (at.text == "==" || at.text == "!=" || at.text == "<" ||
                                      at.text == ">" || at.text == "<=" || at.text == ">=")) ||
                is_name("in") || (is_name("not") && peek().type == T::Name && peek().text == "in");
            if (is_compare && compared)
                fail(at,
                     "chained comparisons (a < b < c) are not supported; write a < b and b < c");
            compared = compared || is_compare;
            if (at.type == T::Op && (at.text == "==" || at.text == "!=" || at.text == "<" ||
                                     at.text == ">" || at.text == "<=" || at.text == ">=")) {
                std::string op = next().text;
                l = binary(op, std::move(l), parse_math1(), at);
            } else if (is_name("in")) {
                next();
                l = binary("in", std::move(l), parse_math1(), at);
            } else if (is_name("not") && peek().type == T::Name && peek().text == "in") {
                next();
                next();
                l = binary("not in", std::move(l), parse_math1(), at);
            } else {
                return l;
            }
        }
    }

    ExprPtr parse_math1() {
        ExprPtr l = parse_concat();
        int extra = 0;
        while (is_op("+") || is_op("-")) {
            chain(extra, cur());
            const Token& at = cur();
            std::string op = next().text;
            l = binary(op, std::move(l), parse_concat(), at);
        }
        return l;
    }

    ExprPtr parse_concat() {
        ExprPtr l = parse_math2();
        int extra = 0;
        while (is_op("~")) {
            chain(extra, cur());
            const Token& at = next();
            l = binary("~", std::move(l), parse_math2(), at);
        }
        return l;
    }

    ExprPtr parse_math2() {
        ExprPtr l = parse_pow();
        int extra = 0;
        while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
            chain(extra, cur());
            const Token& at = cur();
            std::string op = next().text;
            l = binary(op, std::move(l), parse_pow(), at);
        }
        return l;
    }

    ExprPtr parse_pow() {
        ExprPtr l = parse_unary(true);
        int extra = 0;
        while (is_op("**")) {
            chain(extra, cur());
            const Token& at = next();
            l = binary("**", std::move(l), parse_unary(true), at);
        }
        return l;
    }

    ExprPtr parse_unary(bool with_filter) {
        DepthGuard guard(*this, cur());
        ExprPtr node;
        if (is_op("-") || is_op("+")) {
            const Token& at = cur();
            node = make(Expr::Kind::Unary, at);
            node->name = next().text;
            node->a = parse_unary(false);
        } else {
            node = parse_primary();
        }
        node = parse_postfix(std::move(node));
        if (with_filter) node = parse_filter_expr(std::move(node));
        return node;
    }

    ExprPtr parse_primary() {
        const Token& tok = cur();
        if (tok.type == T::Name) {
            next();
            if (tok.text == "true" || tok.text == "True" || tok.text == "false" ||
                tok.text == "False") {
                auto e = make(Expr::Kind::Literal, tok);
                e->value = Value::from_bool(tok.text[0] == 't' || tok.text[0] == 'T');
                return e;
            }
            if (tok.text == "none" || tok.text == "None") {
                auto e = make(Expr::Kind::Literal, tok);
                e->value = Value::none();
                return e;
            }
            auto e = make(Expr::Kind::Name, tok);
            e->name = tok.text;
            // jinja2 lets a macro take extra arguments only when its body names varargs/kwargs.
            if (!macros_.empty() && tok.text == "varargs") macros_.back()->catch_varargs = true;
            if (!macros_.empty() && tok.text == "kwargs") macros_.back()->catch_kwargs = true;
            return e;
        }
        if (tok.type == T::String) {
            std::string s;
            while (cur().type == T::String) s += next().text;  // adjacent literals concatenate
            auto e = make(Expr::Kind::Literal, tok);
            e->value = Value::from_string(std::move(s));
            return e;
        }
        if (tok.type == T::Int || tok.type == T::Float) {
            next();
            auto e = make(Expr::Kind::Literal, tok);
            e->value = tok.type == T::Int ? Value::from_int(tok.int_value)
                                          : Value::from_float(tok.float_value);
            return e;
        }
        if (is_op("(")) {
            next();
            if (is_op(")")) {
                next();
                return make(Expr::Kind::TupleLit, tok);
            }
            ExprPtr e = parse_expression();
            if (is_op(",")) {
                auto t = make(Expr::Kind::TupleLit, tok);
                t->args.push_back(std::move(e));
                while (is_op(",")) {
                    next();
                    if (is_op(")")) break;
                    t->args.push_back(parse_expression());
                }
                e = std::move(t);
            }
            expect_op(")");
            return e;
        }
        if (is_op("[")) {
            next();
            auto e = make(Expr::Kind::ListLit, tok);
            while (!is_op("]")) {
                if (!e->args.empty()) expect_op(",");
                if (is_op("]")) break;
                e->args.push_back(parse_expression());
            }
            next();
            return e;
        }
        if (is_op("{")) {
            next();
            auto e = make(Expr::Kind::DictLit, tok);
            while (!is_op("}")) {
                if (!e->args.empty()) expect_op(",");
                if (is_op("}")) break;
                e->args.push_back(parse_expression());
                expect_op(":");
                e->args2.push_back(parse_expression());
            }
            next();
            return e;
        }
        fail(tok, "unexpected " + describe(tok) + " in expression");
    }

    void parse_call_args(Expr& call) {
        expect_op("(");
        while (!is_op(")")) {
            if (!call.args.empty() || !call.kwargs.empty()) expect_op(",");
            if (is_op(")")) break;
            if (cur().type == T::Name && peek().type == T::Op && peek().text == "=") {
                std::string k = next().text;
                next();
                call.kwargs.emplace_back(k, parse_expression());
            } else {
                if (!call.kwargs.empty()) fail(cur(), "positional argument after keyword argument");
                call.args.push_back(parse_expression());
            }
        }
        next();
    }

    ExprPtr parse_postfix(ExprPtr node) {
        int extra = 0;
        while (true) {
            chain(extra, cur());
            const Token& at = cur();
            if (is_op(".")) {
                next();
                if (cur().type == T::Int) {
                    auto e = make(Expr::Kind::Item, at);
                    auto idx = make(Expr::Kind::Literal, cur());
                    idx->value = Value::from_int(next().int_value);
                    e->a = std::move(node);
                    e->b = std::move(idx);
                    node = std::move(e);
                    continue;
                }
                auto e = make(Expr::Kind::Attr, at);
                e->name = expect_name();
                e->a = std::move(node);
                node = std::move(e);
            } else if (is_op("[")) {
                next();
                node = parse_subscript(std::move(node), at);
                expect_op("]");
            } else if (is_op("(")) {
                auto e = make(Expr::Kind::Call, at);
                e->a = std::move(node);
                parse_call_args(*e);
                node = std::move(e);
            } else {
                return node;
            }
        }
    }

    ExprPtr parse_subscript(ExprPtr obj, const Token& at) {
        ExprPtr parts[3];
        bool slice = false;
        int k = 0;
        if (!is_op(":")) parts[0] = parse_expression();
        while (is_op(":") && k < 2) {
            slice = true;
            next();
            ++k;
            if (!is_op(":") && !is_op("]")) parts[k] = parse_expression();
        }
        if (!slice) {
            auto e = make(Expr::Kind::Item, at);
            e->a = std::move(obj);
            e->b = std::move(parts[0]);
            return e;
        }
        auto e = make(Expr::Kind::Slice, at);
        e->a = std::move(obj);
        e->b = std::move(parts[0]);
        e->c = std::move(parts[1]);
        e->d = std::move(parts[2]);
        return e;
    }

    ExprPtr parse_filter(ExprPtr input) {
        const Token& at = cur();
        auto f = make(Expr::Kind::Filter, at);
        f->name = expect_name();
        while (is_op(".")) {  // dotted filter names
            next();
            f->name += "." + expect_name();
        }
        f->a = std::move(input);
        if (is_op("(")) parse_call_args(*f);
        return f;
    }

    ExprPtr parse_filter_expr(ExprPtr node) {
        int extra = 0;
        while (true) {
            chain(extra, cur());
            if (is_op("|")) {
                next();
                node = parse_filter(std::move(node));
            } else if (is_name("is")) {
                const Token& at = next();
                auto t = make(Expr::Kind::Test, at);
                if (is_name("not")) {
                    next();
                    t->negate = true;
                }
                t->name = expect_name();
                t->a = std::move(node);
                if (is_op("(")) {
                    parse_call_args(*t);
                } else if ((cur().type == T::Name || cur().type == T::String ||
                            cur().type == T::Int || cur().type == T::Float || is_op("(") ||
                            is_op("[") || is_op("{")) &&
                           !is_name("else") && !is_name("or") && !is_name("and")) {
                    if (is_name("is")) fail(cur(), "cannot chain multiple tests with 'is'");
                    t->args.push_back(parse_postfix(parse_primary()));
                }
                node = std::move(t);
            } else if (is_op("(")) {
                auto e = make(Expr::Kind::Call, cur());
                e->a = std::move(node);
                parse_call_args(*e);
                node = std::move(e);
            } else {
                return node;
            }
        }
    }

    // Bounds recursion so hostile templates cannot exhaust the stack.
    struct DepthGuard {
        Parser& p;
        DepthGuard(Parser& parser, const Token& at) : p(parser) {
            if (++p.depth_ > kMaxDepth)
                p.fail(at, "template nested too deeply (more than " + std::to_string(kMaxDepth) +
                               " levels)");
        }
        ~DepthGuard() { --p.depth_; }
    };
    static constexpr int kMaxDepth = kMaxParseDepth;

    // Left-folded chains (a + b + c ...) nest one level per operator without recursing here,
    // but evaluation recurses through them, so they count against the same limit.
    void chain(int& extra, const Token& at) {
        if (depth_ + ++extra > kMaxDepth)
            fail(at, "expression nested too deeply (more than " + std::to_string(kMaxDepth) +
                         " levels)");
    }

    std::vector<Token> t_;
    size_t i_ = 0;
    int depth_ = 0;
    int64_t nodes_ = 0;
    int loops_ = 0;              // for loops around the statement being parsed (within its macro)
    std::vector<Stmt*> macros_;  // macros (and call blocks) being parsed, innermost last
};

}  // namespace

Body parse_template(std::string_view src, const LexOptions& opt) {
    return Parser(lex(src, opt)).parse_all();
}

}  // namespace gb::jinja
