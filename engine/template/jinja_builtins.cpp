// Built-in filters, tests, Python str/dict methods and operators of the Jinja subset, each
// matching what jinja2 (and Python underneath it) prints for the same input.
#include "engine/template/jinja_builtins.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "engine/template/jinja_budget.h"
#include "engine/template/jinja_render.h"
#include "engine/template/jinja_text.h"

namespace gb::jinja {
namespace {

int64_t py_floordiv(int64_t a, int64_t b) {
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
}

// Python's round(): correctly rounded from the exact binary value (round(2.675, 2) is 2.67),
// halves to the even neighbour. printf rounds the same way for ndigits >= 0.
double py_round(double v, int64_t ndigits) {
    if (!std::isfinite(v)) return v;
    // Past a double's precision nothing is rounded; far left of it everything rounds to zero
    // (10**ndigits would be inf or 0 and the quotient nan).
    if (ndigits > 340) return v;
    if (ndigits < -340) return std::copysign(0.0, v);
    if (ndigits >= 0 && ndigits < 300) {
        char buf[720];  // up to 309 integer digits, the point, 299 decimals, sign
        std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(ndigits), v);
        return std::strtod(buf, nullptr);
    }
    double scale = std::pow(10.0, static_cast<double>(ndigits));
    double x = v * scale;
    double r = std::nearbyint(x);  // default rounding mode: to nearest, ties to even
    return r / scale;
}

std::string indent(const std::string& in, const Value& width, bool first, bool blank) {
    const int64_t w = width.is_string() ? 0 : width.as_int();
    if (w < 0) throw Error("indent: width must be >= 0");
    charge_bytes(w);  // before the padding is made: indent(10**12) must not allocate first
    std::string ind = width.is_string() ? width.str() : std::string(static_cast<size_t>(w), ' ');
    // Every line gets it: the result is known before it is built.
    const int64_t n_lines = static_cast<int64_t>(std::count(in.begin(), in.end(), '\n')) + 1;
    if (static_cast<int64_t>(ind.size()) > 0 &&
        n_lines > (int64_t(1) << 40) / static_cast<int64_t>(ind.size()))
        charge_bytes(-1);  // more than any budget
    charge_bytes(n_lines * static_cast<int64_t>(ind.size()));
    std::string s = in + "\n";
    std::vector<std::string> lines;
    size_t pos = 0;
    while (pos < s.size()) {
        size_t nl = s.find('\n', pos);
        std::string line = s.substr(pos, nl - pos);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        lines.push_back(line);
        pos = nl + 1;
    }
    std::string rv;
    for (size_t i = 0; i < lines.size(); ++i) {
        if (i) rv += "\n";
        if (i && (blank || !lines[i].empty())) rv += ind;
        rv += lines[i];
    }
    if (first) rv = ind + rv;
    return rv;
}

// Sort key comparison with jinja2's default case-insensitivity for strings.
int sort_compare(const Value& a, const Value& b, bool case_sensitive) {
    if (!case_sensitive && a.is_string() && b.is_string()) {
        int c = lower(a.str()).compare(lower(b.str()));
        return c < 0 ? -1 : c > 0;
    }
    return compare_values(a, b);
}

Value attribute_path(const Value& v, const Value* attr) {
    if (!attr || attr->is_none()) return v;
    if (attr->kind() == Value::Kind::Int) return get_item(v, *attr);
    Value cur = v;
    const std::string& path = attr->str();
    size_t pos = 0;
    while (true) {
        size_t dot = path.find('.', pos);
        std::string part =
            path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
        bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) {
            return std::isdigit(static_cast<unsigned char>(c));
        });
        cur = numeric ? get_item(cur, Value::from_int(parse_digits(part)))
                      : get_item(cur, Value::from_string(part));
        if (dot == std::string::npos) return cur;
        pos = dot + 1;
    }
}

// Python's int()/float() accept plain decimal text only (no hex, no trailing junk).
bool decimal_text(const std::string& s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!std::isdigit(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.' &&
            c != 'e' && c != 'E')
            return false;
    return true;
}

