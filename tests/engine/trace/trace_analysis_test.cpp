// The reasoning map and MoE analytics (ANALYSIS_FORMAT.md): every number of
// glassbox-cli analyze --json against the independent numpy reference
// (tools/analyze_reference.py, fixtures made by tools/gen_analysis_fixtures.sh from real demo
// model replies and synthetic edge cases), hand-worked examples of each definition, and one
// reply of the real engine on the shipped MoE demo model.
#include "engine/trace/trace_analysis.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <numeric>
#include <sstream>

#include "engine/core/json.h"
#include "engine/model/model.h"
#include "engine/session/generator.h"
#include "engine/template/builtin_templates.h"
#include "engine/template/chat_template.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/trace/reasoning_parser.h"
#include "engine/trace/trace_file.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/error.h"
#include "tests/test_support.h"

namespace gb {
namespace {

// ---- golden files from the numpy reference ----

// Numbers within 1e-9 relative (both sides compute in double, in different orders); everything
// else exactly. `path` names the place of a difference.
void expect_same(const json::Value& got, const json::Value& want, const std::string& path,
                 int* failures) {
    if (*failures > 20) return;
    auto fail = [&](const std::string& what) {
        ++*failures;
        ADD_FAILURE() << path << ": " << what;
    };
    if (got.kind() != want.kind()) {
        fail(std::string("is ") + kind_name(got.kind()) + ", the reference has " +
             kind_name(want.kind()));
        return;
    }
    switch (want.kind()) {
        case json::Value::Kind::Null: return;
        case json::Value::Kind::Bool:
            if (got.as_bool() != want.as_bool()) fail("differs");
            return;
        case json::Value::Kind::String:
            if (got.as_string() != want.as_string())
                fail("\"" + got.as_string() + "\" != \"" + want.as_string() + "\"");
            return;
        case json::Value::Kind::Number: {
            const double a = got.as_number(), b = want.as_number();
            if (std::fabs(a - b) > 1e-9 * std::max({1.0, std::fabs(a), std::fabs(b)}))
                fail(json::format_number(a) + " != " + json::format_number(b));
            return;
        }
        case json::Value::Kind::Array: {
            const auto& x = got.as_array();
            const auto& y = want.as_array();
            if (x.size() != y.size()) {
                fail("has " + std::to_string(x.size()) + " entries, the reference " +
                     std::to_string(y.size()));
                return;
            }
            for (size_t i = 0; i < x.size(); ++i)
                expect_same(x[i], y[i], path + "[" + std::to_string(i) + "]", failures);
            return;
        }
        case json::Value::Kind::Object: {
            for (const auto& [k, v] : want.as_object()) {
                const json::Value* g = got.find(k);
                if (!g)
                    fail("lacks \"" + k + "\"");
                else
                    expect_same(*g, v, path + "." + k, failures);
            }
            for (const auto& [k, v] : got.as_object())
                if (!want.find(k)) fail("has \"" + k + "\", which the reference does not");
            return;
        }
    }
}

std::string analysis_json(const Trace& t) {
    std::ostringstream out;
    write_analysis_json(analyze_trace(t), out);
    return out.str();
}

TEST(TraceAnalysis, MatchesTheNumpyReferenceOnEveryFixture) {
    const std::filesystem::path dir = test::fixture("analysis");
    int traces = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        const std::string name = entry.path().filename().string();
        if (!name.ends_with(".json") || name.ends_with(".analysis.json")) continue;
        SCOPED_TRACE(name);
        ++traces;
        const Trace trace = read_trace_file(entry.path().string());
        const json::Value got = json::parse(analysis_json(trace));
        const json::Value want =
            test::load_json((dir / (entry.path().stem().string() + ".analysis.json")).string());
        int failures = 0;
        expect_same(got, want, "analysis", &failures);
    }
    EXPECT_GE(traces, 4) << "the fixtures of tools/gen_analysis_fixtures.sh are missing";
}

// ---- hand-worked examples ----

TEST(TraceAnalysis, PercentileIsNumpysLinearMethod) {
    EXPECT_DOUBLE_EQ(percentile_linear({1, 2, 3, 4}, 80), 3.4);  // h = 2.4
    EXPECT_DOUBLE_EQ(percentile_linear({3, 1, 2}, 80), 2.6);     // sorted, h = 1.6
    EXPECT_DOUBLE_EQ(percentile_linear({1, 1, 1, 2}, 80), 1.4);
    EXPECT_DOUBLE_EQ(percentile_linear({5}, 80), 5);
    EXPECT_DOUBLE_EQ(percentile_linear({0, 10}, 100), 10);
    EXPECT_DOUBLE_EQ(percentile_linear({0, 10}, 0), 0);
    EXPECT_TRUE(std::isnan(percentile_linear({}, 80)));
}

TEST(TraceAnalysis, LoadStatsFollowTheirDefinitions) {
    // 2 tokens, top-2 of 4 experts: each expert's fair share is 1.
    const std::vector<int64_t> skewed = {0, 0, 0, 4};
    LoadStats s = load_stats(skewed, 2, 2);
    EXPECT_EQ(s.relative_load, (std::vector<double>{0, 0, 0, 4}));
    EXPECT_DOUBLE_EQ(s.max_violation, 3);
    // Ordered pairs: 6 of them differ by 4 -> 24 / 16 = 1.5 mean difference; mean 1 -> 0.75.
    EXPECT_DOUBLE_EQ(s.gini, 0.75);
    const std::vector<int64_t> even = {3, 3, 3, 3};
    s = load_stats(even, 6, 2);
    EXPECT_DOUBLE_EQ(s.max_violation, 0);
    EXPECT_DOUBLE_EQ(s.gini, 0);
    const std::vector<int64_t> none = {0, 0};
    s = load_stats(none, 0, 2);
    EXPECT_TRUE(s.relative_load.empty());
    EXPECT_EQ(s.gini, 0);
}

TokenRecord token(int32_t id, std::string text, Phase phase, float entropy = NAN,
                  float logprob = NAN) {
    TokenRecord r;
    r.id = id;
    r.text = std::move(text);
    r.phase = phase;
    r.entropy = entropy;
    r.logprob = logprob;
    return r;
}

TEST(TraceAnalysis, StepsSplitAtBlankLinesAndMarkersAtASentenceStart) {
    Trace t;
    t.tokens.push_back(token(1, "<|user|>", Phase::Prompt));
    const char* texts[] = {"<think>\n",   "First",      " line.",         " wait",
                           " here.\n\n",  "Second",     " step. But",     "ter is",
                           " fine!\tHmm", "m no. Hmm,", "\nLet me check", " it.</think>"};
    for (int i = 0; i < 12; ++i)
        t.tokens.push_back(token(10 + i, texts[i], Phase::Think, 0.1f * static_cast<float>(i)));
    t.tokens.push_back(token(40, "42", Phase::Answer, 0.5f));
    for (size_t i = 0; i < t.tokens.size(); ++i)
        t.tokens[i].t_ms = 10 + 2.0 * static_cast<double>(i);

    const ReasoningMap m = map_reasoning(t);
    EXPECT_EQ(m.n_reasoning, 12);
    EXPECT_EQ(m.n_answer, 1);
    EXPECT_DOUBLE_EQ(m.reasoning_share, 12.0 / 13.0);
    // "line. wait" (after a period), the blank line before "Second", "no. Hmm," and the line
    // starting "Let me check" open steps; "Butter" and "Hmmm" do not (a letter follows).
    struct Want {
        int first, last;
        StepStart start;
        const char* marker;
    };
    const Want want[] = {{1, 3, StepStart::Begin, ""},
                         {4, 5, StepStart::Marker, "wait"},
                         {6, 9, StepStart::BlankLine, ""},
                         {10, 10, StepStart::Marker, "hmm"},
                         {11, 12, StepStart::Marker, "let me check"}};
    ASSERT_EQ(m.steps.size(), 5u);
    for (size_t i = 0; i < 5; ++i) {
        SCOPED_TRACE(i);
        EXPECT_EQ(m.steps[i].first, want[i].first);
        EXPECT_EQ(m.steps[i].last, want[i].last);
        EXPECT_EQ(m.steps[i].count, want[i].last - want[i].first + 1);
        EXPECT_EQ(m.steps[i].start, want[i].start);
        EXPECT_EQ(m.steps[i].marker, want[i].marker);
        // Time from the token before the step to its last token: 2 ms per token.
        EXPECT_DOUBLE_EQ(m.steps[i].t_ms, 2.0 * (want[i].last - want[i].first + 1));
    }
    EXPECT_EQ(m.steps[2].text, "Second step. Butter is fine!\tHmm");
    EXPECT_NEAR(m.steps[0].entropy_mean, 0.1, 1e-6);  // 0, 0.1, 0.2

    // Entropies 0, 0.1, ..., 1.1: h = 0.8 * 11 = 8.8 -> 0.8 + 0.8 * 0.1 = 0.88.
    EXPECT_NEAR(m.fork_threshold, 0.88, 1e-6);
    ASSERT_EQ(m.forks.size(), 3u);
    EXPECT_EQ(m.forks[0].token, 10);
    EXPECT_EQ(m.forks[2].text, " it.</think>");
}

TEST(TraceAnalysis, ATokenOpeningWithAMarkerAtTheStartIsAMarkerStep) {
    Trace t;
    t.tokens.push_back(token(1, "  Hmm", Phase::Think, 1));
    t.tokens.push_back(token(2, ", so", Phase::Think, 1));
    const ReasoningMap m = map_reasoning(t);
    ASSERT_EQ(m.steps.size(), 1u);
    EXPECT_EQ(m.steps[0].start, StepStart::Marker);
    EXPECT_EQ(m.steps[0].marker, "hmm");
    EXPECT_DOUBLE_EQ(m.steps[0].t_ms, 0);  // no token before the first one
}

TEST(TraceAnalysis, DeepConfConfidenceAndItsLowestWindow) {
    Trace t;
    t.tokens.push_back(token(1, "p", Phase::Prompt));
    // 70 answer tokens; token i's alternatives have log-probabilities -a_i (6 recorded, of
    // which the first 5 count): confidence a_i. A dip of 10 low ones from token 30.
    for (int i = 0; i < 70; ++i) {
        TokenRecord r = token(5, "x", Phase::Answer, 1);
        const double a = i >= 30 && i < 40 ? 1.0 : 3.0;
        for (int j = 0; j < 6; ++j)
            r.top.push_back({j, "y", static_cast<float>(j < 5 ? -a : -100.0)});
        t.tokens.push_back(r);
    }
    t.tokens.push_back(token(6, "z", Phase::Answer, 1));  // no alternatives: not scored
    const Confidence c = map_reasoning(t).confidence;
    ASSERT_EQ(c.tokens.size(), 70u);
    EXPECT_EQ(c.tokens.front(), 1);
    EXPECT_DOUBLE_EQ(c.token_confidence[30], 1.0);
    EXPECT_DOUBLE_EQ(c.token_confidence[0], 3.0);
    ASSERT_EQ(c.group.size(), 7u);  // 70 - 64 + 1 windows
    // Every window holds the whole dip: (54 * 3 + 10 * 1) / 64; the first is the lowest.
    EXPECT_DOUBLE_EQ(c.group[0], (54 * 3.0 + 10) / 64);
    EXPECT_EQ(c.lowest.start, 1);
    EXPECT_EQ(c.lowest.end, 64);
    EXPECT_DOUBLE_EQ(c.mean, (60 * 3.0 + 10) / 70);
    EXPECT_DOUBLE_EQ(c.bottom_10pct, c.group[0]);  // max(1, 7 / 10) = 1 window
    EXPECT_DOUBLE_EQ(c.tail, c.mean);              // fewer than 2048 tokens
}

TEST(TraceAnalysis, LoopAlarmFiresOnTheThirdOccurrence) {
    Trace t;
    t.tokens.push_back(token(99, "p", Phase::Prompt));
    std::vector<int32_t> ids;
    for (int rep = 0; rep < 3; ++rep) {
        for (int i = 1; i <= 8; ++i) ids.push_back(i);
        if (rep == 1) ids.push_back(9);
    }
    for (int32_t id : ids)
        t.tokens.push_back(token(id, std::string(1, static_cast<char>('a' + id)), Phase::Think));
    LoopAlarm l = map_reasoning(t).loop;
    ASSERT_TRUE(l.found);
    EXPECT_EQ(l.occurrences, (std::vector<int>{1, 9, 18}));  // trace indices (prompt first)
    EXPECT_EQ(l.fired_at, 25);
    EXPECT_EQ(l.count, 3);
    EXPECT_EQ(l.text, "bcdefghi");

    // Ten equal tokens hold the same 8-gram three times, overlapping.
    Trace same;
    for (int i = 0; i < 10; ++i) same.tokens.push_back(token(7, "7", Phase::Answer));
    l = map_reasoning(same).loop;
    ASSERT_TRUE(l.found);
    EXPECT_EQ(l.fired_at, 9);
    EXPECT_EQ(l.occurrences, (std::vector<int>{0, 1, 2}));

    same.tokens.pop_back();  // nine: only two occurrences
    EXPECT_FALSE(map_reasoning(same).loop.found);
}

TokenRecord routed(std::string text, Phase phase, std::vector<uint16_t> layers,
                   std::vector<uint16_t> experts) {
    TokenRecord r = token(0, std::move(text), phase, 1);
    r.routing.layers = std::move(layers);
    r.routing.k = 2;
    r.routing.experts = std::move(experts);
    r.routing.weights.assign(r.routing.experts.size(), 0.5f);
    return r;
}

TEST(TraceAnalysis, MoeAnalyticsOfAHandWorkedReply) {
    Trace t;
    t.n_expert = 4;
    t.n_expert_used = 2;
    t.tokens.push_back(routed("p", Phase::Prompt, {1, 3}, {3, 2, 3, 2}));  // not generated
    t.tokens.push_back(routed("a", Phase::Think, {1, 3}, {0, 1, 2, 3}));
    t.tokens.push_back(routed("b", Phase::Think, {1, 3}, {0, 2, 2, 0}));
    t.tokens.push_back(routed("a", Phase::Answer, {1, 3}, {1, 0, 3, 2}));
    const MoeAnalytics moe = analyze_moe(t);
    ASSERT_EQ(moe.layers.size(), 2u);
    const LayerAnalytics& l1 = moe.layers[0];
    EXPECT_EQ(l1.layer, 1);
    EXPECT_EQ(l1.tokens, 3);
    EXPECT_EQ(l1.counts, (std::vector<int64_t>{3, 2, 1, 0}));
    // Fair share 3 * 2 / 4 = 1.5.
    EXPECT_DOUBLE_EQ(l1.load.relative_load[0], 2);
    EXPECT_DOUBLE_EQ(l1.load.max_violation, 1);
    // Unordered differences 1+2+3+1+2+1 = 10, ordered 20, / 16 = 1.25, / (2 * 1.5).
    EXPECT_DOUBLE_EQ(l1.load.gini, 1.25 / 3);
    EXPECT_DOUBLE_EQ(l1.p_given(0, 1, 4), 2.0 / 3);
    EXPECT_DOUBLE_EQ(l1.p_given(0, 2, 4), 1.0 / 3);
    EXPECT_DOUBLE_EQ(l1.p_given(1, 0, 4), 1);
    EXPECT_DOUBLE_EQ(l1.p_given(2, 2, 4), 1);
    EXPECT_TRUE(std::isnan(l1.p_given(3, 0, 4)));
    // Think: counts 2,1,1,0 over 2 tokens (share 1); answer: 1,1,0,0 over 1 token (share 0.5).
    EXPECT_EQ(l1.relative_load_think, (std::vector<double>{2, 1, 1, 0}));
    EXPECT_EQ(l1.relative_load_answer, (std::vector<double>{2, 2, 0, 0}));
    EXPECT_EQ(l1.think_minus_answer, (std::vector<double>{0, -1, 1, 0}));
    ASSERT_EQ(l1.specialisation.size(), 3u);
    EXPECT_EQ(l1.specialisation[0].top[0].text, "a");
    EXPECT_EQ(l1.specialisation[0].top[0].count, 2);
    EXPECT_DOUBLE_EQ(l1.specialisation[0].top[0].share, 1);
    EXPECT_EQ(l1.specialisation[2].expert, 2);
    EXPECT_EQ(l1.specialisation[2].top[0].text, "b");

    ASSERT_EQ(moe.paths.size(), 2u);
    EXPECT_EQ(moe.paths[0].experts, (std::vector<int>{0, 2}));
    EXPECT_EQ(moe.paths[0].count, 2);
    EXPECT_DOUBLE_EQ(moe.paths[0].share, 2.0 / 3);
    ASSERT_EQ(moe.transitions.size(), 1u);
    EXPECT_EQ(moe.transitions[0].top[0].from_expert, 0);
    EXPECT_EQ(moe.transitions[0].top[0].to_expert, 2);
    EXPECT_EQ(moe.transitions[0].top[1].count, 1);
}

// A few bytes of trace can name thousands of layers and experts: refused, not allocated.
TEST(TraceAnalysis, HostileRoutingSizesAreRefusedOrBounded) {
    Trace huge;
    huge.n_expert = 4096;
    TokenRecord r = token(1, "x", Phase::Answer, 1);
    r.routing.k = 1;
    for (uint16_t l = 0; l < 2048; ++l) {
        r.routing.layers.push_back(l);
        r.routing.experts.push_back(l);
        r.routing.weights.push_back(1);
    }
    huge.tokens.push_back(r);
    try {
        analyze_moe(huge);
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("2048 MoE layers of 4096 experts"), std::string::npos)
            << e.what();
    }
    // 600 experts: the loads are there, the co-activation (600 x 600 per layer) is left out.
    Trace wide;
    wide.n_expert = 600;
    wide.tokens.push_back(routed("a", Phase::Answer, {0}, {599, 3}));
    const MoeAnalytics moe = analyze_moe(wide);
    ASSERT_EQ(moe.layers.size(), 1u);
    EXPECT_EQ(moe.layers[0].counts[599], 1);
    EXPECT_TRUE(moe.layers[0].coactivation.empty());
    EXPECT_TRUE(std::isnan(moe.layers[0].p_given(599, 3, 600)));
    const json::Value v = json::parse(analysis_json(wide));
    EXPECT_TRUE(v.at("moe").at("layers").at(0).at("coactivation").is_null());
}

