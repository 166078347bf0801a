// Attribute and item access on Jinja values, as jinja2 does it on the Python objects behind them:
// str, dict and list methods (the read-only ones the sandbox allows), then dict keys.
#include <algorithm>
#include <cctype>
#include <cstdint>

#include "engine/template/jinja_budget.h"
#include "engine/template/jinja_builtins.h"
#include "engine/template/jinja_render.h"
#include "engine/template/jinja_text.h"
#include "kernels/error.h"

namespace gb::jinja {
namespace {

Value split(const std::string& s, const Value* sep, int64_t maxsplit) {
    List out;
    if (!sep || sep->is_none()) {
        size_t i = 0;
        while (true) {
            while (i < s.size() && py_space(s[i])) ++i;
            if (i >= s.size()) break;
            if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
                out.push_back(
                    Value::from_string(s.substr(i)));  // the rest keeps its trailing space
                break;
            }
            size_t j = i;
            while (j < s.size() && !py_space(s[j])) ++j;
            out.push_back(Value::from_string(s.substr(i, j - i)));
            i = j;
        }
        return Value::from_list(std::move(out));
    }
    const std::string& d = sep->str();
    if (d.empty()) throw Error("split: empty separator");
    charge_search(s.size(), d.size());
    size_t pos = 0;
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
        size_t f = s.find(d, pos);
        if (f == std::string::npos) break;
        out.push_back(Value::from_string(s.substr(pos, f - pos)));
        pos = f + d.size();
    }
    out.push_back(Value::from_string(s.substr(pos)));
    return Value::from_list(std::move(out));
}

bool affix_match(const std::string& s, const Value& affix, bool prefix) {
    auto one = [&](const std::string& a) {
        charge_scan(a.size());
        if (a.size() > s.size()) return false;
        return prefix ? s.compare(0, a.size(), a) == 0
                      : s.compare(s.size() - a.size(), a.size(), a) == 0;
    };
    if (affix.is_list()) {
        for (const auto& a : affix.list())
            if (one(a.str())) return true;
        return false;
    }
    if (!affix.is_string())
        throw Error("startswith/endswith expects a string or a tuple of strings");
    return one(affix.str());
}

// The text of a string method's object, charged as one pass over it.
const std::string& text_of(const Value& obj) {
    charge_scan(obj.str().size());
    return obj.str();
}

Value bound(const std::string& name, std::function<Value(CallArgs&)> fn) {
    return Value::from_func(name, [fn = std::move(fn)](Renderer&, CallArgs& a) { return fn(a); });
}

// str.rsplit: like split, but a maxsplit counts from the right.
Value rsplit(const std::string& s, const Value* sep, int64_t maxsplit) {
    if (maxsplit < 0) return split(s, sep, -1);
    List rev;
    if (!sep || sep->is_none()) {
        size_t e = s.size();
        while (true) {
            while (e > 0 && py_space(s[e - 1])) --e;
            if (e == 0) break;
            if (static_cast<int64_t>(rev.size()) == maxsplit) {
                rev.push_back(
                    Value::from_string(s.substr(0, e)));  // the rest keeps its leading space
                break;
            }
            size_t b = e;
            while (b > 0 && !py_space(s[b - 1])) --b;
            rev.push_back(Value::from_string(s.substr(b, e - b)));
            e = b;
        }
    } else {
        const std::string& d = sep->str();
        if (d.empty()) throw Error("empty separator");
        charge_search(s.size(), d.size());
        size_t end = s.size();
        while (static_cast<int64_t>(rev.size()) < maxsplit && end >= d.size()) {
            size_t f = s.rfind(d, end - d.size());
            if (f == std::string::npos) break;
            rev.push_back(Value::from_string(s.substr(f + d.size(), end - f - d.size())));
            end = f;
        }
        rev.push_back(Value::from_string(s.substr(0, end)));
    }
    return Value::from_list(List(rev.rbegin(), rev.rend()));
}

