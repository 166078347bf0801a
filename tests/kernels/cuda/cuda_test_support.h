// Shared by the CUDA backend tests: the skip when no device is present, and moving test data
// into and out of a backend (CPU or CUDA) so that both run the same op on the same inputs.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/cuda_device.h"

// Skips the test, with the CUDA runtime's own reason, on machines without a usable device.
#define GB_REQUIRE_CUDA()                                                                       \
    do {                                                                                        \
        std::string gb_why_;                                                                    \
        if (!gb::cuda::cuda_available(&gb_why_)) GTEST_SKIP() << "no CUDA device: " << gb_why_; \
    } while (0)

namespace gb::test {

inline std::vector<float> normal_floats(size_t n, uint32_t seed, float sigma = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, sigma);
    std::vector<float> v(n);
    for (auto& f : v) f = d(rng);
    return v;
}

// A backend matrix holding v (rows x cols).
inline Act put(Backend& be, const std::vector<float>& v, int64_t rows, int64_t cols) {
    Act a = be.alloc(rows, cols);
    if (rows * cols > 0) be.to_device(v.data(), a);
    return a;
}

inline std::vector<float> get(Backend& be, Act a) {
    std::vector<float> v(static_cast<size_t>(a.size()));
    be.to_host(a, v.data());
    return v;
}

// max |a - b| over all elements must be <= tol; reports the first worst index.
inline void expect_close(const std::vector<float>& got, const std::vector<float>& want, double tol,
                         const std::string& what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        const double d = std::fabs(static_cast<double>(got[i]) - want[i]);
        if (!(d <= worst)) worst = d, at = i;  // NaN counts as worst
    }
    EXPECT_LE(worst, tol) << what << ": element " << at << " is " << got[at] << ", expected "
                          << want[at];
}

inline double max_abs(const std::vector<float>& v) {
    double m = 0;
    for (float f : v) m = std::max(m, std::fabs(static_cast<double>(f)));
    return m;
}

}  // namespace gb::test