// Python's int(text, base): optional sign, a 0b/0o/0x prefix matching the base (any with base 0),
// digits with single underscores between them. nullopt when Python would raise.
std::optional<int64_t> parse_py_int(std::string s, int64_t base) {
    s = strip(s, nullptr, true, true);
    bool neg = false;
    if (!s.empty() && (s[0] == '+' || s[0] == '-')) neg = s[0] == '-', s.erase(0, 1);
    if (s.size() > 2 && s[0] == '0') {
        const char p = static_cast<char>(std::tolower(static_cast<unsigned char>(s[1])));
        const int64_t pb = p == 'b' ? 2 : p == 'o' ? 8 : p == 'x' ? 16 : 0;
        if (pb && (base == 0 || base == pb)) base = pb, s.erase(0, 2);
        if (!s.empty() && s[0] == '_' && pb == base) s.erase(0, 1);
    }
    if (base == 0) base = 10;
    if (base < 2 || base > 36 || s.empty() || s.back() == '_') return std::nullopt;
    int64_t v = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c == '_' && i > 0 && s[i - 1] != '_') continue;
        const int64_t d = std::isdigit(c)   ? c - '0'
                          : std::isalpha(c) ? std::tolower(c) - 'a' + 10
                                            : 99;
        if (d >= base) return std::nullopt;
        if (__builtin_mul_overflow(v, base, &v) || __builtin_add_overflow(v, d, &v)) {
            if (neg && base == 10 && s == "9223372036854775808") return INT64_MIN;
            // Python's ints are unbounded; ours are 64-bit: say so instead of wrapping.
            throw Error("int: '" + s.substr(0, 40) + (s.size() > 40 ? "..." : "") +
                        "' does not fit in a 64-bit integer");
        }
    }
    return neg ? -v : v;
}

// jinja2's int filter: int(text, base), else int(float(text)), else the default.
int64_t to_int_value(const Value& v, const Value& def, int64_t base) {
    if (v.is_number()) return v.as_int();
    if (v.is_string()) {
        if (auto x = parse_py_int(v.str(), base)) return *x;
        std::string s = strip(v.str(), nullptr, true, true);
        if (!decimal_text(s)) return def.as_int();
        double d = 0;
        size_t used = 0;
        try {
            d = std::stod(s, &used);
        } catch (const std::exception&) {  // not a number, or out of double's range
            return def.as_int();
        }
        if (used == s.size() && std::isfinite(d)) {
            // Outside the try: '1e30' | int is an error, not the default (it was swallowed).
            if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
                throw Error("int: '" + s.substr(0, 40) + "' does not fit in a 64-bit integer");
            return static_cast<int64_t>(d);
        }
    }
    return def.as_int();
}

}  // namespace

Value slice_value(const Value& obj, const Value& start, const Value& stop, const Value& step) {
    const int64_t st = step.is_none() ? 1 : step.as_int();
    if (st == 0) throw Error("slice step cannot be zero");
    std::vector<size_t> starts;  // of each character, for strings
    int64_t n;
    if (obj.is_list())
        n = static_cast<int64_t>(obj.list().size());
    else if (obj.is_string()) {
        starts = utf8_starts(obj.str());
        n = static_cast<int64_t>(starts.size());
    } else
        throw Error(std::string("cannot slice a ") + obj.type_name());
    // Python's slice.indices(); the bounds are clamped before any arithmetic, so huge indices and
    // steps cannot overflow.
    auto clamp = [&](const Value& v, int64_t def) {
        if (v.is_none()) return def;
        int64_t x = v.as_int();
        if (x < 0) x = x < -n ? -1 : x + n;
        if (st > 0) return std::clamp<int64_t>(x, 0, n);
        return std::clamp<int64_t>(x, -1, n - 1);
    };
    const int64_t b = clamp(start, st > 0 ? 0 : n - 1);
    const int64_t e = clamp(stop, st > 0 ? n : -1);
    const uint64_t stride = st > 0 ? static_cast<uint64_t>(st) : 0 - static_cast<uint64_t>(st);
    const uint64_t span = st > 0 ? (e > b ? static_cast<uint64_t>(e - b) : 0)
                                 : (b > e ? static_cast<uint64_t>(b - e) : 0);
    const uint64_t count = span ? (span - 1) / stride + 1 : 0;
    charge_steps(1 + static_cast<int64_t>(count >> 3));
    List out;
    std::string sout;
    const std::string& s = obj.str();
    auto piece = [&](int64_t i) {
        const size_t from = starts[static_cast<size_t>(i)];
        const size_t to = i + 1 < n ? starts[static_cast<size_t>(i) + 1] : s.size();
        return std::string_view(s).substr(from, to - from);
    };
    if (obj.is_string() && st == 1) {  // one copy, not a piece per character
        if (e <= b) return Value::from_string("");
        const size_t from = starts[static_cast<size_t>(b)];
        const size_t to = e < n ? starts[static_cast<size_t>(e)] : s.size();
        return Value::from_string(s.substr(from, to - from));
    }
    for (int64_t i = b; st > 0 ? i < e : i > e;) {
        if (obj.is_list())
            out.push_back(obj.list()[static_cast<size_t>(i)]);
        else
            sout += piece(i);
        // The next index, without passing the end (i + st could overflow for a huge step).
        if (st > 0 ? e - i <= st : i - e <= -(st + 1)) break;
        i += st;
    }
    if (obj.is_string()) {
        charge_bytes(static_cast<int64_t>(sout.size()));
        return Value::from_string(sout);
    }
    charge_bytes(static_cast<int64_t>(out.size() * sizeof(Value)));
    return Value::from_list(std::move(out), obj.is_tuple());
}

