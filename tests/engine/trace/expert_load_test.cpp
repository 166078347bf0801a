// count_expert_load: counts by phase, layer and expert, gate-weight sums, layers that differ
// between tokens, dense traces, and rows cut short.
#include "engine/trace/expert_load.h"

#include <gtest/gtest.h>

namespace gb {
namespace {

TokenRecord routed(Phase phase, std::vector<uint16_t> layers, std::vector<uint16_t> experts,
                   std::vector<float> weights) {
    TokenRecord r;
    r.phase = phase;
    r.routing.layers = std::move(layers);
    r.routing.k = 2;
    r.routing.experts = std::move(experts);
    r.routing.weights = std::move(weights);
    return r;
}

TEST(ExpertLoad, CountsEachTokenOncePerSelectedExpertByPhaseAndLayer) {
    Trace t;
    t.n_expert = 4;
    t.n_expert_used = 2;
    // Layers 1 and 3 (0 and 2 are dense). Rows: [layer 1: a b] [layer 3: c d].
    t.tokens.push_back(routed(Phase::Prompt, {1, 3}, {0, 1, 2, 3}, {.6f, .4f, .5f, .5f}));
    t.tokens.push_back(routed(Phase::Think, {1, 3}, {0, 2, 2, 1}, {.7f, .3f, .9f, .1f}));
    t.tokens.push_back(routed(Phase::Think, {1, 3}, {0, 3, 3, 2}, {.8f, .2f, .6f, .4f}));
    t.tokens.push_back(routed(Phase::Answer, {1, 3}, {1, 0, 2, 3}, {.55f, .45f, .5f, .5f}));
    TokenRecord plain;  // no routing (a dense step): ignored
    plain.phase = Phase::Answer;
    t.tokens.push_back(plain);

    const ExpertLoad load = count_expert_load(t);
    ASSERT_EQ(load.layers, (std::vector<uint16_t>{1, 3}));
    EXPECT_EQ(load.n_expert, 4);
    // Layer 1 (row 0), thinking: expert 0 twice, 2 once, 3 once.
    EXPECT_EQ(load.count(Phase::Think, 0, 0), 2);
    EXPECT_EQ(load.count(Phase::Think, 0, 1), 0);
    EXPECT_EQ(load.count(Phase::Think, 0, 2), 1);
    EXPECT_EQ(load.count(Phase::Think, 0, 3), 1);
    EXPECT_NEAR(load.weight_sum(Phase::Think, 0, 0), 0.7 + 0.8, 1e-6);
    // Layer 3 (row 1), thinking: expert 2 twice (.9 + .4), 1 once, 3 once.
    EXPECT_EQ(load.count(Phase::Think, 1, 2), 2);
    EXPECT_NEAR(load.weight_sum(Phase::Think, 1, 2), 0.9 + 0.4, 1e-6);
    EXPECT_EQ(load.count(Phase::Think, 1, 1), 1);
    EXPECT_EQ(load.count(Phase::Think, 1, 3), 1);
    // The answer and the prompt apart; the reply is think + answer.
    EXPECT_EQ(load.count(Phase::Answer, 0, 1), 1);
    EXPECT_EQ(load.count(Phase::Answer, 0, 0), 1);
    EXPECT_EQ(load.count(Phase::Prompt, 0, 0), 1);
    EXPECT_EQ(load.reply_count(0, 0), 3);
    EXPECT_EQ(load.reply_count(0, 1), 1);
    EXPECT_EQ(load.tokens(Phase::Think, 0), 2);
    EXPECT_EQ(load.tokens(Phase::Answer, 1), 1);
    EXPECT_EQ(load.tokens(Phase::Prompt, 1), 1);
    // Every reply token picks k = 2 experts per layer.
    for (size_t row = 0; row < 2; ++row) {
        int64_t sum = 0;
        for (int e = 0; e < 4; ++e) sum += load.reply_count(row, e);
        EXPECT_EQ(sum, 2 * 3) << row;
    }
}

TEST(ExpertLoad, DenseTraceAndOddTokensAreHandled) {
    Trace dense;
    dense.tokens.resize(3);
    EXPECT_TRUE(count_expert_load(dense).empty());

    // A token routed in a layer no other token has gets its own row; an expert id beyond the
    // trace's n_expert widens the table instead of writing past it; a row cut short (fewer
    // than k ids) is left out.
    Trace t;
    t.n_expert = 2;
    t.tokens.push_back(routed(Phase::Think, {4}, {0, 1}, {.5f, .5f}));
    t.tokens.push_back(routed(Phase::Think, {2, 4}, {5, 0, 1, 0}, {.5f, .5f, .5f, .5f}));
    TokenRecord cut = routed(Phase::Answer, {2, 4}, {1, 0, 1}, {});
    t.tokens.push_back(cut);
    const ExpertLoad load = count_expert_load(t);
    ASSERT_EQ(load.layers, (std::vector<uint16_t>{2, 4}));
    EXPECT_EQ(load.n_expert, 6);
    EXPECT_EQ(load.count(Phase::Think, 0, 5), 1);
    EXPECT_EQ(load.count(Phase::Think, 1, 0), 2);
    EXPECT_EQ(load.count(Phase::Answer, 0, 1), 1);                // layer 2's row was whole
    EXPECT_EQ(load.tokens(Phase::Answer, 1), 0);                  // layer 4's was not
    EXPECT_DOUBLE_EQ(load.weight_sum(Phase::Answer, 0, 1), 0.0);  // no weights recorded
}

}  // namespace
}  // namespace gb
