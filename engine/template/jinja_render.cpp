// Interpreter of the Jinja subset: statements, expressions, scoping as jinja2 does it (each
// loop iteration and macro call gets its own scope; namespaces carry state out of loops).
#include "engine/template/jinja_render.h"

#include <cmath>
#include <cstdint>

namespace gb::jinja {

namespace {
constexpr const char* kFilterBody = "\x01filter_body";
constexpr const char* kCallable =
    "\x01"
    "call";  // a dict holding this key can be called (loop)
}  // namespace

void Renderer::fail(int line, int col, const std::string& msg) const {
    // Messages can quote template values (a key, a format string): they reach the user as a
    // warning, so a long one is cut.
    std::string text =
        msg.size() > kMaxErrorTextBytes
            ? msg.substr(0, kMaxErrorTextBytes) + "... (" + std::to_string(msg.size()) + " bytes)"
            : msg;
    throw PositionedError("template:" + std::to_string(line) + ":" + std::to_string(col) + ": " +
                          text);
}

// A macro, caller() or loop() call copies the variables of the scopes it sees (work in proportion
// to their number) and captures its output: several steps of its own.
static void charge_frames(const std::vector<std::unordered_map<std::string, Value>>& frames,
                          size_t count) {
    size_t n = 0;
    for (size_t i = 0; i < count && i < frames.size(); ++i) n += frames[i].size();
    charge_steps(8 + 4 * static_cast<int64_t>(n));  // ~0.3 us per variable copied
}

void Renderer::count_iteration() {
    charge_steps(1);
    if (++iterations_ > limits_.max_loop_iterations)
        throw Error("loop iteration limit exceeded (" +
                    std::to_string(limits_.max_loop_iterations) + " iterations in one render)");
}

void Renderer::emit(const std::string& s) {
    out_->append(s);
    if (out_->size() > limits_.max_output_bytes)
        throw Error("output size limit exceeded (" + std::to_string(limits_.max_output_bytes) +
                    " bytes)");
}

std::string Renderer::render(const Body& body, const Dict& globals) {
    frames_.clear();
    frames_.emplace_back();
    for (const auto& [k, v] : globals) frames_.back()[k] = v;
    frames_.emplace_back();  // template-level assignments
    std::string out;
    out_ = &out;
    iterations_ = 0;
    depth_ = 0;
    control_ = Control::None;
    BudgetScope budget(limits_.budget);
    struct ReleaseNamespaces {
        Renderer& r;
        BudgetScope& budget;
        ~ReleaseNamespaces() {
            r.last_use_ = budget.use();
            for (auto& ns : r.namespaces_) ns.mutable_dict().clear();
            r.namespaces_.clear();
            r.frames_.clear();
        }
    } release{*this, budget};
    exec(body);
    return out;
}

Value Renderer::lookup(const std::string& name) const {
    for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
        auto f = it->find(name);
        if (f != it->end()) return f->second;
    }
    return Value::undefined(name);
}

std::vector<Value> Renderer::iterate(const Value& v) const {
    switch (v.kind()) {
        case Value::Kind::Undefined: return {};
        case Value::Kind::List:
            charge_steps(1 + static_cast<int64_t>(v.list().size() >> 3));
            charge_bytes(static_cast<int64_t>(v.list().size() * sizeof(Value)));  // the copy
            return v.list();
        case Value::Kind::Dict: {
            charge_steps(1 + static_cast<int64_t>(v.dict().size() >> 3));
            charge_bytes(static_cast<int64_t>(v.dict().size() * sizeof(Value)));
            std::vector<Value> keys;
            for (const auto& [k, x] : v.dict()) keys.push_back(Value::from_string(k));
            return keys;
        }
        case Value::Kind::String: {
            // A cell per character, before any is made: a 10 MB string would take 1 GB.
            charge_bytes(static_cast<int64_t>(utf8_length(v.str()) * sizeof(Value)));
            std::vector<Value> chars;
            for (auto& c : utf8_chars(v.str())) chars.push_back(Value::from_string(std::move(c)));
            return chars;
        }
        default: throw Error(std::string("'") + v.type_name() + "' object is not iterable");
    }
}

