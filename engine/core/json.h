// A small JSON writer (streaming, locale-independent) and a strict DOM parser, enough for trace
// export, test fixtures and settings; not a general-purpose library.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace gb::json {

// Appends s to out as a quoted JSON string. Escapes '"', '\\', control bytes (the short forms
// \b \f \n \r \t where JSON has them, else \u00XX), DEL and U+2028/U+2029 (which break
// JavaScript embedding). Bytes that are not valid UTF-8 become U+FFFD, one per maximal invalid
// subsequence (the Unicode "maximal subpart" rule, as Python's errors="replace" does).
void append_quoted(std::string& out, std::string_view s);

// True when s is well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF).
bool is_valid_utf8(std::string_view s);

// Shortest decimal text that reads back to the same value; "null" for NaN and infinities
// (JSON has no spelling for them). Independent of the C locale.
std::string format_number(double v);
std::string format_number(float v);

// Streaming writer. Commas and (optional) indentation are inserted automatically; misuse
// (a value where a key is due, unbalanced end_*) throws gb::Error, so bugs surface in tests.
class Writer {
public:
    // indent = 0: everything on one line; > 0: that many spaces per nesting level.
    explicit Writer(std::ostream& out, int indent = 0);

    // flat = true keeps the whole container on one line even when indenting, e.g. one token
    // record per line in a trace.
    Writer& begin_object(bool flat = false);
    Writer& end_object();
    Writer& begin_array(bool flat = false);
    Writer& end_array();
    Writer& key(std::string_view k);

    Writer& value(std::string_view s);
    Writer& value(const std::string& s) { return value(std::string_view(s)); }
    Writer& value(const char* s) { return value(std::string_view(s)); }
    Writer& value(bool b);
    Writer& value(double v);
    Writer& value(float v);
    Writer& null();
    // A value already written as JSON by another writer (one whole value, not checked here).
    Writer& raw(std::string_view json);
    template <class I>
    requires(std::is_integral_v<I> && !std::is_same_v<I, bool>) Writer& value(I v) {
        if constexpr (std::is_signed_v<I>)
            return raw_int(static_cast<long long>(v));
        else
            return raw_uint(static_cast<unsigned long long>(v));
    }

    // key(k).value(v) in one call.
    template <class T>
    Writer& field(std::string_view k, const T& v) {
        key(k);
        return value(v);
    }

    // True once a single top-level value is complete.
    bool done() const { return stack_.empty() && wrote_root_; }

private:
    struct Level {
        bool object;
        bool flat;
        bool empty = true;
        bool key_pending = false;
    };
    Writer& raw_int(long long v);
    Writer& raw_uint(unsigned long long v);
    void before_value();
    void newline(size_t depth);
    void write(std::string_view s);

    std::ostream& out_;
    int indent_;
    std::vector<Level> stack_;
    bool wrote_root_ = false;
    std::string buf_;
};

// A parsed JSON value. Objects keep their members in document order.
class Value {
public:
    enum class Kind { Null, Bool, Number, String, Array, Object };
    using Array = std::vector<Value>;
    using Object = std::vector<std::pair<std::string, Value>>;

    Value() = default;
    static Value from_bool(bool b);
    static Value from_number(double v, std::string_view literal = {});
    static Value from_string(std::string s);
    static Value from_array(Array a);
    static Value from_object(Object o);

    Kind kind() const { return static_cast<Kind>(data_.index()); }
    bool is_null() const { return kind() == Kind::Null; }

    // Typed access; a wrong kind throws gb::Error ("expected a number, found a string").
    bool as_bool() const;
    double as_number() const;
    // A number's text as it was parsed (the shortest form for numbers made in code).
    std::string number_text() const;
    // The number read directly as a float (not via double, which could round twice), so a
    // float written with format_number(float) reads back bit for bit.
    float as_float() const;
    // The number as an exact integer; throws unless it was written as an integer literal that
    // fits (so 64-bit seeds survive, which a double cannot hold).
    int64_t as_int64() const;
    uint64_t as_uint64() const;
    const std::string& as_string() const;
    const Array& as_array() const;
    const Object& as_object() const;

    // Object member by key: nullptr when absent (find) or gb::Error naming the key (at).
    const Value* find(std::string_view key) const;
    const Value& at(std::string_view key) const;
    // Array element by index (gb::Error when out of range).
    const Value& at(size_t index) const;

private:
    struct Number {
        double value;
        std::string literal;  // source text; empty for numbers made in code
    };
    std::variant<std::monostate, bool, Number, std::string, Array, Object> data_;
};

const char* kind_name(Value::Kind k);

// Writes a parsed value back out (numbers as they were written, members in document order).
void write(Writer& w, const Value& v);
std::string to_text(const Value& v);

// Parses one JSON document (RFC 8259), strictly: no comments, trailing commas, leading zeros,
// raw control characters in strings, invalid UTF-8, duplicate keys or trailing garbage. Errors
// are gb::Error naming the byte offset ("json: expected ':' at byte 17"). Escaped lone
// surrogates decode to U+FFFD. Nesting deeper than max_depth is refused (untrusted input
// must not exhaust the stack).
Value parse(std::string_view text, int max_depth = 256);

}  // namespace gb::json