// str.splitlines: Python's line boundaries, \r\n counting as one.
Value splitlines(const std::string& s, bool keepends) {
    static const char* const kBreaks[] = {"\r\n",     "\n",           "\r",          "\v",
                                          "\f",       "\x1c",         "\x1d",        "\x1e",
                                          "\xc2\x85", "\xe2\x80\xa8", "\xe2\x80\xa9"};
    List out;
    charge_steps(static_cast<int64_t>(s.size() >> 3));  // each position is tried against each break
    size_t start = 0, i = 0;
    while (i < s.size()) {
        size_t len = 0;
        for (const char* b : kBreaks)
            if (s.compare(i, std::char_traits<char>::length(b), b) == 0) {
                len = std::char_traits<char>::length(b);
                break;
            }
        if (len == 0) {
            ++i;
            continue;
        }
        out.push_back(Value::from_string(s.substr(start, (keepends ? i + len : i) - start)));
        i += len;
        start = i;
    }
    if (start < s.size()) out.push_back(Value::from_string(s.substr(start)));
    return Value::from_list(std::move(out));
}

// Python's str.title: a cased character after an uncased one starts a word (unlike jinja2's
// title filter, "they're" becomes "They'Re").
std::string py_title(const std::string& s) {
    std::string out;
    bool prev_cased = false;
    for (const auto& ch : utf8_chars(s)) {
        const std::string lo = lower(ch), up = upper(ch);
        out += prev_cased ? lo : up;
        prev_cased = lo != up;
    }
    return out;
}

// Code point offset of a byte offset (find/index return Python indexes).
int64_t char_index(const std::string& s, size_t byte) {
    return static_cast<int64_t>(utf8_length(std::string_view(s).substr(0, byte)));
}

std::string pad_to(const std::string& s, int64_t width, const std::string& fill, char align) {
    int64_t len = static_cast<int64_t>(utf8_length(s));
    if (width <= len) return s;
    charge_bytes(width - len);  // before the padding is made (ljust(10**12))
    int64_t pad = width - len, left = align == '<'   ? 0
                                      : align == '>' ? pad
                                                     : pad / 2 + (pad & width & 1);
    std::string out;
    for (int64_t i = 0; i < left; ++i) out += fill;
    out += s;
    for (int64_t i = left; i < pad; ++i) out += fill;
    return out;
}

std::string fill_char(const CallArgs& a, size_t pos) {
    Value f = arg_or(a, pos, "fillchar", Value::from_string(" "));
    if (!f.is_string() || utf8_length(f.str()) != 1)
        throw Error("The fill character must be exactly one character long");
    return f.str();
}