std::string Renderer::capture(const Body& body) {
    std::string buf;
    std::string* saved = out_;
    out_ = &buf;
    try {
        exec(body);
    } catch (...) {
        out_ = saved;
        throw;
    }
    out_ = saved;
    return buf;
}

void Renderer::exec(const Body& body) {
    for (const auto& s : body) {
        if (control_ != Control::None) return;
        try {
            exec_stmt(*s);
        } catch (const PositionedError&) {
            throw;
        } catch (const TemplateRaised&) {
            throw;
        } catch (const Error& e) {
            fail(s->line, s->col, e.what());
        }
    }
}

void Renderer::exec_stmt(const Stmt& s) {
    charge_steps(1);
    switch (s.kind) {
        case Stmt::Kind::Text: emit(s.text); return;
        case Stmt::Kind::Output: emit(eval(*s.expr).to_str()); return;
        case Stmt::Kind::If:
            for (const auto& [cond, body] : s.branches)
                if (!cond || eval(*cond).truthy()) {
                    exec(body);
                    return;
                }
            return;
        case Stmt::Kind::For: exec_for(s, eval(*s.expr), 1); return;
        case Stmt::Kind::Set: exec_set(s); return;
        case Stmt::Kind::SetBlock: {
            Value text = Value::from_string(capture(s.body));
            if (s.filter) {
                frames_.emplace_back();
                assign(kFilterBody, text);
                try {
                    text = eval(*s.filter);
                } catch (...) {
                    frames_.pop_back();
                    throw;
                }
                frames_.pop_back();
            }
            assign(s.targets[0], std::move(text));
            return;
        }
        case Stmt::Kind::Macro: assign(s.attr, make_macro(s)); return;
        case Stmt::Kind::CallBlock: {
            // The body becomes `caller(...)` inside the called macro, seeing the names around the
            // call block plus its own parameters.
            const Stmt* block = &s;
            charge_frames(frames_, frames_.size());
            auto frames = frames_;
            Value caller =
                Value::from_func("caller", [this, block, frames](Renderer&, CallArgs& args) {
                    if (depth_ >= limits_.max_call_depth)
                        throw Error("recursion depth limit exceeded (" +
                                    std::to_string(limits_.max_call_depth) + " nested calls)");
                    charge_frames(frames, frames.size());
                    auto saved = std::move(frames_);
                    frames_ = frames;
                    frames_.emplace_back();
                    std::string text;
                    ++depth_;
                    try {
                        bind_params(*block, "caller", args, frames_.back());
                        text = capture(block->body);
                    } catch (...) {
                        --depth_;
                        frames_ = std::move(saved);
                        throw;
                    }
                    --depth_;
                    frames_ = std::move(saved);
                    return Value::from_string(text);
                });
            frames_.emplace_back();
            assign("caller", caller);
            Value result;
            try {
                result = eval_call(*s.expr);
            } catch (...) {
                frames_.pop_back();
                throw;
            }
            frames_.pop_back();
            emit(result.to_str());
            return;
        }
        case Stmt::Kind::FilterBlock: {
            frames_.emplace_back();
            assign(kFilterBody, Value::from_string(capture(s.body)));
            Value v = eval(*s.filter);
            frames_.pop_back();
            emit(v.to_str());
            return;
        }
        case Stmt::Kind::Scope: exec(s.body); return;
        case Stmt::Kind::Break: control_ = Control::Break; return;
        case Stmt::Kind::Continue: control_ = Control::Continue; return;
    }
}

