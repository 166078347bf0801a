// Sandboxed interpreter of the Jinja subset: evaluates a syntax tree over Jinja values only (no
// host access), with limits on loop iterations, call depth and output size, and a total work
// and memory budget (jinja_budget.h).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/template/jinja_ast.h"
#include "engine/template/jinja_budget.h"
#include "engine/template/jinja_value.h"
#include "kernels/error.h"

namespace gb::jinja {

class Renderer {
public:
    explicit Renderer(const RenderLimits& limits) : limits_(limits) {}

    // Renders `body` with `globals` as the outermost scope.
    std::string render(const Body& body, const Dict& globals);
    // What the last render used of its budget (also when it ended in an error).
    BudgetUse last_use() const { return last_use_; }

    // Used by the built-in filters, tests and methods (jinja_builtins.cpp).
    Value call(const Value& fn, CallArgs& args);
    std::vector<Value> iterate(const Value& v) const;  // list, tuple, dict keys, string chars
    void count_iteration();
    // Namespaces can hold themselves (ns.me = [ns]); they are emptied after the render so such
    // cycles are freed.
    void track_namespace(const Value& ns) { namespaces_.push_back(ns); }

private:
    enum class Control { None, Break, Continue };

    void exec(const Body& body);
    void exec_stmt(const Stmt& s);
    void exec_for(const Stmt& s, const Value& seq, int depth);
    void exec_set(const Stmt& s);
    Value eval(const Expr& e);
    Value eval_binary(const Expr& e);
    Value eval_call(const Expr& e);
    Value make_macro(const Stmt& s);
    void bind_params(const Stmt& m, const std::string& what, CallArgs& args,
                     std::unordered_map<std::string, Value>& local);
    std::string capture(const Body& body);
    void emit(const std::string& s);
    Value lookup(const std::string& name) const;
    void assign(const std::string& name, Value v) { frames_.back()[name] = std::move(v); }
    [[noreturn]] void fail(int line, int col, const std::string& msg) const;

    RenderLimits limits_;
    std::vector<std::unordered_map<std::string, Value>> frames_;
    std::string* out_ = nullptr;
    int64_t iterations_ = 0;
    int depth_ = 0;
    Control control_ = Control::None;
    std::vector<Value> namespaces_;
    BudgetUse last_use_;
};

// Built-ins (jinja_builtins.cpp). `name` is what the template wrote, for error messages.
Value apply_filter(Renderer& r, const std::string& name, const Value& input, CallArgs& args);
bool apply_test(Renderer& r, const std::string& name, const Value& input, CallArgs& args);
// Attribute access as jinja2 does it on Python objects: dict methods, then keys; str methods.
Value get_attr(const Value& obj, const std::string& name);
Value get_item(const Value& obj, const Value& key);
Value slice_value(const Value& obj, const Value& start, const Value& stop, const Value& step);
// Python arithmetic/concatenation: op in + - * / // % ** ~.
Value arithmetic(const std::string& op, const Value& a, const Value& b);
bool contains(const Value& container, const Value& item);

// Throws gb::Error with the template's message verbatim (raise_exception).
class TemplateRaised : public Error {
public:
    explicit TemplateRaised(const std::string& msg) : Error(msg) {}
};

// Error carrying a position already (so outer statements don't prefix it again).
class PositionedError : public Error {
public:
    explicit PositionedError(const std::string& msg) : Error(msg) {}
};

}  // namespace gb::jinja
