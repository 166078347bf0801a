// CUDA ops against CPU references computed here in double precision, on random data including
// odd sizes. Every test skips (with the runtime's reason) on machines without a CUDA device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/error.h"

#ifdef GLASSBOX_HAVE_CUDA

#include "kernels/cuda/cuda_device.h"
#include "kernels/cuda/cuda_ops.h"

namespace {

#define GB_REQUIRE_CUDA()                                                                       \
    do {                                                                                        \
        std::string gb_why_;                                                                    \
        if (!gb::cuda::cuda_available(&gb_why_)) GTEST_SKIP() << "no CUDA device: " << gb_why_; \
    } while (0)

// IEEE binary16 bits -> float, written from the format's definition (not from the code under test).
double half_to_double(uint16_t h) {
    const int sign = h >> 15;
    const int exp = (h >> 10) & 0x1f;
    const int mant = h & 0x3ff;
    double v;
    if (exp == 0)
        v = std::ldexp(mant, -24);  // zero / subnormal
    else if (exp == 31)
        v = mant ? NAN : INFINITY;
    else
        v = std::ldexp(1024 + mant, exp - 25);  // (1 + m/1024) * 2^(exp-15)
    return sign ? -v : v;
}

// A random normal fp16 with unbiased exponent in [lo, hi] and random sign.
uint16_t random_half(std::mt19937& rng, int lo, int hi) {
    std::uniform_int_distribution<int> e(lo + 15, hi + 15), m(0, 1023), s(0, 1);
    return static_cast<uint16_t>((s(rng) << 15) | (e(rng) << 10) | m(rng));
}

std::vector<float> random_floats(std::mt19937& rng, size_t n, float lo, float hi) {
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (auto& f : v) f = d(rng);
    return v;
}

// ---- RMSNorm --------------------------------------------------------------------------------
// Tolerance (fp32 kernel): |err| <= 1e-5 * |ref| + 1e-7. Every output element is a product of x,
// w and one per-row scale, so its error is relative; the scale's error comes from an fp32 sum of
// squares (depth <= cols/32 + 10 in the kernel) and rsqrtf (2 ulp), both far below 1e-5.

void check_rmsnorm(int64_t rows, int64_t cols, float eps, bool in_place, uint32_t seed) {
    SCOPED_TRACE("rows=" + std::to_string(rows) + " cols=" + std::to_string(cols) +
                 (in_place ? " in place" : ""));
    std::mt19937 rng(seed);
    const auto x = random_floats(rng, rows * cols, -3.0f, 3.0f);
    const auto w = random_floats(rng, cols, -2.0f, 2.0f);

    std::vector<float> got = x;  // in place: the op reads and writes the same array
    std::vector<float> separate(rows * cols, NAN);
    gb::cuda::Context ctx;
    if (in_place)
        gb::cuda::rmsnorm_host(ctx, got.data(), w.data(), rows, cols, eps, got.data());
    else
        gb::cuda::rmsnorm_host(ctx, x.data(), w.data(), rows, cols, eps, separate.data());
    const std::vector<float>& out = in_place ? got : separate;

    for (int64_t r = 0; r < rows; ++r) {
        double ss = 0;
        for (int64_t c = 0; c < cols; ++c) ss += double(x[r * cols + c]) * x[r * cols + c];
        const double inv = 1.0 / std::sqrt(ss / cols + eps);
        for (int64_t c = 0; c < cols; ++c) {
            const double ref = x[r * cols + c] * inv * w[c];
            ASSERT_NEAR(out[r * cols + c], ref, 1e-5 * std::fabs(ref) + 1e-7)
                << "at row " << r << " col " << c;
        }
    }
}

TEST(CudaOps, RmsNormMatchesReference) {
    GB_REQUIRE_CUDA();
    const int64_t shapes[][2] = {{1, 1},   {3, 17},   {5, 255},  {2, 256},
                                 {7, 257}, {4, 4096}, {2, 5001}, {64, 896}};
    uint32_t seed = 1;
    for (const auto& s : shapes) check_rmsnorm(s[0], s[1], 1e-6f, false, seed++);
    check_rmsnorm(3, 1000, 1e-5f, false, seed++);
}

TEST(CudaOps, RmsNormInPlace) {
    GB_REQUIRE_CUDA();
    check_rmsnorm(5, 33, 1e-6f, true, 11);
    check_rmsnorm(9, 2048, 1e-6f, true, 12);
}

TEST(CudaOps, RmsNormZeroRowsIsANoOp) {
    GB_REQUIRE_CUDA();
    gb::cuda::Context ctx;
    const float w = 1.0f;
    gb::cuda::rmsnorm_host(ctx, nullptr, &w, 0, 1, 1e-6f, nullptr);
}

// ---- Q8_0 matrix-vector product -------------------------------------------------------------
// Tolerance (fp32 accumulation): |err| <= 2e-5 * sum_i |d_b q_i x_i|. Quants and scales are exact
// in float, each lane adds cols/128 block partials, then 5 shuffle steps: a rounding error bound
// of ~(cols/128 + 8) * 2^-24 relative to the sum of magnitudes, 2.5e-6 at cols = 4096.

// Q8_0 block as bytes: fp16 scale (little-endian), then 32 int8 quants.
std::vector<uint8_t> random_q8_0(std::mt19937& rng, int64_t rows, int64_t cols) {
    const int64_t nb = rows * cols / 32;
    std::vector<uint8_t> bytes(nb * 34);
    std::uniform_int_distribution<int> q(-128, 127);
    for (int64_t b = 0; b < nb; ++b) {
        uint8_t* blk = bytes.data() + b * 34;
        const uint16_t d = random_half(rng, -9, -5);
        blk[0] = d & 0xff;
        blk[1] = d >> 8;
        for (int i = 0; i < 32; ++i) blk[2 + i] = static_cast<uint8_t>(static_cast<int8_t>(q(rng)));
    }
    return bytes;
}

void check_matvec_q8_0(int64_t rows, int64_t cols, uint32_t seed) {
    SCOPED_TRACE("rows=" + std::to_string(rows) + " cols=" + std::to_string(cols));
    std::mt19937 rng(seed);
    const auto w = random_q8_0(rng, rows, cols);
    const auto x = random_floats(rng, cols, -2.0f, 2.0f);
    std::vector<float> y(rows, NAN);
    gb::cuda::Context ctx;
    gb::cuda::matvec_q8_0_host(ctx, w.data(), rows, cols, x.data(), y.data());

    const int64_t nb = cols / 32;
    for (int64_t r = 0; r < rows; ++r) {
        double ref = 0, mag = 0;
        for (int64_t b = 0; b < nb; ++b) {
            const uint8_t* blk = w.data() + (r * nb + b) * 34;
            const double d = half_to_double(static_cast<uint16_t>(blk[0] | (blk[1] << 8)));
            double s = 0, sm = 0;
            for (int i = 0; i < 32; ++i) {
                const double t = static_cast<int8_t>(blk[2 + i]) * double(x[b * 32 + i]);
                s += t;
                sm += std::fabs(t);
            }
            ref += d * s;
            mag += std::fabs(d) * sm;
        }
        ASSERT_NEAR(y[r], ref, 2e-5 * mag) << "at row " << r;
    }
}

TEST(CudaOps, MatvecQ8_0MatchesReference) {
    GB_REQUIRE_CUDA();
    const int64_t shapes[][2] = {{1, 32},     {5, 96},   {3, 224},  {33, 1024},
                                 {257, 4096}, {7, 4128}, {896, 896}};
    uint32_t seed = 100;
    for (const auto& s : shapes) check_matvec_q8_0(s[0], s[1], seed++);
}

TEST(CudaOps, MatvecQ8_0RejectsColsNotMultipleOf32) {
    GB_REQUIRE_CUDA();
    gb::cuda::Context ctx;
    std::vector<uint8_t> w(34 * 2);
    std::vector<float> x(48), y(1);
    try {
        gb::cuda::matvec_q8_0_host(ctx, w.data(), 1, 48, x.data(), y.data());
        FAIL() << "expected gb::Error";
    } catch (const gb::Error& e) {
        EXPECT_NE(std::string(e.what()).find("multiple of 32"), std::string::npos) << e.what();
    }
}

// ---- F16 GEMM (cuBLAS) ----------------------------------------------------------------------
// Tolerance: |err| <= (2^-10 + k * 2^-23) * sum_i |w_i x_i|. The op rounds x to fp16 (relative
// error <= 2^-11 per element) before the GEMM; cuBLAS accumulates in fp32. The reference uses
// the exact fp16 weights and the unrounded float x, so the bound covers both roundings.

void check_gemm_f16(int64_t n, int64_t k, int64_t m, uint32_t seed) {
    SCOPED_TRACE("n=" + std::to_string(n) + " k=" + std::to_string(k) + " m=" + std::to_string(m));
    std::mt19937 rng(seed);
    std::vector<uint16_t> w(n * k);
    for (auto& h : w) h = random_half(rng, -6, 0);
    const auto x = random_floats(rng, m * k, -2.0f, 2.0f);
    std::vector<float> out(m * n, NAN);
    gb::cuda::Context ctx;
    gb::cuda::gemm_f16_host(ctx, w.data(), n, k, x.data(), m, out.data());

    std::vector<double> wd(w.size());
    for (size_t i = 0; i < w.size(); ++i) wd[i] = half_to_double(w[i]);
    const double rel = std::ldexp(1.0, -10) + k * std::ldexp(1.0, -23);
    for (int64_t t = 0; t < m; ++t) {
        for (int64_t o = 0; o < n; ++o) {
            double ref = 0, mag = 0;
            for (int64_t c = 0; c < k; ++c) {
                const double p = wd[o * k + c] * x[t * k + c];
                ref += p;
                mag += std::fabs(p);
            }
            ASSERT_NEAR(out[t * n + o], ref, rel * mag) << "at token " << t << " output " << o;
        }
    }
}

TEST(CudaOps, GemmF16MatchesReference) {
    GB_REQUIRE_CUDA();
    const int64_t shapes[][3] = {{1, 1, 1},      {5, 7, 3},       {64, 128, 17},
                                 {1000, 513, 9}, {256, 2048, 33}, {896, 896, 64}};
    uint32_t seed = 200;
    for (const auto& s : shapes) check_gemm_f16(s[0], s[1], s[2], seed++);
}

// ---- device queries: run with or without a device -------------------------------------------

TEST(CudaDevice, AvailabilityComesWithAReason) {
    std::string why;
    if (!gb::cuda::cuda_available(&why)) {
        EXPECT_FALSE(why.empty());
        EXPECT_EQ(gb::cuda::device_count(), 0);
        return;
    }
    ASSERT_GT(gb::cuda::device_count(), 0);
    const gb::cuda::DeviceInfo info = gb::cuda::device_info(0);
    EXPECT_FALSE(info.name.empty());
    EXPECT_GT(info.total_memory, 0u);
    EXPECT_GT(info.sm_count, 0);
    EXPECT_GE(info.cc_major, 1);
    std::printf("device 0: %s, sm_%d%d, %d SMs, %.1f GiB, ~%.0f GB/s\n", info.name.c_str(),
                info.cc_major, info.cc_minor, info.sm_count, info.total_memory / 1073741824.0,
                info.memory_bandwidth_gbs);
}

}  // namespace

#else  // built without the CUDA backend: the file is still picked up by the test glob

TEST(CudaOps, BuiltWithoutCuda) { GTEST_SKIP() << "no CUDA device: built without CUDA"; }

#endif
