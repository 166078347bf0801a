// Syntax tree of the Jinja subset: expressions and statements, each with its source position.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/template/jinja_value.h"

namespace gb::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
    enum class Kind {
        Literal,  // value
        Name,     // name
        Attr,     // a.name
        Item,     // a[b]
        Slice,    // a[b:c:d] (args may be null)
        Call,     // a(args, kwargs)
        Filter,   // a | name(args, kwargs)
        Test,     // a is [not] name(args)  (name "not" flag in negate)
        Unary,    // name in {"-", "+", "not"} applied to a
        Binary,   // a name b, arithmetic and comparisons and "in"/"not in"
        And,
        Or,
        Cond,      // a if b else c (c may be null)
        ListLit,   // args
        TupleLit,  // args
        DictLit,   // kwargs-like pairs of key expr (args) and value expr (args2)
    };
    Kind kind;
    int line = 0, col = 0;
    Value value;
    std::string name;
    bool negate = false;
    ExprPtr a, b, c, d;
    std::vector<ExprPtr> args, args2;
    std::vector<std::pair<std::string, ExprPtr>> kwargs;
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Stmt {
    enum class Kind {
        Text,
        Output,
        If,
        For,
        Set,
        SetBlock,
        Macro,
        CallBlock,
        Break,
        Continue,
        FilterBlock,
        Scope
    };
    Kind kind;
    int line = 0, col = 0;
    std::string text;  // Text
    ExprPtr expr;      // Output, For iterable, Set value, CallBlock call
    ExprPtr cond;      // For filter
    std::vector<std::pair<ExprPtr, Body>> branches;  // If (cond, body)...; a null cond is else
    std::vector<std::string> targets;                // For/Set names; Set "ns.attr" uses attr below
    std::string attr;                                // Set ns.attr; Macro name; FilterBlock filter
    Body body, else_body;
    std::vector<std::pair<std::string, ExprPtr>> params;  // Macro / CallBlock params with defaults
    bool catch_varargs = false, catch_kwargs = false;     // Macro body names varargs / kwargs
    bool recursive = false;                               // For: `recursive`, loop(x) re-enters
    ExprPtr filter;  // FilterBlock, SetBlock: filter chain applied to the captured body
};

}  // namespace gb::jinja
