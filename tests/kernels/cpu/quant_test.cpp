// Quant kernels against the gguf Python package's goldens (tests/fixtures/quant, made by
// tools/gen_quant_fixtures.py), and the SIMD paths against the scalar reference.
#include "kernels/cpu/quant.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/half.h"
#include "kernels/cpu/quant_ref.h"
#include "kernels/error.h"
#include "tests/kernels/cpu/random_weights.h"
#include "tests/test_support.h"

namespace gb::cpu {
namespace {

struct Case {
    int64_t n = 0, rows = 0;
    std::vector<float> src;  // empty when the blocks were not quantised from floats
    std::vector<uint8_t> raw;
    std::vector<float> deq, x;
    std::vector<double> dot;
};

struct Fixture {
    TensorType type{};
    std::vector<Case> cases;
};

template <typename T>
void read_into(std::ifstream& f, std::vector<T>& v, size_t count) {
    v.resize(count);
    f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(count * sizeof(T)));
}

uint32_t read_u32(std::ifstream& f) {
    uint32_t v = 0;
    f.read(reinterpret_cast<char*>(&v), 4);
    return v;
}

Fixture load_fixture(const std::string& name) {
    const std::string path = test::fixture("quant/" + name + ".bin");
    std::ifstream f(path, std::ios::binary);
    if (!f) throw Error("cannot open " + path + " (run tools/gen_quant_fixtures.py)");
    char magic[4];
    f.read(magic, 4);
    if (std::memcmp(magic, "GBQ1", 4) != 0) throw Error(path + ": bad magic");
    Fixture fx;
    fx.type = static_cast<TensorType>(read_u32(f));
    const uint32_t n_cases = read_u32(f);
    for (uint32_t c = 0; c < n_cases; ++c) {
        Case k;
        k.n = read_u32(f);
        k.rows = read_u32(f);
        const bool has_src = read_u32(f) != 0;
        const size_t count = static_cast<size_t>(k.n * k.rows);
        if (has_src) read_into(f, k.src, count);
        read_into(f, k.raw, row_bytes(fx.type, k.n) * k.rows);
        read_into(f, k.deq, count);
        read_into(f, k.x, static_cast<size_t>(k.n));
        read_into(f, k.dot, static_cast<size_t>(k.rows));
        if (!f) throw Error(path + ": truncated in case " + std::to_string(c));
        fx.cases.push_back(std::move(k));
    }
    return fx;
}

bool we_quantise(TensorType t) {
    switch (t) {
        case TensorType::F32:
        case TensorType::F16:
        case TensorType::BF16:
        case TensorType::Q4_0:
        case TensorType::Q4_1:
        case TensorType::Q5_0:
        case TensorType::Q5_1:
        case TensorType::Q8_0: return true;
        default: return false;
    }
}

class QuantFixture : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override { fx = load_fixture(GetParam()); }
    Fixture fx;
};

// Dequantisation is bit-exact: the same float32 operations in the same order as gguf.quants.
TEST_P(QuantFixture, DequantizeMatchesGgufBitExact) {
    for (size_t c = 0; c < fx.cases.size(); ++c) {
        const Case& k = fx.cases[c];
        const size_t rb = row_bytes(fx.type, k.n);
        std::vector<float> out(k.n), out_ref(k.n);
        for (int64_t r = 0; r < k.rows; ++r) {
            dequantize_row(fx.type, k.raw.data() + r * rb, out.data(), k.n);
            ref::dequantize_row(fx.type, k.raw.data() + r * rb, out_ref.data(), k.n);
            for (int64_t i = 0; i < k.n; ++i) {
                const float want = k.deq[r * k.n + i];
                ASSERT_EQ(float_bits(out[i]), float_bits(want))
                    << "case " << c << " row " << r << " elem " << i << ": " << out[i] << " vs "
                    << want;
                ASSERT_EQ(float_bits(out_ref[i]), float_bits(want)) << "reference, case " << c;
            }
        }
    }
}

// Quantisation reproduces gguf.quants' bytes exactly for every type both implement.
TEST_P(QuantFixture, QuantizeMatchesGgufBytes) {
    if (!we_quantise(fx.type)) GTEST_SKIP() << "no quantiser for this weight type";
    for (size_t c = 0; c < fx.cases.size(); ++c) {
        const Case& k = fx.cases[c];
        if (k.src.empty()) continue;
        const size_t rb = row_bytes(fx.type, k.n);
        std::vector<uint8_t> out(rb);
        for (int64_t r = 0; r < k.rows; ++r) {
            quantize_row(fx.type, k.src.data() + r * k.n, out.data(), k.n);
            const uint8_t* want = k.raw.data() + r * rb;
            for (size_t b = 0; b < rb; ++b)
                ASSERT_EQ(out[b], want[b]) << "case " << c << " row " << r << " byte " << b;
        }
    }
}

