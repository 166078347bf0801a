// The data model of the chat-template engine: Jinja values (Python-like undefined, none, bool,
// int, float, str, list/tuple, dict, callable) with Python's printing, JSON and comparison rules.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/core/json.h"
#include "engine/template/jinja_budget.h"

namespace gb::jinja {

class Value;
using List = std::vector<Value>;
// Dicts keep insertion order, as Python dicts do; keys are strings (all real templates need).
using Dict = std::vector<std::pair<std::string, Value>>;

struct CallArgs {
    std::vector<Value> positional;
    std::vector<std::pair<std::string, Value>> keyword;
};

// json.dumps options as HF's tojson passes them through.
struct JsonOptions {
    int indent = -1;                       // < 0: one line
    std::string item_sep, key_sep = ": ";  // item_sep empty: ", " on one line, "," when indented
    bool sort_keys = false;
};

class Renderer;
using NativeFn = std::function<Value(Renderer&, CallArgs&)>;

class Value {
public:
    enum class Kind { Undefined, None, Bool, Int, Float, String, List, Dict, Func };

    Value() = default;  // undefined
    static Value undefined(std::string name = {});
    static Value none();
    static Value from_bool(bool b);
    static Value from_int(int64_t i);
    static Value from_float(double f);
    static Value from_string(std::string s);
    static Value from_list(List l, bool tuple = false);
    static Value from_dict(Dict d, bool is_namespace = false);
    static Value from_func(std::string name, NativeFn fn);
    static Value from_json(const json::Value& v);

    Kind kind() const { return kind_; }
    bool is_undefined() const { return kind_ == Kind::Undefined; }
    bool is_none() const { return kind_ == Kind::None; }
    bool is_string() const { return kind_ == Kind::String; }
    bool is_number() const {
        return kind_ == Kind::Int || kind_ == Kind::Float || kind_ == Kind::Bool;
    }
    bool is_list() const { return kind_ == Kind::List; }
    bool is_dict() const { return kind_ == Kind::Dict; }
    bool is_tuple() const { return kind_ == Kind::List && flag_; }
    bool is_namespace() const { return kind_ == Kind::Dict && flag_; }

    bool as_bool() const { return b_; }
    int64_t as_int() const;   // bool/int/float (truncated)
    double as_float() const;  // bool/int/float
    // String contents, or undefined's name / func name. Shared between copies: a value is copied
    // on every name lookup, so a copy must not cost the length of its text.
    const std::string& str() const { return s_ ? *s_ : empty_string(); }
    const List& list() const { return *list_; }
    List& mutable_list() { return *list_; }
    const Dict& dict() const { return *dict_; }
    Dict& mutable_dict() { return *dict_; }  // shared: namespaces are mutated through it
    const NativeFn& func() const { return *fn_; }

    // Dict member by key, nullptr when absent.
    const Value* find(std::string_view key) const;
    void set(const std::string& key, Value v);  // dicts only

    bool truthy() const;
    // Python str() (undefined prints as ''), repr(), and HF's tojson (json.dumps, ensure_ascii
    // off).
    std::string to_str() const;
    std::string repr() const;
    std::string to_json(int indent = -1) const;
    std::string to_json(const JsonOptions& options) const;
    const char* type_name() const;

private:
    void json_into(std::string& out, const JsonOptions& o, int depth) const;
    void update_depth(const Value& child);
    static const std::string& empty_string();

    Kind kind_ = Kind::Undefined;
    int depth_ =
        0;  // nesting of lists/dicts, bounded so printing and freeing cannot overflow the stack
    bool b_ = false;
    bool flag_ = false;  // tuple for lists, namespace for dicts
    int64_t i_ = 0;
    double f_ = 0;
    std::shared_ptr<const std::string> s_;
    std::shared_ptr<List> list_;
    std::shared_ptr<Dict> dict_;
    std::shared_ptr<NativeFn> fn_;
};

// Python's float repr: shortest round-trip digits, fixed notation for 1e-4 <= |x| < 1e16.
std::string python_float_repr(double v);
// Python repr of a str (quote choice and escapes as CPython does).
std::string python_str_repr(std::string_view s);

// ==, <, and friends with Python semantics across ints/floats/bools; other mixed kinds are
// unequal, and ordering them throws gb::Error.
bool values_equal(const Value& a, const Value& b);
int compare_values(const Value& a, const Value& b);  // <0, 0, >0

// A run of decimal digits as an index or key ("3" in x.3 or "{3}"); more than 64 bits is a
// gb::Error naming the text, not a std::out_of_range escaping the renderer.
int64_t parse_digits(std::string_view digits);

// UTF-8 code point helpers: Python indexes and measures strings by code point.
std::vector<std::string> utf8_chars(std::string_view s);
size_t utf8_length(std::string_view s);
// Byte offset of every character of s (as utf8_chars splits it), without a string per character.
std::vector<size_t> utf8_starts(std::string_view s);

}  // namespace gb::jinja
