// Python's text operations on UTF-8 strings for the chat-template engine.
#include "engine/template/jinja_text.h"

#include <algorithm>
#include <cctype>

#include "engine/template/jinja_budget.h"

namespace gb::jinja {

namespace {
// Simple case mapping for ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic (what chat
// content mostly holds); other scripts pass through unchanged.
uint32_t map_case(uint32_t c, bool to_upper) {
    if (c < 0x80)
        return static_cast<uint32_t>(to_upper ? std::toupper(static_cast<int>(c))
                                              : std::tolower(static_cast<int>(c)));
    if (to_upper) {
        if ((c >= 0xE0 && c <= 0xFE && c != 0xF7) || (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) ||
            (c >= 0x430 && c <= 0x44F))
            return c - 0x20;
        if (c == 0x3C2) return 0x3A3;
        if (c == 0xFF) return 0x178;
        if (c == 0x3AC) return 0x386;
        if (c >= 0x3AD && c <= 0x3AF) return c - 0x25;
        if (c == 0x3CA || c == 0x3CB) return c - 0x20;
        if (c == 0x3CC) return 0x38C;
        if (c == 0x3CD || c == 0x3CE) return c - 0x3F;
        if (c == 0xB5) return 0x39C;
        if (c >= 0x450 && c <= 0x45F) return c - 0x50;
        if (c >= 0x100 && c <= 0x17F && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x178 &&
            c != 0x17F) {
            bool odd_lower = (c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177);
            if (odd_lower ? (c & 1) : !(c & 1)) return c - 1;
        }
        return c;
    }
    if ((c >= 0xC0 && c <= 0xDE && c != 0xD7) || (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) ||
        (c >= 0x410 && c <= 0x42F))
        return c + 0x20;
    if (c >= 0x400 && c <= 0x40F) return c + 0x50;
    if (c == 0x386) return 0x3AC;
    if (c >= 0x388 && c <= 0x38A) return c + 0x25;
    if (c == 0x38C) return 0x3CC;
    if (c == 0x38E || c == 0x38F) return c + 0x3F;
    if (c == 0x3AA || c == 0x3AB) return c + 0x20;
    if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x138 && c != 0x149 && c != 0x178 &&
        c != 0x17F) {
        bool even_upper = (c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177);
        if (even_upper ? !(c & 1) : (c & 1)) return c + 1;
    }
    if (c == 0x178) return 0xFF;
    return c;
}

std::string map_case_str(const std::string& s, bool to_upper) {
    charge_bytes(static_cast<int64_t>(s.size()));
    charge_scan(s.size() * 2);
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        unsigned char b = static_cast<unsigned char>(s[i]);
        if (b < 0x80) {
            out += static_cast<char>(map_case(b, to_upper));
            ++i;
            continue;
        }
        if ((b >> 5) == 6 && i + 1 < s.size()) {  // 2-byte sequences hold every mapped range
            uint32_t c = ((b & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
            uint32_t m = map_case(c, to_upper);
            if (m < 0x80)
                out += static_cast<char>(m);
            else {
                out += static_cast<char>(0xC0 | (m >> 6));
                out += static_cast<char>(0x80 | (m & 0x3F));
            }
            i += 2;
            continue;
        }
        out += s[i++];
    }
    return out;
}

}  // namespace

bool py_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string lower(const std::string& s) { return map_case_str(s, false); }
std::string upper(const std::string& s) { return map_case_str(s, true); }

std::string strip(const std::string& s, const Value* chars, bool left, bool right) {
    // A table of the bytes to strip: a long `chars` must not make this quadratic.
    bool table[256] = {};
    const bool custom = chars && !chars->is_none();
    if (custom)
        for (unsigned char c : chars->str()) table[c] = true;
    charge_scan(s.size() + (custom ? chars->str().size() : 0));
    auto strip_char = [&](char c) {
        return custom ? table[static_cast<unsigned char>(c)] : py_space(c);
    };
    size_t b = 0, e = s.size();
    if (left)
        while (b < e && strip_char(s[b])) ++b;
    if (right)
        while (e > b && strip_char(s[e - 1])) --e;
    return s.substr(b, e - b);
}

std::string replace(const std::string& s, const std::string& from, const std::string& to,
                    int64_t count) {
    if (from.empty()) return s;
    charge_search(s.size(), from.size());
    std::string out;
    size_t pos = 0;
    int64_t n = 0;
    while (count < 0 || n < count) {
        size_t f = s.find(from, pos);
        if (f == std::string::npos) break;
        charge_bytes(static_cast<int64_t>(f - pos + to.size()));  // it can grow len(to) times
        charge_steps(1);
        out.append(s, pos, f - pos);
        out += to;
        pos = f + from.size();
        ++n;
    }
    return out + s.substr(pos);
}

std::string capitalize(const std::string& s) {
    auto chars = utf8_chars(s);
    std::string out;
    for (size_t i = 0; i < chars.size(); ++i) out += i == 0 ? upper(chars[i]) : lower(chars[i]);
    return out;
}

// jinja2's title: words start after whitespace, '-', '(', '[' or '{'.
std::string title(const std::string& s) {
    std::string out;
    bool start = true;
    for (const auto& ch : utf8_chars(s)) {
        out += start ? upper(ch) : lower(ch);
        char c = ch[0];
        start = ch.size() == 1 && (py_space(c) || c == '-' || c == '(' || c == '[' || c == '{');
    }
    return out;
}

// Python str.center: the extra space goes left when the padding and width are both odd.
std::string center(const std::string& s, int64_t width) {
    int64_t len = static_cast<int64_t>(utf8_length(s));
    if (width <= len) return s;
    int64_t pad = width - len;
    charge_bytes(pad);  // center(10**12) is refused before the padding is made
    int64_t left = pad / 2 + (pad & width & 1);
    return std::string(static_cast<size_t>(left), ' ') + s +
           std::string(static_cast<size_t>(pad - left), ' ');
}

}  // namespace gb::jinja
