// The tiled prompt GEMM against the per-pair dot products: the scalar reference (the oracle) and
// the SIMD vec_dot, on random blocks with tile edges of every shape.
#include "kernels/cpu/quant_gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/half.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/quant_ref.h"
#include "tests/kernels/cpu/random_weights.h"

namespace gb::cpu {
namespace {

const TensorType kTiled[] = {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0,
                             TensorType::Q5_1, TensorType::Q8_0, TensorType::Q4_K,
                             TensorType::Q5_K, TensorType::Q6_K};

TEST(QuantGemm, TilesMatchPerPairDotProducts) {
    std::mt19937 rng(5);
    std::normal_distribution<float> nd;
    int checked_types = 0;
    for (TensorType t : kTiled) {
        if (!has_gemm_tile(t)) continue;  // builds without AVX2: callers fall back
        ++checked_types;
        const int64_t block = type_info(t).block_size;
        const TensorType dt = vec_dot_type(t);
        for (int64_t n : {block, 3 * block, 2048 + block}) {
            if (n % block != 0) continue;
            const int64_t rows = 11, toks = 9;
            const std::vector<uint8_t> w =
                test::random_weights(t, rows, n, static_cast<uint32_t>(n));
            const size_t wrb = row_bytes(t, n), xrb = row_bytes(dt, n);
            std::vector<uint8_t> xq(xrb * toks);
            std::vector<float> x(n);
            for (int64_t j = 0; j < toks; ++j) {
                for (auto& v : x) v = nd(rng);
                if (j == 3) std::fill(x.begin(), x.end(), 0.0f);  // a zero activation row
                quantize_row(dt, x.data(), xq.data() + j * xrb, n);
            }
            // |w| . |x| per pair bounds the float rounding of any accumulation order.
            std::vector<float> wd(n * rows), xd(n * toks);
            for (int64_t r = 0; r < rows; ++r)
                ref::dequantize_row(t, w.data() + r * wrb, wd.data() + r * n, n);
            for (int64_t j = 0; j < toks; ++j)
                ref::dequantize_row(dt, xq.data() + j * xrb, xd.data() + j * n, n);
            // Every tile shape up to past the full tile, at an offset into the matrices.
            for (int64_t nr : {1, 2, 3, 4, 5, 7, 8}) {
                for (int64_t nt : {1, 2, 3, 4, 5, 6}) {
                    const int64_t r_base = rows - nr, t_base = toks - nt;
                    const size_t os = static_cast<size_t>(nr) + 3;  // out rows wider than the tile
                    std::vector<float> out(os * nt, -12345.0f);
                    ASSERT_TRUE(gemm_tile(t, n, w.data() + r_base * wrb, wrb, nr,
                                          xq.data() + t_base * xrb, xrb, nt, out.data(), os));
                    for (int64_t j = 0; j < nt; ++j) {
                        for (int64_t r = 0; r < nr; ++r) {
                            const uint8_t* wr = w.data() + (r_base + r) * wrb;
                            const uint8_t* xr = xq.data() + (t_base + j) * xrb;
                            double abs_sum = 0;
                            for (int64_t i = 0; i < n; ++i)
                                abs_sum += std::fabs(double(wd[(r_base + r) * n + i]) *
                                                     xd[(t_base + j) * n + i]);
                            const double tol = 2e-5 * abs_sum + 1e-6;
                            const float got = out[j * os + r];
                            EXPECT_NEAR(got, ref::vec_dot(t, n, wr, xr), tol)
                                << type_name(t) << " n=" << n << " tile " << nr << "x" << nt
                                << " r=" << r << " t=" << j;
                            EXPECT_NEAR(got, vec_dot(t, n, wr, xr), tol)
                                << type_name(t) << " n=" << n << " tile " << nr << "x" << nt;
                        }
                        for (size_t r = nr; r < os; ++r)
                            ASSERT_EQ(out[j * os + r], -12345.0f) << "wrote outside the tile";
                    }
                }
            }
        }
    }
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
    EXPECT_EQ(checked_types, 8) << "AVX2 builds tile every quantised type";
#endif
}

// Q8_0 codes at the extremes (-128 in a weight, which files written elsewhere may hold, against
// +-127 activations): the int16 pair sums of the AVX2 kernel must not saturate.
TEST(QuantGemm, Q8_0ExtremeCodesDoNotSaturate) {
    if (!has_gemm_tile(TensorType::Q8_0)) GTEST_SKIP() << "no Q8_0 tile in this build";
    const int64_t n = 64, rows = 3, toks = 5;
    const size_t rb = row_bytes(TensorType::Q8_0, n);
    std::vector<uint8_t> w(rb * rows), x(rb * toks);
    std::mt19937 rng(9);
    auto fill = [&](uint8_t* row, int64_t r, bool weight) {
        for (int64_t b = 0; b < n / 32; ++b) {
            uint8_t* blk = row + b * 34;
            const uint16_t one = 0x3c00;  // scale 1.0 in F16
            std::memcpy(blk, &one, 2);
            for (int i = 0; i < 32; ++i) {
                int v = (r + i) % 2 ? 127 : -127;
                if (weight)
                    v = r == 0 ? -128 : (r == 1 ? 127 : static_cast<int>(rng() % 256) - 128);
                blk[2 + i] = static_cast<uint8_t>(static_cast<int8_t>(v));
            }
        }
    };
    for (int64_t r = 0; r < rows; ++r) fill(w.data() + r * rb, r, true);
    for (int64_t j = 0; j < toks; ++j) fill(x.data() + j * rb, j, false);
    std::vector<float> out(rows * toks);
    ASSERT_TRUE(gemm_tile(TensorType::Q8_0, n, w.data(), rb, rows, x.data(), rb, toks, out.data(),
                          static_cast<size_t>(rows)));
    for (int64_t j = 0; j < toks; ++j)
        for (int64_t r = 0; r < rows; ++r)
            EXPECT_EQ(out[j * rows + r],
                      ref::vec_dot(TensorType::Q8_0, n, w.data() + r * rb, x.data() + j * rb))
                << "row " << r << " token " << j;
}

TEST(QuantGemm, UntiledTypesAskForTheFallback) {
    float out[4] = {1, 2, 3, 4};
    const float w[4] = {1, 1, 1, 1};
    EXPECT_FALSE(has_gemm_tile(TensorType::F32));
    EXPECT_FALSE(gemm_tile(TensorType::F32, 4, w, 16, 1, w, 16, 1, out, 1));
    EXPECT_EQ(out[0], 1.0f);
}

}  // namespace
}  // namespace gb::cpu
