// JSON writer and strict parser. Numbers go through std::to_chars/from_chars so the output does
// not depend on the C locale (the Qt app may set LC_NUMERIC to one with a decimal comma).
#include "engine/core/json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>
#include <ostream>
#include <sstream>

#include "engine/core/utf8.h"
#include "kernels/error.h"

namespace gb::json {

namespace {

// The well-formed UTF-8 character at p[0] (its length), or 0 with *bad set to the length of the
// ill-formed subpart to replace by one U+FFFD (a truncated character at the end counts as one).
size_t utf8_sequence(const unsigned char* p, size_t n, size_t* bad) {
    const utf8::Seq q = utf8::next(std::string_view(reinterpret_cast<const char*>(p), n), 0);
    if (q.kind == utf8::Seq::Valid) return q.len;
    *bad = q.len;
    return 0;
}

constexpr char kHex[] = "0123456789abcdef";

}  // namespace

bool is_valid_utf8(std::string_view s) { return utf8::is_valid(s); }

void append_quoted(std::string& out, std::string_view s) {
    out += '"';
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    for (size_t i = 0; i < s.size();) {
        const unsigned char c = p[i];
        if (c >= 0x80) {
            size_t bad = 0;
            const size_t len = utf8_sequence(p + i, s.size() - i, &bad);
            if (len == 0) {
                out += "\\ufffd";
                i += bad;
            } else if (len == 3 && c == 0xE2 && p[i + 1] == 0x80 && (p[i + 2] & 0xFE) == 0xA8) {
                out += p[i + 2] == 0xA8 ? "\\u2028" : "\\u2029";
                i += 3;
            } else {
                out.append(s.data() + i, len);
                i += len;
            }
            continue;
        }
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20 || c == 0x7F) {
                    out += "\\u00";
                    out += kHex[c >> 4];
                    out += kHex[c & 15];
                } else {
                    out += static_cast<char>(c);
                }
        }
        ++i;
    }
    out += '"';
}

