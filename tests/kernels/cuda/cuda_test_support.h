// Shared by the CUDA backend tests: the skip when no device is present, and moving test data
// into and out of a backend (CPU or CUDA) so that both run the same op on the same inputs.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
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

// The bytes of a KV cache tensor, read through the backend (its allocation is whole floats).
inline std::vector<uint8_t> kv_bytes(Backend& be, const KvTensor& t) {
    const int64_t n = (static_cast<int64_t>(t.bytes()) + 3) / 4;
    std::vector<float> f(static_cast<size_t>(n));
    be.to_host(Act{static_cast<float*>(t.data), 1, n}, f.data());
    std::vector<uint8_t> b(t.bytes());
    std::memcpy(b.data(), f.data(), b.size());
    return b;
}

// A KV cache layer of `type` holding k and v ([n_ctx x cols] floats each) from position 0.
inline KvLayer kv_layer(Backend& be, const std::vector<float>& k, int64_t k_cols,
                        const std::vector<float>& v, int64_t v_cols, int64_t n_ctx,
                        TensorType type) {
    KvLayer c{be.alloc_kv(n_ctx, k_cols, type), be.alloc_kv(n_ctx, v_cols, type)};
    Act ka = put(be, k, n_ctx, k_cols), va = put(be, v, n_ctx, v_cols);
    be.kv_store(c, ka, va, 0);
    be.release(ka);
    be.release(va);
    return c;
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
