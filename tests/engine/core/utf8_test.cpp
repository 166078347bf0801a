// UTF-8 repair and the GPT-2 byte-symbol table.
#include "engine/core/utf8.h"

#include <gtest/gtest.h>

#include "engine/tokenizer/byte_level.h"

namespace gb {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

TEST(Utf8, ValidTextIsUntouched) {
    const std::string s = "plain ASCII, caf\xC3\xA9, \xE4\xBD\xA0\xE5\xA5\xBD, \xF0\x9F\x98\x80";
    EXPECT_TRUE(utf8::is_valid(s));
    EXPECT_EQ(utf8::repaired(s), s);
}

TEST(Utf8, OneReplacementPerMaximalSubpart) {
    // The example of the Unicode standard (chapter 3, "U+FFFD substitution of maximal subparts"):
    // 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64 -> a FFFD FFFD FFFD b FFFD c FFFD FFFD d.
    const std::string in = "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64";
    EXPECT_FALSE(utf8::is_valid(in));
    EXPECT_EQ(utf8::repaired(in),
              "a" + kFffd + kFffd + kFffd + "b" + kFffd + "c" + kFffd + kFffd + "d");
}

TEST(Utf8, OverlongSurrogateAndOutOfRangeAreRefused) {
    EXPECT_EQ(utf8::repaired("\xC0\xAF"), kFffd + kFffd);              // overlong '/'
    EXPECT_EQ(utf8::repaired("\xE0\x80\xAF"), kFffd + kFffd + kFffd);  // overlong, 3 bytes
    EXPECT_EQ(utf8::repaired("\xED\xA0\x80"), kFffd + kFffd + kFffd);  // surrogate U+D800
    EXPECT_EQ(utf8::repaired("\xF4\x90\x80\x80"), kFffd + kFffd + kFffd + kFffd);  // > U+10FFFF
    EXPECT_EQ(utf8::repaired("x\xFF"), "x" + kFffd);
}

TEST(Utf8, TruncatedTailIsHeldUnlessFinal) {
    const std::string s = "ok\xF0\x9F\x98";  // first three bytes of U+1F600
    std::string out;
    EXPECT_EQ(utf8::append_repaired(out, s, /*final=*/false), 2u);
    EXPECT_EQ(out, "ok");
    out.clear();
    EXPECT_EQ(utf8::append_repaired(out, s, /*final=*/true), s.size());
    EXPECT_EQ(out, "ok" + kFffd);
}

TEST(ByteLevel, SymbolsOfGpt2) {
    EXPECT_EQ(byte_level::symbol(' '), "\xC4\xA0");   // U+0120 'Ġ'
    EXPECT_EQ(byte_level::symbol('\n'), "\xC4\x8A");  // U+010A 'Ċ'
    EXPECT_EQ(byte_level::symbol('A'), "A");
    EXPECT_EQ(byte_level::symbol(0xE9), "\xC3\xA9");  // printable Latin-1 stands for itself
    EXPECT_EQ(byte_level::symbol(0xAD), "\xC5\x83");  // soft hyphen, the last extra: U+0143
    EXPECT_EQ(byte_level::symbol(0x00), "\xC4\x80");  // U+0100
}

TEST(ByteLevel, EveryByteRoundTrips) {
    std::string all, symbols;
    for (int b = 0; b < 256; ++b) {
        all += static_cast<char>(b);
        symbols += byte_level::symbol(static_cast<uint8_t>(b));
    }
    std::string back;
    ASSERT_TRUE(byte_level::to_bytes(symbols, back));
    EXPECT_EQ(back, all);
    std::string junk;
    EXPECT_FALSE(byte_level::to_bytes("\xE4\xBD\xA0", junk));  // CJK is no byte symbol
}

// Text from a file made safe for a terminal: escape sequences (ESC, the 8-bit CSI), BEL, NUL and
// ill-formed bytes come out as visible \xNN; ordinary text, including non-ASCII, is untouched.
TEST(Utf8, PrintableEscapesControlsAndKeepsText) {
    EXPECT_EQ(utf8::printable("plain ASCII, caf\xc3\xa9, \xe4\xb8\xad"),
              "plain ASCII, caf\xc3\xa9, \xe4\xb8\xad");
    EXPECT_EQ(utf8::printable("\x1b]0;pwned\x07\x1b[2J"), "\\x1b]0;pwned\\x07\\x1b[2J");
    EXPECT_EQ(utf8::printable(std::string("ll\0ama", 6)), "ll\\x00ama");
    EXPECT_EQ(utf8::printable("a\xc2\x9b"
                              "31mb"),
              "a\\u{9b}31mb");  // C1 CSI
    EXPECT_EQ(utf8::printable("\xff\xfe"), "\\xff\\xfe");
    EXPECT_EQ(utf8::printable("cut \xe4\xb8"), "cut \\xe4\\xb8");  // truncated at the end
    EXPECT_EQ(utf8::printable("a\x7f"), "a\\x7f");
    EXPECT_EQ(utf8::printable("l1\nl2\tx"), "l1\\x0al2\\x09x");
    EXPECT_EQ(utf8::printable("l1\nl2\tx\r", true), "l1\nl2\tx\\x0d");
}

}  // namespace
}  // namespace gb
