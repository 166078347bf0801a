// Helpers shared by the built-in filters (jinja_builtins.cpp), the Python str/dict/list methods
// (jinja_methods.cpp) and Python's string formatting (jinja_format.cpp).
#pragma once

#include <string>

#include "engine/template/jinja_value.h"

namespace gb::jinja {

// Argument by position or keyword name; nullptr when absent.
inline const Value* arg(const CallArgs& a, size_t pos, const char* name) {
    for (const auto& [k, v] : a.keyword)
        if (k == name) return &v;
    if (pos < a.positional.size()) return &a.positional[pos];
    return nullptr;
}
inline Value arg_or(const CallArgs& a, size_t pos, const char* name, Value def) {
    const Value* v = arg(a, pos, name);
    return v ? *v : def;
}

// dict.items() as a list of (key, value) tuples.
Value items_of(const Value& dict);

// fmt % args (printf-style) and fmt.format(*args, **kwargs), as Python formats them.
std::string percent_format(const std::string& fmt, const Value& args);
std::string brace_format(const std::string& fmt, const CallArgs& args);

}  // namespace gb::jinja