bool contains(const Value& container, const Value& item) {
    switch (container.kind()) {
        case Value::Kind::Undefined: return false;
        case Value::Kind::String:
            if (!item.is_string()) throw Error("'in <string>' requires string as left operand");
            charge_search(container.str().size(), item.str().size());
            return container.str().find(item.str()) != std::string::npos;
        case Value::Kind::List:
            for (const auto& x : container.list())
                if (values_equal(x, item)) return true;
            return false;
        case Value::Kind::Dict: return item.is_string() && container.find(item.str()) != nullptr;
        default:
            throw Error(std::string("argument of type '") + container.type_name() +
                        "' is not iterable");
    }
}

Value arithmetic(const std::string& op, const Value& a, const Value& b) {
    if (op == "~") {
        std::string x = a.to_str(), y = b.to_str();
        charge_bytes(static_cast<int64_t>(x.size() + y.size()));  // before the copy is made
        return Value::from_string(x + y);
    }
    if (a.is_undefined() || b.is_undefined())
        throw Error("'" + (a.is_undefined() ? a.str() : b.str()) + "' is undefined");
    auto bad = [&]() -> Error {
        return Error("unsupported operand type(s) for " + op + ": '" + a.type_name() + "' and '" +
                     b.type_name() + "'");
    };
    if (op == "+") {
        if (a.is_string() && b.is_string()) {
            charge_bytes(static_cast<int64_t>(a.str().size() + b.str().size()));
            return Value::from_string(a.str() + b.str());
        }
        if (a.is_list() && b.is_list()) {
            // list + [x] in a loop is quadratic: the copy is charged, so it ends in an error.
            charge_bytes(static_cast<int64_t>((a.list().size() + b.list().size()) * sizeof(Value)));
            List l = a.list();
            l.insert(l.end(), b.list().begin(), b.list().end());
            return Value::from_list(std::move(l), a.is_tuple());
        }
    }
    if (op == "%" && a.is_string()) return Value::from_string(percent_format(a.str(), b));
    if (op == "*" && (b.is_string() || b.is_list()) && a.kind() == Value::Kind::Int)
        return arithmetic(op, b, a);
    if (op == "*" && ((a.is_string() || a.is_list()) && b.kind() == Value::Kind::Int)) {
        const int64_t times = std::max<int64_t>(0, b.as_int());
        const int64_t unit = a.is_string() ? static_cast<int64_t>(a.str().size())
                                           : static_cast<int64_t>(a.list().size() * sizeof(Value));
        if (unit > 0 && times > (int64_t(1) << 40) / unit) charge_bytes(-1);  // past any budget
        charge_bytes(unit * times);  // before anything is repeated
        if (a.is_string()) {
            std::string s;
            if (a.str().empty()) return Value::from_string("");
            for (int64_t i = 0; i < b.as_int(); ++i) {
                s += a.str();
                if (s.size() > (64u << 20)) throw Error("string repetition too large");
            }
            return Value::from_string(s);
        }
        List l;
        if (a.list().empty()) return Value::from_list({});
        for (int64_t i = 0; i < b.as_int(); ++i) {
            l.insert(l.end(), a.list().begin(), a.list().end());
            if (l.size() > (1u << 20)) throw Error("list repetition too large");
        }
        return Value::from_list(std::move(l));
    }
    if (!a.is_number() || !b.is_number()) throw bad();
    bool flt = a.kind() == Value::Kind::Float || b.kind() == Value::Kind::Float;
    if (op == "/") {
        if (b.as_float() == 0) throw Error("division by zero");
        return Value::from_float(a.as_float() / b.as_float());
    }
    if (flt) {
        double x = a.as_float(), y = b.as_float();
        if (op == "+") return Value::from_float(x + y);
        if (op == "-") return Value::from_float(x - y);
        if (op == "*") return Value::from_float(x * y);
        if (op == "**") return Value::from_float(std::pow(x, y));
        if (y == 0) throw Error("float division by zero");
        if (op == "//") return Value::from_float(std::floor(x / y));
        if (op == "%") {
            double m = std::fmod(x, y);
            if (m != 0 && ((m < 0) != (y < 0))) m += y;
            return Value::from_float(m);
        }
        throw bad();
    }
    int64_t x = a.as_int(), y = b.as_int(), r = 0;
    // Python ints are unbounded; ours are 64-bit, and overflow is an error rather than a wrap.
    auto overflow = [&]() -> Error {
        return Error("integer overflow in " + op + " (values beyond 64 bits)");
    };
    if (op == "+") {
        if (__builtin_add_overflow(x, y, &r)) throw overflow();
        return Value::from_int(r);
    }
    if (op == "-") {
        if (__builtin_sub_overflow(x, y, &r)) throw overflow();
        return Value::from_int(r);
    }
    if (op == "*") {
        if (__builtin_mul_overflow(x, y, &r)) throw overflow();
        return Value::from_int(r);
    }
    if (op == "**") {
        if (y < 0)
            return Value::from_float(std::pow(static_cast<double>(x), static_cast<double>(y)));
        r = 1;
        for (int64_t i = 0; i < y; ++i) {
            if (__builtin_mul_overflow(r, x, &r)) throw overflow();
            if (r == 0 || r == 1) break;  // 0**n and 1**n stay put
            if (r == -1 && x == -1) {
                r = (y % 2) ? -1 : 1;
                break;
            }
        }
        return Value::from_int(r);
    }
    if (y == 0) throw Error("integer division or modulo by zero");
    if (x == INT64_MIN && y == -1) throw overflow();
    if (op == "//") return Value::from_int(py_floordiv(x, y));
    if (op == "%") return Value::from_int(x - py_floordiv(x, y) * y);
    throw bad();
}