// Bound on |x_i - xq_i| for the activation format of vec_dot, from how it quantises:
// Q8_0/Q8_1 round to half a step of amax/127 plus the fp16 rounding of d; Q8_K may clamp one
// step at +128; F16/BF16 round to nearest in their own precision.
std::vector<double> activation_error_bound(TensorType dt, const std::vector<float>& x) {
    const int64_t n = static_cast<int64_t>(x.size());
    std::vector<double> e(n, 0.0);
    if (dt == TensorType::F16 || dt == TensorType::BF16) {
        const double rel = dt == TensorType::F16 ? std::ldexp(1.0, -11) : std::ldexp(1.0, -8);
        for (int64_t i = 0; i < n; ++i) e[i] = std::fabs(x[i]) * rel + std::ldexp(1.0, -25);
        return e;
    }
    if (dt == TensorType::F32) return e;
    const int64_t block = dt == TensorType::Q8_K ? 256 : 32;
    for (int64_t b = 0; b < n; b += block) {
        double amax = 0;
        for (int64_t i = b; i < b + block; ++i) amax = std::max(amax, std::fabs(double(x[i])));
        const double bound =
            dt == TensorType::Q8_K
                ? amax / 128 * 1.0001
                : amax / 254 * 1.0001 + amax * std::ldexp(1.0, -11) + 127 * std::ldexp(1.0, -25);
        for (int64_t i = b; i < b + block; ++i) e[i] = bound;
    }
    return e;
}

// Q4_1/Q5_1 dots use s = fp16(d * sum q) from the Q8_1 block; bound its error times |m|.
double min_term_bound(TensorType type, const uint8_t* w_row, const std::vector<float>& x) {
    if (type != TensorType::Q4_1 && type != TensorType::Q5_1) return 0;
    const size_t bb = type_info(type).block_bytes;
    double bound = 0;
    for (size_t b = 0; b * 32 < x.size(); ++b) {
        uint16_t m16;
        std::memcpy(&m16, w_row + b * bb + 2, 2);  // m follows d in both layouts
        double sx = 0;
        for (size_t i = b * 32; i < b * 32 + 32; ++i) sx += std::fabs(x[i]);
        bound += std::fabs(fp16_to_float(m16)) * (std::ldexp(sx, -10) + std::ldexp(1.0, -24));
    }
    return bound;
}