void Renderer::exec_for(const Stmt& s, const Value& seq, int depth) {
    std::vector<Value> items = iterate(seq);
    if (s.cond) {
        // `for x in xs if cond`: filter first, so loop.length counts the kept items.
        std::vector<Value> kept;
        for (auto& item : items) {
            count_iteration();
            frames_.emplace_back();
            if (s.targets.size() == 1)
                assign(s.targets[0], item);
            else {
                auto parts = iterate(item);
                for (size_t i = 0; i < s.targets.size() && i < parts.size(); ++i)
                    assign(s.targets[i], parts[i]);
            }
            bool keep = eval(*s.cond).truthy();
            frames_.pop_back();
            if (keep) kept.push_back(std::move(item));
        }
        items = std::move(kept);
    }
    const int64_t n = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < n; ++i) {
        count_iteration();
        frames_.emplace_back();
        Dict loop{{"index", Value::from_int(i + 1)},
                  {"index0", Value::from_int(i)},
                  {"revindex", Value::from_int(n - i)},
                  {"revindex0", Value::from_int(n - i - 1)},
                  {"first", Value::from_bool(i == 0)},
                  {"last", Value::from_bool(i == n - 1)},
                  {"length", Value::from_int(n)},
                  {"depth", Value::from_int(depth)},
                  {"depth0", Value::from_int(depth - 1)},
                  {"previtem", i > 0 ? items[i - 1] : Value::undefined("previtem")},
                  {"nextitem", i + 1 < n ? items[i + 1] : Value::undefined("nextitem")},
                  {"cycle", Value::from_func("cycle", [i](Renderer&, CallArgs& a) {
                       if (a.positional.empty()) throw Error("no items for cycling given");
                       return a.positional[static_cast<size_t>(i) % a.positional.size()];
                   })}};
        if (s.recursive) {
            // loop(x) renders the same loop body over x, one level deeper, and returns the text.
            const Stmt* st = &s;
            loop.emplace_back(
                kCallable, Value::from_func("loop", [this, st, depth](Renderer&, CallArgs& a) {
                    if (a.positional.size() != 1) throw Error("loop() takes exactly one argument");
                    if (depth_ >= limits_.max_call_depth)
                        throw Error("recursion depth limit exceeded (" +
                                    std::to_string(limits_.max_call_depth) + " nested calls)");
                    std::string buf;
                    std::string* saved = out_;
                    out_ = &buf;
                    ++depth_;
                    try {
                        exec_for(*st, a.positional[0], depth + 1);
                    } catch (...) {
                        --depth_;
                        out_ = saved;
                        throw;
                    }
                    --depth_;
                    out_ = saved;
                    return Value::from_string(buf);
                }));
        }
        assign("loop", Value::from_dict(std::move(loop)));
        const Value& item = items[i];
        if (s.targets.size() == 1) {
            assign(s.targets[0], item);
        } else {
            auto parts = iterate(item);
            if (parts.size() != s.targets.size())
                fail(s.line, s.col,
                     "cannot unpack " + std::to_string(parts.size()) + " values into " +
                         std::to_string(s.targets.size()) + " loop variables");
            for (size_t k = 0; k < parts.size(); ++k) assign(s.targets[k], parts[k]);
        }
        try {
            exec(s.body);
        } catch (...) {
            frames_.pop_back();
            throw;
        }
        frames_.pop_back();
        Control c = control_;
        control_ = Control::None;
        if (c == Control::Break) break;
    }
    if (n == 0 && !s.else_body.empty()) exec(s.else_body);
}

void Renderer::exec_set(const Stmt& s) {
    Value v = eval(*s.expr);
    if (!s.attr.empty()) {
        Value ns = lookup(s.targets[0]);
        if (!ns.is_namespace())
            fail(s.line, s.col,
                 "cannot assign attribute on non-namespace object '" + s.targets[0] + "'");
        ns.set(s.attr, std::move(v));
        return;
    }
    if (s.targets.size() == 1) {
        assign(s.targets[0], std::move(v));
        return;
    }
    auto parts = iterate(v);
    if (parts.size() != s.targets.size())
        fail(s.line, s.col,
             "cannot unpack " + std::to_string(parts.size()) + " values into " +
                 std::to_string(s.targets.size()) + " names");
    for (size_t k = 0; k < parts.size(); ++k) assign(s.targets[k], parts[k]);
}