bool apply_test(Renderer& r, const std::string& name, const Value& v, CallArgs& args) {
    using K = Value::Kind;
    auto need = [&](size_t i) -> const Value& {
        if (i >= args.positional.size()) throw Error("test '" + name + "' needs an argument");
        return args.positional[i];
    };
    if (name == "defined") return !v.is_undefined();
    if (name == "undefined") return v.is_undefined();
    if (name == "none") return v.is_none();
    if (name == "string") return v.is_string();
    if (name == "mapping") return v.is_dict();
    if (name == "iterable") return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
    if (name == "sequence") return v.is_string() || v.is_list() || v.is_dict();
    if (name == "number") return v.is_number();
    if (name == "integer") return v.kind() == K::Int;
    if (name == "float") return v.kind() == K::Float;
    if (name == "boolean") return v.kind() == K::Bool;
    if (name == "true") return v.kind() == K::Bool && v.as_bool();
    if (name == "false") return v.kind() == K::Bool && !v.as_bool();
    if (name == "callable") return v.kind() == K::Func;
    if (name == "eq" || name == "equalto" || name == "==") return values_equal(v, need(0));
    if (name == "ne" || name == "!=") return !values_equal(v, need(0));
    if (name == "sameas") return values_equal(v, need(0)) && v.kind() == need(0).kind();
    if (name == "lt" || name == "lessthan" || name == "<") return compare_values(v, need(0)) < 0;
    if (name == "le" || name == "<=") return compare_values(v, need(0)) <= 0;
    if (name == "gt" || name == "greaterthan" || name == ">") return compare_values(v, need(0)) > 0;
    if (name == "ge" || name == ">=") return compare_values(v, need(0)) >= 0;
    if (name == "in") return contains(need(0), v);
    if (name == "odd") return v.as_int() % 2 != 0;
    if (name == "even") return v.as_int() % 2 == 0;
    if (name == "divisibleby") {
        int64_t d = need(0).as_int();
        if (d == 0) throw Error("integer division or modulo by zero");
        return v.as_int() % d == 0;
    }
    if (name == "lower") return v.is_string() && lower(v.str()) == v.str();
    if (name == "upper") return v.is_string() && upper(v.str()) == v.str();
    (void)r;
    throw Error("no test named '" + name + "'");
}

