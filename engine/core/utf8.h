// UTF-8 helpers: decoding one character, and repairing ill-formed bytes with U+FFFD the way
// the Unicode standard recommends (one U+FFFD per maximal ill-formed subpart). Shared by the
// tokenizer (byte-level BPE, streaming detokenisation) and the JSON writer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace gb::utf8 {

// What starts at s[i]: a well-formed character of `len` bytes (cp set), an ill-formed subpart
// of `len` bytes to replace by one U+FFFD, or (truncated) a well-formed prefix cut off by the
// end of s, which more bytes may complete.
struct Seq {
    enum Kind { Valid, Invalid, Truncated } kind;
    size_t len;
    uint32_t cp;
};
Seq next(std::string_view s, size_t i);

bool is_valid(std::string_view s);
void append(std::string& out, uint32_t cp);

// Appends s to out with ill-formed parts replaced by U+FFFD. When `final` is false a truncated
// character at the end is left out; returns how many bytes of s were consumed.
size_t append_repaired(std::string& out, std::string_view s, bool final);
inline std::string repaired(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    append_repaired(out, s, true);
    return out;
}

// s made safe to print on a terminal: control characters (C0 except, when keep_newlines, \n
// and \t; DEL; C1, which includes the 8-bit CSI that starts escape sequences) and ill-formed
// bytes are written as \xNN (or \u{NN} for C1), so that text from a file cannot move the
// cursor, recolour or retitle the terminal, and a NUL cannot cut a name short.
std::string printable(std::string_view s, bool keep_newlines = false);

}  // namespace gb::utf8
