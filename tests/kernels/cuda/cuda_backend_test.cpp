// CudaBackend's dense ops against the CPU backend on the same random inputs, and the matmul of
// every weight type against a double-precision product of the dequantised weights. Skips
// without a CUDA device. Tolerances, per path and dtype:
//   matvec (batches under gemm_min_rows): fp32 products of the exact dequantised weights with
//     the float activations: |err| <= 1e-5 * sum|w x| (+1e-6).
//   GEMM (bf16 weights and activations, fp32 accumulation): each operand rounded to bf16
//     (relative 2^-9), so |err| <= 2^-8 * sum|w x|; we allow 5e-3 * sum|w x|.
//   against the CPU backend: the CPU quantises activations to its dot format (Q8_0/Q8_1/Q8_K:
//     at most amax/254 per element), rounds them to F16 (2^-11) or BF16 (2^-9), so the CPU side
//     adds sum|w_i| amax_256(x)/127, 2^-10 sum|w x| or 2^-7 sum|w x| to the CUDA tolerance.
//   elementwise ops, RMSNorm: a few ulp (expf/rsqrtf vs libm): 1e-5 relative.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/quant.h"
#include "kernels/error.h"
#include "tests/kernels/cpu/random_weights.h"
#include "tests/kernels/cuda/cuda_test_support.h"

#ifdef GLASSBOX_HAVE_CUDA
#include "kernels/cuda/cuda_backend.h"

