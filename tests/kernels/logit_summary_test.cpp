// The logit summary (kernels/logit_summary.h) against a plain long-double computation by
// definition on random rows of many lengths, ties, -inf, NaN and +inf rows, and the backend op
// (the CPU backend's and the copy-to-host default) against the row form.
#include "kernels/logit_summary.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/error.h"
#include "tests/forwarding_backend.h"

namespace gb {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

struct Ref {
    long double max = 0, log_z = 0, entropy = 0;
    std::vector<int32_t> order;  // every id, best first, ties to the lower id
};

Ref by_definition(const std::vector<float>& row) {
    Ref r;
    r.max = *std::max_element(row.begin(), row.end());
    long double z = 0;
    for (float l : row) z += std::exp(static_cast<long double>(l) - r.max);
    r.log_z = std::log(z);
    long double h = 0;
    for (float l : row) {
        const long double lp = (l - r.max) - r.log_z;
        if (std::isfinite(lp)) h -= std::exp(lp) * lp;
    }
    r.entropy = h;
    r.order.resize(row.size());
    std::iota(r.order.begin(), r.order.end(), 0);
    std::stable_sort(r.order.begin(), r.order.end(),
                     [&](int32_t a, int32_t b) { return row[a] > row[b]; });
    return r;
}

void expect_row(const std::vector<float>& row, int top_n, const std::string& what) {
    std::vector<float> stats(kLogitStats), top(top_n);
    std::vector<int32_t> ids(top_n);
    logit_summary_row(row.data(), static_cast<int64_t>(row.size()), top_n, stats.data(), ids.data(),
                      top.data());
    const Ref r = by_definition(row);
    EXPECT_EQ(stats[0], static_cast<float>(r.max)) << what;
    EXPECT_NEAR(stats[1], static_cast<double>(r.log_z), 2e-6 * std::max(1.0L, r.log_z)) << what;
    EXPECT_NEAR(stats[2], static_cast<double>(r.entropy), 2e-6 * std::max(1.0L, r.entropy)) << what;
    for (int j = 0; j < top_n; ++j) {
        if (j < static_cast<int>(row.size())) {
            EXPECT_EQ(ids[j], r.order[j]) << what << " rank " << j;
            EXPECT_EQ(top[j], row[r.order[j]]) << what << " rank " << j;
        } else {
            EXPECT_EQ(ids[j], -1) << what << " rank " << j << " past the row";
            EXPECT_TRUE(std::isnan(top[j])) << what;
        }
    }
}

TEST(LogitSummary, RandomRowsOfManyLengthsMatchTheDefinition) {
    std::mt19937 rng(7);
    for (int64_t n : {1, 2, 5, 15, 16, 17, 33, 1000, 1023, 1024, 1025, 4099, 151936}) {
        for (float spread : {0.5f, 3.0f, 40.0f}) {
            std::normal_distribution<float> d(2.0f, spread);
            std::vector<float> row(static_cast<size_t>(n));
            for (float& x : row) x = d(rng);
            for (int top_n : {0, 1, 5, 20})
                expect_row(row, top_n,
                           "n " + std::to_string(n) + " spread " + std::to_string(spread));
        }
    }
}

TEST(LogitSummary, TiesGoToTheLowerIdAndMinusInfinityHasNoMass) {
    // Quantised-looking logits: many exact ties, some of them in the top-N.
    std::mt19937 rng(3);
    std::uniform_int_distribution<int> q(-8, 8);
    std::vector<float> row(5000);
    for (float& x : row) x = 0.5f * static_cast<float>(q(rng));
    expect_row(row, 40, "ties");
    // Masked tokens (-inf) next to finite ones, a row with a single finite entry, and a huge
    // offset that a naive exp would overflow.
    std::vector<float> masked(300, -kInf);
    masked[7] = 1.0f, masked[100] = 3.0f, masked[299] = 3.0f;
    expect_row(masked, 5, "masked");
    std::vector<float> single(64, -kInf);
    single[10] = -5.0f;
    expect_row(single, 3, "single");
    std::vector<float> far(100);
    for (size_t i = 0; i < far.size(); ++i) far[i] = 1e4f + static_cast<float>(i % 7);
    expect_row(far, 4, "far");
}

TEST(LogitSummary, RowsWithoutADistributionGiveNaN) {
    for (const std::vector<float>& row :
         {std::vector<float>{0, NAN, 1}, std::vector<float>(20, -kInf),
          std::vector<float>{1, kInf, 2}}) {
        float stats[kLogitStats];
        int32_t ids[2];
        float top[2];
        logit_summary_row(row.data(), static_cast<int64_t>(row.size()), 2, stats, ids, top);
        for (float s : stats) EXPECT_TRUE(std::isnan(s));
        EXPECT_EQ(ids[0], -1);
        EXPECT_EQ(ids[1], -1);
    }
}

// The backend op: the CPU backend's (rows in parallel) and the default every backend inherits
// (rows copied to the host), against the row form.
TEST(LogitSummary, BackendOpsMatchTheRowForm) {
    cpu::CpuBackend cpu(2);
    test::ForwardingBackend fallback(std::make_unique<cpu::CpuBackend>(1));
    std::mt19937 rng(11);
    std::normal_distribution<float> d(0.0f, 4.0f);
    const int64_t rows = 9, cols = 3001;
    const int top_n = 6;
    std::vector<float> host(static_cast<size_t>(rows * cols));
    for (float& x : host) x = d(rng);
    std::vector<float> want_stats(rows * kLogitStats), want_top(rows * top_n);
    std::vector<int32_t> want_ids(rows * top_n);
    for (int64_t r = 0; r < rows; ++r)
        logit_summary_row(host.data() + r * cols, cols, top_n, want_stats.data() + r * kLogitStats,
                          want_ids.data() + r * top_n, want_top.data() + r * top_n);
    for (Backend* be : {static_cast<Backend*>(&cpu), static_cast<Backend*>(&fallback)}) {
        Act a = be->alloc(rows, cols);
        be->to_device(host.data(), a);
        std::vector<float> stats(rows * kLogitStats), top(rows * top_n);
        std::vector<int32_t> ids(rows * top_n);
        be->logit_summary(a, top_n, stats, ids, top);
        EXPECT_EQ(stats, want_stats);
        EXPECT_EQ(ids, want_ids);
        EXPECT_EQ(top, want_top);
        std::vector<float> short_stats(1);
        EXPECT_THROW(be->logit_summary(a, top_n, short_stats, ids, top), Error);
        EXPECT_THROW(be->logit_summary(a, -1, stats, ids, top), Error);
        be->release(a);
    }
}

}  // namespace
}  // namespace gb
