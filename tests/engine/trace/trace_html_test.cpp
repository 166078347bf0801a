// The reply as one HTML page: self-contained (no script, no external file), one coloured span
// per token with its alternatives in the tooltip, the reasoning map drawn, and hostile token
// texts escaped.
#include "engine/trace/trace_html.h"

#include <gtest/gtest.h>

#include <regex>

#include "engine/trace/trace_file.h"
#include "tests/test_support.h"

namespace gb {
namespace {

size_t count(const std::string& s, const std::string& what) {
    size_t n = 0;
    for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + what.size())) ++n;
    return n;
}

TEST(TraceHtml, ARealMoeReplyAsOnePage) {
    const Trace t = read_trace_file(test::fixture("analysis/moe_sub.json"));
    const std::string h = trace_html(t);
    EXPECT_EQ(h.rfind("<!DOCTYPE html>", 0), 0u);
    EXPECT_EQ(count(h, "<script"), 0u);
    EXPECT_EQ(count(h, "src="), 0u);
    EXPECT_EQ(count(h, "http"), 0u);  // nothing fetched: it opens offline
    // One span per token, balanced.
    EXPECT_EQ(count(h, "<span class="), t.tokens.size());
    EXPECT_EQ(count(h, "<span"), count(h, "</span>"));
    EXPECT_EQ(count(h, "<svg"), 1u);
    EXPECT_EQ(count(h, "</svg>"), 1u);
    EXPECT_NE(h.find("<polyline"), std::string::npos);
    // This reply slips and writes "Wait," which opens a step: the table lists it.
    EXPECT_NE(h.find("<td>wait</td>"), std::string::npos);
    // The tooltip of a generated token holds its alternatives' probabilities.
    const TokenRecord& r = t.tokens[static_cast<size_t>(t.n_prompt + 3)];
    ASSERT_FALSE(r.top.empty());
    EXPECT_NE(h.find("token " + std::to_string(t.n_prompt + 3) + " ("), std::string::npos);
    EXPECT_NE(h.find("<h2>Experts</h2>"), std::string::npos);
}

TEST(TraceHtml, HostileTextsAreEscaped) {
    Trace t;
    t.model = "<b>model</b>";
    TokenRecord a;
    a.text = "<script>alert('x')</script>";
    a.phase = Phase::Answer;
    a.logprob = -0.5f;
    a.top.push_back({1, "\"'><img onerror=x>", -0.5f});
    TokenRecord b;
    b.text = std::string("\xff\xfe", 2);
    b.phase = Phase::Answer;
    t.tokens = {a, b};
    const std::string h = trace_html(t);
    EXPECT_EQ(count(h, "<script"), 0u);
    EXPECT_EQ(count(h, "<img"), 0u);
    EXPECT_EQ(count(h, "<b>"), 0u);
    EXPECT_NE(h.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), std::string::npos);
    EXPECT_NE(h.find("\xef\xbf\xbd"), std::string::npos);  // U+FFFD for the bad bytes
    EXPECT_EQ(html_escape("a&b\"c'"), "a&amp;b&quot;c&#39;");
}

}  // namespace
}  // namespace gb
