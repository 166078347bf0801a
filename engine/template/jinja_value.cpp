// Jinja values: construction, Python-compatible printing (str/repr), JSON as HF's tojson writes
// it, truthiness and comparison.
#include "engine/template/jinja_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "engine/template/jinja_budget.h"
#include "kernels/error.h"

namespace gb::jinja {

const std::string& Value::empty_string() {
    static const std::string empty;
    return empty;
}

Value Value::undefined(std::string name) {
    Value v;
    if (!name.empty()) v.s_ = std::make_shared<const std::string>(std::move(name));
    return v;
}
Value Value::none() {
    Value v;
    v.kind_ = Kind::None;
    return v;
}
Value Value::from_bool(bool b) {
    Value v;
    v.kind_ = Kind::Bool;
    v.b_ = b;
    return v;
}
Value Value::from_int(int64_t i) {
    Value v;
    v.kind_ = Kind::Int;
    v.i_ = i;
    return v;
}
Value Value::from_float(double f) {
    Value v;
    v.kind_ = Kind::Float;
    v.f_ = f;
    return v;
}
Value Value::from_string(std::string s) {
    Value v;
    v.kind_ = Kind::String;
    charge_steps(1);
    charge_bytes(static_cast<int64_t>(s.size() + sizeof(Value)));  // the text and its cell
    v.s_ = std::make_shared<const std::string>(std::move(s));
    return v;
}
void Value::update_depth(const Value& child) {
    if (is_namespace()) return;  // namespaces print as <Namespace> and refuse tojson
    int d = (child.is_namespace() ? 0 : child.depth_) + 1;
    if (d > depth_) depth_ = d;
    if (depth_ > kMaxValueDepth)
        throw Error("value nested too deeply (more than " + std::to_string(kMaxValueDepth) +
                    " levels)");
}

Value Value::from_list(List l, bool tuple) {
    Value v;
    v.kind_ = Kind::List;
    v.flag_ = tuple;
    v.depth_ = 1;
    charge_bytes(static_cast<int64_t>(l.size() * sizeof(Value)));
    for (const auto& x : l) v.update_depth(x);
    v.list_ = std::make_shared<List>(std::move(l));
    return v;
}
Value Value::from_dict(Dict d, bool is_namespace) {
    Value v;
    v.kind_ = Kind::Dict;
    v.flag_ = is_namespace;
    v.depth_ = 1;
    charge_bytes(static_cast<int64_t>(d.size() * sizeof(Dict::value_type)));
    for (const auto& [k, x] : d) v.update_depth(x);
    v.dict_ = std::make_shared<Dict>(std::move(d));
    return v;
}
Value Value::from_func(std::string name, NativeFn fn) {
    Value v;
    v.kind_ = Kind::Func;
    v.s_ = std::make_shared<const std::string>(std::move(name));
    v.fn_ = std::make_shared<NativeFn>(std::move(fn));
    return v;
}

Value Value::from_json(const json::Value& j) {
    switch (j.kind()) {
        case json::Value::Kind::Null: return none();
        case json::Value::Kind::Bool: return from_bool(j.as_bool());
        case json::Value::Kind::Number: {
            double d = j.as_number();
            // Integer literals stay ints, as Python's json module reads them.
            try {
                return from_int(j.as_int64());
            } catch (const gb::Error&) {
                return from_float(d);
            }
        }
        case json::Value::Kind::String: return from_string(j.as_string());
        case json::Value::Kind::Array: {
            List l;
            for (const auto& x : j.as_array()) l.push_back(from_json(x));
            return from_list(std::move(l));
        }
        case json::Value::Kind::Object: {
            Dict d;
            for (const auto& [k, x] : j.as_object()) d.emplace_back(k, from_json(x));
            return from_dict(std::move(d));
        }
    }
    return none();
}

int64_t Value::as_int() const {
    if (kind_ == Kind::Int) return i_;
    if (kind_ == Kind::Bool) return b_ ? 1 : 0;
    if (kind_ == Kind::Float) {
        // int(1e300) is a big int in Python; a cast would be undefined: refuse it by name.
        if (!(f_ >= -9223372036854775808.0 && f_ < 9223372036854775808.0))
            throw Error("float " + python_float_repr(f_) + " does not fit in a 64-bit integer");
        return static_cast<int64_t>(f_);
    }
    throw Error(std::string("expected a number, found ") + type_name());
}

double Value::as_float() const {
    if (kind_ == Kind::Float) return f_;
    return static_cast<double>(as_int());
}

const Value* Value::find(std::string_view key) const {
    if (kind_ != Kind::Dict) return nullptr;
    charge_steps(1 + static_cast<int64_t>(dict_->size() >> 2));  // a linear search
    for (const auto& [k, v] : *dict_)
        if (k == key) return &v;
    return nullptr;
}

void Value::set(const std::string& key, Value v) {
    update_depth(v);
    charge_steps(1 + static_cast<int64_t>(dict_->size() >> 2));  // a linear search
    for (auto& [k, x] : *dict_)
        if (k == key) {
            x = std::move(v);
            return;
        }
    dict_->emplace_back(key, std::move(v));
}

bool Value::truthy() const {
    switch (kind_) {
        case Kind::Undefined:
        case Kind::None: return false;
        case Kind::Bool: return b_;
        case Kind::Int: return i_ != 0;
        case Kind::Float: return f_ != 0;
        case Kind::String: return !str().empty();
        case Kind::List: return !list_->empty();
        case Kind::Dict: return !dict_->empty();
        case Kind::Func: return true;
    }
    return false;
}

const char* Value::type_name() const {
    switch (kind_) {
        case Kind::Undefined: return "undefined";
        case Kind::None: return "none";
        case Kind::Bool: return "bool";
        case Kind::Int: return "int";
        case Kind::Float: return "float";
        case Kind::String: return "string";
        case Kind::List: return flag_ ? "tuple" : "list";
        case Kind::Dict: return flag_ ? "namespace" : "dict";
        case Kind::Func: return "function";
    }
    return "?";
}

std::string python_float_repr(double v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    std::string sci(buf, r.ptr);
    bool neg = sci[0] == '-';
    if (neg) sci.erase(0, 1);
    size_t e = sci.find('e');
    int exp = std::stoi(sci.substr(e + 1));
    std::string digits;
    for (size_t i = 0; i < e; ++i)
        if (sci[i] != '.') digits += sci[i];
    std::string out = neg ? "-" : "";
    if (exp >= -4 && exp < 16) {
        if (exp >= 0) {
            std::string ip = digits.substr(0, std::min(digits.size(), size_t(exp + 1)));
            while (ip.size() < size_t(exp + 1)) ip += '0';
            std::string fp = digits.size() > size_t(exp + 1) ? digits.substr(exp + 1) : "0";
            out += ip;
            out += '.';
            out += fp;
        } else {
            out += "0.";
            out.append(static_cast<size_t>(-exp - 1), '0');
            out += digits;
        }
    } else {
        out += digits.substr(0, 1);
        if (digits.size() > 1) {
            out += '.';
            out.append(digits, 1);
        }
        char eb[16];
        std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
        out += eb;
    }
    return out;
}

// Bytes an escaped copy of s adds (control characters become \xNN or \u00NN): charged before
// the copy is made, as a text of control characters grows up to six times.
static int64_t escape_growth(std::string_view s) {
    int64_t n = 0;
    for (unsigned char c : s) n += c < 0x20 || c == 0x7f ? 5 : (c == '\\' || c == '"' || c == '\'');
    return n;
}

std::string python_str_repr(std::string_view s) {
    charge_bytes(escape_growth(s));
    char q = (s.find('\'') != std::string_view::npos && s.find('"') == std::string_view::npos)
                 ? '"'
                 : '\'';
    std::string out(1, q);
    for (unsigned char c : s) {
        if (c == '\\')
            out += "\\\\";
        else if (c == static_cast<unsigned char>(q)) {
            out += '\\';
            out += q;
        } else if (c == '\n')
            out += "\\n";
        else if (c == '\r')
            out += "\\r";
        else if (c == '\t')
            out += "\\t";
        else if (c < 0x20 || c == 0x7f) {
            char b[8];
            std::snprintf(b, sizeof b, "\\x%02x", c);
            out += b;
        } else
            out += static_cast<char>(c);
    }
    out += q;
    return out;
}

std::string Value::to_str() const {
    switch (kind_) {
        case Kind::Undefined: return "";
        case Kind::String: charge_scan(str().size()); return str();
        case Kind::Func: return "<function " + str() + ">";
        default: return repr();
    }
}

std::string Value::repr() const {
    charge_steps(1);  // one per element printed: a shared list printed 2^40 times is refused
    switch (kind_) {
        case Kind::Undefined: return "";
        case Kind::None: return "None";
        case Kind::Bool: return b_ ? "True" : "False";
        case Kind::Int: return std::to_string(i_);
        case Kind::Float: return python_float_repr(f_);
        case Kind::String:
            charge_bytes(static_cast<int64_t>(str().size()));
            charge_scan(str().size());
            return python_str_repr(str());
        case Kind::List: {
            std::string out = flag_ ? "(" : "[";
            for (size_t i = 0; i < list_->size(); ++i) {
                if (i) out += ", ";
                std::string item = (*list_)[i].repr();
                charge_bytes(static_cast<int64_t>(item.size() + 2));  // the text grows by it
                out += item;
            }
            if (flag_ && list_->size() == 1) out += ",";
            return out + (flag_ ? ")" : "]");
        }
        case Kind::Dict: {
            if (flag_) return "<Namespace>";
            std::string out = "{";
            bool first = true;
            for (const auto& [k, v] : *dict_) {
                if (!first) out += ", ";
                first = false;
                std::string item = python_str_repr(k) + ": " + v.repr();
                charge_bytes(static_cast<int64_t>(item.size() + 2));
                out += item;
            }
            return out + "}";
        }
        case Kind::Func: return "<function " + str() + ">";
    }
    return "";
}

// json.dumps(ensure_ascii=False): only '"', '\\' and control characters are escaped.
static void json_string(std::string& out, std::string_view s) {
    charge_bytes(escape_growth(s));
    out += '"';
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                if (c < 0x20) {
                    char b[8];
                    std::snprintf(b, sizeof b, "\\u%04x", c);
                    out += b;
                } else
                    out += static_cast<char>(c);
        }
    }
    out += '"';
}