TEST_P(QuantFixture, VecDotMatchesFloat64Reference) {
    const TensorType dt = vec_dot_type(fx.type);
    for (size_t c = 0; c < fx.cases.size(); ++c) {
        const Case& k = fx.cases[c];
        const size_t rb = row_bytes(fx.type, k.n);
        std::vector<uint8_t> xq(row_bytes(dt, k.n));
        quantize_row(dt, k.x.data(), xq.data(), k.n);
        std::vector<float> xd(k.n);  // the activations the dot actually sees
        dequantize_row(dt, xq.data(), xd.data(), k.n);
        const std::vector<double> ex = activation_error_bound(dt, k.x);
        for (int64_t r = 0; r < k.rows; ++r) {
            const uint8_t* w = k.raw.data() + r * rb;
            const float* wd = k.deq.data() + r * k.n;
            double exact_q = 0, abs_q = 0, quant_bound = 0, abs_x = 0;
            for (int64_t i = 0; i < k.n; ++i) {
                exact_q += double(wd[i]) * xd[i];
                abs_q += std::fabs(double(wd[i]) * xd[i]);
                abs_x += std::fabs(double(wd[i]) * k.x[i]);
                quant_bound += std::fabs(double(wd[i])) * ex[i];
            }
            const double s_bound = min_term_bound(fx.type, w, k.x);
            const double simd = vec_dot(fx.type, k.n, w, xq.data());
            const double scalar = ref::vec_dot(fx.type, k.n, w, xq.data());
            const std::string where = "case " + std::to_string(c) + " row " + std::to_string(r);
            // Same quantised inputs: only float rounding (and s) separates the kernels from
            // the exact dot of gguf's weights with our activation codes.
            const double tight = 2e-5 * abs_q + s_bound + 1e-30;
            EXPECT_NEAR(simd, exact_q, tight) << where << " (SIMD vs exact on quantised x)";
            EXPECT_NEAR(scalar, exact_q, tight) << where << " (scalar vs exact on quantised x)";
            EXPECT_NEAR(simd, scalar, 2e-5 * abs_q + 1e-30) << where << " (SIMD vs scalar)";
            // Against the float64 dot with the unquantised activations: the activation
            // quantisation error bound on top.
            EXPECT_NEAR(simd, k.dot[r], quant_bound + 2e-5 * abs_x + s_bound + 1e-30)
                << where << " (vs float64 reference)";
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Types, QuantFixture,
                         ::testing::Values("F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1",
                                           "Q8_0", "Q4_K", "Q5_K", "Q6_K"),
                         [](const auto& info) { return info.param; });

// Q8_1 is Q8_0's codes and scale plus s = d * sum(codes): check against gguf's Q8_0 bytes.
TEST(QuantActivations, Q8_1MatchesGgufQ8_0CodesAndCarriesSum) {
    const Fixture fx = load_fixture("Q8_0");
    for (const Case& k : fx.cases) {
        if (k.src.empty()) continue;
        const size_t rb0 = row_bytes(TensorType::Q8_0, k.n), rb1 = row_bytes(TensorType::Q8_1, k.n);
        std::vector<uint8_t> q1(rb1);
        for (int64_t r = 0; r < k.rows; ++r) {
            quantize_row(TensorType::Q8_1, k.src.data() + r * k.n, q1.data(), k.n);
            for (int64_t b = 0; b < k.n / 32; ++b) {
                const uint8_t* want = k.raw.data() + r * rb0 + b * 34;
                const uint8_t* got = q1.data() + b * 36;
                ASSERT_EQ(std::memcmp(got, want, 2), 0) << "d, block " << b;
                ASSERT_EQ(std::memcmp(got + 4, want + 2, 32), 0) << "codes, block " << b;
                uint16_t d16, s16;
                std::memcpy(&d16, got, 2);
                std::memcpy(&s16, got + 2, 2);
                double sum = 0;
                for (int i = 0; i < 32; ++i) sum += static_cast<int8_t>(got[4 + i]);
                const double ds = fp16_to_float(d16) * sum;
                if (std::fabs(ds) >= 65520) {  // beyond fp16: the format itself overflows
                    EXPECT_TRUE(std::isinf(fp16_to_float(s16))) << "s, block " << b;
                    continue;
                }
                EXPECT_NEAR(fp16_to_float(s16), ds, std::ldexp(std::fabs(ds), -10) + 1e-7)
                    << "s, block " << b;
            }
        }
    }
}

// Q8_K is not in gguf.quants: check its defining properties instead. The largest-magnitude
// element maps to -128, every element is within half a step (one step at the +127 clamp),
// and bsums are the sums of each 16 codes.
TEST(QuantActivations, Q8_KRoundTripAndBlockSums) {
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (int trial = 0; trial < 40; ++trial) {
        const int64_t n = 256 * (1 + trial % 3);
        std::vector<float> x(n);
        const float scale = trial % 5 == 0 ? 1e-30f : (trial % 5 == 1 ? 6e4f : 1.0f);
        for (auto& v : x) v = nd(rng) * scale;
        if (trial % 7 == 3) std::fill(x.begin(), x.begin() + 256, 0.0f);
        if (trial % 4 == 2) x[5] = 40.0f * scale;  // a positive outlier: maps to -128 via d < 0
        std::vector<uint8_t> q(row_bytes(TensorType::Q8_K, n));
        quantize_row(TensorType::Q8_K, x.data(), q.data(), n);
        for (int64_t b = 0; b < n / 256; ++b) {
            const uint8_t* blk = q.data() + b * 292;
            float d;
            std::memcpy(&d, blk, 4);
            const auto* qs = reinterpret_cast<const int8_t*>(blk + 4);
            int16_t bsums[16];
            std::memcpy(bsums, blk + 4 + 256, 32);
            float amax = 0;
            for (int i = 0; i < 256; ++i) amax = std::max(amax, std::fabs(x[b * 256 + i]));
            if (amax == 0) {
                EXPECT_EQ(d, 0.0f);
                for (int i = 0; i < 256; ++i) ASSERT_EQ(qs[i], 0);
                continue;
            }
            EXPECT_NEAR(std::fabs(d), amax / 128, amax * 1e-6) << "trial " << trial;
            bool has_extreme = false;
            for (int i = 0; i < 256; ++i) {
                const double err = std::fabs(double(x[b * 256 + i]) - double(d) * qs[i]);
                const double limit = qs[i] == 127 ? std::fabs(d) * 1.0001 : std::fabs(d) * 0.5001;
                ASSERT_LE(err, limit) << "trial " << trial << " elem " << i;
                has_extreme |= qs[i] == -128;
            }
            EXPECT_TRUE(has_extreme) << "the largest magnitude must map to -128";
            for (int g = 0; g < 16; ++g) {
                int s = 0;
                for (int i = 0; i < 16; ++i) s += qs[g * 16 + i];
                ASSERT_EQ(bsums[g], s) << "group " << g;
            }
        }
    }
}

// ---- SIMD vs scalar on long random rows (the fixtures are short) ----------------------------

TEST(QuantSimd, LongRowsAgreeWithScalarReference) {
    const TensorType types[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16,
                                TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0,
                                TensorType::Q5_1, TensorType::Q8_0, TensorType::Q4_K,
                                TensorType::Q5_K, TensorType::Q6_K};
    std::mt19937 rng(11);
    std::normal_distribution<float> nd;
    for (TensorType t : types) {
        const int64_t block = type_info(t).block_size;
        // 96 and 768 are odd numbers of blocks (3), which the kernels' two-accumulator loops
        // finish with a tail.
        for (int64_t n : {int64_t(96), int64_t(256), int64_t(768), int64_t(4096), int64_t(5120),
                          int64_t(4099), int64_t(63)}) {
            if (n % block != 0) continue;
            const std::vector<uint8_t> w =
                test::random_weights(t, 1, n, static_cast<uint32_t>(n) + 3);
            std::vector<float> x(n);
            for (auto& v : x) v = nd(rng);
            const TensorType dt = vec_dot_type(t);
            std::vector<uint8_t> xq(row_bytes(dt, n));
            quantize_row(dt, x.data(), xq.data(), n);
            std::vector<float> wd(n), xd(n);
            ref::dequantize_row(t, w.data(), wd.data(), n);
            ref::dequantize_row(dt, xq.data(), xd.data(), n);
            double abs_sum = 0, exact = 0;
            for (int64_t i = 0; i < n; ++i) {
                abs_sum += std::fabs(double(wd[i]) * xd[i]);
                exact += double(wd[i]) * xd[i];
            }
            const double simd = vec_dot(t, n, w.data(), xq.data());
            const double scalar = ref::vec_dot(t, n, w.data(), xq.data());
            const double s_bound = min_term_bound(t, w.data(), x);
            EXPECT_NEAR(simd, scalar, 2e-5 * abs_sum + s_bound + 1e-30)
                << type_name(t) << " n=" << n;
            EXPECT_NEAR(simd, exact, 2e-5 * abs_sum + s_bound + 1e-30)
                << type_name(t) << " n=" << n;
        }
    }
}

// ---- half-precision helpers ------------------------------------------------------------------

// The activation quantisers (SIMD where the build has it) give the scalar reference's bytes
// exactly, on rows built to hit their edges: ties at .5 steps, equal magnitudes of both signs
// (the first one sets Q8_K's scale), zero and subnormal blocks, huge values, one outlier.
TEST(QuantActivations, SimdQuantisersGiveTheReferenceBytes) {
    std::mt19937 rng(21);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (const TensorType t : {TensorType::Q8_0, TensorType::Q8_1, TensorType::Q8_K}) {
        for (int trial = 0; trial < 200; ++trial) {
            const int64_t n = 256 * (1 + trial % 4);
            std::vector<float> x(n);
            const int kind = trial % 8;
            for (int64_t i = 0; i < n; ++i) {
                float v = nd(rng);
                if (kind == 1) {  // exact ties: scale 1 (Q8_0/Q8_1 amax 127, Q8_K max -128)
                    v = std::clamp(std::round(v * 40) / 2, -126.5f, 126.5f);
                    if (i % 32 == 0) v = t == TensorType::Q8_K ? -128.0f : 127.0f;
                }
                if (kind == 2) v = (i % 3 ? 1.0f : -1.0f) * (i % 7 + 1);  // ties of magnitude
                if (kind == 3) v *= 1e-40f;                               // subnormals
                if (kind == 4) v *= 3e37f;                                // near float's range
                if (kind == 5 && i % 64 < 40) v = 0.0f;                   // zero blocks
                if (kind == 6) v = i % 2 ? -0.5f : 0.5f;  // one magnitude, both signs
                x[i] = v;
            }
            if (kind == 7) x[static_cast<size_t>(trial) % n] = 1e4f;  // one outlier
            if (kind == 2) x[3] = -7.0f, x[9] = 7.0f;                 // -7 first, then +7
            const size_t rb = row_bytes(t, n);
            std::vector<uint8_t> got(rb), want(rb);
            quantize_row(t, x.data(), got.data(), n);
            ref::quantize_row(t, x.data(), want.data(), n);
            for (size_t b = 0; b < rb; ++b)
                ASSERT_EQ(got[b], want[b]) << type_name(t) << " trial " << trial << " byte " << b;
        }
    }
}

TEST(Half, SoftwareFp16MatchesHardwareOrSpec) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const float soft = fp16_to_float_soft(static_cast<uint16_t>(h));
        const float hw = fp16_to_float(static_cast<uint16_t>(h));
        if (std::isnan(hw)) {
            ASSERT_TRUE(std::isnan(soft)) << h;
            continue;
        }
        ASSERT_EQ(float_bits(soft), float_bits(hw)) << h;
        // Round trip is the identity on every non-NaN half.
        ASSERT_EQ(float_to_fp16_soft(soft), h) << h;
    }
    std::mt19937 rng(3);
    for (int i = 0; i < 200000; ++i) {
        const float f = bits_float(rng());
        if (std::isnan(f)) continue;
        ASSERT_EQ(float_to_fp16_soft(f), float_to_fp16(f)) << f;
    }
    EXPECT_EQ(float_to_fp16_soft(65519.0f), 0x7bff);               // rounds down to the fp16 max
    EXPECT_EQ(float_to_fp16_soft(65520.0f), 0x7c00);               // rounds up to inf
    EXPECT_EQ(float_to_fp16_soft(std::ldexp(1.0f, -25)), 0x0000);  // tie to even: zero
    EXPECT_EQ(float_to_fp16_soft(std::ldexp(3.0f, -25)), 0x0002);  // tie to even: 2 ulps
}