// Each method captures the value (its text is shared, not copied) and is charged a pass over the
// text when called; searches are charged their worst case (charge_search).
Value str_method(const Value& obj, const std::string& name) {
    if (name == "strip" || name == "lstrip" || name == "rstrip")
        return bound(name, [obj, name](CallArgs& a) {
            const std::string& s = text_of(obj);
            return Value::from_string(
                strip(s, arg(a, 0, "chars"), name != "rstrip", name != "lstrip"));
        });
    if (name == "split" || name == "rsplit")
        return bound(name, [obj, name](CallArgs& a) {
            const std::string& s = text_of(obj);
            int64_t maxsplit = arg_or(a, 1, "maxsplit", Value::from_int(-1)).as_int();
            return name == "split" ? split(s, arg(a, 0, "sep"), maxsplit)
                                   : rsplit(s, arg(a, 0, "sep"), maxsplit);
        });
    if (name == "splitlines")
        return bound(name, [obj](CallArgs& a) {
            const std::string& s = text_of(obj);
            return splitlines(s, arg_or(a, 0, "keepends", Value::from_bool(false)).truthy());
        });
    if (name == "startswith" || name == "endswith")
        return bound(name, [obj, name](CallArgs& a) {
            const std::string& s = text_of(obj);
            const Value* x = arg(a, 0, "prefix");
            if (!x) throw Error(name + "() takes at least 1 argument");
            return Value::from_bool(affix_match(s, *x, name == "startswith"));
        });
    if (name == "upper")
        return bound(name, [obj](CallArgs&) {
            const std::string& s = text_of(obj);
            return Value::from_string(upper(s));
        });
    if (name == "lower")
        return bound(name, [obj](CallArgs&) {
            const std::string& s = text_of(obj);
            return Value::from_string(lower(s));
        });
    if (name == "title")
        return bound(name, [obj](CallArgs&) {
            const std::string& s = text_of(obj);
            return Value::from_string(py_title(s));
        });
    if (name == "capitalize")
        return bound(name, [obj](CallArgs&) {
            const std::string& s = text_of(obj);
            return Value::from_string(capitalize(s));
        });
    if (name == "replace")
        return bound(name, [obj](CallArgs& a) {
            const std::string& s = text_of(obj);
            const Value* from = arg(a, 0, "old");
            const Value* to = arg(a, 1, "new");
            if (!from || !to) throw Error("replace() takes 2 arguments");
            return Value::from_string(replace(s, from->str(), to->str(),
                                              arg_or(a, 2, "count", Value::from_int(-1)).as_int()));
        });
    if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count")
        return bound(name, [obj, name](CallArgs& a) {
            const std::string& s = text_of(obj);
            const Value* sub = arg(a, 0, "sub");
            if (!sub || !sub->is_string()) throw Error(name + "() expects a string");
            const std::string& t = sub->str();
            charge_search(s.size(), t.size());
            if (name == "count") {
                if (t.empty()) return Value::from_int(static_cast<int64_t>(utf8_length(s)) + 1);
                int64_t n = 0;
                for (size_t p = s.find(t); p != std::string::npos; p = s.find(t, p + t.size())) ++n;
                return Value::from_int(n);
            }
            size_t f = name[0] == 'r' ? s.rfind(t) : s.find(t);
            if (f == std::string::npos) {
                if (name == "index" || name == "rindex") throw Error("substring not found");
                return Value::from_int(-1);
            }
            return Value::from_int(char_index(s, f));
        });
    if (name == "join")
        return bound(name, [obj](CallArgs& a) {
            const std::string& s = text_of(obj);
            const Value* xs = arg(a, 0, "iterable");
            std::string out;
            if (xs && xs->is_list())
                for (size_t i = 0; i < xs->list().size(); ++i) {
                    if (!xs->list()[i].is_string())
                        throw Error("sequence item " + std::to_string(i) +
                                    ": expected str instance, " + xs->list()[i].type_name() +
                                    " found");
                    charge_bytes(static_cast<int64_t>(xs->list()[i].str().size() + s.size()));
                    if (i) out += s;
                    out += xs->list()[i].str();
                }
            return Value::from_string(out);
        });
    if (name == "isdigit" || name == "isspace" || name == "isalpha" || name == "isalnum")
        return bound(name, [obj, name](CallArgs&) {
            const std::string& s = text_of(obj);
            if (s.empty()) return Value::from_bool(false);
            charge_steps(static_cast<int64_t>(s.size() >> 4));
            const char kind = name[2];  // d(igit), s(pace), a(lpha / lnum)
            const bool alnum = name == "isalnum";
            for (unsigned char c : s) {
                bool ok = kind == 'd'   ? std::isdigit(c)
                          : kind == 's' ? py_space(static_cast<char>(c))
                          : alnum       ? std::isalnum(c)
                                        : std::isalpha(c);
                if (!ok) return Value::from_bool(false);
            }
            return Value::from_bool(true);
        });
    if (name == "isupper" || name == "islower")
        return bound(name, [obj, name](CallArgs&) {
            const std::string& s = text_of(obj);
            // True when there is a cased character and none of the other case.
            const std::string lo = lower(s), up = upper(s);
            return Value::from_bool(lo != up && (name == "isupper" ? up == s : lo == s));
        });
    if (name == "center" || name == "ljust" || name == "rjust")
        return bound(name, [obj, name](CallArgs& a) {
            const std::string& s = text_of(obj);
            const Value* w = arg(a, 0, "width");
            if (!w) throw Error(name + "() takes at least 1 argument");
            return Value::from_string(pad_to(s, w->as_int(), fill_char(a, 1),
                                             name == "ljust"   ? '<'
                                             : name == "rjust" ? '>'
                                                               : '^'));
        });
    if (name == "zfill")
        return bound(name, [obj](CallArgs& a) {
            const std::string& s = text_of(obj);
            int64_t width = arg_or(a, 0, "width", Value::from_int(0)).as_int();
            int64_t pad = width - static_cast<int64_t>(utf8_length(s));
            if (pad <= 0) return Value::from_string(s);
            charge_bytes(pad);
            size_t sign = !s.empty() && (s[0] == '+' || s[0] == '-') ? 1 : 0;
            return Value::from_string(s.substr(0, sign) +
                                      std::string(static_cast<size_t>(pad), '0') + s.substr(sign));
        });
    if (name == "format")
        return bound(name, [obj](CallArgs& a) {
            const std::string& s = text_of(obj);
            return Value::from_string(brace_format(s, a));
        });
    return Value::undefined();
}

}  // namespace