void Value::json_into(std::string& out, const JsonOptions& o, int depth) const {
    charge_steps(1);  // one per element written
    // What this element adds around its value: indentation and separators (which the template
    // chooses, so they can be long).
    charge_bytes((o.indent > 0 ? int64_t(o.indent) * (depth + 1) : 0) +
                 static_cast<int64_t>(o.item_sep.size() + o.key_sep.size()) + 4);
    const int indent = o.indent;
    const std::string item_sep = !o.item_sep.empty() ? o.item_sep : indent >= 0 ? "," : ", ";
    auto newline = [&](int d) {
        out += '\n';
        out.append(static_cast<size_t>(indent * d), ' ');
    };
    switch (kind_) {
        case Kind::Undefined:
            throw Error("tojson: Object of type Undefined is not JSON serializable");
        case Kind::Func: throw Error("tojson: a function is not JSON serializable");
        case Kind::Dict:
            if (flag_) throw Error("tojson: a namespace is not JSON serializable");
            break;
        default: break;
    }
    switch (kind_) {
        case Kind::Undefined:
        case Kind::Func: return;
        case Kind::None: out += "null"; return;
        case Kind::Bool: out += b_ ? "true" : "false"; return;
        case Kind::Int: out += std::to_string(i_); return;
        case Kind::Float:
            if (std::isnan(f_))
                out += "NaN";
            else if (std::isinf(f_))
                out += f_ > 0 ? "Infinity" : "-Infinity";
            else
                out += python_float_repr(f_);
            return;
        case Kind::String:
            charge_bytes(static_cast<int64_t>(str().size()) + 2);
            charge_scan(str().size());
            json_string(out, str());
            return;
        case Kind::List: {
            if (list_->empty()) {
                out += "[]";
                return;
            }
            out += '[';
            for (size_t i = 0; i < list_->size(); ++i) {
                if (i) out += item_sep;
                if (indent >= 0) newline(depth + 1);
                (*list_)[i].json_into(out, o, depth + 1);
            }
            if (indent >= 0) newline(depth);
            out += ']';
            return;
        }
        case Kind::Dict: {
            if (dict_->empty()) {
                out += "{}";
                return;
            }
            out += '{';
            std::vector<const std::pair<std::string, Value>*> items;
            for (const auto& kv : *dict_) items.push_back(&kv);
            // Byte order of UTF-8 is code point order, which is how Python sorts str keys.
            if (o.sort_keys)
                std::stable_sort(items.begin(), items.end(),
                                 [](auto* a, auto* b) { return a->first < b->first; });
            bool first = true;
            for (const auto* kv : items) {
                if (!first) out += item_sep;
                first = false;
                if (indent >= 0) newline(depth + 1);
                charge_bytes(static_cast<int64_t>(kv->first.size()) + 2);
                json_string(out, kv->first);
                out += o.key_sep;
                kv->second.json_into(out, o, depth + 1);
            }
            if (indent >= 0) newline(depth);
            out += '}';
            return;
        }
    }
}

