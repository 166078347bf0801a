// "What if" distributions against the real Sampler: with the recorded alternatives as the whole
// vocabulary, 100,000 seeded draws land on each candidate at the computed rate (within 5
// standard errors), and never on a candidate the computation filters out.
#include "engine/sample/what_if.h"

#include <gtest/gtest.h>

#include <cmath>

#include "engine/sample/sampler.h"
#include "kernels/error.h"

namespace gb {
namespace {

TEST(WhatIf, MatchesTheSamplersDraws) {
    // Log-probabilities of 8 alternatives, most likely first (a fork token: two close leaders).
    const std::vector<float> lp = {-0.9f, -1.1f, -2.0f, -2.6f, -3.5f, -4.0f, -5.5f, -7.0f};
    struct Case {
        float t;
        int k;
        float p, min_p;
    } cases[] = {{1.0f, 0, 1.0f, 0.0f}, {0.5f, 0, 1.0f, 0.0f}, {1.5f, 3, 1.0f, 0.0f},
                 {1.0f, 0, 0.7f, 0.0f}, {1.0f, 0, 1.0f, 0.1f}, {0.8f, 5, 0.9f, 0.05f},
                 {2.0f, 8, 0.95f, 0.0f}};
    for (const Case& c : cases) {
        SamplerSettings s;
        s.temperature = c.t;
        s.top_k = c.k;
        s.top_p = c.p;
        s.min_p = c.min_p;
        s.seed = 12345;
        SCOPED_TRACE(testing::Message()
                     << "T " << c.t << " k " << c.k << " p " << c.p << " min_p " << c.min_p);
        const std::vector<double> want = what_if_distribution(lp, s);
        double total = 0;
        for (double x : want) total += x;
        EXPECT_NEAR(total, 1.0, 1e-12);
        Sampler sampler(s, static_cast<int>(lp.size()));
        std::vector<int> seen(lp.size(), 0);
        constexpr int kDraws = 100000;
        for (int i = 0; i < kDraws; ++i) ++seen[static_cast<size_t>(sampler.sample(lp))];
        for (size_t j = 0; j < lp.size(); ++j) {
            const double f = static_cast<double>(seen[j]) / kDraws;
            if (want[j] == 0) {
                EXPECT_EQ(seen[j], 0) << "candidate " << j << " is filtered out";
            } else {
                EXPECT_NEAR(f, want[j], 5 * std::sqrt(want[j] * (1 - want[j]) / kDraws) + 1e-9)
                    << j;
            }
        }
    }
}

TEST(WhatIf, GreedyAndEdgeCases) {
    SamplerSettings g;
    g.temperature = 0;
    EXPECT_EQ(what_if_distribution(std::vector<float>{-2.0f, -0.1f, -3.0f}, g),
              (std::vector<double>{0, 1, 0}));
    SamplerSettings s;
    s.top_k = 0;
    s.top_p = 1;
    s.min_p = 0;
    s.temperature = 1;
    // Temperature 1 and no filter: the recorded probabilities renormalised over the candidates.
    const std::vector<double> d =
        what_if_distribution(std::vector<float>{std::log(0.5f), std::log(0.25f), -INFINITY}, s);
    EXPECT_NEAR(d[0], 2.0 / 3, 1e-7);
    EXPECT_NEAR(d[1], 1.0 / 3, 1e-7);
    EXPECT_EQ(d[2], 0);
    EXPECT_TRUE(what_if_distribution(std::vector<float>{}, s).empty());
    s.top_p = 2;
    EXPECT_THROW(what_if_distribution(std::vector<float>{-1.0f}, s), Error);
}

}  // namespace
}  // namespace gb
