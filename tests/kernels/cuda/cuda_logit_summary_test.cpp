// CudaBackend::logit_summary against the CPU reference (kernels/logit_summary.h) on the same
// rows: random rows of vocabulary sizes, exact ties, masked (-inf) entries, NaN and +inf rows,
// rows shorter than top_n. Stats within 3e-5 relative (the GPU sums in float with its fast exp),
// top ids and logits exactly (a selection, no arithmetic).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/logit_summary.h"
#include "tests/kernels/cuda/cuda_test_support.h"

namespace gb {
namespace {

void check(cuda::CudaBackend& gpu, const std::vector<float>& rows_data, int64_t rows, int64_t cols,
           int top_n, const std::string& what) {
    Act a = test::put(gpu, rows_data, rows, cols);
    std::vector<float> stats(rows * kLogitStats), top(rows * top_n);
    std::vector<int32_t> ids(rows * top_n);
    gpu.logit_summary(a, top_n, stats, ids, top);
    gpu.release(a);
    for (int64_t r = 0; r < rows; ++r) {
        float ws[kLogitStats];
        std::vector<int32_t> wi(top_n);
        std::vector<float> wt(top_n);
        logit_summary_row(rows_data.data() + r * cols, cols, top_n, ws, wi.data(), wt.data());
        const std::string at = what + " row " + std::to_string(r);
        for (int k = 0; k < kLogitStats; ++k) {
            if (std::isnan(ws[k])) {
                EXPECT_TRUE(std::isnan(stats[r * kLogitStats + k])) << at << " stat " << k;
            } else {
                EXPECT_NEAR(stats[r * kLogitStats + k], ws[k],
                            3e-5 * std::max(1.0f, std::fabs(ws[k])))
                    << at << " stat " << k;
            }
        }
        for (int j = 0; j < top_n; ++j) {
            EXPECT_EQ(ids[r * top_n + j], wi[j]) << at << " rank " << j;
            if (wi[j] >= 0) {
                EXPECT_EQ(top[r * top_n + j], wt[j]) << at << " rank " << j;
            }
        }
    }
}

TEST(CudaLogitSummary, MatchesTheReference) {
    GB_REQUIRE_CUDA();
    cuda::CudaBackend gpu;
    for (int64_t cols : {int64_t{3}, int64_t{1000}, int64_t{32000}, int64_t{151936}}) {
        const int64_t rows = cols > 100000 ? 2 : 5;
        for (float sigma : {0.5f, 4.0f, 30.0f})
            check(gpu, test::normal_floats(rows * cols, static_cast<uint32_t>(cols), sigma), rows,
                  cols, 5, "cols " + std::to_string(cols) + " sigma " + std::to_string(sigma));
    }
    // top_n larger than the row, and the CLI's largest top_n.
    check(gpu, test::normal_floats(2 * 50, 3), 2, 50, 64, "short rows");
    check(gpu, test::normal_floats(3 * 20000, 4), 3, 20000, 100, "top 100");
}

TEST(CudaLogitSummary, TiesMaskedAndDegenerateRows) {
    GB_REQUIRE_CUDA();
    cuda::CudaBackend gpu;
    const float inf = std::numeric_limits<float>::infinity();
    const int64_t cols = 4096;
    std::vector<float> v(5 * cols);
    std::mt19937 rng(5);
    std::uniform_int_distribution<int> q(-6, 6);
    for (int64_t i = 0; i < cols; ++i) v[i] = 0.25f * static_cast<float>(q(rng));  // ties
    for (int64_t i = 0; i < cols; ++i) v[cols + i] = i % 97 == 0 ? 1.0f + (i % 5) : -inf;
    for (int64_t i = 0; i < cols; ++i) v[2 * cols + i] = static_cast<float>(i % 11);
    v[2 * cols + 77] = std::numeric_limits<float>::quiet_NaN();  // a NaN row
    for (int64_t i = 0; i < cols; ++i) v[3 * cols + i] = -inf;   // nothing finite
    for (int64_t i = 0; i < cols; ++i) v[4 * cols + i] = static_cast<float>(i % 13);
    v[4 * cols + 9] = inf;  // a +inf row
    check(gpu, v, 5, cols, 8, "special rows");
}

}  // namespace
}  // namespace gb
