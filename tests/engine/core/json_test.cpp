// Tests of the JSON writer and strict parser: escaping, number round-trips, error offsets.
#include "engine/core/json.h"

#include <gtest/gtest.h>

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>

#include "kernels/error.h"

namespace gb::json {
namespace {

std::string q(std::string_view s) {  // append_quoted into a fresh string
    std::string out;
    append_quoted(out, s);
    return out;
}

// The error message of parsing text ("" when it parses).
std::string parse_error(std::string_view text) {
    try {
        parse(text);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(JsonEscape, ShortFormsAndControlBytes) {
    EXPECT_EQ(q("plain"), "\"plain\"");
    EXPECT_EQ(q("a\"b\\c"), "\"a\\\"b\\\\c\"");
    EXPECT_EQ(q("\b\f\n\r\t"), "\"\\b\\f\\n\\r\\t\"");
    EXPECT_EQ(q(std::string("\x00\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001f\\u007f\"");
    EXPECT_EQ(q("/"), "\"/\"");  // legal unescaped
}

TEST(JsonEscape, ValidUtf8PassesThroughExceptLineSeparators) {
    EXPECT_EQ(q("é中😀"), "\"é中😀\"");
    EXPECT_EQ(q("a\u2028b\u2029c"), "\"a\\u2028b\\u2029c\"");
}

TEST(JsonEscape, InvalidUtf8BecomesReplacementPerMaximalSubpart) {
    // The Unicode standard's example (3.9.6); gen_reference.py checks the expectation against
    // Python's decoder with errors="replace".
    const std::string raw("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64");
    EXPECT_EQ(q(raw), "\"a\\ufffd\\ufffd\\ufffdb\\ufffdc\\ufffd\\ufffdd\"");
    // A token holding the first two bytes of a 3-byte character: one replacement.
    EXPECT_EQ(q("x\xe4\xbd"), "\"x\\ufffd\"");
    // Overlong encodings, surrogates and values past U+10FFFF are invalid byte by byte.
    EXPECT_EQ(q("\xC0\xAF"), "\"\\ufffd\\ufffd\"");
    EXPECT_EQ(q("\xED\xA0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");
    EXPECT_EQ(q("\xF4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
    EXPECT_EQ(q("\xFF"), "\"\\ufffd\"");
}

TEST(JsonEscape, IsValidUtf8) {
    EXPECT_TRUE(is_valid_utf8(""));
    EXPECT_TRUE(is_valid_utf8("é中😀\U0010FFFF"));
    EXPECT_FALSE(is_valid_utf8("\xe4\xbd"));
    EXPECT_FALSE(is_valid_utf8("\x80"));
    EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));
}

TEST(JsonNumber, NonFiniteIsNull) {
    EXPECT_EQ(format_number(std::numeric_limits<double>::quiet_NaN()), "null");
    EXPECT_EQ(format_number(std::numeric_limits<float>::infinity()), "null");
    EXPECT_EQ(format_number(-std::numeric_limits<double>::infinity()), "null");
}

TEST(JsonNumber, ShortestTextThatRoundTrips) {
    EXPECT_EQ(format_number(0.1f), "0.1");  // not 0.100000001: float formatting knows it is a float
    EXPECT_EQ(format_number(0.1), "0.1");
    EXPECT_EQ(format_number(3.0), "3");
    EXPECT_EQ(format_number(-0.5f), "-0.5");
    std::mt19937 rng(7);
    for (int i = 0; i < 20000; ++i) {
        const float f = std::bit_cast<float>(static_cast<uint32_t>(rng()));
        if (!std::isfinite(f)) continue;
        const Value v = parse(format_number(f));
        ASSERT_EQ(std::bit_cast<uint32_t>(v.as_float()), std::bit_cast<uint32_t>(f))
            << format_number(f);
        const double d = std::bit_cast<double>((uint64_t{rng()} << 32) | rng());
        if (!std::isfinite(d)) continue;
        ASSERT_EQ(std::bit_cast<uint64_t>(parse(format_number(d)).as_number()),
                  std::bit_cast<uint64_t>(d));
    }
}

TEST(JsonWriter, CompactNesting) {
    std::ostringstream os;
    Writer w(os);
    w.begin_object();
    w.field("a", 1)
        .field("b", "x")
        .key("c")
        .begin_array()
        .value(true)
        .null()
        .value(-2.5)
        .end_array();
    w.key("d").begin_object().end_object();
    w.key("e").begin_array().end_array();
    w.field("u", std::numeric_limits<uint64_t>::max());
    w.field("i", std::numeric_limits<int64_t>::min());
    w.end_object();
    EXPECT_TRUE(w.done());
    EXPECT_EQ(os.str(),
              "{\"a\":1,\"b\":\"x\",\"c\":[true,null,-2.5],\"d\":{},\"e\":[],"
              "\"u\":18446744073709551615,\"i\":-9223372036854775808}");
}

TEST(JsonWriter, IndentAndFlatContainers) {
    std::ostringstream os;
    Writer w(os, 2);
    w.begin_object();
    w.field("n", 1);
    w.key("rows").begin_array();
    w.begin_object(/*flat=*/true)
        .field("id", 1)
        .key("top")
        .begin_array()
        .value(2)
        .end_array()
        .end_object();
    w.begin_object(/*flat=*/true).field("id", 3).end_object();
    w.end_array();
    w.end_object();
    EXPECT_EQ(os.str(),
              "{\n"
              "  \"n\": 1,\n"
              "  \"rows\": [\n"
              "    {\"id\":1,\"top\":[2]},\n"
              "    {\"id\":3}\n"
              "  ]\n"
              "}");
}

TEST(JsonWriter, MisuseThrows) {
    std::ostringstream os;
    {
        Writer w(os);
        w.begin_object();
        EXPECT_THROW(w.value(1), Error);  // no key
        EXPECT_THROW(w.end_array(), Error);
        w.key("k");
        EXPECT_THROW(w.key("k2"), Error);
        EXPECT_THROW(w.end_object(), Error);  // key without value
    }
    {
        Writer w(os);
        w.value(1);
        EXPECT_THROW(w.value(2), Error);  // two roots
        EXPECT_THROW(w.key("k"), Error);
    }
}

TEST(JsonParse, AllKinds) {
    const Value v = parse(R"( {"n":null,"t":true,"f":false,"x":-1.25e2,"s":"a\u00e9\n",
                            "a":[1,[2,{}]],"o":{"k":"v"}} )");
    ASSERT_EQ(v.kind(), Value::Kind::Object);
    EXPECT_TRUE(v.at("n").is_null());
    EXPECT_TRUE(v.at("t").as_bool());
    EXPECT_FALSE(v.at("f").as_bool());
    EXPECT_EQ(v.at("x").as_number(), -125.0);
    EXPECT_EQ(v.at("s").as_string(), "a\xc3\xa9\n");
    EXPECT_EQ(v.at("a").as_array().size(), 2u);
    EXPECT_EQ(v.at("a").at(1).at(0).as_int64(), 2);
    EXPECT_EQ(v.at("o").at("k").as_string(), "v");
    // Document order is kept.
    EXPECT_EQ(v.as_object()[0].first, "n");
    EXPECT_EQ(v.as_object()[6].first, "o");
    EXPECT_EQ(v.find("missing"), nullptr);
}

TEST(JsonParse, StringEscapes) {
    EXPECT_EQ(parse(R"("\"\\\/\b\f\n\r\t")").as_string(), "\"\\/\b\f\n\r\t");
    EXPECT_EQ(parse(R"("\u0000")").as_string(), std::string(1, '\0'));
    EXPECT_EQ(parse(R"("\ud83d\ude00")").as_string(), "\xF0\x9F\x98\x80");  // U+1F600
    EXPECT_EQ(parse(R"("\uD83D\uDE00")").as_string(), "\xF0\x9F\x98\x80");
    // Lone surrogates are not characters: U+FFFD, and the next escape still counts.
    EXPECT_EQ(parse(R"("\ud83dx")").as_string(), "\xEF\xBF\xBDx");
    EXPECT_EQ(parse(R"("\ude00")").as_string(), "\xEF\xBF\xBD");
    EXPECT_EQ(parse(R"("\ud83d\u0041")").as_string(),
              "\xEF\xBF\xBD"
              "A");
}

TEST(JsonParse, ExactIntegers) {
    EXPECT_EQ(parse("18446744073709551615").as_uint64(), std::numeric_limits<uint64_t>::max());
    EXPECT_EQ(parse("-9223372036854775808").as_int64(), std::numeric_limits<int64_t>::min());
    EXPECT_EQ(parse("-0").as_int64(), 0);
    EXPECT_THROW(parse("18446744073709551616").as_uint64(), Error);  // one past the max
    EXPECT_THROW(parse("-1").as_uint64(), Error);
    EXPECT_THROW(parse("1.5").as_int64(), Error);
    EXPECT_THROW(parse("1e3").as_int64(), Error);  // integers must be written as integers
    EXPECT_EQ(parse("1e-400").as_number(), 0.0);   // underflow is harmless
    EXPECT_TRUE(std::signbit(parse("-1e-400").as_number()));
}

TEST(JsonParse, StrictErrorsNameTheOffset) {
    EXPECT_EQ(parse_error("[1,]"), "json: unexpected character, expected a value at byte 3");
    EXPECT_EQ(parse_error("{\"a\":1,}"), "json: expected a string key at byte 7");
    EXPECT_EQ(parse_error("01"), "json: leading zero in a number at byte 1");
    EXPECT_EQ(parse_error("{\"a\":1,\"a\":2}"), "json: duplicate key \"a\" at byte 7");
    EXPECT_EQ(parse_error("[1] x"), "json: unexpected text after the JSON value at byte 4");
    EXPECT_EQ(parse_error("\"a\nb\""),
              "json: raw control character in a string (must be escaped) at byte 2");
    EXPECT_EQ(parse_error("\"\xe4\xbd\""), "json: invalid UTF-8 in a string at byte 1");
    EXPECT_EQ(parse_error("\"abc"), "json: unterminated string at byte 4");
    EXPECT_EQ(parse_error("\"\\x\""), "json: invalid escape in a string at byte 1");
    EXPECT_EQ(parse_error("\"\\u12g4\""), "json: invalid hex digit in a \\u escape at byte 5");
    EXPECT_EQ(parse_error("nul"), "json: invalid literal (expected 'null') at byte 0");
    EXPECT_EQ(parse_error("1."), "json: expected a digit after '.' at byte 2");
    EXPECT_EQ(parse_error("1e+"), "json: expected a digit in an exponent at byte 3");
    EXPECT_EQ(parse_error("-"), "json: truncated number at byte 1");
    EXPECT_EQ(parse_error("+1"), "json: unexpected character, expected a value at byte 0");
    EXPECT_EQ(parse_error("1e400"), "json: number out of range at byte 0");
    EXPECT_EQ(parse_error(""), "json: unexpected end of input, expected a value at byte 0");
    EXPECT_EQ(parse_error("[1 2]"), "json: expected ',' or ']' in an array at byte 3");
    EXPECT_EQ(parse_error("{\"a\" 1}"), "json: expected ':' after an object key at byte 5");
    EXPECT_EQ(parse_error("[NaN]"), "json: unexpected character, expected a value at byte 1");
    EXPECT_EQ(parse_error("// c\n1"), "json: unexpected character, expected a value at byte 0");
}

TEST(JsonParse, DepthLimit) {
    const std::string deep = std::string(300, '[') + std::string(300, ']');
    EXPECT_EQ(parse_error(deep), "json: nesting deeper than 256 levels at byte 256");
    EXPECT_NO_THROW(parse(std::string(256, '[') + std::string(256, ']')));
    // Far deeper than any stack would survive without the limit.
    EXPECT_THROW(parse(std::string(1'000'000, '[')), Error);
}

TEST(JsonParse, TypeErrorsSayWhatWasFound) {
    const Value v = parse(R"({"a":"x"})");
    try {
        v.at("a").as_number();
        FAIL();
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "json: expected a number, found a string");
    }
    try {
        v.at("b");
        FAIL();
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "json: missing key \"b\"");
    }
    EXPECT_THROW(v.at(0), Error);
}

TEST(JsonRoundTrip, RandomStringsThroughWriterAndParser) {
    // Valid UTF-8 comes back byte for byte; any byte string comes back as its U+FFFD form.
    std::mt19937 rng(11);
    const char* pieces[] = {"a", "\"",     "\\",       "\n",   "\x01", "\x7f", "é", "中",
                            "😀", "\u2028", "\xe4\xbd", "\x80", "\xff", " ",    "{", "]"};
    for (int i = 0; i < 2000; ++i) {
        std::string s;
        const int n = static_cast<int>(rng() % 12);
        for (int k = 0; k < n; ++k) s += pieces[rng() % std::size(pieces)];
        std::ostringstream os;
        Writer(os).value(s);
        const std::string back = parse(os.str()).as_string();
        if (is_valid_utf8(s)) {
            ASSERT_EQ(back, s);
        }
        ASSERT_TRUE(is_valid_utf8(back));
    }
}

}  // namespace
}  // namespace gb::json

// A parsed document written back is the same document: members in order, numbers as written
// (an exact uint64 seed and a float's digits survive), strings escaped as the writer does.
TEST(JsonValueWrite, WritesBackWhatWasParsed) {
    const std::string text =
        R"({"a":[1,2.50,-3e+2,18446744073709551615],"b":{"z":null,"y":true,"x":"q\"\u00e9"},"c":[]})";
    const std::string back = gb::json::to_text(gb::json::parse(text));
    EXPECT_EQ(
        back,
        R"({"a":[1,2.50,-3e+2,18446744073709551615],"b":{"z":null,"y":true,"x":"q\"é"},"c":[]})");
    EXPECT_EQ(gb::json::to_text(gb::json::parse(back)), back);
    EXPECT_EQ(gb::json::to_text(gb::json::Value::from_number(0.1)), "0.1");
}
