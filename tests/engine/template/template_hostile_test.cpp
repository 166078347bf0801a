// Hostile chat templates (a template comes from a stranger's model file): several hundred of them
// (tests/fixtures/templates/hostile.txt, plus deep nesting and huge literals built here) each end
// in a rendered text or a gb::Error naming the problem, inside the step and memory budgets; and
// the regressions found while writing them, one test each.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "engine/template/builtin_templates.h"
#include "engine/template/chat_template.h"
#include "kernels/error.h"
#include "tests/test_support.h"

namespace gb {
namespace {

std::string rep(const std::string& s, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += s;
    return out;
}

std::vector<ChatMessage> conversation() {
    std::vector<ChatMessage> m{{"system", "Be brief."},
                               {"user", "What is 2+2?"},
                               {"assistant", "4"},
                               {"user", "And 3+3?"}};
    m[2].reasoning_content = "add";
    return m;
}

ChatTemplateOptions options(jinja::BudgetUse* use = nullptr) {
    ChatTemplateOptions o;
    o.now = std::chrono::system_clock::time_point(std::chrono::seconds(1773489600));
    o.usage = use;
    return o;
}

struct Outcome {
    bool rendered = false;
    std::string text;  // the output or the error message
    jinja::BudgetUse use;
};

Outcome run(const std::string& source) {
    Outcome r;
    try {
        r.text = ChatTemplate::parse(source).render(conversation(), options(&r.use));
        r.rendered = true;
    } catch (const Error& e) {
        r.text = e.what();
    }
    return r;
}

std::string error_of(const std::string& source) {
    Outcome r = run(source);
    return r.rendered ? "(rendered: " + r.text.substr(0, 200) + ")" : r.text;
}

std::vector<std::pair<std::string, std::string>> hostile_cases() {
    std::vector<std::pair<std::string, std::string>> cases;
    std::ifstream in(test::fixture("templates/hostile.txt"), std::ios::binary);
    std::string line, name, text;
    bool any = false;
    auto flush = [&] {
        if (!any) return;
        if (!text.empty() && text.back() == '\n') text.pop_back();
        cases.emplace_back(name, text);
    };
    while (std::getline(in, line)) {
        if (line.rfind("### ", 0) == 0) {
            flush();
            name = line.substr(4);
            text.clear();
            any = true;
        } else if (any) {
            text += line + "\n";
        }
    }
    flush();
    // Deep nesting of every construct, long chains, huge literals and counts.
    const int n = 100000;
    const std::vector<std::pair<std::string, std::string>> built = {
        {"ternary chain", "{{ " + rep("x if c else ", 60000) + "x }}"},
        {"parentheses", "{{ " + rep("(", n) + "1" + rep(")", n) + " }}"},
        {"parentheses to the end", "{{ " + rep("(", n)},
        {"not chain", "{{ " + rep("not ", n) + "x }}"},
        {"minus chain", "{{ " + rep("-", n) + "1 }}"},
        {"list nesting", "{{ " + rep("[", n) + rep("]", n) + " }}"},
        {"dict nesting", "{{ " + rep("{'a':", n / 2) + "1" + rep("}", n / 2) + " }}"},
        {"tuple nesting", "{{ " + rep("(1,", n) + rep(")", n) + " }}"},
        {"filter chain", "{{ 'x'" + rep("|upper", n) + " }}"},
        {"filter argument nesting", "{{ 'x'" + rep("|replace('a', 'b'", 5000) + rep(")", 5000)},
        {"call argument nesting", "{{ " + rep("f(", n) + rep(")", n) + " }}"},
        {"attribute chain", "{{ x" + rep(".a", n) + " }}"},
        {"item chain", "{{ x" + rep("[0]", n) + " }}"},
        {"call chain", "{{ x" + rep("()", n) + " }}"},
        {"subscript nesting", "{{ x" + rep("[x", n) + rep("]", n) + " }}"},
        {"test argument nesting", "{{ x is sameas " + rep("(", n) + "1" + rep(")", n) + " }}"},
        {"+ chain", "{{ " + rep("1 + ", n) + "1 }}"},
        {"~ chain", "{{ " + rep("'a' ~ ", n) + "'a' }}"},
        {"and chain", "{{ " + rep("x and ", n) + "x }}"},
        {"** chain", "{{ " + rep("2 ** ", n) + "1 }}"},
        {"if nesting", rep("{% if 1 %}", 10000) + "x" + rep("{% endif %}", 10000)},
        {"if nesting to the end", rep("{% if 1 %}", 10000)},
        {"for nesting", rep("{% for a in [1] %}", 10000) + rep("{% endfor %}", 10000)},
        {"macro nesting", rep("{% macro m() %}", 10000) + rep("{% endmacro %}", 10000)},
        {"set block nesting", rep("{% set x %}", 10000) + rep("{% endset %}", 10000)},
        {"filter block nesting", rep("{% filter upper %}", 10000) + rep("{% endfilter %}", 10000)},
        {"call block nesting", "{% macro m() %}{{ caller() }}{% endmacro %}" +
                                   rep("{% call m() %}", 10000) + rep("{% endcall %}", 10000)},
        {"generation nesting", rep("{% generation %}", 10000) + rep("{% endgeneration %}", 10000)},
        {"for nesting at the limit",
         rep("{% for a in [1] %}", 60) + "{{ a }}" + rep("{% endfor %}", 60)},
        {"elif chain", "{% if 0 %}" + rep("{% elif 0 %}", 60000) + "{% endif %}"},
        {"unterminated comment", "{# " + rep("x", 100000)},
        {"unterminated string", "{{ '" + rep("x", 100000)},
        {"integer literal of 100k digits", "{{ " + rep("9", n) + " }}"},
        {"float literal of 100k digits", "{{ 0." + rep("9", n) + " }}"},
        {"list literal of 150k items", "{{ [" + rep("1,", 150000) + "] | length }}"},
        {"list literal of 60k items", "{{ [" + rep("1,", 60000) + "] | length }}"},
        {"string literal of 900 KB", "{{ '" + rep("x", 900000) + "' | length }}"},
        {"100k adjacent string literals", "{{ " + rep("'x' ", n) + "}}"},
        {"1 MB of text", rep("x", 1000000)},
        {"2 MiB template", rep("x", 2 << 20)},
        {"60k statements", rep("{% set x = 1 %}", 60000)},
        {"100k outputs", rep("{{ 1 }}", 30000)},
        {"20k macros", rep("{% macro m() %}{% endmacro %}", 20000)},
        {"10k varargs",
         "{% macro f() %}{{ varargs | length }}{% endmacro %}{{ f(" + rep("1,", 10000) + ") }}"},
        {"100k call arguments", "{{ range(" + rep("1,", n) + ") }}"},
        {"NUL bytes", std::string("{{ 'a\0b' | length }}\0{{ 1 }}", 25)},
        {"CR line ends", "{% if 1 %}\r\nx\r{% endif %}\r\n"},
        {"invalid UTF-8", "{{ '\xff\xfe\x80' | upper }}{{ '\xc3' | length }}{{ '\xf0\x9f'[0] }}"},
        {"5k namespace attributes, then a miss 100k times",
         "{% set ns = namespace() %}" + rep("{% set ns.a = 1 %}", 5000) +
             "{% for j in range(100000) %}{% set x = ns.zz %}{% endfor %}"},
    };
    cases.insert(cases.end(), built.begin(), built.end());
    return cases;
}

// Every hostile case renders or fails with a gb::Error naming the template (its position, its
// size, or the template's own raise_exception message), and no render passes either budget. Time
// and memory are printed, not asserted (the step budget stands for time).
TEST(TemplateHostile, EveryCaseEndsInsideTheBudgets) {
    const auto cases = hostile_cases();
    ASSERT_GE(cases.size(), 400u);
    const jinja::RenderBudget budget;
    int rendered = 0;
    double slowest_ms = 0;
    std::string slowest;
    jinja::BudgetUse most;
    for (const auto& [name, source] : cases) {
        const auto t0 = std::chrono::steady_clock::now();
        Outcome r;
        try {
            r = run(source);
        } catch (const std::exception& e) {
            ADD_FAILURE() << name << ": an exception other than gb::Error: " << e.what();
            continue;
        }
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count();
        if (ms > slowest_ms) slowest_ms = ms, slowest = name;
        most.steps = std::max(most.steps, r.use.steps);
        most.bytes = std::max(most.bytes, r.use.bytes);
        rendered += r.rendered;
        EXPECT_LE(r.use.steps, budget.max_steps + 1) << name;
        EXPECT_LE(r.use.bytes, budget.max_bytes) << name;
        if (!r.rendered) {
            EXPECT_FALSE(r.text.empty()) << name;
            EXPECT_LE(r.text.size(), 2200u) << name << ": " << r.text.substr(0, 200);
            const bool raised = source.find("raise_exception") != std::string::npos;
            EXPECT_TRUE(raised || r.text.rfind("template", 0) == 0) << name << ": " << r.text;
        }
    }
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    std::printf(
        "hostile templates: %zu cases, %d rendered, %zu refused; slowest %.0f ms (%s); most steps "
        "%lld, most bytes %.1f MiB; peak RSS of this process %ld MB\n",
        cases.size(), rendered, cases.size() - rendered, slowest_ms, slowest.c_str(),
        static_cast<long long>(most.steps), most.bytes / 1048576.0, ru.ru_maxrss / 1024);
}

// ---- Regressions found by the cases above, one each ----

// A 4 MB string used in a loop: each name lookup copied it, and length, find, [i], startswith,
// upper, wordcount... walked it for free, so 100k iterations ran for minutes. Now a copy is
// shared and each pass over the text is charged: the loop ends in the work budget.
TEST(TemplateHostile, PassesOverALongStringAreCharged) {
    const std::string grow =
        "{% set ns = namespace(s='x') %}{% for i in range(22) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}{% for j in range(100000) %}";
    for (const std::string op : {"{% set y = ns.s | length %}", "{% set y = ns.s.find('y') %}",
                                 "{% set y = ns.s[-1] %}", "{% set y = ns.s.startswith('x') %}",
                                 "{% set y = ns.s.isdigit() %}", "{% set y = 'y' in ns.s %}",
                                 "{% set y = ns.s < ns.s ~ '' %}", "{% set y = ns.s | wordcount %}",
                                 "{% set y = ns.s[:1] %}", "{% set y = ns.s.count('x') %}",
                                 "{% set y = ns.s | reverse %}", "{% set y = ns.s | title %}"}) {
        const std::string e = error_of(grow + op + "{% endfor %}");
        EXPECT_NE(e.find("budget is spent"), std::string::npos) << op << ": " << e;
        EXPECT_EQ(e.rfind("template:1:", 0), 0u) << op << ": " << e;
    }
    // A 500 KB needle in a 1 MB text is a quadratic search: charged as such.
    EXPECT_NE(error_of("{% set ns = namespace(s='a') %}{% for i in range(20) %}"
                       "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{% set t = ns.s[:500000] ~ 'b' %}"
                       "{{ t in ns.s }}")
                  .find("work budget"),
              std::string::npos);
    // Stripping a long set of characters used a search per character.
    EXPECT_EQ(run("{{ 'xxaxx'.strip('x' * 10000) }}").text, "a");
}

// A parameter default that calls its own macro recursed before the depth was counted: a stack
// overflow (SIGSEGV).
TEST(TemplateHostile, MacroDefaultCallingItsMacroHitsTheDepthLimit) {
    const std::string e = error_of("{% macro f(a=f()) %}{% endmacro %}{{ f() }}");
    EXPECT_NE(e.find("recursion depth limit exceeded (64 nested calls)"), std::string::npos) << e;
    EXPECT_NE(error_of("{% macro m() %}{{ caller() }}{% endmacro %}{% macro r() %}{% call m() %}"
                       "{{ r() }}{% endcall %}{% endmacro %}{{ r() }}")
                  .find("recursion depth limit"),
              std::string::npos);
}

// '%.*d' % (10**12, 1) threw std::bad_alloc; '%.1000f' was cut at 512 bytes; '{:c}' wrote the
// low byte of the code point.
TEST(TemplateHostile, FormattingWidthsAndPrecisionsAreBounded) {
    EXPECT_NE(error_of("{{ '%.*d' % (10**12, 1) }}").find("too big"), std::string::npos);
    EXPECT_NE(error_of("{{ '%*d' % (-10**12, 1) }}").find("too big"), std::string::npos);
    EXPECT_NE(error_of("{{ '%.*f' % (200000, 1.5) }}").find("precision too big"),
              std::string::npos);
    EXPECT_EQ(run("{{ ('%.1000f' % 1.5) | length }}").text, "1002");
    EXPECT_EQ(run("{{ ('{:.600f}'.format(1e300)) | length }}").text, "902");
    EXPECT_EQ(run("{{ '{:c}'.format(233) }}{{ '{:c}'.format(128512) }}").text, "é😀");
    EXPECT_NE(error_of("{{ '{:c}'.format(-1) }}").find("range(0x110000)"), std::string::npos);
    EXPECT_NE(error_of("{{ '{:c}'.format(10**12) }}").find("range(0x110000)"), std::string::npos);
}

// range() stepped past INT64_MAX (undefined behaviour) and accepted floats.
TEST(TemplateHostile, RangeCountsBeforeItSteps) {
    EXPECT_EQ(run("{{ range(9223372036854775800, 9223372036854775807, 5) | list }}").text,
              "[9223372036854775800, 9223372036854775805]");
    EXPECT_EQ(run("{{ range(-9223372036854775800, -9223372036854775807 - 1, -5) | list }}").text,
              "[-9223372036854775800, -9223372036854775805]");
    EXPECT_EQ(run("{{ range(0, 10, 9223372036854775807) | list }}").text, "[0]");
    EXPECT_EQ(run("{{ range(5, 0, -2) | list }}{{ range(3) | list }}{{ range(3, 1) | list }}").text,
              "[5, 3, 1][0, 1, 2][]");
    EXPECT_NE(error_of("{{ range(10**18) }}").find("range too big (1000000000000000000 items"),
              std::string::npos);
    EXPECT_NE(error_of("{{ range(1.5) }}").find("cannot be interpreted as an integer"),
              std::string::npos);
    EXPECT_NE(error_of("{{ range(1, 2, 3, 4) }}").find("1 to 3 arguments"), std::string::npos);
}

// Slicing and indexing with extreme bounds and steps (i += step overflowed for huge steps), and
// indexing a string by code point without a string per character.
TEST(TemplateHostile, SlicesWithExtremeBoundsAndSteps) {
    EXPECT_EQ(
        run("{{ [1,2,3][::-9223372036854775807-1] }}{{ [1,2,3][::9223372036854775807] }}").text,
        "[3][1]");
    // 1 + INT64_MAX: the old loop stepped past the end before testing it.
    EXPECT_EQ(run("{{ [1,2,3][1::9223372036854775807] }}{{ 'abc'[2::9223372036854775807] }}").text,
              "[2]c");
    // (-10**18 is (-10)**18 in jinja2: unary minus binds tighter than **.)
    EXPECT_EQ(run("{{ 'abc'[-9223372036854775807-1:] }}{{ [1,2,3][10**18:0-10**18:-1] }}").text,
              "abc[3, 2, 1]");
    EXPECT_EQ(run("{{ 'é😀a'[1] }}{{ 'é😀a'[-1] }}{{ 'é😀a'[1:] }}{{ 'é😀a'[::-1] }}").text, "😀a😀aa😀é");
    EXPECT_EQ(run("{{ [1][9223372036854775807] is undefined }}").text, "True");
}

// '1e30' | int gave the default 0: the "does not fit" error was thrown inside the try that
// catches std::stod's failures, and swallowed.
TEST(TemplateHostile, IntFilterRefusesFloatTextPast64Bits) {
    EXPECT_NE(error_of("{{ '1e30' | int }}").find("'1e30' does not fit in a 64-bit integer"),
              std::string::npos);
    EXPECT_EQ(run("{{ '1e3' | int }}|{{ '1e-400' | int }}|{{ 'x' | int(7) }}").text, "1000|0|7");
}

// round with 'ceil' or 'floor' gave inf or nan for large values or precisions.
TEST(TemplateHostile, RoundCeilAndFloorStayFinite) {
    EXPECT_EQ(run("{{ 1e308 | round(10, 'ceil') }}|{{ 1.25 | round(1, 'floor') }}|"
                  "{{ -1.25 | round(1, 'ceil') }}|{{ 1234.5 | round(-2, 'ceil') }}")
                  .text,
              "1e+308|1.2|-1.2|1300.0");
    EXPECT_NE(error_of("{{ 1.5 | round(400, 'ceil') }}").find("precision 400 is out of range"),
              std::string::npos);
    EXPECT_NE(error_of("{{ 1.5 | round(-400, 'floor') }}").find("out of range"), std::string::npos);
}

// A template's own error text reaches the user as a warning: a 10 MB one is cut.
TEST(TemplateHostile, LongErrorMessagesAreCut) {
    const std::string e = error_of("{{ raise_exception('x' * 10**6) }}");
    EXPECT_LT(e.size(), 2100u);
    EXPECT_NE(e.find("(1000000 bytes)"), std::string::npos) << e.substr(e.size() - 40);
    const std::string k = error_of("{{ {}['k' * 10**6] + 1 }}");
    EXPECT_LT(k.size(), 2200u);
}

// Separators, indentation and escapes make JSON and repr() text far longer than their values:
// that growth is charged before it is written.
TEST(TemplateHostile, SerialisedTextGrowthIsCharged) {
    EXPECT_NE(error_of("{{ range(100000) | list | tojson(separators=('x' * 10000, ':')) }}")
                  .find("memory budget"),
              std::string::npos);
    EXPECT_NE(error_of("{% set ns = namespace(s='\\x01') %}{% for i in range(23) %}"
                       "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ [ns.s] | string | length }}")
                  .find("memory budget"),
              std::string::npos);
}

// A 1 MiB template of `[1,1,1,...]` built a syntax tree of hundreds of MB.
TEST(TemplateHostile, SyntaxTreeSizeIsBounded) {
    const std::string e = error_of("{{ [" + rep("1,", 150000) + "] }}");
    EXPECT_NE(e.find("template too large (more than 100000 expressions and statements)"),
              std::string::npos)
        << e;
    EXPECT_EQ(e.rfind("template:1:", 0), 0u) << e;
}

// A budget that ends the model's template reaches the user: the built-in format stands in and the
// warning names the budget and the template position.
TEST(TemplateHostile, BudgetErrorsBecomeTheFallbackWarning) {
    const ChatPrompt p = render_chat_prompt(
        "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(60) }}",
        ChatFormat::ChatML, conversation(), options());
    EXPECT_NE(p.text.find("<|im_start|>user\nWhat is 2+2?<|im_end|>"), std::string::npos);
    EXPECT_NE(p.warning.find("work budget is spent"), std::string::npos) << p.warning;
    EXPECT_NE(p.warning.find("template:1:"), std::string::npos) << p.warning;
    EXPECT_NE(p.warning.find("using the built-in ChatML format"), std::string::npos) << p.warning;
}

}  // namespace
}  // namespace gb
