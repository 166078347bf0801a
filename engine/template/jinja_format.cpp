// Python's two string formatting languages on Jinja values: `fmt % args` (printf-style, also
// the `format` filter) and `fmt.format(...)` (the format-spec mini-language), as CPython prints.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <string>

#include "engine/core/utf8.h"
#include "engine/template/jinja_budget.h"
#include "engine/template/jinja_builtins.h"
#include "engine/template/jinja_render.h"
#include "kernels/error.h"

namespace gb::jinja {
namespace {

std::string repeat(const std::string& fill, int64_t n) {
    charge_steps(1 + (n >> 4));
    std::string out;
    for (int64_t i = 0; i < n; ++i) out += fill;
    return out;
}

// Pads to `width` code points; '=' puts the padding between a sign/prefix and the digits.
std::string align_text(const std::string& body, const std::string& prefix, int64_t width,
                       const std::string& fill, char align) {
    const int64_t len = static_cast<int64_t>(utf8_length(prefix) + utf8_length(body));
    const int64_t pad = width > len ? width - len : 0;
    charge_bytes(pad);  // before the padding is made
    if (align == '=') return prefix + repeat(fill, pad) + body;
    const std::string s = prefix + body;
    if (align == '<') return s + repeat(fill, pad);
    if (align == '^') return repeat(fill, pad / 2) + s + repeat(fill, pad - pad / 2);
    return repeat(fill, pad) + s;
}

std::string int_digits(int64_t v, char type) {
    uint64_t u = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
    const int base = type == 'x' || type == 'X' ? 16 : type == 'o' ? 8 : type == 'b' ? 2 : 10;
    const char* digits = type == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
    std::string out;
    do {
        out.insert(out.begin(), digits[u % static_cast<uint64_t>(base)]);
        u /= static_cast<uint64_t>(base);
    } while (u);
    return out;
}

// Thousands separators in the integer part of a digit string ("1234.5" -> "1,234.5").
std::string group(const std::string& digits, char sep) {
    if (!sep) return digits;
    size_t end = digits.find_first_not_of("0123456789");
    if (end == std::string::npos) end = digits.size();
    std::string out;
    for (size_t i = 0; i < end; ++i) {
        if (i && (end - i) % 3 == 0) out += sep;
        out += digits[i];
    }
    return out + digits.substr(end);
}

// C's %e/%f/%g print what Python prints for these conversions (both round exactly).
std::string c_float(double v, char type, int64_t precision, bool alt) {
    // Python refuses a precision past its C buffer; ours sizes the buffer from the result.
    if (precision > kMaxFormatPrecision)
        throw Error("precision too big (" + std::to_string(precision) + ", more than " +
                    std::to_string(kMaxFormatPrecision) + ")");
    std::string spec = std::string("%") + (alt ? "#" : "") + ".*" + type;
    const int p = static_cast<int>(precision);
    const int n = std::snprintf(nullptr, 0, spec.c_str(), p, v);
    if (n < 0) throw Error("cannot format the number");
    charge_bytes(n);
    charge_scan(static_cast<size_t>(n));
    std::string out(static_cast<size_t>(n) + 1, '\0');
    std::snprintf(out.data(), out.size(), spec.c_str(), p, v);
    out.pop_back();
    return out;
}

double real_arg(const Value& v, const std::string& what) {
    if (v.is_number()) return v.as_float();
    throw Error(what + " must be real number, not " + v.type_name());
}

// ---- printf-style ----

std::string percent_one(const Value& v, char conv, const std::string& flags, int64_t width,
                        int64_t prec) {
    const bool left = flags.find('-') != std::string::npos;
    const bool zero = flags.find('0') != std::string::npos && !left;
    const bool alt = flags.find('#') != std::string::npos;
    const std::string sign_flag = flags.find('+') != std::string::npos   ? "+"
                                  : flags.find(' ') != std::string::npos ? " "
                                                                         : "";
    auto finish = [&](const std::string& sign, const std::string& body, bool numeric) {
        if (numeric && zero) return align_text(body, sign, width, "0", '=');
        return align_text(body, sign, width, " ", left ? '<' : '>');
    };
    switch (conv) {
        case 's':
        case 'r':
        case 'a': {
            std::string s = conv == 's' ? v.to_str() : v.repr();
            if (prec >= 0) {
                auto chars = utf8_chars(s);
                if (static_cast<int64_t>(chars.size()) > prec) {
                    s.clear();
                    for (int64_t i = 0; i < prec; ++i) s += chars[static_cast<size_t>(i)];
                }
            }
            return finish("", s, false);
        }
        case 'd':
        case 'i':
        case 'u':
        case 'x':
        case 'X':
        case 'o': {
            bool integral = v.kind() == Value::Kind::Int || v.kind() == Value::Kind::Bool;
            if (!integral &&
                !(v.kind() == Value::Kind::Float && (conv == 'd' || conv == 'i' || conv == 'u')))
                throw Error(
                    std::string("%") + conv + " format: " +
                    (conv == 'd' || conv == 'i' || conv == 'u' ? "a real number" : "an integer") +
                    " is required, not " + v.type_name());
            if (v.kind() == Value::Kind::Float && !std::isfinite(v.as_float()))
                throw Error("cannot convert float infinity or NaN to integer");
            const int64_t n = v.as_int();
            std::string digits = int_digits(n, conv == 'u' || conv == 'i' ? 'd' : conv);
            if (prec > kMaxFormatPrecision)
                throw Error("precision too big (" + std::to_string(prec) + ")");
            if (prec > static_cast<int64_t>(digits.size())) {
                charge_bytes(prec);
                digits.insert(0, static_cast<size_t>(prec) - digits.size(), '0');
            }
            std::string sign = n < 0 ? "-" : sign_flag;
            if (alt && conv == 'o') sign += "0o";
            if (alt && (conv == 'x' || conv == 'X')) sign += conv == 'x' ? "0x" : "0X";
            return finish(sign, digits, true);
        }
        case 'e':
        case 'E':
        case 'f':
        case 'F':
        case 'g':
        case 'G': {
            const double x = real_arg(v, "a");
            std::string body = c_float(std::fabs(x), conv, prec < 0 ? 6 : prec, alt);
            std::string sign = std::signbit(x) && !std::isnan(x) ? "-" : sign_flag;
            return finish(sign, body, std::isfinite(x));
        }
        case 'c': {
            if (v.is_string() && utf8_length(v.str()) == 1) return finish("", v.str(), false);
            throw Error("%c requires an int or a unicode character");
        }
        default: throw Error(std::string("unsupported format character '") + conv + "'");
    }
}

// ---- format-spec mini-language ----

struct Spec {
    std::string fill = " ";
    char align = 0, sign = 0, type = 0, grouping = 0;
    bool alt = false, zero = false;
    int64_t width = -1, precision = -1;
};

Spec parse_spec(const std::string& s) {
    Spec sp;
    auto chars = utf8_chars(s);
    size_t i = 0;
    auto is_align = [](const std::string& c) {
        return c == "<" || c == ">" || c == "^" || c == "=";
    };
    if (chars.size() >= 2 && is_align(chars[1])) {
        sp.fill = chars[0];
        sp.align = chars[1][0];
        i = 2;
    } else if (!chars.empty() && is_align(chars[0])) {
        sp.align = chars[0][0];
        i = 1;
    }
    auto at = [&](const char* c) { return i < chars.size() && chars[i] == c; };
    if (at("+") || at("-") || at(" ")) sp.sign = chars[i++][0];
    if (at("#")) sp.alt = true, ++i;
    if (at("0")) sp.zero = true, ++i;
    auto number = [&]() {
        int64_t n = -1;
        while (i < chars.size() && chars[i].size() == 1 &&
               std::isdigit(static_cast<unsigned char>(chars[i][0]))) {
            n = (n < 0 ? 0 : n) * 10 + (chars[i][0] - '0');
            if (n > 100000) throw Error("Too many decimal digits in format string");
            ++i;
        }
        return n;
    };
    sp.width = number();
    if (at(",") || at("_")) sp.grouping = chars[i++][0];
    if (at(".")) {
        ++i;
        sp.precision = number();
        if (sp.precision < 0) throw Error("Format specifier missing precision");
    }
    if (i < chars.size() && chars[i].size() == 1) sp.type = chars[i++][0];
    if (i != chars.size()) throw Error("Invalid format specifier '" + s + "'");
    return sp;
}

std::string format_value(const Value& v, const std::string& spec_text) {
    if (spec_text.empty()) return v.to_str();
    Spec sp = parse_spec(spec_text);
    const bool numeric = v.kind() == Value::Kind::Int || v.kind() == Value::Kind::Bool ||
                         v.kind() == Value::Kind::Float;
    if (sp.zero && !sp.align && numeric) sp.fill = "0", sp.align = '=';
    if (v.is_string()) {
        if (sp.type && sp.type != 's')
            throw Error(std::string("Unknown format code '") + sp.type +
                        "' for object of type 'str'");
        if (sp.sign || sp.align == '=') throw Error("Sign not allowed in string format specifier");
        std::string s = v.str();
        if (sp.precision >= 0) {
            auto chars = utf8_chars(s);
            s.clear();
            for (int64_t k = 0; k < sp.precision && k < static_cast<int64_t>(chars.size()); ++k)
                s += chars[static_cast<size_t>(k)];
        }
        return align_text(s, "", sp.width, sp.fill, sp.align ? sp.align : '<');
    }
    if (!numeric)
        throw Error(std::string("unsupported format string passed to ") + v.type_name() +
                    ".__format__");
    const char align = sp.align ? sp.align : '>';
    const bool is_int = v.kind() != Value::Kind::Float;
    char type = sp.type;
    if (is_int && (type == 0 || type == 'd' || type == 'n' || type == 'b' || type == 'o' ||
                   type == 'x' || type == 'X' || type == 'c')) {
        if (sp.precision >= 0) throw Error("Precision not allowed in integer format specifier");
        const int64_t n = v.as_int();
        if (type == 'c') {  // chr(n)
            if (n < 0 || n > 0x10FFFF) throw Error("%c arg not in range(0x110000)");
            std::string ch;
            utf8::append(ch, static_cast<uint32_t>(n));
            return align_text(ch, "", sp.width, sp.fill, align);
        }
        std::string digits = group(int_digits(n, type ? type : 'd'), sp.grouping);
        std::string prefix = n < 0 ? "-" : sp.sign == '+' ? "+" : sp.sign == ' ' ? " " : "";
        if (sp.alt && type && type != 'd' && type != 'n')
            prefix += std::string("0") + (type == 'X' ? 'X' : type);
        return align_text(digits, prefix, sp.width, sp.fill, align);
    }
    if (type != 0 && std::string("eEfFgG%n").find(type) == std::string::npos)
        throw Error(std::string("Unknown format code '") + type + "' for object of type '" +
                    v.type_name() + "'");
    const double x = v.as_float();
    std::string body;
    if (type == '%')
        body = c_float(std::fabs(x) * 100, 'f', sp.precision < 0 ? 6 : sp.precision, sp.alt) + "%";
    else if (type == 0 && sp.precision < 0)
        body = python_float_repr(std::fabs(x));
    else if (type == 0) {
        // No type with a precision: like 'g', but a fixed-point result keeps one decimal.
        body = c_float(std::fabs(x), 'g', sp.precision == 0 ? 1 : sp.precision, sp.alt);
        if (std::isfinite(x) && body.find_first_of(".e") == std::string::npos) body += ".0";
    } else {
        body = c_float(std::fabs(x), type == 'n' ? 'g' : type, sp.precision < 0 ? 6 : sp.precision,
                       sp.alt);
    }
    body = group(body, sp.grouping);
    std::string prefix = std::signbit(x) && !std::isnan(x) ? "-"
                         : sp.sign == '+'                  ? "+"
                         : sp.sign == ' '                  ? " "
                                                           : "";
    return align_text(body, prefix, sp.width, sp.fill, align);
}

}  // namespace

std::string percent_format(const std::string& fmt, const Value& args) {
    List items;
    const bool tuple = args.is_tuple();
    if (tuple)
        items = args.list();
    else
        items.push_back(args);
    size_t next = 0;
    bool used_mapping = false;
    auto take = [&]() -> const Value& {
        if (next >= items.size()) throw Error("not enough arguments for format string");
        return items[next++];
    };
    std::string out;
    for (size_t i = 0; i < fmt.size(); ++i) {
        if (fmt[i] != '%') {
            out += fmt[i];
            continue;
        }
        if (++i >= fmt.size()) throw Error("incomplete format");
        const Value* mapped = nullptr;
        if (fmt[i] == '(') {
            size_t close = fmt.find(')', i);
            if (close == std::string::npos) throw Error("incomplete format key");
            if (!args.is_dict()) throw Error("format requires a mapping");
            std::string key = fmt.substr(i + 1, close - i - 1);
            mapped = args.find(key);
            if (!mapped) throw Error("KeyError: '" + key + "'");
            used_mapping = true;
            i = close + 1;
        }
        std::string flags;
        while (i < fmt.size() && std::string("-+ #0").find(fmt[i]) != std::string::npos)
            flags += fmt[i++];
        auto number = [&]() -> int64_t {
            if (i < fmt.size() && fmt[i] == '*') {
                ++i;
                const Value& w = take();
                if (w.kind() != Value::Kind::Int) throw Error("* wants int");
                // Python caps a '*' width or precision at the C int range.
                if (w.as_int() > INT32_MAX || w.as_int() < -INT32_MAX)
                    throw Error("* width or precision too big (" + std::to_string(w.as_int()) +
                                ")");
                return w.as_int();
            }
            int64_t n = -1;
            while (i < fmt.size() && std::isdigit(static_cast<unsigned char>(fmt[i]))) {
                n = (n < 0 ? 0 : n) * 10 + (fmt[i++] - '0');
                if (n > 100000) throw Error("width too big");
            }
            return n;
        };
        int64_t width = number();
        if (width < -1) flags += '-', width = -width;
        int64_t prec = -1;
        if (i < fmt.size() && fmt[i] == '.') {
            ++i;
            prec = std::max<int64_t>(number(), 0);
        }
        while (i < fmt.size() && (fmt[i] == 'h' || fmt[i] == 'l' || fmt[i] == 'L')) ++i;
        if (i >= fmt.size()) throw Error("incomplete format");
        const char conv = fmt[i];
        if (conv == '%') {
            out += '%';
            continue;
        }
        out += percent_one(mapped ? *mapped : take(), conv, flags, width, prec);
    }
    if (next < items.size() && !used_mapping && !(args.is_dict() && !tuple))
        throw Error("not all arguments converted during string formatting");
    return out;
}

std::string brace_format(const std::string& fmt, const CallArgs& args) {
    std::string out;
    int auto_index = 0;
    bool manual = false;
    for (size_t i = 0; i < fmt.size(); ++i) {
        const char c = fmt[i];
        if (c == '}') {
            if (i + 1 < fmt.size() && fmt[i + 1] == '}')
                ++i, out += '}';
            else
                throw Error("Single '}' encountered in format string");
            continue;
        }
        if (c != '{') {
            out += c;
            continue;
        }
        if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
            ++i;
            out += '{';
            continue;
        }
        size_t close = fmt.find('}', i);
        if (close == std::string::npos) throw Error("Single '{' encountered in format string");
        std::string field = fmt.substr(i + 1, close - i - 1);
        if (field.find('{') != std::string::npos)
            throw Error("nested replacement fields are not supported");
        i = close;
        std::string spec, conv;
        if (size_t colon = field.find(':'); colon != std::string::npos) {
            spec = field.substr(colon + 1);
            field.resize(colon);
        }
        if (size_t bang = field.find('!'); bang != std::string::npos) {
            conv = field.substr(bang + 1);
            field.resize(bang);
            if (conv != "r" && conv != "s" && conv != "a")
                throw Error("Unknown conversion specifier " + conv);
        }
        size_t name_end = field.find_first_of(".[");
        const std::string name = field.substr(0, name_end);
        Value v;
        if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) {
            size_t index;
            if (name.empty()) {
                if (manual)
                    throw Error(
                        "cannot switch from manual field specification to automatic field "
                        "numbering");
                index = static_cast<size_t>(auto_index++);
            } else {
                if (auto_index)
                    throw Error(
                        "cannot switch from automatic field numbering to manual field "
                        "specification");
                manual = true;
                index = static_cast<size_t>(parse_digits(name));
            }
            if (index >= args.positional.size())
                throw Error("Replacement index " + std::to_string(index) +
                            " out of range for positional args tuple");
            v = args.positional[index];
        } else {
            const Value* kw = nullptr;
            for (const auto& [k, x] : args.keyword)
                if (k == name) kw = &x;
            if (!kw) throw Error("KeyError: '" + name + "'");
            v = *kw;
        }
        // .attr and [key] after the name.
        for (size_t p = name_end; p != std::string::npos && p < field.size();) {
            if (field[p] == '.') {
                size_t e = field.find_first_of(".[", p + 1);
                std::string attr =
                    field.substr(p + 1, e == std::string::npos ? std::string::npos : e - p - 1);
                v = get_attr(v, attr);
                if (v.is_undefined())
                    throw Error("'" + std::string(v.type_name()) + "' object has no attribute '" +
                                attr + "'");
                p = e;
            } else {
                size_t e = field.find(']', p);
                if (e == std::string::npos) throw Error("Missing ']' in format string");
                std::string key = field.substr(p + 1, e - p - 1);
                bool digits =
                    !key.empty() && key.find_first_not_of("0123456789") == std::string::npos;
                v = get_item(v,
                             digits ? Value::from_int(parse_digits(key)) : Value::from_string(key));
                if (v.is_undefined()) throw Error("KeyError: '" + key + "'");
                p = e + 1;
            }
        }
        if (conv == "r" || conv == "a")
            v = Value::from_string(v.repr());
        else if (conv == "s")
            v = Value::from_string(v.to_str());
        out += format_value(v, spec);
    }
    return out;
}

}  // namespace gb::jinja