Value apply_filter(Renderer& r, const std::string& name, const Value& v, CallArgs& args) {
    using K = Value::Kind;
    auto str_in = [&] { return v.to_str(); };
    if (name == "safe" || name == "string")
        return name == "safe" ? v : Value::from_string(str_in());
    if (name == "trim")
        return Value::from_string(strip(str_in(), arg(args, 0, "chars"), true, true));
    if (name == "lower") return Value::from_string(lower(str_in()));
    if (name == "upper") return Value::from_string(upper(str_in()));
    if (name == "capitalize") return Value::from_string(capitalize(str_in()));
    if (name == "title") return Value::from_string(title(str_in()));
    if (name == "length" || name == "count") {
        if (v.is_string()) return Value::from_int(static_cast<int64_t>(utf8_length(v.str())));
        if (v.is_list()) return Value::from_int(static_cast<int64_t>(v.list().size()));
        if (v.is_dict()) return Value::from_int(static_cast<int64_t>(v.dict().size()));
        if (v.is_undefined()) return Value::from_int(0);
        throw Error(std::string("object of type '") + v.type_name() + "' has no len()");
    }
    if (name == "tojson") {
        JsonOptions o;
        Value ind = arg_or(args, 0, "indent", Value::none());
        if (!ind.is_none()) o.indent = static_cast<int>(std::clamp<int64_t>(ind.as_int(), 0, 64));
        o.sort_keys = arg_or(args, 99, "sort_keys", Value::from_bool(false)).truthy();
        Value seps = arg_or(args, 99, "separators", Value::none());
        if (!seps.is_none()) {
            if (!seps.is_list() || seps.list().size() != 2 || !seps.list()[0].is_string() ||
                !seps.list()[1].is_string())
                throw Error("tojson: separators must be a pair of strings");
            o.item_sep = seps.list()[0].str();
            o.key_sep = seps.list()[1].str();
        }
        return Value::from_string(v.to_json(o));
    }
    if (name == "default" || name == "d") {
        Value def = arg_or(args, 0, "default_value", Value::from_string(""));
        bool boolean = arg_or(args, 1, "boolean", Value::from_bool(false)).truthy();
        if (v.is_undefined() || (boolean && !v.truthy())) return def;
        return v;
    }
    if (name == "replace") {
        const Value* from = arg(args, 0, "old");
        const Value* to = arg(args, 1, "new");
        if (!from || !to) throw Error("replace filter takes 2 arguments");
        return Value::from_string(replace(str_in(), from->to_str(), to->to_str(),
                                          arg_or(args, 2, "count", Value::none()).is_none()
                                              ? -1
                                              : arg(args, 2, "count")->as_int()));
    }
    if (name == "join") {
        std::string sep = arg_or(args, 0, "d", Value::from_string("")).to_str();
        const Value* attr = arg(args, 1, "attribute");
        std::string out;
        auto items = r.iterate(v);
        for (size_t i = 0; i < items.size(); ++i) {
            std::string piece = attribute_path(items[i], attr).to_str();
            charge_bytes(static_cast<int64_t>(piece.size() + (i ? sep.size() : 0)));
            if (i) out += sep;
            out += piece;
        }
        return Value::from_string(out);
    }
    if (name == "first" || name == "last") {
        auto items = r.iterate(v);
        if (items.empty())
            return Value::undefined(name == "first" ? "No first item" : "No last item");
        return name == "first" ? items.front() : items.back();
    }
    if (name == "list") return Value::from_list(r.iterate(v));
    if (name == "items") {
        if (v.is_undefined()) return Value::from_list({});
        if (!v.is_dict()) throw Error("items filter expects a mapping");
        return items_of(v);
    }
    if (name == "reverse") {
        if (v.is_string()) return slice_value(v, Value::none(), Value::none(), Value::from_int(-1));
        auto items = r.iterate(v);
        std::reverse(items.begin(), items.end());
        return Value::from_list(std::move(items));
    }
    if (name == "map" || name == "select" || name == "reject" || name == "selectattr" ||
        name == "rejectattr") {
        auto items = r.iterate(v);
        List out;
        if (name == "map") {
            if (const Value* attr = arg(args, 999, "attribute")) {
                Value def = arg_or(args, 999, "default", Value::undefined());
                for (auto& x : items) {
                    Value y = attribute_path(x, attr);
                    out.push_back(y.is_undefined() && !def.is_undefined() ? def : y);
                }
                return Value::from_list(std::move(out));
            }
            if (args.positional.empty())
                throw Error("map filter needs a filter name or attribute=");
            std::string fname = args.positional[0].str();
            CallArgs rest;
            rest.positional.assign(args.positional.begin() + 1, args.positional.end());
            rest.keyword = args.keyword;
            for (auto& x : items) out.push_back(apply_filter(r, fname, x, rest));
            return Value::from_list(std::move(out));
        }
        bool by_attr = name == "selectattr" || name == "rejectattr";
        bool want = name == "select" || name == "selectattr";
        size_t first = by_attr ? 1 : 0;
        if (by_attr && args.positional.empty()) throw Error(name + " needs an attribute name");
        for (auto& x : items) {
            Value subject = by_attr ? attribute_path(x, &args.positional[0]) : x;
            bool ok;
            if (args.positional.size() > first) {
                CallArgs targs;
                targs.positional.assign(args.positional.begin() + static_cast<long>(first) + 1,
                                        args.positional.end());
                ok = apply_test(r, args.positional[first].str(), subject, targs);
            } else {
                ok = subject.truthy();
            }
            if (ok == want) out.push_back(x);
        }
        return Value::from_list(std::move(out));
    }
    if (name == "sort" || name == "unique" || name == "dictsort") {
        bool cs = arg_or(args,
                         name == "sort"       ? 1
                         : name == "dictsort" ? 0
                                              : 0,
                         "case_sensitive", Value::from_bool(false))
                      .truthy();
        if (name == "dictsort") {
            if (!v.is_dict()) throw Error("dictsort expects a mapping");
            bool by_value = arg_or(args, 1, "by", Value::from_string("key")).str() == "value";
            bool rev = arg_or(args, 2, "reverse", Value::from_bool(false)).truthy();
            List items = items_of(v).list();
            std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
                int c = sort_compare(a.list()[by_value], b.list()[by_value], cs);
                return rev ? c > 0 : c < 0;
            });
            return Value::from_list(std::move(items));
        }
        const Value* attr = arg(args, name == "sort" ? 2 : 1, "attribute");
        auto items = r.iterate(v);
        if (name == "unique") {
            List out;
            std::vector<Value> seen;
            for (auto& x : items) {
                Value key = attribute_path(x, attr);
                if (!cs && key.is_string()) key = Value::from_string(lower(key.str()));
                bool dup = false;
                for (auto& s : seen)
                    if (values_equal(s, key)) dup = true;
                if (!dup) {
                    seen.push_back(key);
                    out.push_back(x);
                }
            }
            return Value::from_list(std::move(out));
        }
        bool rev = arg_or(args, 0, "reverse", Value::from_bool(false)).truthy();
        std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
            int c = sort_compare(attribute_path(a, attr), attribute_path(b, attr), cs);
            return rev ? c > 0 : c < 0;
        });
        return Value::from_list(std::move(items));
    }
    if (name == "min" || name == "max" || name == "sum") {
        auto items = r.iterate(v);
        const Value* attr = arg(args, name == "sum" ? 0 : 1, "attribute");
        if (name == "sum") {
            Value acc = arg_or(args, 1, "start", Value::from_int(0));
            for (auto& x : items) acc = arithmetic("+", acc, attribute_path(x, attr));
            return acc;
        }
        if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
        bool cs = arg_or(args, 0, "case_sensitive", Value::from_bool(false)).truthy();
        Value best = items[0];
        for (auto& x : items) {
            int c = sort_compare(attribute_path(x, attr), attribute_path(best, attr), cs);
            if (name == "min" ? c < 0 : c > 0) best = x;
        }
        return best;
    }
    if (name == "int")
        return Value::from_int(to_int_value(v, arg_or(args, 0, "default", Value::from_int(0)),
                                            arg_or(args, 1, "base", Value::from_int(10)).as_int()));
    if (name == "format") {
        if (!args.positional.empty() && !args.keyword.empty())
            throw Error("can't handle positional and keyword arguments at the same time");
        if (!args.keyword.empty()) {
            Dict d(args.keyword.begin(), args.keyword.end());
            return Value::from_string(percent_format(str_in(), Value::from_dict(std::move(d))));
        }
        return Value::from_string(
            percent_format(str_in(), Value::from_list(args.positional, true)));
    }
    if (name == "float") {
        if (v.is_number()) return Value::from_float(v.as_float());
        if (v.is_string()) {
            try {
                std::string s = strip(v.str(), nullptr, true, true);
                if (!decimal_text(s)) throw std::invalid_argument("not a number");
                size_t used = 0;
                double d = std::stod(s, &used);
                if (used == s.size()) return Value::from_float(d);
            } catch (const std::exception&) {
            }
        }
        return Value::from_float(arg_or(args, 0, "default", Value::from_float(0.0)).as_float());
    }
    if (name == "abs") {
        if (v.kind() == K::Float) return Value::from_float(std::fabs(v.as_float()));
        if (v.as_int() == INT64_MIN) throw Error("integer overflow in abs");
        return Value::from_int(std::llabs(v.as_int()));
    }
    if (name == "round") {
        int64_t prec = arg_or(args, 0, "precision", Value::from_int(0)).as_int();
        std::string method = arg_or(args, 1, "method", Value::from_string("common")).str();
        double x = v.as_float(), scale = std::pow(10.0, static_cast<double>(prec));
        if (method == "common") {
            if (v.kind() != K::Float) return v;
            return Value::from_float(py_round(x, prec));
        }
        if (method != "ceil" && method != "floor")
            throw Error("round: method must be common, ceil or floor");
        // jinja2 computes value * 10**precision: past a double's exponent range that is an
        // overflow (or a division by zero) in Python; here it is an error naming the precision,
        // not inf or nan.
        if (prec > 308 || prec < -308)
            throw Error("round: precision " + std::to_string(prec) + " is out of range");
        const double scaled = x * scale;
        // Too large to have digits at that precision: already rounded.
        if (!std::isfinite(scaled)) return Value::from_float(x);
        const double r = (method == "ceil" ? std::ceil(scaled) : std::floor(scaled)) / scale;
        return Value::from_float(std::isfinite(r) || !std::isfinite(x) ? r : x);
    }
    if (name == "indent")
        return Value::from_string(
            indent(str_in(), arg_or(args, 0, "width", Value::from_int(4)),
                   arg_or(args, 1, "first", Value::from_bool(false)).truthy(),
                   arg_or(args, 2, "blank", Value::from_bool(false)).truthy()));
    if (name == "center")
        return Value::from_string(
            center(str_in(), arg_or(args, 0, "width", Value::from_int(80)).as_int()));
    if (name == "wordcount") {
        int64_t n = 0;
        bool in_word = false;
        const std::string text = str_in();
        charge_steps(static_cast<int64_t>(text.size() >> 3));
        for (unsigned char c : text) {
            bool w = std::isalnum(c) || c == '_' || c >= 0x80;
            if (w && !in_word) ++n;
            in_word = w;
        }
        return Value::from_int(n);
    }
    throw Error("no filter named '" + name + "'");
}

}  // namespace gb::jinja