TEST(QuantApi, DotTypesAndUnsupportedTypes) {
    EXPECT_EQ(vec_dot_type(TensorType::Q4_0), TensorType::Q8_0);
    EXPECT_EQ(vec_dot_type(TensorType::Q5_0), TensorType::Q8_0);
    EXPECT_EQ(vec_dot_type(TensorType::Q8_0), TensorType::Q8_0);
    EXPECT_EQ(vec_dot_type(TensorType::Q4_1), TensorType::Q8_1);
    EXPECT_EQ(vec_dot_type(TensorType::Q5_1), TensorType::Q8_1);
    EXPECT_EQ(vec_dot_type(TensorType::Q4_K), TensorType::Q8_K);
    EXPECT_EQ(vec_dot_type(TensorType::Q5_K), TensorType::Q8_K);
    EXPECT_EQ(vec_dot_type(TensorType::Q6_K), TensorType::Q8_K);
    EXPECT_EQ(vec_dot_type(TensorType::F16), TensorType::F16);
    EXPECT_EQ(vec_dot_type(TensorType::BF16), TensorType::BF16);
    EXPECT_EQ(vec_dot_type(TensorType::F32), TensorType::F32);
    std::vector<uint8_t> buf(1024);
    std::vector<float> f(256);
    EXPECT_THROW(dequantize_row(TensorType::IQ4_XS, buf.data(), f.data(), 256), Error);
    EXPECT_THROW(quantize_row(TensorType::Q4_K, f.data(), buf.data(), 256), Error);
    EXPECT_THROW(vec_dot(TensorType::Q2_K, 256, buf.data(), buf.data()), Error);
}