std::string Value::to_json(int indent) const {
    JsonOptions o;
    o.indent = indent;
    return to_json(o);
}

std::string Value::to_json(const JsonOptions& options) const {
    std::string out;
    json_into(out, options, 0);
    return out;
}

bool values_equal(const Value& a, const Value& b) {
    using K = Value::Kind;
    charge_steps(1);  // one per element compared
    if (a.is_number() && b.is_number()) {
        if (a.kind() == K::Float || b.kind() == K::Float) return a.as_float() == b.as_float();
        return a.as_int() == b.as_int();
    }
    if (a.kind() != b.kind()) return false;
    switch (a.kind()) {
        case K::Undefined:
        case K::None: return true;
        case K::String:
            charge_steps(static_cast<int64_t>(std::min(a.str().size(), b.str().size()) >> 12));
            return a.str() == b.str();
        case K::List: {
            if (a.is_tuple() != b.is_tuple()) return false;  // (1, 2) != [1, 2] in Python
            if (a.list().size() != b.list().size()) return false;
            for (size_t i = 0; i < a.list().size(); ++i)
                if (!values_equal(a.list()[i], b.list()[i])) return false;
            return true;
        }
        case K::Dict: {
            if (a.is_namespace() || b.is_namespace())
                return &a.dict() == &b.dict();  // identity, as in Python
            if (a.dict().size() != b.dict().size()) return false;
            for (const auto& [k, v] : a.dict()) {
                const Value* o = b.find(k);
                if (!o || !values_equal(v, *o)) return false;
            }
            return true;
        }
        case K::Func: return &a.func() == &b.func();
        default: return false;
    }
}

