// gb::nfc against unicodedata.normalize("NFC") goldens (tools/gen_unicode_tables.py): Hangul,
// mark reordering, composition exclusions, singletons, and every decomposable character.
#include "engine/tokenizer/unicode_nfc.h"

#include <gtest/gtest.h>

#include "tests/test_support.h"

namespace gb {
namespace {

TEST(UnicodeNfc, MatchesUnicodedataGoldens) {
    const json::Value root = test::load_json(test::fixture("tokenizer/nfc_cases.json"));
    size_t n = 0;
    for (const json::Value& c : root.at("cases").as_array()) {
        const std::string& text = c.at("text").as_string();
        const std::string& want = c.at("nfc").as_string();
        EXPECT_EQ(nfc(text), want) << "text: " << text.substr(0, 80);
        // The quick check may say "maybe" on NFC text, never "yes" on text that is not NFC.
        if (text != want) EXPECT_FALSE(is_nfc_quick(text)) << text.substr(0, 80);
        EXPECT_EQ(nfc(want), want) << "NFC is idempotent: " << want.substr(0, 80);
        ++n;
    }
    EXPECT_GT(n, 400u);
}

TEST(UnicodeNfc, QuickCheckPassesCommonText) {
    EXPECT_TRUE(is_nfc_quick(""));
    EXPECT_TRUE(is_nfc_quick("plain ASCII\n\t{}"));
    EXPECT_TRUE(
        is_nfc_quick("caf\xC3\xA9 \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x98\x80"));  // café 你好 😀
    EXPECT_TRUE(is_nfc_quick("\xEA\xB0\x80"));                                   // 가
    EXPECT_FALSE(is_nfc_quick("e\xCC\x81"));                 // e + U+0301 composes
    EXPECT_FALSE(is_nfc_quick("\xE2\x84\xAB"));              // U+212B ANGSTROM SIGN is never NFC
    EXPECT_FALSE(is_nfc_quick("\xE1\x84\x80\xE1\x85\xA1"));  // Hangul L + V
}

TEST(UnicodeNfc, LongRunsOfMarksStayFast) {
    std::string s = "a";
    for (int i = 0; i < 100000; ++i) s += i % 2 ? "\xCC\x81" : "\xCC\xA3";  // U+0301 U+0323
    const std::string out = nfc(s);
    // ạ (U+1EA1) then the acutes, the dots below sorted first and one composed into the a.
    EXPECT_EQ(out.substr(0, 3), "\xE1\xBA\xA1");
    EXPECT_EQ(nfc(out), out);
}

}  // namespace
}  // namespace gb