// Binds call arguments to a macro's (or call block's) parameters as jinja2 does: by position,
// then by name, then the default (evaluated here) or undefined. Extra arguments are an error
// unless the body names varargs / kwargs, which then receive them.
void Renderer::bind_params(const Stmt& m, const std::string& what, CallArgs& args,
                           std::unordered_map<std::string, Value>& local) {
    const size_t n = m.params.size();
    for (size_t i = 0; i < n; ++i) {
        const auto& [pname, def] = m.params[i];
        Value v;
        bool found = i < args.positional.size();
        if (found) v = args.positional[i];
        for (auto& [k, x] : args.keyword)
            if (k == pname) {
                if (found && i < args.positional.size())
                    throw Error(what + " got multiple values for argument '" + pname + "'");
                v = x;
                found = true;
            }
        if (!found) v = def ? eval(*def) : Value::undefined(pname);
        local[pname] = v;
    }
    List extra;
    for (size_t i = n; i < args.positional.size(); ++i) extra.push_back(args.positional[i]);
    if (!extra.empty() && !m.catch_varargs)
        throw Error(what + " takes not more than " + std::to_string(n) + " argument(s)");
    Dict kw;
    for (auto& [k, x] : args.keyword) {
        bool known = false;
        for (const auto& p : m.params) known = known || p.first == k;
        if (known) continue;
        if (!m.catch_kwargs) throw Error(what + " takes no keyword argument '" + k + "'");
        kw.emplace_back(k, x);
    }
    if (m.catch_varargs) local["varargs"] = Value::from_list(std::move(extra), true);
    if (m.catch_kwargs) local["kwargs"] = Value::from_dict(std::move(kw));
}

Value Renderer::make_macro(const Stmt& s) {
    const Stmt* m = &s;
    return Value::from_func(s.attr, [this, m](Renderer&, CallArgs& args) {
        if (depth_ >= limits_.max_call_depth)
            throw Error("recursion depth limit exceeded (" +
                        std::to_string(limits_.max_call_depth) + " nested calls)");
        // Macros see the globals and template-level names, plus their own arguments.
        charge_frames(frames_, 2);
        std::vector<std::unordered_map<std::string, Value>> frames{frames_[0], frames_[1], {}};
        auto& local = frames.back();
        Value caller = lookup("caller");
        if (!caller.is_undefined()) local["caller"] = caller;
        // The depth counts from here: a parameter's default may call the macro again.
        ++depth_;
        try {
            bind_params(*m, "macro '" + m->attr + "'", args, local);
        } catch (...) {
            --depth_;
            throw;
        }
        auto saved = std::move(frames_);
        frames_ = std::move(frames);
        std::string text;
        try {
            text = capture(m->body);
        } catch (...) {
            --depth_;
            frames_ = std::move(saved);
            throw;
        }
        --depth_;
        frames_ = std::move(saved);
        return Value::from_string(text);
    });
}

Value Renderer::call(const Value& fn, CallArgs& args) {
    if (fn.is_dict())
        if (const Value* f = fn.find(kCallable)) return call(*f, args);
    if (fn.kind() != Value::Kind::Func) {
        if (fn.is_undefined()) throw Error("'" + fn.str() + "' is undefined");
        throw Error(std::string("'") + fn.type_name() + "' object is not callable");
    }
    return fn.func()(*this, args);
}

Value Renderer::eval_call(const Expr& e) {
    Value fn = eval(*e.a);
    CallArgs args;
    for (const auto& a : e.args) args.positional.push_back(eval(*a));
    for (const auto& [k, a] : e.kwargs) args.keyword.emplace_back(k, eval(*a));
    if (fn.is_undefined()) fail(e.line, e.col, "'" + fn.str() + "' is undefined");
    return call(fn, args);
}