namespace gb {
namespace {

using test::expect_close;
using test::get;
using test::kv_bytes;
using test::normal_floats;
using test::put;

constexpr TensorType kTypes[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16,
                                 TensorType::Q8_0, TensorType::Q4_0, TensorType::Q4_1,
                                 TensorType::Q5_0, TensorType::Q5_1, TensorType::Q4_K,
                                 TensorType::Q5_K, TensorType::Q6_K};

bool is_quant(TensorType t) { return type_info(t).block_size > 1; }

// The exact product of the dequantised weights with x, its magnitude sum|w x|, and how far the
// CPU backend may be from it (see the top of the file).
struct Reference {
    std::vector<double> value, mag, cpu_slack;
};

Reference reference(TensorType type, const std::vector<uint8_t>& w, int64_t rows, int64_t cols,
                    const std::vector<float>& x, int64_t n) {
    const size_t rb = row_bytes(type, cols);
    std::vector<float> wd(static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r)
        cpu::dequantize_row(type, w.data() + r * rb, wd.data() + r * cols, cols);
    Reference ref;
    ref.value.resize(n * rows);
    ref.mag.resize(n * rows);
    ref.cpu_slack.resize(n * rows);
    for (int64_t t = 0; t < n; ++t) {
        const float* xt = x.data() + t * cols;
        std::vector<double> amax(static_cast<size_t>((cols + 255) / 256), 0.0);
        for (int64_t c = 0; c < cols; ++c)
            amax[c / 256] = std::max(amax[c / 256], std::fabs(static_cast<double>(xt[c])));
        for (int64_t r = 0; r < rows; ++r) {
            double v = 0, m = 0, wa = 0;
            for (int64_t c = 0; c < cols; ++c) {
                const double p = static_cast<double>(wd[r * cols + c]) * xt[c];
                v += p;
                m += std::fabs(p);
                wa += std::fabs(wd[r * cols + c]) * amax[c / 256];
            }
            const size_t i = static_cast<size_t>(t * rows + r);
            ref.value[i] = v;
            ref.mag[i] = m;
            ref.cpu_slack[i] = is_quant(type)             ? wa / 127 + std::ldexp(m, -9)
                               : type == TensorType::F16  ? std::ldexp(m, -10)
                               : type == TensorType::BF16 ? std::ldexp(m, -7)
                                                          : 1e-6 * m;
        }
    }
    return ref;
}

void check_matmul(cuda::CudaBackend& gpu, cpu::CpuBackend& cpu, TensorType type, int64_t rows,
                  int64_t cols, int64_t n, uint32_t seed, bool misaligned_x = false) {
    SCOPED_TRACE(std::string(type_name(type)) + " " + std::to_string(rows) + "x" +
                 std::to_string(cols) + " with " + std::to_string(n) + " rows" +
                 (misaligned_x ? " (x misaligned)" : ""));
    const std::vector<uint8_t> w = test::random_weights(type, rows, cols, seed);
    const std::vector<float> x = normal_floats(n * cols, seed + 1);
    const Weight host{type, w.data(), rows, cols, "w"};
    const Weight dw = gpu.upload(host);
    const int64_t pad = misaligned_x ? 1 : 0;  // a view one float into its buffer
    std::vector<float> xpad(pad, 0.0f);
    xpad.insert(xpad.end(), x.begin(), x.end());
    Act gx_buf = put(gpu, xpad, 1, pad + n * cols), cx_buf = put(cpu, xpad, 1, pad + n * cols);
    Act gx{gx_buf.data + pad, n, cols}, cx{cx_buf.data + pad, n, cols};
    Act gout = gpu.alloc(n, rows), cout = cpu.alloc(n, rows);
    gpu.matmul(dw, gx, gout);
    cpu.matmul(host, cx, cout);
    const std::vector<float> g = get(gpu, gout), c = get(cpu, cout);
    const Reference ref = reference(type, w, rows, cols, x, n);
    const bool gemm = n >= gpu.options().gemm_min_rows;
    for (size_t i = 0; i < g.size(); ++i) {
        const double tol = (gemm ? 5e-3 : 1e-5) * ref.mag[i] + 1e-6;
        ASSERT_NEAR(g[i], ref.value[i], tol) << "output " << i << (gemm ? " (GEMM)" : " (matvec)");
        ASSERT_NEAR(g[i], c[i], tol + ref.cpu_slack[i]) << "output " << i << " against the CPU";
    }
    for (Act* a : {&gx_buf, &gout}) gpu.release(*a);
    for (Act* a : {&cx_buf, &cout}) cpu.release(*a);
}

TEST(CudaBackend, MatmulEveryTypeMatvecAndGemm) {
    GB_REQUIRE_CUDA();
    cuda::CudaBackend gpu;
    cpu::CpuBackend cpu(2);
    uint32_t seed = 1;
    for (TensorType t : kTypes)
        for (int64_t n : {1, 2, 3, 5, 8, 9, 40}) check_matmul(gpu, cpu, t, 37, 512, n, seed += 7);
}

TEST(CudaBackend, MatmulLongRowsAndOddShapes) {
    GB_REQUIRE_CUDA();
    cuda::CudaBackend gpu;
    cpu::CpuBackend cpu(2);
    // Rows long enough for several unrolled steps per lane, and a ragged last step.
    for (TensorType t : {TensorType::Q4_K, TensorType::Q6_K, TensorType::Q8_0, TensorType::Q5_0})
        check_matmul(gpu, cpu, t, 300, 4096 + 1280, 1, 50 + static_cast<uint32_t>(t));
    // Plain types need no whole blocks: an odd row length, both paths.
    for (TensorType t : {TensorType::F32, TensorType::F16, TensorType::BF16}) {
        check_matmul(gpu, cpu, t, 5, 70, 1, 80);
        check_matmul(gpu, cpu, t, 5, 70, 12, 81);
    }
    // Activations that are not 16-byte aligned take the copy path of the float4 kernels.
    check_matmul(gpu, cpu, TensorType::Q4_K, 17, 256, 1, 90, true);
    check_matmul(gpu, cpu, TensorType::Q8_0, 17, 256, 3, 91, true);
}

TEST(CudaBackend, GetRowsEveryType) {
    GB_REQUIRE_CUDA();
    cuda::CudaBackend gpu;
    cpu::CpuBackend cpu(1);
    for (TensorType t : kTypes) {
        SCOPED_TRACE(std::string(type_name(t)));
        const int64_t rows = 11, cols = 512;
        const auto w = test::random_weights(t, rows, cols, 7);
        const Weight host{t, w.data(), rows, cols, "table"};
        const Weight dw = gpu.upload(host);
        const std::vector<int32_t> ids = {3, 0, 10, 3, 7};
        Act go = gpu.alloc(5, cols), co = cpu.alloc(5, cols);
        gpu.get_rows(dw, ids, go);
        cpu.get_rows(host, ids, co);
        const auto c = get(cpu, co);
        // d * q - m may be fused on the GPU: one rounding less, so relative to the row's scale.
        expect_close(get(gpu, go), c, 1e-6 * test::max_abs(c), "get_rows");
        gpu.release(go);
        cpu.release(co);
    }
}

TEST(CudaBackend, GetRowsRejectsOutOfRangeIdsAndStaysUsable) {
    GB_REQUIRE_CUDA();
    cuda::CudaBackend gpu;
    std::vector<float> table(4 * 8, 1.0f);
    const Weight dw = gpu.upload(Weight{TensorType::F32, table.data(), 4, 8, "token_embd"});
    Act out = gpu.alloc(1, 8);
    const std::vector<int32_t> bad = {4};
    try {
        gpu.get_rows(dw, bad, out);
        FAIL() << "expected gb::Error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("CUDA get_rows"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("token_embd"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(gpu.broken());
    const std::vector<int32_t> good = {2};
    gpu.get_rows(dw, good, out);
    EXPECT_EQ(get(gpu, out), std::vector<float>(8, 1.0f));
}

TEST(CudaBackend, NormAndElementwiseOps) {
    GB_REQUIRE_CUDA();
    cuda::CudaBackend gpu;
    cpu::CpuBackend cpu(2);
    for (int64_t cols : {16, 100, 896, 4096}) {
        SCOPED_TRACE("cols " + std::to_string(cols));
        const int64_t rows = 7;
        const auto x = normal_floats(rows * cols, 1 + cols),
                   y = normal_floats(rows * cols, 2 + cols);
        const auto wv = normal_floats(cols, 3 + cols);
        const Weight hw{TensorType::F32, wv.data(), 1, cols, "norm"};
        const Weight dw = gpu.upload(hw);
        Act gx = put(gpu, x, rows, cols), cx = put(cpu, x, rows, cols);
        Act gy = put(gpu, y, rows, cols), cy = put(cpu, y, rows, cols);
        Act go = gpu.alloc(rows, cols), co = cpu.alloc(rows, cols);

        gpu.rmsnorm(gx, dw, 1e-6f, go);
        cpu.rmsnorm(cx, hw, 1e-6f, co);
        auto c = get(cpu, co);
        expect_close(get(gpu, go), c, 1e-5 * test::max_abs(c), "rmsnorm");
        gpu.rmsnorm(gx, dw, 1e-5f, gx);  // in place
        cpu.rmsnorm(cx, hw, 1e-5f, cx);
        c = get(cpu, cx);
        expect_close(get(gpu, gx), c, 1e-5 * test::max_abs(c), "rmsnorm in place");

        gpu.add(gx, gy);
        cpu.add(cx, cy);
        gpu.add_bias(gx, dw);
        cpu.add_bias(cx, hw);
        c = get(cpu, cx);
        expect_close(get(gpu, gx), c, 1e-5 * test::max_abs(c), "add, add_bias");

        gpu.swiglu(gx, gy, go);
        cpu.swiglu(cx, cy, co);
        c = get(cpu, co);
        expect_close(get(gpu, go), c, 1e-5 * test::max_abs(c), "swiglu");
        gpu.swiglu(gx, gy, gx);  // out aliases gate
        cpu.swiglu(cx, cy, cx);
        c = get(cpu, cx);
        expect_close(get(gpu, gx), c, 1e-5 * test::max_abs(c), "swiglu in place");
        for (Act* a : {&gx, &gy, &go}) gpu.release(*a);
        for (Act* a : {&cx, &cy, &co}) cpu.release(*a);
    }
}

// RoPE variants: neox and interleaved pairs, partial rotation, linear scaling, YaRN, llama3
// freq_factors from device memory (an uploaded weight) and from a host array, and positions
// up to 4000. Angles reach 4000 rad, where one float ulp of the angle is 2.4e-4, so the YaRN
// case (whose mix may be contracted to an FMA on the GPU) allows 1e-3 of the row's magnitude.
TEST(CudaBackend, RopeVariants) {
    GB_REQUIRE_CUDA();
    cuda::CudaBackend gpu;
    cpu::CpuBackend cpu(2);
    const int n_heads = 3, head_dim = 64;
    const std::vector<int32_t> pos = {0, 1, 17, 255, 1000, 3999};
    const int64_t rows = static_cast<int64_t>(pos.size()), cols = n_heads * head_dim;
    const auto x = normal_floats(rows * cols, 5);
    std::vector<float> ff(head_dim / 2);
    for (size_t i = 0; i < ff.size(); ++i) ff[i] = 1.0f + 0.25f * static_cast<float>(i % 5);
    const Weight dff =
        gpu.upload(Weight{TensorType::F32, ff.data(), 1, head_dim / 2, "rope_freqs"});
    struct Case {
        const char* name;
        RopeParams p;
        bool device_ff, host_ff;
        double rel;
    };
    RopeParams base;
    base.n_dims = head_dim;
    base.freq_base = 10000.0f;
    std::vector<Case> cases;
    cases.push_back({"interleaved", base, false, false, 1e-4});
    RopeParams neox = base;
    neox.neox = true;
    neox.freq_base = 1e6f;
    cases.push_back({"neox", neox, false, false, 1e-4});
    RopeParams partial = neox;
    partial.n_dims = 32;
    cases.push_back({"partial", partial, false, false, 1e-4});
    RopeParams linear = base;
    linear.freq_scale = 0.5f;
    cases.push_back({"linear", linear, false, false, 1e-4});
    RopeParams yarn = neox;
    yarn.freq_scale = 0.25f;
    yarn.ext_factor = 1.0f;
    yarn.attn_factor = 1.0f;
    yarn.n_ctx_orig = 4096;
    cases.push_back({"yarn", yarn, false, false, 1e-3});
    RopeParams deepseek = yarn;  // interleaved, attn_factor scaling, partial
    deepseek.neox = false;
    deepseek.attn_factor = 0.8f;
    deepseek.beta_fast = 32;
    deepseek.beta_slow = 1;
    cases.push_back({"yarn interleaved", deepseek, false, false, 1e-3});
    cases.push_back({"freq_factors (device)", neox, true, false, 1e-4});
    cases.push_back({"freq_factors (host)", neox, false, true, 1e-4});
    for (Case& c : cases) {
        SCOPED_TRACE(c.name);
        Act gx = put(gpu, x, rows, cols), cx = put(cpu, x, rows, cols);
        RopeParams gp = c.p, cp = c.p;
        if (c.device_ff || c.host_ff) {
            gp.freq_factors = c.device_ff ? static_cast<const float*>(dff.data) : ff.data();
            cp.freq_factors = ff.data();
        }
        gpu.rope(gx, n_heads, head_dim, pos, gp);
        cpu.rope(cx, n_heads, head_dim, pos, cp);
        const auto cr = get(cpu, cx);
        expect_close(get(gpu, gx), cr, c.rel * test::max_abs(cr), "rope");
        gpu.release(gx);
        cpu.release(cx);
    }
}

// Attention after kv_store, decode and prompts (the tiled kernel from 16 tokens), several head
// sizes and GQA groups, every cache type, against the CPU. Both compute fp32 softmax-weighted sums
// of N(0,1) values, so outputs agree to ~1e-5; 1e-4 absolute leaves room for the different
// summation order of the split and tiled kernels.
TEST(CudaBackend, KvStoreAndAttention) {
    GB_REQUIRE_CUDA();
    cuda::CudaBackend gpu;
    cpu::CpuBackend cpu(2);
    struct Shape {
        int n_head, n_head_kv, head_dim;
        int64_t pos0, n_tok;
    };
    const Shape shapes[] = {{4, 2, 16, 0, 1},    {4, 2, 16, 0, 8},    {4, 4, 64, 5, 3},
                            {8, 2, 128, 0, 40},  {8, 2, 128, 37, 1},  {8, 1, 128, 3000, 1},
                            {4, 2, 256, 10, 20}, {28, 4, 128, 0, 70}, {2, 1, 96, 100, 17},
                            {16, 4, 64, 500, 2}};
    uint32_t seed = 100;
    for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q8_0})
        for (const Shape& s : shapes) {
            const int64_t n_ctx = s.pos0 + s.n_tok + 3, kv = int64_t{s.n_head_kv} * s.head_dim;
            if (!kv_cache_type_error(type, kv).empty()) continue;  // Q8_0: whole blocks only
            SCOPED_TRACE(kv_cache_type_name(type) + " heads " + std::to_string(s.n_head) + "/" +
                         std::to_string(s.n_head_kv) + " of " + std::to_string(s.head_dim) +
                         ", pos0 " + std::to_string(s.pos0) + ", " + std::to_string(s.n_tok) +
                         " tokens");
            const int64_t qw = int64_t{s.n_head} * s.head_dim;
            // The cache before pos0 as if earlier steps had filled it, then this step's k and v.
            const auto past_k = normal_floats(s.pos0 * kv, seed++),
                       past_v = normal_floats(s.pos0 * kv, seed++);
            const auto k = normal_floats(s.n_tok * kv, seed++),
                       v = normal_floats(s.n_tok * kv, seed++);
            const auto q = normal_floats(s.n_tok * qw, seed++);
            KvLayer gc{gpu.alloc_kv(n_ctx, kv, type), gpu.alloc_kv(n_ctx, kv, type)};
            KvLayer cc{cpu.alloc_kv(n_ctx, kv, type), cpu.alloc_kv(n_ctx, kv, type)};
            if (s.pos0 > 0) {
                Act gpk = put(gpu, past_k, s.pos0, kv), gpv = put(gpu, past_v, s.pos0, kv);
                Act cpk = put(cpu, past_k, s.pos0, kv), cpv = put(cpu, past_v, s.pos0, kv);
                gpu.kv_store(gc, gpk, gpv, 0);
                cpu.kv_store(cc, cpk, cpv, 0);
                for (Act* a : {&gpk, &gpv}) gpu.release(*a);
                for (Act* a : {&cpk, &cpv}) cpu.release(*a);
            }
            Act gk = put(gpu, k, s.n_tok, kv), gv = put(gpu, v, s.n_tok, kv),
                gq = put(gpu, q, s.n_tok, qw);
            Act ck = put(cpu, k, s.n_tok, kv), cv = put(cpu, v, s.n_tok, kv),
                cq = put(cpu, q, s.n_tok, qw);
            gpu.kv_store(gc, gk, gv, s.pos0);
            cpu.kv_store(cc, ck, cv, s.pos0);
            // The device conversions round exactly as the CPU reference does: the same bytes.
            EXPECT_TRUE(kv_bytes(gpu, gc.k) == kv_bytes(cpu, cc.k)) << "kv_store k";
            EXPECT_TRUE(kv_bytes(gpu, gc.v) == kv_bytes(cpu, cc.v)) << "kv_store v";
            Act go = gpu.alloc(s.n_tok, qw), co = cpu.alloc(s.n_tok, qw);
            const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
            gpu.attention(gq, gc, s.n_head, s.n_head_kv, s.head_dim, s.pos0, scale, go);
            cpu.attention(cq, cc, s.n_head, s.n_head_kv, s.head_dim, s.pos0, scale, co);
            expect_close(get(gpu, go), get(cpu, co), 1e-4, "attention");
            for (Act* a : {&gk, &gv, &gq, &go}) gpu.release(*a);
            for (Act* a : {&ck, &cv, &cq, &co}) cpu.release(*a);
            for (KvTensor* t : {&gc.k, &gc.v}) gpu.release_kv(*t);
            for (KvTensor* t : {&cc.k, &cc.v}) cpu.release_kv(*t);
        }
}

TEST(CudaBackend, ShapeErrorsNameTheOpAndLeaveTheBackendUsable) {
    GB_REQUIRE_CUDA();
    cuda::CudaBackend gpu;
    std::vector<float> w(8 * 4, 0.5f);
    const Weight dw = gpu.upload(Weight{TensorType::F32, w.data(), 8, 4, "blk.0.attn_q.weight"});
    Act x = gpu.alloc(1, 5), out = gpu.alloc(1, 8);
    try {
        gpu.matmul(dw, x, out);
        FAIL() << "expected gb::Error";
    } catch (const Error& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("CUDA matmul"), std::string::npos) << m;
        EXPECT_NE(m.find("blk.0.attn_q.weight"), std::string::npos) << m;
    }
    EXPECT_FALSE(gpu.broken());
    Act x4 = put(gpu, std::vector<float>(4, 1.0f), 1, 4);
    gpu.matmul(dw, x4, out);
    EXPECT_EQ(get(gpu, out), std::vector<float>(8, 2.0f));
    // A weight type without a CUDA kernel is refused by name.
    std::vector<uint8_t> q2(84, 0);
    const Weight dq = gpu.upload(Weight{TensorType::Q2_K, q2.data(), 1, 256, "q2"});
    Act x256 = gpu.alloc(1, 256), o1 = gpu.alloc(1, 1);
    EXPECT_THROW(gpu.matmul(dq, x256, o1), Error);
    EXPECT_FALSE(gpu.broken());
}

TEST(CudaBackend, FreeMemoryIsReported) {
    GB_REQUIRE_CUDA();
    cuda::CudaBackend gpu;
    const auto free = gpu.free_memory_bytes();
    ASSERT_TRUE(free.has_value());
    EXPECT_GT(*free, 0);
    EXPECT_LE(static_cast<size_t>(*free), gpu.device().total_memory);
    EXPECT_GT(gpu.scratch_bytes(1 << 20, 512, 4096), 2 << 20);
}

}  // namespace
}  // namespace gb

#else  // built without the CUDA backend

TEST(CudaBackend, BuiltWithoutCuda) { GTEST_SKIP() << "no CUDA device: built without CUDA"; }

#endif