std::string format_number(double v) {
    if (!std::isfinite(v)) return "null";
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

std::string format_number(float v) {
    if (!std::isfinite(v)) return "null";
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

// ---- Writer ----

Writer::Writer(std::ostream& out, int indent) : out_(out), indent_(std::max(0, indent)) {}

void Writer::write(std::string_view s) {
    out_.write(s.data(), static_cast<std::streamsize>(s.size()));
}

void Writer::newline(size_t depth) {
    if (indent_ == 0 || (!stack_.empty() && stack_.back().flat)) return;
    buf_.assign(1, '\n');
    buf_.append(depth * static_cast<size_t>(indent_), ' ');
    write(buf_);
}

void Writer::before_value() {
    if (stack_.empty()) {
        if (wrote_root_) throw Error("json writer: a second top-level value");
        return;
    }
    Level& top = stack_.back();
    if (top.object) {
        if (!top.key_pending) throw Error("json writer: a value inside an object needs a key");
        top.key_pending = false;
        return;
    }
    if (!top.empty) write(",");
    top.empty = false;
    newline(stack_.size());
}

Writer& Writer::key(std::string_view k) {
    if (stack_.empty() || !stack_.back().object)
        throw Error("json writer: a key outside an object");
    Level& top = stack_.back();
    if (top.key_pending) throw Error("json writer: two keys in a row");
    if (!top.empty) write(",");
    top.empty = false;
    top.key_pending = true;
    newline(stack_.size());
    buf_.clear();
    append_quoted(buf_, k);
    buf_ += (indent_ > 0 && !top.flat) ? ": " : ":";
    write(buf_);
    return *this;
}

Writer& Writer::begin_object(bool flat) {
    before_value();
    const bool inherit = !stack_.empty() && stack_.back().flat;
    stack_.push_back({true, flat || inherit});
    write("{");
    return *this;
}

Writer& Writer::begin_array(bool flat) {
    before_value();
    const bool inherit = !stack_.empty() && stack_.back().flat;
    stack_.push_back({false, flat || inherit});
    write("[");
    return *this;
}

Writer& Writer::end_object() {
    if (stack_.empty() || !stack_.back().object)
        throw Error("json writer: end_object without an object");
    if (stack_.back().key_pending) throw Error("json writer: a key without a value");
    const bool empty = stack_.back().empty;
    if (!empty) newline(stack_.size() - 1);
    stack_.pop_back();
    write("}");
    if (stack_.empty()) wrote_root_ = true;
    return *this;
}

Writer& Writer::end_array() {
    if (stack_.empty() || stack_.back().object)
        throw Error("json writer: end_array without an array");
    const bool empty = stack_.back().empty;
    if (!empty) newline(stack_.size() - 1);
    stack_.pop_back();
    write("]");
    if (stack_.empty()) wrote_root_ = true;
    return *this;
}

Writer& Writer::value(std::string_view s) {
    before_value();
    buf_.clear();
    append_quoted(buf_, s);
    write(buf_);
    if (stack_.empty()) wrote_root_ = true;
    return *this;
}

Writer& Writer::value(bool b) {
    before_value();
    write(b ? "true" : "false");
    if (stack_.empty()) wrote_root_ = true;
    return *this;
}

Writer& Writer::value(double v) {
    before_value();
    write(format_number(v));
    if (stack_.empty()) wrote_root_ = true;
    return *this;
}

Writer& Writer::value(float v) {
    before_value();
    write(format_number(v));
    if (stack_.empty()) wrote_root_ = true;
    return *this;
}

Writer& Writer::null() {
    before_value();
    write("null");
    if (stack_.empty()) wrote_root_ = true;
    return *this;
}

Writer& Writer::raw(std::string_view json) {
    before_value();
    write(json);
    if (stack_.empty()) wrote_root_ = true;
    return *this;
}

Writer& Writer::raw_int(long long v) {
    before_value();
    write(std::to_string(v));
    if (stack_.empty()) wrote_root_ = true;
    return *this;
}

Writer& Writer::raw_uint(unsigned long long v) {
    before_value();
    write(std::to_string(v));
    if (stack_.empty()) wrote_root_ = true;
    return *this;
}

// ---- Value ----

const char* kind_name(Value::Kind k) {
    switch (k) {
        case Value::Kind::Null: return "null";
        case Value::Kind::Bool: return "a boolean";
        case Value::Kind::Number: return "a number";
        case Value::Kind::String: return "a string";
        case Value::Kind::Array: return "an array";
        case Value::Kind::Object: return "an object";
    }
    return "?";
}

namespace {

[[noreturn]] void wrong_kind(Value::Kind want, Value::Kind got) {
    throw Error(std::string("json: expected ") + kind_name(want) + ", found " + kind_name(got));
}

}  // namespace

Value Value::from_bool(bool b) {
    Value v;
    v.data_ = b;
    return v;
}

Value Value::from_number(double d, std::string_view literal) {
    Value v;
    v.data_ = Number{d, std::string(literal)};
    return v;
}

Value Value::from_string(std::string s) {
    Value v;
    v.data_ = std::move(s);
    return v;
}

Value Value::from_array(Array a) {
    Value v;
    v.data_ = std::move(a);
    return v;
}

Value Value::from_object(Object o) {
    Value v;
    v.data_ = std::move(o);
    return v;
}

bool Value::as_bool() const {
    if (kind() != Kind::Bool) wrong_kind(Kind::Bool, kind());
    return std::get<bool>(data_);
}

double Value::as_number() const {
    if (kind() != Kind::Number) wrong_kind(Kind::Number, kind());
    return std::get<Number>(data_).value;
}

namespace {

template <class I>
I exact_integer(const std::string& literal, double value) {
    I out{};
    if (!literal.empty() && literal.find_first_of(".eE") == std::string::npos) {
        const auto r = std::from_chars(literal.data(), literal.data() + literal.size(), out);
        if (r.ec == std::errc() && r.ptr == literal.data() + literal.size()) return out;
    }
    throw Error("json: expected an integer in range, found " + format_number(value));
}

}  // namespace

std::string Value::number_text() const {
    if (kind() != Kind::Number) wrong_kind(Kind::Number, kind());
    const Number& n = std::get<Number>(data_);
    return n.literal.empty() ? format_number(n.value) : n.literal;
}

float Value::as_float() const {
    if (kind() != Kind::Number) wrong_kind(Kind::Number, kind());
    const Number& n = std::get<Number>(data_);
    float f = 0;
    if (!n.literal.empty()) {
        const char* end = n.literal.data() + n.literal.size();
        const auto r = std::from_chars(n.literal.data(), end, f);
        if (r.ec == std::errc() && r.ptr == end) return f;
    }
    return static_cast<float>(n.value);  // out of float range: inf or 0, as a cast would give
}

int64_t Value::as_int64() const {
    if (kind() != Kind::Number) wrong_kind(Kind::Number, kind());
    const Number& n = std::get<Number>(data_);
    return exact_integer<int64_t>(n.literal, n.value);
}

uint64_t Value::as_uint64() const {
    if (kind() != Kind::Number) wrong_kind(Kind::Number, kind());
    const Number& n = std::get<Number>(data_);
    return exact_integer<uint64_t>(n.literal, n.value);
}

const std::string& Value::as_string() const {
    if (kind() != Kind::String) wrong_kind(Kind::String, kind());
    return std::get<std::string>(data_);
}

const Value::Array& Value::as_array() const {
    if (kind() != Kind::Array) wrong_kind(Kind::Array, kind());
    return std::get<Array>(data_);
}

const Value::Object& Value::as_object() const {
    if (kind() != Kind::Object) wrong_kind(Kind::Object, kind());
    return std::get<Object>(data_);
}

const Value* Value::find(std::string_view key) const {
    for (const auto& [k, v] : as_object())
        if (k == key) return &v;
    return nullptr;
}

const Value& Value::at(std::string_view key) const {
    const Value* v = find(key);
    if (!v) throw Error("json: missing key \"" + std::string(key) + "\"");
    return *v;
}

const Value& Value::at(size_t index) const {
    const Array& a = as_array();
    if (index >= a.size())
        throw Error("json: index " + std::to_string(index) + " is past the end of an array of " +
                    std::to_string(a.size()));
    return a[index];
}

// ---- Parser ----

namespace {

class Parser {
public:
    Parser(std::string_view text, int max_depth) : s_(text), max_depth_(max_depth) {}

    Value document() {
        skip_ws();
        Value v = value(0);
        skip_ws();
        if (i_ != s_.size()) fail("unexpected text after the JSON value");
        return v;
    }

private:
    [[noreturn]] void fail(const std::string& what) const { fail_at(what, i_); }
    [[noreturn]] void fail_at(const std::string& what, size_t at) const {
        throw Error("json: " + what + " at byte " + std::to_string(at));
    }

    void skip_ws() {
        while (i_ < s_.size() &&
               (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
            ++i_;
    }

    bool eat(char c) {
        if (i_ < s_.size() && s_[i_] == c) {
            ++i_;
            return true;
        }
        return false;
    }

    void literal(std::string_view word) {
        if (s_.substr(i_, word.size()) != word)
            fail("invalid literal (expected '" + std::string(word) + "')");
        i_ += word.size();
    }

    Value value(int depth) {
        if (i_ >= s_.size()) fail("unexpected end of input, expected a value");
        switch (s_[i_]) {
            case '{': return object(depth + 1);
            case '[': return array(depth + 1);
            case '"': return Value::from_string(string());
            case 't': literal("true"); return Value::from_bool(true);
            case 'f': literal("false"); return Value::from_bool(false);
            case 'n': literal("null"); return Value();
            default:
                if (s_[i_] == '-' || (s_[i_] >= '0' && s_[i_] <= '9')) return number();
                fail("unexpected character, expected a value");
        }
    }

    void check_depth(int depth) {
        if (depth > max_depth_)
            fail("nesting deeper than " + std::to_string(max_depth_) + " levels");
    }

    Value object(int depth) {
        check_depth(depth);
        ++i_;  // '{'
        Value::Object members;
        std::vector<size_t> key_at;
        skip_ws();
        if (!eat('}')) {
            for (;;) {
                skip_ws();
                if (i_ >= s_.size() || s_[i_] != '"') fail("expected a string key");
                key_at.push_back(i_);
                std::string k = string();
                skip_ws();
                if (!eat(':')) fail("expected ':' after an object key");
                skip_ws();
                Value v = value(depth);
                members.emplace_back(std::move(k), std::move(v));
                skip_ws();
                if (eat('}')) break;
                if (!eat(',')) fail("expected ',' or '}' in an object");
            }
        }
        // Duplicate keys are ambiguous (which one wins differs between readers): refuse them.
        if (members.size() > 1) {
            std::vector<size_t> order(members.size());
            std::iota(order.begin(), order.end(), size_t{0});
            std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
                return members[a].first < members[b].first;
            });
            for (size_t j = 1; j < order.size(); ++j)
                if (members[order[j]].first == members[order[j - 1]].first)
                    fail_at("duplicate key \"" + members[order[j]].first + "\"", key_at[order[j]]);
        }
        return Value::from_object(std::move(members));
    }

    Value array(int depth) {
        check_depth(depth);
        ++i_;  // '['
        Value::Array items;
        skip_ws();
        if (!eat(']')) {
            for (;;) {
                skip_ws();
                items.push_back(value(depth));
                skip_ws();
                if (eat(']')) break;
                if (!eat(',')) fail("expected ',' or ']' in an array");
            }
        }
        return Value::from_array(std::move(items));
    }

    uint32_t hex4() {
        if (s_.size() - i_ < 4) fail("truncated \\u escape");
        uint32_t v = 0;
        for (int k = 0; k < 4; ++k) {
            const char c = s_[i_];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= static_cast<uint32_t>(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= static_cast<uint32_t>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                v |= static_cast<uint32_t>(c - 'A' + 10);
            else
                fail("invalid hex digit in a \\u escape");
            ++i_;
        }
        return v;
    }

    std::string string() {
        ++i_;  // opening quote
        std::string out;
        const auto* p = reinterpret_cast<const unsigned char*>(s_.data());
        for (;;) {
            if (i_ >= s_.size()) fail("unterminated string");
            const unsigned char c = p[i_];
            if (c == '"') {
                ++i_;
                return out;
            }
            if (c < 0x20) fail("raw control character in a string (must be escaped)");
            if (c >= 0x80) {
                size_t bad = 0;
                const size_t len = utf8_sequence(p + i_, s_.size() - i_, &bad);
                if (len == 0) fail("invalid UTF-8 in a string");
                out.append(s_.data() + i_, len);
                i_ += len;
                continue;
            }
            if (c != '\\') {
                out += static_cast<char>(c);
                ++i_;
                continue;
            }
            const size_t esc_at = i_;
            ++i_;
            if (i_ >= s_.size()) fail("unterminated string");
            const char e = s_[i_++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    uint32_t cp = hex4();
                    if (cp >= 0xD800 && cp <= 0xDBFF && s_.substr(i_, 2) == "\\u") {
                        const size_t save = i_;
                        i_ += 2;
                        const uint32_t lo = hex4();
                        if (lo >= 0xDC00 && lo <= 0xDFFF) {
                            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        } else {
                            i_ = save;  // the next escape stands on its own
                            cp = 0xFFFD;
                        }
                    } else if (cp >= 0xD800 && cp <= 0xDFFF) {
                        cp = 0xFFFD;  // lone surrogate: not a character
                    }
                    utf8::append(out, cp);
                    break;
                }
                default: fail_at("invalid escape in a string", esc_at);
            }
        }
    }

    Value number() {
        const size_t start = i_;
        eat('-');
        if (i_ >= s_.size()) fail("truncated number");
        if (s_[i_] == '0') {
            ++i_;
            if (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') fail("leading zero in a number");
        } else if (s_[i_] >= '1' && s_[i_] <= '9') {
            while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
        } else {
            fail("expected a digit");
        }
        if (eat('.')) {
            if (i_ >= s_.size() || s_[i_] < '0' || s_[i_] > '9') fail("expected a digit after '.'");
            while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
        }
        if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
            ++i_;
            if (!eat('+')) eat('-');
            if (i_ >= s_.size() || s_[i_] < '0' || s_[i_] > '9')
                fail("expected a digit in an exponent");
            while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
        }
        const std::string_view lit = s_.substr(start, i_ - start);
        double v = 0;
        const auto r = std::from_chars(lit.data(), lit.data() + lit.size(), v);
        // from_chars leaves v untouched when out of range: an underflow reads as (signed) zero,
        // an overflow has no JSON-representable value and is refused.
        if (r.ec == std::errc::result_out_of_range) {
            if (!tiny(lit)) fail_at("number out of range", start);
            v = lit[0] == '-' ? -0.0 : 0.0;
        } else if (r.ec != std::errc() || r.ptr != lit.data() + lit.size()) {
            fail_at("malformed number", start);
        }
        return Value::from_number(v, lit);
    }

    // True when a well-formed literal's magnitude is below 1 (decimal exponent of its first
    // significant digit < 0), i.e. an out-of-range result was an underflow.
    static bool tiny(std::string_view lit) {
        size_t k = lit[0] == '-' ? 1 : 0;
        long long mag = 0;  // position of the first significant digit relative to the point
        bool found = false;
        for (; k < lit.size() && lit[k] >= '0' && lit[k] <= '9'; ++k) {
            if (lit[k] != '0') found = true;
            if (found) ++mag;
        }
        if (k < lit.size() && lit[k] == '.') {
            for (++k; k < lit.size() && lit[k] >= '0' && lit[k] <= '9'; ++k) {
                if (found) continue;
                if (lit[k] != '0')
                    found = true;
                else
                    --mag;
            }
        }
        if (!found) return true;  // zero
        long long exp = 0;
        bool neg = false;
        if (k < lit.size() && (lit[k] == 'e' || lit[k] == 'E')) {
            ++k;
            if (lit[k] == '+' || lit[k] == '-') neg = lit[k++] == '-';
            for (; k < lit.size(); ++k)
                exp = std::min<long long>(exp * 10 + (lit[k] - '0'), 1 << 30);
        }
        return mag + (neg ? -exp : exp) <= 0;
    }

    std::string_view s_;
    size_t i_ = 0;
    int max_depth_;
};

}  // namespace

Value parse(std::string_view text, int max_depth) { return Parser(text, max_depth).document(); }

void write(Writer& w, const Value& v) {
    switch (v.kind()) {
        case Value::Kind::Null: w.null(); break;
        case Value::Kind::Bool: w.value(v.as_bool()); break;
        case Value::Kind::Number: w.raw(v.number_text()); break;
        case Value::Kind::String: w.value(v.as_string()); break;
        case Value::Kind::Array:
            w.begin_array();
            for (const Value& e : v.as_array()) write(w, e);
            w.end_array();
            break;
        case Value::Kind::Object:
            w.begin_object();
            for (const auto& [k, e] : v.as_object()) {
                w.key(k);
                write(w, e);
            }
            w.end_object();
            break;
    }
}

std::string to_text(const Value& v) {
    std::ostringstream os;
    Writer w(os);
    write(w, v);
    return os.str();
}

}  // namespace gb::json
