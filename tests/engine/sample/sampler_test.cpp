// Tests of the sampler chain: each stage on hand-made distributions whose answer is derivable
// by hand, penalties, determinism, draw frequencies, and a naive reference at vocab 150k.
#include "engine/sample/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "engine/sample/rng.h"
#include "kernels/error.h"

namespace gb {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

std::vector<float> log_probs(std::initializer_list<double> p) {
    std::vector<float> out;
    for (double x : p) out.push_back(static_cast<float>(std::log(x)));
    return out;
}

SamplerSettings plain(float temperature = 1.0f) {
    SamplerSettings s;
    s.temperature = temperature;
    s.top_k = 0;
    s.top_p = 1.0f;
    s.min_p = 0.0f;
    s.seed = 1234;
    return s;
}

// Draws n tokens (no accept(), so no penalties build up) and returns their frequencies.
std::vector<double> frequencies(const SamplerSettings& s, const std::vector<float>& logits,
                                int n = 20000) {
    Sampler sampler(s, static_cast<int>(logits.size()));
    std::vector<double> f(logits.size(), 0.0);
    for (int i = 0; i < n; ++i) f[static_cast<size_t>(sampler.sample(logits))] += 1.0 / n;
    return f;
}

// Each frequency within 5 standard errors of the expected probability (a fixed seed makes the
// test deterministic; the tolerance says how far a correct sampler could plausibly be).
void expect_frequencies(const std::vector<double>& got, const std::vector<double>& want,
                        int n = 20000) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
        const double se = std::sqrt(std::max(want[i] * (1 - want[i]), 1e-12) / n);
        if (want[i] == 0)
            EXPECT_EQ(got[i], 0.0) << "token " << i;
        else
            EXPECT_NEAR(got[i], want[i], 5 * se) << "token " << i;
    }
}