// Precise mode's split activations (PreciseActs): every unit of 32 is d (16384 q1 + 128 q2 + q3)
// up to a residual of at most 2^-21 of the unit's largest |x|, with the codes in their ranges,
// the lanes and the sum what they claim; units of every magnitude F32 holds, ties, zeros, values
// below the 2^-60 cut, and NaN / infinity (which must come out NaN, not as numbers).
TEST(PreciseActs, SplitIsExactUpToItsBoundedResidual) {
    if (!has_precise_int_dot(TensorType::Q8_0)) GTEST_SKIP() << "no integer precise kernels";
    std::mt19937 rng(7);
    std::normal_distribution<float> nd;
    std::vector<std::vector<float>> units;
    for (float scale : {1.0f, 3e-30f, 1e-12f, 0.37f, 5e3f, 1e30f, 2e37f}) {
        std::vector<float> u(32);
        for (float& v : u) v = nd(rng) * scale;
        units.push_back(u);
    }
    std::vector<float> outlier(32);
    for (float& v : outlier) v = nd(rng) * 1e-3f;
    outlier[5] = 900.0f;  // the others are far below the outlier's resolution
    units.push_back(outlier);
    units.push_back(std::vector<float>(32, 0.0f));
    units.push_back(std::vector<float>(32, 0x1p-61f));  // below the cut: zero
    units.push_back(std::vector<float>(32, std::numeric_limits<float>::denorm_min()));
    std::vector<float> ties(32);  // x / 2^k exactly halfway, and 127 * 2^k exactly
    for (int i = 0; i < 32; ++i) ties[i] = (i % 2 ? -1.0f : 1.0f) * (0.5f + float(i)) / 256.0f;
    ties[31] = 127.0f / 256.0f;
    units.push_back(ties);
    std::vector<float> just_over = ties;
    just_over[31] = std::nextafter(127.0f / 256.0f, 1.0f);  // one step up in the scale
    units.push_back(just_over);
    std::vector<float> x;
    for (const auto& u : units) x.insert(x.end(), u.begin(), u.end());
    const int64_t n = static_cast<int64_t>(x.size());

    PreciseActs pa;
    pa.assign(x.data(), n, 1, n, true);
    ASSERT_TRUE(pa.split());
    for (size_t ui = 0; ui < units.size(); ++ui) {
        SCOPED_TRACE("unit " + std::to_string(ui));
        const PreciseActs::Unit& u = pa.units(0)[ui];
        double mx = 0;
        for (float v : units[ui]) mx = std::max(mx, std::fabs(double(v)));
        double lane_sum = 0;
        for (int l = 0; l < 8; ++l) {
            int64_t want = 0;
            for (int j = 4 * l; j < 4 * l + 4; ++j)
                want += 16384 * int64_t{u.q[0][j]} + 128 * int64_t{u.q[1][j]} + u.q[2][j];
            ASSERT_EQ(u.lanes[l], want) << "lane " << l;
            lane_sum += double(want);
        }
        if (mx < 0x1p-60) {
            EXPECT_EQ(u.d, 0.0f);
            EXPECT_EQ(u.sum, 0.0f);
            EXPECT_EQ(lane_sum, 0.0);
            continue;
        }
        double exact_sum = 0;
        for (int j = 0; j < 32; ++j) {
            ASSERT_LE(std::abs(int{u.q[0][j]}), 127);
            ASSERT_LE(std::abs(int{u.q[1][j]}), 64);
            ASSERT_LE(std::abs(int{u.q[2][j]}), 64);
            const double rec =
                double(u.d) * (16384.0 * u.q[0][j] + 128.0 * u.q[1][j] + double(u.q[2][j]));
            ASSERT_LE(std::fabs(rec - units[ui][j]), 0x1p-21 * mx) << "element " << j;
            exact_sum += rec;
        }
        // The scale is the least power of two that keeps q1 within 127: the largest |q1| is
        // at least 64 (less would have allowed half the scale).
        int top = 0;
        for (int j = 0; j < 32; ++j) top = std::max(top, std::abs(int{u.q[0][j]}));
        EXPECT_GE(top, 64);
        EXPECT_NEAR(u.sum, exact_sum, 1e-7 * std::fabs(exact_sum) + 1e-45);
    }
    for (float bad :
         {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
        std::vector<float> xb(64, 1.0f);
        xb[40] = bad;
        pa.assign(xb.data(), 64, 1, 64, true);
        EXPECT_FALSE(std::isnan(pa.units(0)[0].d)) << "the clean unit is a number";
        EXPECT_TRUE(std::isnan(pa.units(0)[1].d));
        // A product over it is NaN too (F32 arithmetic would give inf or NaN).
        std::vector<uint8_t> w(row_bytes(TensorType::Q8_0, 64));
        std::vector<float> ones(64, 0.5f);
        quantize_row(TensorType::Q8_0, ones.data(), w.data(), 64);
        EXPECT_TRUE(std::isnan(vec_dot_precise(TensorType::Q8_0, 64, w.data(), pa, 0)));
    }
}

}  // namespace
}  // namespace gb::cpu
