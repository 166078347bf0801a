// UTF-8 decoding and repair (Unicode 15, table 3-7 "well-formed UTF-8 byte sequences").
#include "engine/core/utf8.h"

#include <algorithm>

namespace gb::utf8 {

Seq next(std::string_view s, size_t i) {
    const auto b0 = static_cast<uint8_t>(s[i]);
    if (b0 < 0x80) return {Seq::Valid, 1, b0};
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    uint32_t cp;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 2, cp = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 3, cp = b0 & 0x0F;
        if (b0 == 0xE0)
            lo = 0xA0;  // no overlong forms
        else if (b0 == 0xED)
            hi = 0x9F;  // no surrogates
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 4, cp = b0 & 0x07;
        if (b0 == 0xF0)
            lo = 0x90;
        else if (b0 == 0xF4)
            hi = 0x8F;  // nothing above U+10FFFF
    } else {
        return {Seq::Invalid, 1, 0};
    }
    for (size_t k = 1; k < need; ++k) {
        if (i + k >= s.size()) return {Seq::Truncated, k, 0};
        const auto b = static_cast<uint8_t>(s[i + k]);
        if (b < lo || b > hi) return {Seq::Invalid, k, 0};
        cp = (cp << 6) | (b & 0x3F);
        lo = 0x80, hi = 0xBF;
    }
    return {Seq::Valid, need, cp};
}

bool is_valid(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        if (static_cast<uint8_t>(s[i]) < 0x80) {
            ++i;
            continue;
        }
        const Seq q = next(s, i);
        if (q.kind != Seq::Valid) return false;
        i += q.len;
    }
    return true;
}

void append(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

size_t append_repaired(std::string& out, std::string_view s, bool final) {
    size_t i = 0, run = 0;  // [run, i) is a stretch of well-formed bytes not yet copied
    while (i < s.size()) {
        if (static_cast<uint8_t>(s[i]) < 0x80) {
            ++i;
            continue;
        }
        const Seq q = next(s, i);
        if (q.kind == Seq::Valid) {
            i += q.len;
            continue;
        }
        out.append(s.data() + run, i - run);
        if (q.kind == Seq::Truncated && !final) return i;
        out += "\xEF\xBF\xBD";
        i += q.len;
        run = i;
    }
    out.append(s.data() + run, i - run);
    return i;
}

std::string printable(std::string_view s, bool keep_newlines) {
    static const char* hex = "0123456789abcdef";
    auto escape = [](std::string& out, unsigned v) {
        out += "\\x";
        out += hex[(v >> 4) & 15];
        out += hex[v & 15];
    };
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        const Seq q = next(s, i);
        if (q.kind != Seq::Valid) {
            for (size_t k = 0; k < std::max<size_t>(q.len, 1) && i + k < s.size(); ++k)
                escape(out, static_cast<unsigned char>(s[i + k]));
            i += std::max<size_t>(q.len, 1);
            continue;
        }
        const uint32_t cp = q.cp;
        if ((cp < 0x20 && !(keep_newlines && (cp == '\n' || cp == '\t'))) || cp == 0x7f) {
            escape(out, cp);
        } else if (cp >= 0x80 && cp < 0xa0) {
            out += "\\u{";
            out += hex[cp >> 4];
            out += hex[cp & 15];
            out += '}';
        } else {
            out.append(s.substr(i, q.len));
        }
        i += q.len;
    }
    return out;
}

}  // namespace gb::utf8