Value items_of(const Value& d) {
    List out;
    for (const auto& [k, v] : d.dict())
        out.push_back(Value::from_list({Value::from_string(k), v}, true));
    return Value::from_list(std::move(out));
}

namespace {

Value dict_method(const Value& obj, const std::string& name) {
    if (name == "items") return bound(name, [obj](CallArgs&) { return items_of(obj); });
    if (name == "keys")
        return bound(name, [obj](CallArgs&) {
            List out;
            for (const auto& [k, v] : obj.dict()) out.push_back(Value::from_string(k));
            return Value::from_list(std::move(out));
        });
    if (name == "values")
        return bound(name, [obj](CallArgs&) {
            List out;
            for (const auto& [k, v] : obj.dict()) out.push_back(v);
            return Value::from_list(std::move(out));
        });
    if (name == "get")
        return bound(name, [obj](CallArgs& a) {
            const Value* k = arg(a, 0, "key");
            if (!k) throw Error("get() takes at least 1 argument");
            const Value* v = k->is_string() ? obj.find(k->str()) : nullptr;
            return v ? *v : arg_or(a, 1, "default", Value::none());
        });
    if (name == "copy")
        return bound(name, [obj](CallArgs&) { return Value::from_dict(obj.dict()); });
    // pop, update, setdefault...: undefined, as jinja2's immutable sandbox makes them.
    return Value::undefined();
}

// list.index / list.count. Mutating methods stay undefined, as in jinja2's immutable sandbox.
Value list_method(const Value& obj, const std::string& name) {
    if (name == "index" || name == "count")
        return bound(name, [obj, name](CallArgs& a) {
            const Value* x = arg(a, 0, "value");
            if (!x) throw Error(name + "() takes exactly one argument");
            int64_t n = 0;
            for (size_t i = 0; i < obj.list().size(); ++i)
                if (values_equal(obj.list()[i], *x)) {
                    if (name == "index") return Value::from_int(static_cast<int64_t>(i));
                    ++n;
                }
            if (name == "index") throw Error(x->repr() + " is not in list");
            return Value::from_int(n);
        });
    return Value::undefined();
}

}  // namespace

Value get_attr(const Value& obj, const std::string& name) {
    switch (obj.kind()) {
        case Value::Kind::Dict: {
            if (!obj.is_namespace()) {
                Value m = dict_method(obj, name);
                if (!m.is_undefined()) return m;
            }
            const Value* v = obj.find(name);
            return v ? *v : Value::undefined(name);
        }
        case Value::Kind::String: return str_method(obj, name);
        case Value::Kind::List: {
            Value m = list_method(obj, name);
            return m.is_undefined() ? Value::undefined(name) : m;
        }
        case Value::Kind::Func:
            if (name == "name") return Value::from_string(obj.str());
            return Value::undefined(name);
        default: return Value::undefined(name);
    }
}

Value get_item(const Value& obj, const Value& key) {
    switch (obj.kind()) {
        case Value::Kind::Dict: {
            if (key.is_string()) {
                if (const Value* v = obj.find(key.str())) return *v;
                return obj.is_namespace() ? Value::undefined(key.str())
                                          : dict_method(obj, key.str());
            }
            return Value::undefined();
        }
        case Value::Kind::List:
        case Value::Kind::String: {
            if (!key.is_number()) {
                if (obj.is_string() && key.is_string()) return str_method(obj, key.str());
                return Value::undefined();
            }
            int64_t i = key.as_int();
            if (obj.is_list()) {
                int64_t n = static_cast<int64_t>(obj.list().size());
                if (i < 0) i += n;
                if (i < 0 || i >= n) return Value::undefined();
                return obj.list()[static_cast<size_t>(i)];
            }
            // One character, found by walking (not a string per character of the text).
            const std::string& s = obj.str();
            const std::vector<size_t> starts = utf8_starts(s);
            const int64_t n = static_cast<int64_t>(starts.size());
            if (i < 0) i = i < -n ? -1 : i + n;
            if (i < 0 || i >= n) return Value::undefined();
            const size_t from = starts[static_cast<size_t>(i)];
            const size_t to = i + 1 < n ? starts[static_cast<size_t>(i) + 1] : s.size();
            return Value::from_string(s.substr(from, to - from));
        }
        default: return Value::undefined();
    }
}

}  // namespace gb::jinja