int compare_values(const Value& a, const Value& b) {
    using K = Value::Kind;
    charge_steps(1);
    if (a.is_number() && b.is_number()) {
        if (a.kind() == K::Float || b.kind() == K::Float) {
            double x = a.as_float(), y = b.as_float();
            return x < y ? -1 : (x > y ? 1 : 0);
        }
        int64_t x = a.as_int(), y = b.as_int();
        return x < y ? -1 : (x > y ? 1 : 0);
    }
    if (a.is_string() && b.is_string()) {
        charge_scan(std::min(a.str().size(), b.str().size()));
        // Byte order of UTF-8 is code point order, which is what Python compares.
        int c = a.str().compare(b.str());
        return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    if (a.is_list() && b.is_list()) {
        size_t n = std::min(a.list().size(), b.list().size());
        for (size_t i = 0; i < n; ++i)
            if (int c = compare_values(a.list()[i], b.list()[i])) return c;
        return a.list().size() < b.list().size() ? -1 : (a.list().size() > b.list().size());
    }
    throw Error(std::string("cannot order a ") + a.type_name() + " against a " + b.type_name());
}

int64_t parse_digits(std::string_view digits) {
    int64_t v = 0;
    const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (r.ec != std::errc() || r.ptr != digits.data() + digits.size())
        throw Error("'" + std::string(digits.substr(0, 40)) +
                    "' is not an index that fits in 64 bits");
    return v;
}

namespace {
// Bytes of the character starting at s[i], as utf8_chars splits (an invalid byte is one
// character, so that every byte belongs to exactly one).
size_t char_bytes(std::string_view s, size_t i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    return std::min(n, s.size() - i);
}
}  // namespace

std::vector<std::string> utf8_chars(std::string_view s) {
    // A string object per character: charged before they are made (a 10 MB text would take
    // 320 MB), and a step per few characters for the allocations.
    charge_bytes(static_cast<int64_t>(s.size() * sizeof(std::string)));
    charge_steps(1 + static_cast<int64_t>(s.size() >> 2));
    std::vector<std::string> out;
    for (size_t i = 0; i < s.size();) {
        const size_t n = char_bytes(s, i);
        out.emplace_back(s.substr(i, n));
        i += n;
    }
    return out;
}

std::vector<size_t> utf8_starts(std::string_view s) {
    charge_bytes(static_cast<int64_t>(s.size() * sizeof(size_t)));
    charge_scan(s.size());
    std::vector<size_t> out;
    for (size_t i = 0; i < s.size(); i += char_bytes(s, i)) out.push_back(i);
    return out;
}

size_t utf8_length(std::string_view s) {
    charge_scan(s.size());
    size_t n = 0;
    for (size_t i = 0; i < s.size(); i += char_bytes(s, i)) ++n;
    return n;
}

}  // namespace gb::jinja