Value Renderer::eval(const Expr& e) {
    // Expression nesting is bounded by the parser; macro recursion by max_call_depth; all of it
    // (a macro calling itself twice per level, say) by the step budget.
    charge_steps(1);
    switch (e.kind) {
        case Expr::Kind::Literal: return e.value;
        case Expr::Kind::Name: return lookup(e.name);
        case Expr::Kind::Attr: {
            Value obj = eval(*e.a);
            if (obj.is_undefined()) fail(e.line, e.col, "'" + obj.str() + "' is undefined");
            Value v = get_attr(obj, e.name);
            if (v.is_undefined() && v.str().empty()) v = Value::undefined(e.name);
            return v;
        }
        case Expr::Kind::Item: {
            Value obj = eval(*e.a);
            if (obj.is_undefined()) fail(e.line, e.col, "'" + obj.str() + "' is undefined");
            return get_item(obj, eval(*e.b));
        }
        case Expr::Kind::Slice: {
            Value obj = eval(*e.a);
            if (obj.is_undefined()) fail(e.line, e.col, "'" + obj.str() + "' is undefined");
            Value none = Value::none();
            return slice_value(obj, e.b ? eval(*e.b) : none, e.c ? eval(*e.c) : none,
                               e.d ? eval(*e.d) : none);
        }
        case Expr::Kind::Call: return eval_call(e);
        case Expr::Kind::Filter: {
            Value in = eval(*e.a);
            CallArgs args;
            for (const auto& a : e.args) args.positional.push_back(eval(*a));
            for (const auto& [k, a] : e.kwargs) args.keyword.emplace_back(k, eval(*a));
            return apply_filter(*this, e.name, in, args);
        }
        case Expr::Kind::Test: {
            Value in = eval(*e.a);
            CallArgs args;
            for (const auto& a : e.args) args.positional.push_back(eval(*a));
            for (const auto& [k, a] : e.kwargs) args.keyword.emplace_back(k, eval(*a));
            bool r = apply_test(*this, e.name, in, args);
            return Value::from_bool(e.negate ? !r : r);
        }
        case Expr::Kind::Unary: {
            Value v = eval(*e.a);
            if (e.name == "not") return Value::from_bool(!v.truthy());
            if (v.kind() == Value::Kind::Float)
                return Value::from_float(e.name == "-" ? -v.as_float() : v.as_float());
            if (v.kind() == Value::Kind::Int || v.kind() == Value::Kind::Bool) {
                if (e.name == "-" && v.as_int() == INT64_MIN)
                    fail(e.line, e.col, "integer overflow in unary -");
                return Value::from_int(e.name == "-" ? -v.as_int() : v.as_int());
            }
            fail(e.line, e.col,
                 std::string("bad operand type for unary ") + e.name + ": '" + v.type_name() + "'");
        }
        case Expr::Kind::Binary: return eval_binary(e);
        case Expr::Kind::And: {
            Value a = eval(*e.a);
            return a.truthy() ? eval(*e.b) : a;
        }
        case Expr::Kind::Or: {
            Value a = eval(*e.a);
            return a.truthy() ? a : eval(*e.b);
        }
        case Expr::Kind::Cond:
            if (eval(*e.b).truthy()) return eval(*e.a);
            return e.c ? eval(*e.c) : Value::undefined();
        case Expr::Kind::ListLit:
        case Expr::Kind::TupleLit: {
            List l;
            for (const auto& a : e.args) l.push_back(eval(*a));
            return Value::from_list(std::move(l), e.kind == Expr::Kind::TupleLit);
        }
        case Expr::Kind::DictLit: {
            Value d = Value::from_dict({});
            for (size_t i = 0; i < e.args.size(); ++i) {
                Value k = eval(*e.args[i]);
                if (!k.is_string()) fail(e.line, e.col, "dict keys must be strings in this engine");
                d.set(k.str(), eval(*e.args2[i]));
            }
            return d;
        }
    }
    fail(e.line, e.col, "unsupported expression");
}

Value Renderer::eval_binary(const Expr& e) {
    Value a = eval(*e.a);
    Value b = eval(*e.b);
    const std::string& op = e.name;
    try {
        if (op == "==") return Value::from_bool(values_equal(a, b));
        if (op == "!=") return Value::from_bool(!values_equal(a, b));
        if (op == "<" || op == ">" || op == "<=" || op == ">=") {
            if (a.is_undefined() || b.is_undefined())
                throw Error("'" + (a.is_undefined() ? a.str() : b.str()) + "' is undefined");
            int c = compare_values(a, b);
            bool r = op == "<" ? c < 0 : op == ">" ? c > 0 : op == "<=" ? c <= 0 : c >= 0;
            return Value::from_bool(r);
        }
        if (op == "in") return Value::from_bool(contains(b, a));
        if (op == "not in") return Value::from_bool(!contains(b, a));
        return arithmetic(op, a, b);
    } catch (const PositionedError&) {
        throw;
    } catch (const Error& err) {
        fail(e.line, e.col, err.what());
    }
}

}  // namespace gb::jinja