std::string validate_error(SamplerSettings s) {
    try {
        validate(s);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(Rng, MatchesIndependentReference) {
    // From tests/engine/sample/gen_reference.py (Python integers, written from the paper).
    struct Case {
        uint64_t seed;
        uint64_t out[4];
    } cases[] = {
        {0ull,
         {11091344671253066420ull, 13793997310169335082ull, 1900383378846508768ull,
          7684712102626143532ull}},
        {42ull,
         {1546998764402558742ull, 6990951692964543102ull, 12544586762248559009ull,
          17057574109182124193ull}},
        {18446744073709551615ull,
         {10328197420357168392ull, 14156678507024973869ull, 9357971779955476126ull,
          13791585006304312367ull}},
    };
    for (const Case& c : cases) {
        Xoshiro256 rng(c.seed);
        for (uint64_t want : c.out) EXPECT_EQ(rng.next(), want) << "seed " << c.seed;
    }
}

TEST(Rng, UniformIsInUnitInterval) {
    Xoshiro256 rng(5);
    double sum = 0;
    for (int i = 0; i < 100000; ++i) {
        const double u = rng.uniform();
        ASSERT_GE(u, 0.0);
        ASSERT_LT(u, 1.0);
        sum += u;
    }
    EXPECT_NEAR(sum / 100000, 0.5, 0.005);
}

TEST(SamplerValidate, NamesFieldAndRange) {
    auto with = [](auto f) {
        SamplerSettings s;
        f(s);
        return validate_error(s);
    };
    EXPECT_EQ(validate_error(SamplerSettings{}), "");
    EXPECT_NE(with([](auto& s) { s.temperature = -0.1f; }).find("temperature"), std::string::npos);
    EXPECT_NE(with([](auto& s) { s.temperature = NAN; }).find(">= 0"), std::string::npos);
    EXPECT_NE(with([](auto& s) { s.top_k = -1; }).find("top_k = -1"), std::string::npos);
    EXPECT_NE(with([](auto& s) { s.top_p = 1.5f; }).find("top_p = 1.5"), std::string::npos);
    EXPECT_NE(with([](auto& s) { s.top_p = 1.5f; }).find("0..1"), std::string::npos);
    EXPECT_NE(with([](auto& s) { s.min_p = -0.01f; }).find("min_p"), std::string::npos);
    EXPECT_NE(with([](auto& s) { s.repeat_penalty = 0; }).find("repeat_penalty"),
              std::string::npos);
    EXPECT_NE(with([](auto& s) { s.repeat_penalty = INFINITY; }).find("> 0"), std::string::npos);
    EXPECT_NE(with([](auto& s) { s.repeat_last_n = -2; }).find("repeat_last_n = -2"),
              std::string::npos);
    EXPECT_NE(with([](auto& s) { s.frequency_penalty = 2.5f; }).find("frequency_penalty"),
              std::string::npos);
    EXPECT_NE(with([](auto& s) { s.presence_penalty = -3; }).find("-2..2"), std::string::npos);
    // Edges of each range are allowed.
    EXPECT_EQ(with([](auto& s) {
                  s.temperature = 0;
                  s.top_k = 0;
                  s.top_p = 0;
                  s.min_p = 1;
                  s.repeat_last_n = -1;
                  s.frequency_penalty = 2;
                  s.presence_penalty = -2;
              }),
              "");
    SamplerSettings bad;
    bad.top_p = 2;
    EXPECT_THROW(Sampler(bad, 10), Error);
    EXPECT_THROW(Sampler(SamplerSettings{}, 0), Error);
}

TEST(SamplerGreedy, ArgmaxTiesToLowestId) {
    Sampler s(plain(0.0f), 5);
    const std::vector<float> logits = {1, 3, -2, 3, 2};
    for (int i = 0; i < 10; ++i) EXPECT_EQ(s.sample(logits), 1);
    const std::vector<float> masked = {kNegInf, kNegInf, -50, kNegInf, -60};
    EXPECT_EQ(s.sample(masked), 2);
    // Negative temperature is rejected by validate(), but greedy() already treats <= 0 alike.
    EXPECT_TRUE(plain(-1.0f).greedy());
}

TEST(SamplerTopK, KeepsKHighestRenormalised) {
    // [0.1, 0.4, 0.3, 0.2] with k = 2 keeps ids 1 and 2: 0.4/0.7 and 0.3/0.7.
    SamplerSettings s = plain();
    s.top_k = 2;
    expect_frequencies(frequencies(s, log_probs({0.1, 0.4, 0.3, 0.2})), {0, 4.0 / 7, 3.0 / 7, 0});
    s.top_k = 1;
    expect_frequencies(frequencies(s, log_probs({0.1, 0.4, 0.3, 0.2})), {0, 1, 0, 0});
    // Ties at the cut go to the lower id: with k = 2 over [1, 2, 1, 1], ids 1 and 0 survive.
    s.top_k = 2;
    const std::vector<float> tied = {1, 2, 1, 1};
    const double e = std::exp(1.0);
    expect_frequencies(frequencies(s, tied), {1 / (1 + e), e / (1 + e), 0, 0});
}

TEST(SamplerTopP, SmallestPrefixReachingP) {
    SamplerSettings s = plain();
    const auto logits = log_probs({0.4, 0.3, 0.2, 0.1});
    s.top_p = 0.5f;  // 0.4 < 0.5 <= 0.7: keeps 2
    expect_frequencies(frequencies(s, logits), {4.0 / 7, 3.0 / 7, 0, 0});
    s.top_p = 0.75f;  // 0.7 < 0.75 <= 0.9: keeps 3
    expect_frequencies(frequencies(s, logits), {4.0 / 9, 3.0 / 9, 2.0 / 9, 0});
    s.top_p = 0.0f;  // always at least one
    expect_frequencies(frequencies(s, logits), {1, 0, 0, 0});
    s.top_p = 0.3f;
    expect_frequencies(frequencies(s, logits), {1, 0, 0, 0});
}

TEST(SamplerTopP, MeasuredOnTopKSurvivors) {
    // top-k = 3 renormalises to [4/9, 3/9, 2/9]; top-p = 0.75 then stops at 7/9 with two tokens
    // (over the full distribution it would have needed three: 0.7 < 0.75).
    SamplerSettings s = plain();
    s.top_k = 3;
    s.top_p = 0.75f;
    expect_frequencies(frequencies(s, log_probs({0.4, 0.3, 0.2, 0.1})), {4.0 / 7, 3.0 / 7, 0, 0});
}

TEST(SamplerTopP, WalksPastTheFirstSortedChunk) {
    // 1000 equal tokens: top-p = 0.5005 needs 501 of them (0.500 < 0.5005 <= 0.501), more
    // than the first sorted chunk (64). Not 0.5 exactly: rounding would decide 500 or 501.
    SamplerSettings s = plain();
    s.top_p = 0.5005f;
    Sampler sampler(s, 1000);
    const std::vector<float> flat(1000, 0.0f);
    std::set<int32_t> seen;
    for (int i = 0; i < 20000; ++i) seen.insert(sampler.sample(flat));
    // Ties rank by id, so exactly ids 0..500 survive.
    EXPECT_EQ(seen.size(), 501u);
    EXPECT_EQ(*seen.begin(), 0);
    EXPECT_EQ(*seen.rbegin(), 500);
}

TEST(SamplerMinP, DropsBelowFractionOfMax) {
    SamplerSettings s = plain();
    const auto logits = log_probs({0.4, 0.3, 0.2, 0.1});
    s.min_p = 0.6f;  // threshold 0.24: keeps 0.4 and 0.3
    expect_frequencies(frequencies(s, logits), {4.0 / 7, 3.0 / 7, 0, 0});
    s.min_p = 0.3f;  // threshold 0.12: keeps three
    expect_frequencies(frequencies(s, logits), {4.0 / 9, 3.0 / 9, 2.0 / 9, 0});
    s.min_p = 1.0f;  // only the maximum
    expect_frequencies(frequencies(s, logits), {1, 0, 0, 0});
    // With top-p too, the shorter prefix wins: top-p 0.95 keeps 4, min-p 0.6 keeps 2.
    s.min_p = 0.6f;
    s.top_p = 0.95f;
    expect_frequencies(frequencies(s, logits), {4.0 / 7, 3.0 / 7, 0, 0});
    // ...and the other way round: top-p 0.5 keeps 2, min-p 0.3 keeps 3.
    s.min_p = 0.3f;
    s.top_p = 0.5f;
    expect_frequencies(frequencies(s, logits), {4.0 / 7, 3.0 / 7, 0, 0});
}

TEST(SamplerTemperature, ScalesLogitsAfterFiltering) {
    // T = 2 turns p into sqrt(p) / sum sqrt(p).
    const std::vector<double> p = {0.4, 0.3, 0.2, 0.1};
    std::vector<double> want;
    double z = 0;
    for (double x : p) z += std::sqrt(x);
    for (double x : p) want.push_back(std::sqrt(x) / z);
    expect_frequencies(frequencies(plain(2.0f), log_probs({0.4, 0.3, 0.2, 0.1})), want);
    // T = 0.5 squares: [16, 9, 4, 1] / 30.
    expect_frequencies(frequencies(plain(0.5f), log_probs({0.4, 0.3, 0.2, 0.1})),
                       {16.0 / 30, 9.0 / 30, 4.0 / 30, 1.0 / 30});
    // Filters see the untempered distribution: min-p 0.6 keeps {0.4, 0.3} even at T = 100,
    // where the tempered probabilities would all pass.
    SamplerSettings s = plain(100.0f);
    s.min_p = 0.6f;
    const double a = std::pow(0.4, 0.01), b = std::pow(0.3, 0.01);
    expect_frequencies(frequencies(s, log_probs({0.4, 0.3, 0.2, 0.1})),
                       {a / (a + b), b / (a + b), 0, 0});
}

TEST(SamplerDraw, MaskedTokensNeverChosen) {
    const std::vector<float> logits = {kNegInf, 0, kNegInf, 0};
    expect_frequencies(frequencies(plain(), logits), {0, 0.5, 0, 0.5});
}

TEST(SamplerPenalties, RepetitionDividesPositiveMultipliesNegative) {
    SamplerSettings s = plain(0.0f);
    s.repeat_penalty = 2.0f;
    {
        Sampler sampler(s, 3);
        const std::vector<float> logits = {2.0f, 1.5f, -1.0f};
        EXPECT_EQ(sampler.sample(logits), 0);
        sampler.accept(0);  // 2.0 -> 1.0 < 1.5
        EXPECT_EQ(sampler.sample(logits), 1);
    }
    {
        Sampler sampler(s, 2);
        const std::vector<float> logits = {-1.0f, -1.5f};
        sampler.accept(0);  // -1.0 -> -2.0 < -1.5 (dividing would have raised it to -0.5)
        EXPECT_EQ(sampler.sample(logits), 1);
    }
    {
        // A token repeated in the window is penalised once, not once per occurrence.
        Sampler sampler(s, 2);
        const std::vector<float> logits = {2.0f, 0.9f};
        for (int i = 0; i < 5; ++i) sampler.accept(0);  // 2.0 -> 1.0 > 0.9
        EXPECT_EQ(sampler.sample(logits), 0);
    }
}

TEST(SamplerPenalties, FrequencyCountsPresenceDoesNot) {
    SamplerSettings s = plain(0.0f);
    const std::vector<float> logits = {1.0f, 0.5f};
    s.frequency_penalty = 0.3f;
    {
        Sampler sampler(s, 2);
        sampler.accept(0);  // 1.0 - 0.3 = 0.7 > 0.5
        EXPECT_EQ(sampler.sample(logits), 0);
        sampler.accept(0);  // 1.0 - 0.6 = 0.4 < 0.5
        EXPECT_EQ(sampler.sample(logits), 1);
    }
    s.frequency_penalty = 0;
    s.presence_penalty = 0.4f;
    {
        Sampler sampler(s, 2);
        for (int i = 0; i < 3; ++i) sampler.accept(0);  // 1.0 - 0.4 = 0.6 > 0.5 whatever the count
        EXPECT_EQ(sampler.sample(logits), 0);
    }
    s.presence_penalty = -0.4f;  // negative values encourage repetition
    {
        Sampler sampler(s, 2);
        sampler.accept(1);  // 0.5 + 0.4 = 0.9 < 1.0
        EXPECT_EQ(sampler.sample(logits), 0);
    }
    s.presence_penalty = -0.6f;
    {
        Sampler sampler(s, 2);
        sampler.accept(1);  // 0.5 + 0.6 = 1.1 > 1.0
        EXPECT_EQ(sampler.sample(logits), 1);
    }
}

TEST(SamplerPenalties, ChangeTheDistributionExactly) {
    // Equal logits, presence penalty ln 2 on token 0: p = [1/3, 2/3].
    SamplerSettings s = plain();
    s.presence_penalty = static_cast<float>(std::log(2.0));
    Sampler sampler(s, 2);
    sampler.accept(0);
    const std::vector<float> logits = {0, 0};
    std::vector<double> f(2, 0);
    for (int i = 0; i < 20000; ++i) f[static_cast<size_t>(sampler.sample(logits))] += 1.0 / 20000;
    expect_frequencies(f, {1.0 / 3, 2.0 / 3});
}

TEST(SamplerPenalties, WindowSlides) {
    SamplerSettings s = plain(0.0f);
    s.presence_penalty = 1.0f;
    s.repeat_last_n = 2;
    const std::vector<float> logits = {1.0f, 0.5f, 0.0f, 0.0f};
    Sampler sampler(s, 4);
    sampler.accept(0);
    EXPECT_EQ(sampler.sample(logits), 1);  // 0 penalised to 0.0
    sampler.accept(2);
    EXPECT_EQ(sampler.sample(logits), 1);  // window {0, 2}
    sampler.accept(3);
    EXPECT_EQ(sampler.sample(logits), 0);  // window {2, 3}: 0 has left it
    sampler.reset();
    sampler.accept(0);
    EXPECT_EQ(sampler.sample(logits), 1);

    s.repeat_last_n = 0;  // no window: penalties off
    Sampler off(s, 4);
    off.accept(0);
    EXPECT_EQ(off.sample(logits), 0);

    s.repeat_last_n = -1;  // the whole history
    Sampler all(s, 4);
    all.accept(0);
    for (int i = 0; i < 1000; ++i) all.accept(2);
    EXPECT_EQ(all.sample(logits), 1);
}

TEST(SamplerDeterminism, SameSeedSameTokensDifferentSeedsDiffer) {
    std::mt19937 gen(3);
    std::normal_distribution<float> nd(0, 3);
    std::vector<float> logits(1000);
    for (float& l : logits) l = nd(gen);
    SamplerSettings s;  // defaults: top-k 40, top-p 0.95, min-p 0.05, T 0.8
    s.temperature = 1.5f;
    s.min_p = 0;
    s.seed = 99;
    auto run = [&](uint64_t seed) {
        SamplerSettings t = s;
        t.seed = seed;
        Sampler sampler(t, 1000);
        std::vector<int32_t> out;
        for (int i = 0; i < 200; ++i) out.push_back(sampler.sample(logits));
        return out;
    };
    EXPECT_EQ(run(99), run(99));
    EXPECT_NE(run(99), run(100));
    EXPECT_NE(run(0), run(1));
    // reset() restarts from the seed.
    Sampler sampler(s, 1000);
    std::vector<int32_t> a, b;
    for (int i = 0; i < 50; ++i) a.push_back(sampler.sample(logits));
    sampler.reset();
    for (int i = 0; i < 50; ++i) b.push_back(sampler.sample(logits));
    EXPECT_EQ(a, b);
}

TEST(SamplerErrors, BadInputsAreNamed) {
    Sampler s(plain(), 3);
    EXPECT_THROW(s.sample(std::vector<float>{1, 2}), Error);
    EXPECT_THROW(s.sample(std::vector<float>{1, NAN, 2}), Error);
    EXPECT_THROW(s.sample(std::vector<float>{1, INFINITY, 2}), Error);
    EXPECT_THROW(s.sample(std::vector<float>{kNegInf, kNegInf, kNegInf}), Error);
    EXPECT_THROW(s.accept(3), Error);
    EXPECT_THROW(s.accept(-1), Error);
    try {
        s.sample(std::vector<float>{1, NAN, 2});
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("token 1 is NaN"), std::string::npos) << e.what();
    }
}

// The chain written the obvious way: penalties, full sort, cut, temperature, draw walking ids
// in order with the same generator. The real sampler must pick exactly the same tokens.
int32_t naive_sample(const SamplerSettings& s, std::vector<float> l,
                     const std::vector<int32_t>& hist, Xoshiro256& rng) {
    const size_t n = l.size();
    std::map<int32_t, int> count;
    const size_t from =
        s.repeat_last_n < 0 ? 0 : hist.size() - std::min(hist.size(), size_t(s.repeat_last_n));
    for (size_t i = from; i < hist.size(); ++i) ++count[hist[i]];
    for (auto [t, c] : count) {
        float& x = l[static_cast<size_t>(t)];
        x = x > 0 ? x / s.repeat_penalty : x * s.repeat_penalty;
        x -= c * s.frequency_penalty + s.presence_penalty;
    }
    std::vector<int32_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](int32_t a, int32_t b) { return l[a] > l[b] || (l[a] == l[b] && a < b); });
    size_t keep = s.top_k > 0 ? std::min(n, size_t(s.top_k)) : n;
    const double m = l[order[0]];
    double z = 0;
    for (size_t i = 0; i < keep; ++i) z += std::exp(l[order[i]] - m);
    if (s.top_p < 1) {
        double cum = 0;
        for (size_t i = 0; i < keep; ++i) {
            cum += std::exp(l[order[i]] - m) / z;
            if (cum >= s.top_p) {
                keep = i + 1;
                break;
            }
        }
    }
    if (s.min_p > 0) {
        size_t j = 0;
        while (j < keep && l[order[j]] >= m + std::log(double(s.min_p))) ++j;
        keep = j;
    }
    std::vector<char> alive(n, 0);
    for (size_t i = 0; i < keep; ++i) alive[order[i]] = 1;
    std::vector<double> w(n, 0);
    double total = 0;
    for (size_t i = 0; i < n; ++i)
        if (alive[i]) total += w[i] = std::exp((l[i] - m) / double(s.temperature));
    const double u = rng.uniform() * total;
    double acc = 0;
    int32_t last = -1;
    for (size_t i = 0; i < n; ++i) {
        if (!alive[i]) continue;
        acc += w[i];
        last = static_cast<int32_t>(i);
        if (u < acc) return last;
    }
    return last;
}

