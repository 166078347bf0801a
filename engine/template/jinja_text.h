// Python's text operations on UTF-8 strings, as the chat-template engine's filters and str
// methods need them (case mapping, strip, replace, capitalize, title, center).
#pragma once

#include <cstdint>
#include <string>

#include "engine/template/jinja_value.h"

namespace gb::jinja {

bool py_space(char c);  // Python's str.isspace() for ASCII
// Simple case mapping for ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic; other scripts
// pass through unchanged.
std::string lower(const std::string& s);
std::string upper(const std::string& s);
// str.strip/lstrip/rstrip; chars null or none strips whitespace.
std::string strip(const std::string& s, const Value* chars, bool left, bool right);
// str.replace; count < 0 replaces all.
std::string replace(const std::string& s, const std::string& from, const std::string& to,
                    int64_t count);
std::string capitalize(const std::string& s);
std::string title(const std::string& s);  // jinja2's title filter
std::string center(const std::string& s, int64_t width);

}  // namespace gb::jinja
