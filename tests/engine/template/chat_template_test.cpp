// Chat templates against Python's jinja2 (tools/gen_template_fixtures.py): byte-identical output
// for real model templates over fixed conversations, plus sandbox limits and error positions.
#include "engine/template/chat_template.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "engine/gguf/gguf_file.h"
#include "kernels/error.h"
#include "tests/test_support.h"

namespace gb {
namespace {

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

ChatTemplateOptions fixed_options() {
    ChatTemplateOptions o;
    o.now = std::chrono::system_clock::time_point(
        std::chrono::seconds(1773489600));  // 2026-03-14 12:00Z
    return o;
}

std::string render_error(const ChatTemplate& t, const std::string& source,
                         const ChatTemplateOptions& o) {
    (void)source;
    try {
        t.render({{"user", "hi"}}, o);
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

std::string parse_error(const std::string& source) {
    try {
        ChatTemplate::parse(source);
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(ChatTemplate, MatchesJinja2OnRealTemplates) {
    auto expected = test::load_json(test::fixture("templates/expected.json"));
    auto conversations = test::load_json(test::fixture("templates/conversations.json"));
    std::map<std::string, const json::Value*> convs, conv_vars;
    for (const auto& c : conversations.as_array()) {
        convs[c.at("name").as_string()] = &c.at("messages");
        conv_vars[c.at("name").as_string()] = c.find("vars");
    }
    std::map<std::string, ChatTemplate> templates;
    size_t checked = 0;
    for (const auto& c : expected.at("cases").as_array()) {
        const std::string name = c.at("template").as_string();
        const std::string conv = c.at("conversation").as_string();
        if (!templates.count(name))
            templates.emplace(name, ChatTemplate::parse(
                                        read_text(test::fixture("templates/" + name + ".jinja"))));
        ChatTemplateOptions o = fixed_options();
        o.add_generation_prompt = c.at("add_generation_prompt").as_bool();
        o.bos_token = c.at("bos_token").as_string();
        o.eos_token = c.at("eos_token").as_string();
        // As the generator renders: tools/documents none, the conversation's vars, the case's
        // extra.
        o.extra["tools"] = json::Value();
        o.extra["documents"] = json::Value();
        if (const json::Value* vars = conv_vars.at(conv))
            for (const auto& [k, v] : vars->as_object()) o.extra[k] = v;
        for (const auto& [k, v] : c.at("extra").as_object()) o.extra[k] = v;
        std::string label = name + " / " + conv +
                            " / agp=" + (o.add_generation_prompt ? "1" : "0") +
                            " / vars=" + std::to_string(o.extra.size());
        const ChatTemplate& t = templates.at(name);
        if (const json::Value* out = c.find("output")) {
            std::string got;
            try {
                got = t.render_json(*convs.at(conv), o);
            } catch (const std::exception& e) {
                ADD_FAILURE() << label << ": threw " << e.what();
                continue;
            }
            EXPECT_EQ(got, out->as_string()) << label;
        } else if (const json::Value* raised = c.find("raised")) {
            try {
                t.render_json(*convs.at(conv), o);
                ADD_FAILURE() << label << ": expected raise_exception(" << raised->as_string()
                              << ")";
            } catch (const Error& e) {
                EXPECT_EQ(std::string(e.what()), raised->as_string()) << label;
            }
        } else {
            // jinja2 failed with a Python error (e.g. None + str): the engine must fail too.
            EXPECT_THROW(t.render_json(*convs.at(conv), o), Error)
                << label << " (" << c.at("error").as_string() << ")";
        }
        ++checked;
    }
    EXPECT_GT(checked, 150u);
}

// Small snippets: whitespace control, undefined, printing, filters and errors, against jinja2.
TEST(ChatTemplate, MatchesJinja2OnSnippets) {
    auto expected = test::load_json(test::fixture("templates/expected.json"));
    ChatTemplateOptions o = fixed_options();
    o.extra["d"] = json::parse("{}");
    o.extra["s"] = json::Value::from_string("h\xc3\xa9llo");
    const json::Value empty = json::parse("[]");
    size_t checked = 0;
    for (const auto& c : expected.at("snippets").as_array()) {
        const std::string& src = c.at("source").as_string();
        std::string got, err;
        try {
            got = ChatTemplate::parse(src).render_json(empty, o);
        } catch (const Error& e) {
            err = e.what();
        }
        if (const json::Value* out = c.find("output")) {
            EXPECT_EQ(err, "") << src;
            EXPECT_EQ(got, out->as_string()) << src;
        } else if (const json::Value* raised = c.find("raised")) {
            EXPECT_EQ(err, raised->as_string()) << src;
        } else {
            EXPECT_NE(err, "") << src << " should fail like jinja2: " << c.at("error").as_string();
        }
        ++checked;
    }
    EXPECT_GT(checked, 50u);
}

// The fixtures hold the templates of the real test models verbatim; when a model is present the
// template read from its GGUF metadata parses and renders exactly as the stored copy does.
TEST(ChatTemplate, RealModelTemplatesMatchFixtures) {
    const std::pair<const char*, const char*> models[] = {
        {"SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2"},
        {"Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf", "qwen2.5-coder"},
        {"DeepSeek-R1-Distill-Qwen-7B.part0000.gguf", "deepseek-r1-distill-qwen-7b-gguf"}};
    int found = 0;
    for (const auto& [file, name] : models) {
        auto path = test::real_model(file);
        if (!path) continue;
        ++found;
        // Metadata only: the DeepSeek file is cut off after its header.
        std::string from_gguf =
            GgufFile::open(*path, GgufOpen::MetadataOnly).require_string("tokenizer.chat_template");
        EXPECT_EQ(from_gguf, read_text(test::fixture(std::string("templates/") + name + ".jinja")))
            << file;
        auto msgs = json::parse(R"([{"role":"user","content":"Hello!"}])");
        EXPECT_FALSE(ChatTemplate::parse(from_gguf).render_json(msgs, fixed_options()).empty());
    }
    if (found == 0)
        GTEST_SKIP() << "no real model in " << test::models_dir() << " (tools/fetch_models.sh)";
}

// The typed ChatMessage path renders the same as the JSON path.
TEST(ChatTemplate, ChatMessagesMatchJsonMessages) {
    auto t = ChatTemplate::parse(read_text(test::fixture("templates/qwen-3.jinja")));
    std::vector<ChatMessage> msgs = {{"system", "Be brief."}, {"user", "Is 91 prime?"}};
    ChatMessage a{"assistant", "No."};
    a.reasoning_content = "91 = 7 * 13";
    msgs.push_back(a);
    msgs.push_back({"user", "And 97?"});
    auto j = json::parse(
        R"([{"role":"system","content":"Be brief."},{"role":"user","content":"Is 91 prime?"},
        {"role":"assistant","content":"No.","reasoning_content":"91 = 7 * 13"},{"role":"user","content":"And 97?"}])");
    ChatTemplateOptions o = fixed_options();
    o.extra["enable_thinking"] = json::Value::from_bool(false);
    EXPECT_EQ(t.render(msgs, o), t.render_json(j, o));
    EXPECT_NE(t.render(msgs, o).find("<think>\n\n</think>\n\n"), std::string::npos);
}

TEST(ChatTemplate, LoopLimit) {
    auto t = ChatTemplate::parse(
        "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}");
    ChatTemplateOptions o = fixed_options();
    o.limits.max_loop_iterations = 10000;
    EXPECT_NE(render_error(t, "", o).find("loop iteration limit"), std::string::npos);
}

TEST(ChatTemplate, RecursionLimit) {
    auto t = ChatTemplate::parse("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
    std::string err = render_error(t, "", fixed_options());
    EXPECT_NE(err.find("recursion depth limit"), std::string::npos) << err;
}

TEST(ChatTemplate, OutputLimit) {
    auto t = ChatTemplate::parse("{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}");
    ChatTemplateOptions o = fixed_options();
    o.limits.max_output_bytes = 1 << 20;
    std::string err = render_error(t, "", o);
    EXPECT_NE(err.find("output size limit"), std::string::npos) << err;
}

TEST(ChatTemplate, ParseErrorsNameLineAndColumn) {
    EXPECT_NE(parse_error("{{ 1 + }}").find("template:1:8:"), std::string::npos)
        << parse_error("{{ 1 + }}");
    std::string e = parse_error("line one\n{% if x %}\n  {{ x.y( }}\n{% endif %}");
    EXPECT_NE(e.find("template:3:"), std::string::npos) << e;
    e = parse_error("{% for x in xs %}never closed");
    EXPECT_NE(e.find("endfor"), std::string::npos) << e;
    e = parse_error("ok\n  {% frobnicate %}");
    EXPECT_NE(e.find("template:2:6:"), std::string::npos) << e;
    EXPECT_NE(e.find("frobnicate"), std::string::npos) << e;
    e = parse_error("{{ 'unterminated }}");
    EXPECT_NE(e.find("template:1:4:"), std::string::npos) << e;
    EXPECT_NE(parse_error("{# open comment").find("unterminated comment"), std::string::npos);
}

// jinja2 reads 1 < 3 < 2 as (1 < 3) and (3 < 2), i.e. false; evaluating it left to right would
// give (true < 2), i.e. true. We refuse the chain instead of answering differently.
TEST(ChatTemplate, ChainedComparisonsAreRefusedNotMisread) {
    for (const char* src :
         {"{{ 1 < 3 < 2 }}", "{{ a == b == c }}", "{{ x in y in z }}", "{{ 1 < 2 not in z }}"}) {
        const std::string e = parse_error(src);
        EXPECT_NE(e.find("chained comparisons"), std::string::npos) << src << " -> " << e;
    }
    EXPECT_EQ(parse_error("{{ 1 < 3 and 3 < 2 }}"), "(no error)") << "a plain conjunction is fine";
}

TEST(ChatTemplate, RenderErrorsNamePosition) {
    auto t = ChatTemplate::parse("a\n  {{ nothing.here }}");
    std::string err = render_error(t, "", fixed_options());
    EXPECT_NE(err.find("template:2:"), std::string::npos) << err;
    EXPECT_NE(err.find("'nothing' is undefined"), std::string::npos) << err;
    auto r = ChatTemplate::parse("{{ raise_exception('custom message') }}");
    EXPECT_EQ(render_error(r, "", fixed_options()), "custom message");
}

TEST(ChatTemplate, NestingLimits) {
    // Deep nesting is refused at parse time (no stack overflow in the parser or evaluator).
    std::string deep = "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}";
    EXPECT_NE(parse_error(deep).find("nested too deeply"), std::string::npos);
    std::string chain = "{{ 1";
    for (int i = 0; i < 100000; ++i) chain += " + 1";
    EXPECT_NE(parse_error(chain + " }}").find("nested too deeply"), std::string::npos);
    std::string ifs;
    for (int i = 0; i < 1000; ++i) ifs += "{% if true %}";
    EXPECT_NE(parse_error(ifs).find("nested too deeply"), std::string::npos);
    std::string nots = "{{ ";
    for (int i = 0; i < 100000; ++i) nots += "not ";
    EXPECT_NE(parse_error(nots + "1 }}").find("nested too deeply"), std::string::npos);
    // Values built at run time are bounded too.
    auto t = ChatTemplate::parse(
        "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% "
        "endfor %}{{ ns.x }}");
    std::string err = render_error(t, "", fixed_options());
    EXPECT_NE(err.find("value nested too deeply"), std::string::npos) << err;
    auto cyc = ChatTemplate::parse(
        "{% set ns = namespace() %}{% set ns.me = [ns] %}{{ ns.me }}|{{ ns.me|tojson }}");
    err = render_error(cyc, "", fixed_options());
    EXPECT_NE(err.find("namespace is not JSON serializable"), std::string::npos) << err;
}

TEST(ChatTemplate, IntegerOverflowIsAnErrorNotAWrap) {
    // Python ints are unbounded; 64-bit overflow must fail loudly rather than print a wrong number.
    auto t = ChatTemplate::parse("{{ 2 ** 62 * 2 }}");
    EXPECT_NE(render_error(t, "", fixed_options()).find("integer overflow"), std::string::npos);
    auto ok = ChatTemplate::parse(
        "{{ 2 ** 62 }}|{{ (-1) ** 1000000001 }}|{{ 1 ** 100000000000 }}|{{ '' * 1000000000000 }}|");
    EXPECT_EQ(ok.render({{"user", "hi"}}, fixed_options()), "4611686018427387904|-1|1||");
}

TEST(ChatTemplate, SandboxHasNoHostAccess) {
    // Python attributes that would escape a naive sandbox are just undefined here.
    auto t = ChatTemplate::parse(
        "{{ ''.__class__ }}|{{ messages.__len__ is defined }}|{{ range.__globals__ is defined }}");
    EXPECT_EQ(t.render({{"user", "hi"}}, fixed_options()), "|False|False");
}

}  // namespace
}  // namespace gb
