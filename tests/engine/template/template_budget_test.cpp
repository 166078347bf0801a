// Template rendering budgets (jinja_budget.h): hostile templates that used to crash, hang or
// take gigabytes end quickly with an error naming the template position and the budget, and every
// real chat template we carry renders long conversations far inside both budgets.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/template/builtin_templates.h"
#include "engine/template/chat_template.h"
#include "kernels/error.h"
#include "tests/test_support.h"

namespace gb {
namespace {

ChatTemplateOptions options() {
    ChatTemplateOptions o;
    o.now = std::chrono::system_clock::time_point(std::chrono::seconds(1773489600));
    return o;
}

std::string render_error(const std::string& source, jinja::BudgetUse* use = nullptr) {
    ChatTemplateOptions o = options();
    o.usage = use;
    try {
        ChatTemplate::parse(source).render({{"user", "hi"}}, o);
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

// Each grew exponentially or quadratically (minutes, or gigabytes) before the budgets; now each
// ends in an error naming the budget and the statement's line and column.
TEST(TemplateBudget, ExponentialAndQuadraticTemplatesEndInAnError) {
    const std::string doubled =  // a list doubled 40 times: 2^40 elements when walked
        "{% set ns = namespace(a=[1]) %}{% for i in range(40) %}{% set ns.a = [ns.a, ns.a] %}"
        "{% endfor %}\n";
    const std::string str_doubled =
        "{% set ns = namespace(s='xy') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}";
    std::string big_dict = "{% set d = {";  // 20,000 keys: each copy searched them linearly
    for (int i = 0; i < 20000; ++i) big_dict += "'a" + std::to_string(i) + "': 1, ";
    big_dict += "} %}";
    struct Case {
        std::string name, source, expect;
    } cases[] = {
        {"macro calling itself twice",
         "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
         "{{ f(60) }}",
         "work budget"},
        {"doubled list to json", doubled + "{{ ns.a | tojson }}", "template:2:"},
        {"doubled list compared", doubled + "{{ ns.a == ns.a }}", "work budget"},
        {"doubled list printed", doubled + "{{ ns.a | string }}", "budget"},
        {"doubled list made unique", doubled + "{{ ns.a | unique | list }}", "budget"},
        {"string doubled with ~", str_doubled, "memory budget"},
        {"string doubled with replace",
         "{% set ns = namespace(s='xx') %}{% for i in range(64) %}"
         "{% set ns.s = ns.s | replace('x', 'xx') %}{% endfor %}",
         "budget"},
        {"string doubled with join",
         "{% set ns = namespace(s='x') %}{% for i in range(64) %}"
         "{% set ns.s = [ns.s, ns.s] | join %}{% endfor %}",
         "memory budget"},
        {"ljust of 10**12", "{{ 'x'.ljust(10 ** 12) }}", "memory budget"},
        {"center of 2**40", "{{ 'x' | center(2 ** 40) }}", "memory budget"},
        {"center method of 10**12", "{{ 'x'.center(10 ** 12) }}", "memory budget"},
        {"indent of 10**12", "{{ 'a\nb' | indent(10 ** 12) }}", "memory budget"},
        {"repetition", "{{ 'abc' * 10 ** 12 }}", "memory budget"},
        {"list + [x] in a long loop",
         "{% set ns = namespace(a=[]) %}{% for i in range(100000) %}{% set ns.a = ns.a + [i] %}"
         "{% endfor %}{{ ns.a | length }}",
         "memory budget"},
        {"find on a long string in a loop",
         "{% set ns = namespace(s='x') %}{% for i in range(23) %}{% set ns.s = ns.s ~ ns.s %}"
         "{% endfor %}{% for j in range(100000) %}{{ ns.s.find('y') }}{% endfor %}",
         "budget"},
        {"method of a long string bound in a loop",
         "{% set ns = namespace(s='x') %}{% for i in range(23) %}{% set ns.s = ns.s ~ ns.s %}"
         "{% endfor %}{% for j in range(100000) %}{% set y = ns.s.upper %}{% endfor %}",
         "budget"},
        {"length of a long string in a loop",
         "{% set ns = namespace(s='x') %}{% for i in range(23) %}{% set ns.s = ns.s ~ ns.s %}"
         "{% endfor %}{% for j in range(100000) %}{{ ns.s | length }}{% endfor %}",
         "budget"},
        {"'in' on a long string in a loop",
         "{% set ns = namespace(s='x') %}{% for i in range(23) %}{% set ns.s = ns.s ~ ns.s %}"
         "{% endfor %}{% for j in range(100000) %}{{ 'y' in ns.s }}{% endfor %}",
         "budget"},
        {"a macro whose default calls it", "{% macro f(a=f()) %}{% endmacro %}{{ f() }}",
         "recursion depth limit"},
        {"namespace from a large dict in a loop",
         big_dict + "{% for j in range(1000) %}"
                    "{% set x = namespace(d) %}{% endfor %}",
         "work budget"},
        {"tojson with huge separators",
         "{{ range(100000) | list | tojson(separators=('x' * 10000, ':')) }}", "memory budget"},
        {"sort of a repeated long string",
         "{% set ns = namespace(s='A') %}{% for i in range(18) %}{% set ns.s = ns.s ~ ns.s %}"
         "{% endfor %}{{ ([ns.s] * 10000) | sort | length }}",
         "memory budget"},
        {"find of a long needle",
         "{% set ns = namespace(s='a') %}{% for i in range(20) %}{% set ns.s = ns.s ~ ns.s %}"
         "{% endfor %}{% set t = ns.s[:500000] ~ 'b' %}{% for j in range(100) %}"
         "{% set y = ns.s.find(t) %}{% endfor %}",
         "work budget"},
        {"characters of a huge string",
         "{% set ns = namespace(s='x') %}{% for i in range(26) %}{% set ns.s = ns.s ~ ns.s %}"
         "{% endfor %}{{ ns.s | list | length }}",
         "memory budget"},
    };
    for (const auto& c : cases) {
        jinja::BudgetUse use;
        const std::string e = render_error(c.source, &use);
        EXPECT_NE(e.find(c.expect), std::string::npos) << c.name << ": " << e;
        EXPECT_NE(e.find("template:"), std::string::npos) << c.name << ": " << e;
        const jinja::RenderBudget b;
        EXPECT_LE(use.steps, b.max_steps + 1) << c.name;
        EXPECT_LE(use.bytes, b.max_bytes) << c.name;
    }
}

// What used to be a crash or silently wrong: a long conditional chain overflowed the
// parser's stack; break outside a loop was accepted; huge numbers wrapped or became nan.
TEST(TemplateBudget, ParserAndNumbersRefuseWhatWasCrashOrWrong) {
    std::string chain = "{{ ";
    for (int i = 0; i < 50000; ++i) chain += "x if c else ";
    chain += "x }}";
    EXPECT_NE(render_error(chain).find("nested too deeply"), std::string::npos);
    EXPECT_NE(render_error("{% break %}").find("'break' outside a for loop"), std::string::npos);
    EXPECT_NE(render_error("{% continue %}").find("'continue' outside a for loop"),
              std::string::npos);
    // A loop around a macro's call does not make break legal inside the macro (as in jinja2).
    EXPECT_NE(render_error("{% for i in [1] %}{% macro m() %}{% break %}{% endmacro %}"
                           "{% endfor %}")
                  .find("outside a for loop"),
              std::string::npos);
    EXPECT_EQ(render_error("{% for i in [1, 2, 3] %}{% if i == 2 %}{% break %}{% endif %}{{ i }}"
                           "{% endfor %}"),
              "(no error)");
    EXPECT_NE(render_error("{{ '%.*d' % (10 ** 12, 1) }}").find("too big"), std::string::npos);
    EXPECT_NE(render_error("{{ '99999999999999999999' | int }}").find("does not fit in a 64-bit"),
              std::string::npos);
    EXPECT_NE(render_error("{{ (1e300) | int }}").find("does not fit in a 64-bit"),
              std::string::npos);
    EXPECT_NE(render_error("{{ [[1]] | map(attribute='99999999999999999999999') | list }}")
                  .find("fits in 64 bits"),
              std::string::npos);
    EXPECT_NE(render_error("{{ '{99999999999999999999999}'.format(1) }}").find("fits in 64 bits"),
              std::string::npos);
    const std::string big(size_t(1) << 21, ' ');
    EXPECT_NE(render_error(big).find("more than the 1 MiB"), std::string::npos);

    // A long strftime format printed nothing (a fixed 512-byte buffer); %p alone is legitimately
    // empty in some locales, which must stay possible.
    std::string fmt;
    for (int i = 0; i < 200; ++i) fmt += "%Y-%m-%d ";
    const std::string dates = ChatTemplate::parse("{{ strftime_now('" + fmt + "') }}")
                                  .render({{"user", "hi"}}, options());
    EXPECT_EQ(dates.size(), 200u * 11u);
    EXPECT_EQ(dates.substr(0, 11), "2026-03-14 ");

    auto t = ChatTemplate::parse(
        "{{ 1.5 | round(400) }}|{{ 1234.5 | round(-400) }}|{{ 2.675 | round(2) }}|"
        "{{ '-9223372036854775808' | int }}|{{ 1e999 }}|{{ 1e308 | round(200) }}");
    EXPECT_EQ(t.render({{"user", "hi"}}, options()),
              "1.5|0.0|2.67|-9223372036854775808|inf|1e+308");
}

json::Value S(const std::string& s) { return json::Value::from_string(s); }

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Every real template we carry (and the built-in formats), over a 400-message conversation with
// reasoning and tool calls (about 480 KB of text, some 120k tokens: the longest context of our
// model families), uses well under a tenth of each budget: the budgets refuse only what no chat
// template needs.
TEST(TemplateBudget, RealTemplatesStayFarInsideTheBudgets) {
    const json::Value convs = test::load_json(test::fixture("templates/conversations.json"));
    const json::Value* tools = nullptr;
    for (const auto& c : convs.as_array())
        if (c.at("name").as_string() == "multi_step_tools_reasoning") tools = c.find("vars");
    ASSERT_NE(tools, nullptr);
    // 400 messages: user / assistant (reasoning, a tool call every 10th) / tool results.
    std::vector<json::Value> msgs;
    const std::string para(600, 'w');
    for (int i = 0; msgs.size() < 400; ++i) {
        msgs.push_back(
            json::Value::from_object({{"role", S("user")}, {"content", S("Question " + para)}}));
        json::Value::Object a{
            {"role", S("assistant")},
            {"content", S("<think>\nplan " + para + "\n</think>\n\nAnswer " + para)}};
        if (i % 10 == 9) {
            a.emplace_back(
                "tool_calls",
                json::Value::from_array({json::Value::from_object(
                    {{"type", S("function")},
                     {"function",
                      json::Value::from_object(
                          {{"name", S("add")},
                           {"arguments",
                            json::Value::from_object({{"a", json::Value::from_number(2)},
                                                      {"b", json::Value::from_number(3)}})}})}})}));
            msgs.push_back(json::Value::from_object(std::move(a)));
            msgs.push_back(json::Value::from_object({{"role", S("tool")}, {"content", S("5")}}));
        } else {
            msgs.push_back(json::Value::from_object(std::move(a)));
        }
    }
    const json::Value conversation = json::Value::from_array(msgs);

    std::vector<std::pair<std::string, std::string>> sources;
    for (const auto& entry : std::filesystem::directory_iterator(test::fixture("templates")))
        if (entry.path().extension() == ".jinja")
            sources.emplace_back(entry.path().filename().string(), read_text(entry.path()));
    for (ChatFormat f : {ChatFormat::ChatML, ChatFormat::Llama3, ChatFormat::DeepSeekR1,
                         ChatFormat::Gemma, ChatFormat::Mistral, ChatFormat::Qwen3})
        sources.emplace_back("built-in " + std::string(chat_format_name(f)),
                             std::string(builtin_template_source(f)));
    ASSERT_GE(sources.size(), 20u);

    const jinja::RenderBudget budget;
    jinja::BudgetUse worst;
    std::string worst_steps, worst_bytes;
    int rendered = 0;
    for (const auto& [name, source] : sources) {
        const ChatTemplate t = ChatTemplate::parse(source);
        for (const bool with_tools : {false, true}) {
            ChatTemplateOptions o = options();
            o.bos_token = "<s>";
            o.eos_token = "</s>";
            if (with_tools) o.extra["tools"] = tools->at("tools");
            jinja::BudgetUse use;
            o.usage = &use;
            try {
                t.render_json(conversation, o);
            } catch (const Error& e) {
                // A template may refuse the conversation's shape (raise_exception); it must not
                // be a budget that stopped it.
                EXPECT_EQ(std::string(e.what()).find("budget"), std::string::npos)
                    << name << ": " << e.what();
                continue;
            }
            ++rendered;
            if (use.steps > worst.steps) worst.steps = use.steps, worst_steps = name;
            if (use.bytes > worst.bytes) worst.bytes = use.bytes, worst_bytes = name;
        }
    }
    std::printf(
        "real templates: %d renders of a 400-message conversation; most steps %lld (%s, "
        "%.1f%% of the budget), most bytes %.1f MiB (%s, %.1f%%)\n",
        rendered, static_cast<long long>(worst.steps), worst_steps.c_str(),
        100.0 * worst.steps / budget.max_steps, worst.bytes / 1048576.0, worst_bytes.c_str(),
        100.0 * worst.bytes / budget.max_bytes);
    EXPECT_GE(rendered, 30);
    EXPECT_LT(worst.steps, budget.max_steps / 10) << worst_steps;
    EXPECT_LT(worst.bytes, budget.max_bytes / 10) << worst_bytes;
}

}  // namespace
}  // namespace gb