TEST(SamplerReference, MatchesNaiveChainAtVocab150k) {
    constexpr int kVocab = 151936;  // Qwen2/Qwen3
    std::mt19937 gen(17);
    std::normal_distribution<float> nd(0, 2.5f);
    std::vector<float> logits(kVocab);
    struct Config {
        int top_k;
        float top_p, min_p, temp, rep, freq, pres;
        int last_n;
    } configs[] = {
        {40, 0.95f, 0.05f, 0.8f, 1.0f, 0, 0, 64},     // the defaults
        {0, 0.9f, 0.0f, 1.0f, 1.1f, 0.2f, 0.1f, 64},  // top-p over the whole vocabulary
        {0, 1.0f, 0.0f, 1.3f, 1.0f, 0, 0, 0},         // nothing but temperature
        {0, 1.0f, 0.1f, 0.7f, 1.3f, 0, 0.5f, -1},    {1000, 0.5f, 0.0f, 2.0f, 1.0f, 0.5f, 0, 16},
    };
    for (const Config& c : configs) {
        double total_ms = 0;
        int n_samples = 0;
        SamplerSettings s;
        s.top_k = c.top_k;
        s.top_p = c.top_p;
        s.min_p = c.min_p;
        s.temperature = c.temp;
        s.repeat_penalty = c.rep;
        s.frequency_penalty = c.freq;
        s.presence_penalty = c.pres;
        s.repeat_last_n = c.last_n;
        s.seed = 2024;
        Sampler sampler(s, kVocab);
        Xoshiro256 ref_rng(s.seed);
        std::vector<int32_t> hist;
        for (int step = 0; step < 12; ++step) {
            // A peaked row (a few dominant tokens, as real models give) every other step.
            for (float& l : logits) l = nd(gen);
            if (step % 2 == 0)
                for (int j = 0; j < 5; ++j) logits[gen() % kVocab] += 12.0f;
            const auto t0 = std::chrono::steady_clock::now();
            const int32_t got = sampler.sample(logits);
            total_ms +=
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                    .count();
            ++n_samples;
            const int32_t want = naive_sample(s, logits, hist, ref_rng);
            ASSERT_EQ(got, want) << "config top_k=" << c.top_k << " top_p=" << c.top_p << " step "
                                 << step;
            sampler.accept(got);
            hist.push_back(got);
        }
        std::printf(
            "[ info ] sample() at vocab %d, top_k %d top_p %.2f min_p %.2f: %.3f ms/token\n",
            kVocab, c.top_k, c.top_p, c.min_p, total_ms / n_samples);
    }
}

}  // namespace
}  // namespace gb
