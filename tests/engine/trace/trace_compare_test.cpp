// Comparing two replies: the alignment is a longest common subsequence (its length checked
// against a plain dynamic-programming LCS on random sequences, its rows against the rules),
// differences and loads on hand-worked replies, and two real replies of the demo MoE model.
#include "engine/trace/trace_compare.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <sstream>

#include "engine/core/json.h"
#include "engine/trace/trace_file.h"
#include "tests/test_support.h"

namespace gb {
namespace {

Trace reply(const std::vector<int32_t>& ids, float logprob = -0.5f) {
    Trace t;
    TokenRecord p;
    p.id = 999;
    p.phase = Phase::Prompt;
    t.tokens.push_back(p);
    for (int32_t id : ids) {
        TokenRecord r;
        r.id = id;
        r.text = std::to_string(id);
        r.phase = Phase::Answer;
        r.logprob = logprob;
        r.entropy = 1;
        t.tokens.push_back(r);
    }
    return t;
}

int dp_lcs(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
    std::vector<std::vector<int>> L(a.size() + 1, std::vector<int>(b.size() + 1, 0));
    for (size_t i = 1; i <= a.size(); ++i)
        for (size_t j = 1; j <= b.size(); ++j)
            L[i][j] =
                a[i - 1] == b[j - 1] ? L[i - 1][j - 1] + 1 : std::max(L[i - 1][j], L[i][j - 1]);
    return L[a.size()][b.size()];
}

// Every token of both appears once, in order; paired rows hold the same id.
void expect_valid(const TraceComparison& c, const Trace& a, const Trace& b) {
    auto first_generated = [](const Trace& t) {
        int i = 0;
        while (i < static_cast<int>(t.tokens.size()) &&
               t.tokens[static_cast<size_t>(i)].phase == Phase::Prompt)
            ++i;
        return i;
    };
    int next_a = first_generated(a), next_b = first_generated(b);
    for (const AlignedToken& r : c.alignment) {
        if (r.a >= 0) EXPECT_EQ(r.a, next_a++);
        if (r.b >= 0) EXPECT_EQ(r.b, next_b++);
        ASSERT_TRUE(r.a >= 0 || r.b >= 0);
        if (r.same())
            EXPECT_EQ(a.tokens[static_cast<size_t>(r.a)].id, b.tokens[static_cast<size_t>(r.b)].id);
    }
    EXPECT_EQ(next_a, static_cast<int>(a.tokens.size()));
    EXPECT_EQ(next_b, static_cast<int>(b.tokens.size()));
}

TEST(TraceCompare, AlignmentIsALongestCommonSubsequence) {
    std::mt19937 rng(2026);
    for (int round = 0; round < 300; ++round) {
        std::vector<int32_t> x(rng() % 40), y(rng() % 40);
        const int alphabet = 2 + static_cast<int>(rng() % 6);
        for (auto& v : x) v = static_cast<int32_t>(rng() % alphabet);
        for (auto& v : y) v = static_cast<int32_t>(rng() % alphabet);
        if (round % 3 == 0 && !x.empty()) {  // shared starts and ends, as branches have
            y.insert(y.begin(), x.begin(), x.begin() + static_cast<long>(x.size() / 2));
            y.insert(y.end(), x.end() - static_cast<long>(x.size() / 3), x.end());
        }
        const Trace a = reply(x), b = reply(y);
        const TraceComparison c = compare_traces(a, b);
        ASSERT_EQ(c.same, dp_lcs(x, y)) << round;
        EXPECT_EQ(c.only_a, static_cast<int>(x.size()) - c.same);
        EXPECT_EQ(c.only_b, static_cast<int>(y.size()) - c.same);
        expect_valid(c, a, b);
    }
}

TEST(TraceCompare, HandWorkedDifferences) {
    Trace a = reply({1, 2, 3, 4}), b = reply({1, 3, 4, 5}, -0.5f);
    b.tokens[2].logprob = -1.5f;  // token 3: 1 nat less likely in b
    const TraceComparison c = compare_traces(a, b);
    EXPECT_EQ(c.same, 3);
    EXPECT_EQ(c.first_divergence, 1);  // a's "2" has no partner
    EXPECT_FALSE(c.alignment[1].same());
    EXPECT_EQ(c.alignment[1].a, 2);
    EXPECT_DOUBLE_EQ(c.logprob_max_abs, 1.0);
    EXPECT_DOUBLE_EQ(c.logprob_mean_abs, 1.0 / 3);
    EXPECT_DOUBLE_EQ(c.logprob_rms, std::sqrt(1.0 / 3));
    EXPECT_EQ(c.alignment[static_cast<size_t>(c.logprob_max_row)].b, 2);
    EXPECT_FALSE(c.loads_comparable);

    const TraceComparison same = compare_traces(a, a);
    EXPECT_EQ(same.first_divergence, -1);
    EXPECT_DOUBLE_EQ(same.logprob_max_abs, 0);
    const TraceComparison empty = compare_traces(reply({}), a);
    EXPECT_EQ(empty.only_b, 4);
    EXPECT_TRUE(std::isnan(empty.logprob_rms));
}

TEST(TraceCompare, ExpertLoadsOfTwoRoutedReplies) {
    Trace a = reply({1, 2}), b = reply({1, 2});
    a.n_expert = b.n_expert = 4;
    auto route = [](TokenRecord& r, std::vector<uint16_t> e) {
        r.routing.layers = {1};
        r.routing.k = 2;
        r.routing.experts = std::move(e);
        r.routing.weights = {0.5f, 0.5f};
    };
    route(a.tokens[1], {0, 1});
    route(a.tokens[2], {0, 1});
    route(b.tokens[1], {0, 1});
    route(b.tokens[2], {2, 3});
    const TraceComparison c = compare_traces(a, b);
    ASSERT_TRUE(c.loads_comparable);
    ASSERT_EQ(c.layers.size(), 1u);
    // a: experts 0 and 1 take everything (relative load 2, 2, 0, 0); b: all four equal (1).
    EXPECT_EQ(c.layers[0].a, (std::vector<double>{2, 2, 0, 0}));
    EXPECT_EQ(c.layers[0].diff, (std::vector<double>{-1, -1, 1, 1}));
    EXPECT_DOUBLE_EQ(c.layers[0].moved, 0.5);  // half of b's routings went elsewhere
}

// Two real replies of the demo MoE model (tests/fixtures/analysis): the comparison holds
// together, and a reply compared with itself is the same everywhere.
TEST(TraceCompare, RealRepliesOfTheDemoModel) {
    const Trace a = read_trace_file(test::fixture("analysis/moe_mul.json"));
    const Trace b = read_trace_file(test::fixture("analysis/moe_sub.json"));
    const TraceComparison c = compare_traces(a, b);
    expect_valid(c, a, b);
    EXPECT_GT(c.same, 10);
    ASSERT_TRUE(c.loads_comparable);
    EXPECT_EQ(c.layers.size(), 3u);
    for (const LayerLoadChange& l : c.layers) {
        EXPECT_GT(l.moved, 0);
        EXPECT_LT(l.moved, 1);
    }
    const TraceComparison self = compare_traces(a, a);
    EXPECT_EQ(self.first_divergence, -1);
    for (const LayerLoadChange& l : self.layers) EXPECT_EQ(l.moved, 0);
    std::ostringstream out;
    write_comparison_json(c, out);
    const json::Value v = json::parse(out.str());
    EXPECT_EQ(v.at("alignment").as_array().size(), c.alignment.size());
    EXPECT_EQ(v.at("same").as_int64(), c.same);
}

}  // namespace
}  // namespace gb