TEST(TraceAnalysis, ADenseReplyWithoutReasoningHasNoMoeAndNoSteps) {
    Trace t;
    t.tokens.push_back(token(1, "hi", Phase::Answer, 0.5f));
    const TraceAnalysis a = analyze_trace(t);
    EXPECT_TRUE(a.moe.empty());
    EXPECT_TRUE(a.reasoning.steps.empty());
    EXPECT_TRUE(std::isnan(a.reasoning.fork_threshold));
    const json::Value v = json::parse(analysis_json(t));
    EXPECT_TRUE(v.at("moe").is_null());
    EXPECT_TRUE(v.at("reasoning").at("fork_threshold").is_null());
    EXPECT_TRUE(v.at("reasoning").at("confidence").at("lowest").is_null());
}

// ---- the real engine ----

// A reply of the shipped MoE demo model, analysed: the numbers hold together with the trace
// they came from (counts against routing rows, steps covering the reasoning, forks at or above
// the threshold).
TEST(TraceAnalysis, ARealMoeReplyOfTheDemoModel) {
    cpu::CpuBackend be(2);
    RunSettings rs;
    rs.n_ctx = 1024;
    rs.n_threads = 2;
    auto model =
        Model::load(std::string(GB_RESOURCES_DIR) + "/models/glassbox-demo-moe.gguf", be, rs);
    Tokenizer tok = Tokenizer::from_gguf(model->file());
    ChatTemplateOptions opt;
    opt.bos_token = tok.token_text(tok.bos());
    opt.eos_token = tok.token_text(tok.eos());
    const ChatPrompt p =
        render_chat_prompt(tok.chat_template(), ChatFormat::ChatML, {{"user", "90321-4588"}}, opt);
    GenerateRequest req;
    req.prompt_text = p.text;
    req.prompt = tok.encode(p.text, false, true);
    req.starts_in_reasoning = prompt_opens_reasoning(p.text);
    req.max_tokens = 600;
    req.sampling.temperature = 0;
    Generator gen(*model, tok);
    const Trace trace = gen.generate(req);
    ASSERT_TRUE(trace.reasoning_complete);

    const TraceAnalysis a = analyze_trace(trace);
    EXPECT_EQ(a.n_generated, trace.n_gen);
    EXPECT_GT(a.reasoning.n_reasoning, 20);
    EXPECT_GT(a.reasoning.n_answer, 0);
    int covered = 0;
    for (const ReasoningStep& s : a.reasoning.steps) covered += s.count;
    EXPECT_EQ(covered, a.reasoning.n_reasoning);
    EXPECT_FALSE(a.reasoning.forks.empty());
    for (const ForkToken& f : a.reasoning.forks) EXPECT_GE(f.entropy, a.reasoning.fork_threshold);
    EXPECT_EQ(a.reasoning.confidence.tokens.size(), static_cast<size_t>(trace.n_gen));

    ASSERT_FALSE(a.moe.empty()) << "the real engine's reply has routing";
    EXPECT_EQ(a.moe.n_expert, trace.n_expert);
    EXPECT_EQ(a.moe.k, trace.n_expert_used);
    for (const LayerAnalytics& la : a.moe.layers) {
        EXPECT_EQ(la.tokens, trace.n_gen);
        EXPECT_EQ(std::accumulate(la.counts.begin(), la.counts.end(), int64_t{0}),
                  la.tokens * a.moe.k);
        EXPECT_GE(la.load.gini, 0);
        EXPECT_LT(la.load.gini, 1);
    }
}

}  // namespace
}  // namespace gb
