// CudaBackend's mixture-of-experts ops (routing, expert products, combine) and multi-head latent
// attention against the CPU backend on the same inputs. Skips without a CUDA device.
// Tolerances: routing must choose the same experts in the same order (the kernels use the CPU's
// rules and tie order; random logits make near-ties improbable), weights within 1e-5 relative,
// score vectors within 1e-6. Expert products as matmul (cuda_backend_test.cpp): 1e-5 * sum|w x|
// on the matvec path, 5e-3 * sum|w x| on the bf16 GEMM path, against a double-precision product
// of the dequantised experts. MLA: F32 weights 1e-4 of the output's magnitude (fp32 on both
// sides); F16 / Q8_0 weights are compared with the CPU's own activation rounding in mind (it
// rounds the query and the latent context to F16 (2^-11) or Q8_0 (1/254 of a block's max)):
// 3e-3 and 3e-2 of the output's magnitude.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
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
using test::kv_layer;
using test::normal_floats;
using test::put;

struct RouteCase {
    const char* name;
    RouterParams p;
    bool bias;
};

TEST(CudaMoe, RouteMatchesTheCpuForEveryFamily) {
    GB_REQUIRE_CUDA();
    cuda::CudaBackend gpu;
    cpu::CpuBackend cpu(2);
    std::vector<RouteCase> cases;
    RouterParams olmoe;
    olmoe.n_expert = 64;
    olmoe.n_used = 8;
    cases.push_back({"softmax (olmoe)", olmoe, false});
    RouterParams qwen = olmoe;
    qwen.n_expert = 128;
    qwen.norm_topk = true;
    cases.push_back({"softmax renormalised (qwen3moe)", qwen, false});
    RouterParams mixtral = olmoe;
    mixtral.n_expert = 8;
    mixtral.n_used = 2;
    mixtral.norm_topk = true;
    cases.push_back({"mixtral", mixtral, false});
    RouterParams v2 = olmoe;
    v2.n_used = 6;
    v2.n_group = 8;
    v2.n_group_used = 3;
    v2.group_score = GroupScore::Max;
    v2.scale = 16.0f;
    cases.push_back({"groups by max (deepseek V2)", v2, false});
    RouterParams v3;
    v3.n_expert = 256;
    v3.n_used = 8;
    v3.gating = Gating::Sigmoid;
    v3.norm_topk = true;
    v3.scale = 2.5f;
    v3.n_group = 8;
    v3.n_group_used = 4;
    v3.group_score = GroupScore::Top2Sum;
    cases.push_back({"sigmoid, bias, top-2-sum groups (deepseek V3)", v3, true});
    RouterParams wide = olmoe;
    wide.n_expert = 512;
    wide.n_used = 2;
    cases.push_back({"512 experts", wide, true});
    uint32_t seed = 1;
    for (const RouteCase& c : cases) {
        for (int64_t n_tok : {1, 37}) {
            SCOPED_TRACE(std::string(c.name) + ", " + std::to_string(n_tok) + " tokens");
            const RouterParams& p = c.p;
            const auto logits = normal_floats(n_tok * p.n_expert, seed++, 2.0f);
            const auto bias = normal_floats(p.n_expert, seed++, 0.1f);
            const Weight hb =
                c.bias ? Weight{TensorType::F32, bias.data(), 1, p.n_expert, "exp_probs_b"}
                       : Weight{};
            const Weight db = c.bias ? gpu.upload(hb) : Weight{};
            Act gl = put(gpu, logits, n_tok, p.n_expert), cl = put(cpu, logits, n_tok, p.n_expert);
            const size_t n_sel = static_cast<size_t>(n_tok * p.n_used);
            std::vector<int32_t> gi(n_sel), ci(n_sel);
            std::vector<float> gw(n_sel), cw(n_sel), gp(n_tok * p.n_expert), cp(gp.size());
            gpu.moe_route(gl, db, p, gi, gw, gp);
            cpu.moe_route(cl, hb, p, ci, cw, cp);
            EXPECT_EQ(gi, ci);
            for (size_t i = 0; i < n_sel; ++i)
                ASSERT_NEAR(gw[i], cw[i], 1e-5 * std::max(1.0f, std::fabs(cw[i])))
                    << "weight " << i;
            expect_close(gp, cp, 1e-6, "router scores");
            // Without the score vectors too.
            std::vector<int32_t> gi2(n_sel);
            std::vector<float> gw2(n_sel);
            gpu.moe_route(gl, db, p, gi2, gw2, {});
            EXPECT_EQ(gi2, gi);
            // Expert steering: a few experts off and one on, the same on both.
            std::vector<float> steer(static_cast<size_t>(p.n_expert), 0.0f);
            steer[static_cast<size_t>(ci[0])] = -1.0f;  // the first token's favourite: off
            steer[static_cast<size_t>(p.n_expert - 1)] = 1.0f;
            Act gs = put(gpu, steer, 1, p.n_expert);
            const Weight gsw{TensorType::F32, gs.data, 1, p.n_expert, "steer"};
            const Weight csw{TensorType::F32, steer.data(), 1, p.n_expert, "steer"};
            gpu.moe_route(gl, db, p, gi, gw, gp, gsw);
            cpu.moe_route(cl, hb, p, ci, cw, cp, csw);
            EXPECT_EQ(gi, ci);
            for (size_t i = 0; i < n_sel; ++i)
                ASSERT_NEAR(gw[i], cw[i], 1e-5 * std::max(1.0f, std::fabs(cw[i])))
                    << "steered weight " << i;
            for (int64_t t = 0; t < n_tok; ++t)
                EXPECT_EQ(ci[static_cast<size_t>(t * p.n_used)], p.n_expert - 1);
            gpu.release(gs);
            gpu.release(gl);
            cpu.release(cl);
        }
    }
}

// Expert products for decode (matvec, one warp per selected row) and prompts (grouped GEMM),
// inputs shared by a token's experts or one per slot, with ids from the GPU router (so the
// device copy moe_route left behind is reused) or made up.
void check_moe_matmul(cuda::CudaBackend& gpu, cpu::CpuBackend& cpu, TensorType type, int64_t n_tok,
                      bool per_slot, bool from_router, uint32_t seed) {
    SCOPED_TRACE(std::string(type_name(type)) + ", " + std::to_string(n_tok) + " tokens" +
                 (per_slot ? ", one input per slot" : "") + (from_router ? ", routed" : ""));
    const int64_t n_mat = 16, rows = 48, cols = 256;
    const int n_used = 4;
    const int64_t n_slot = n_tok * n_used;
    const auto w = test::random_weights(type, rows * n_mat, cols, seed);
    const Weight hw{type, w.data(), rows, cols, "ffn_up_exps", n_mat};
    const Weight dw = gpu.upload(hw);
    std::vector<int32_t> ids(static_cast<size_t>(n_slot));
    std::vector<float> route_w(ids.size());
    if (from_router) {
        RouterParams p;
        p.n_expert = static_cast<int>(n_mat);
        p.n_used = n_used;
        const auto logits = normal_floats(n_tok * n_mat, seed + 1, 2.0f);
        Act gl = put(gpu, logits, n_tok, n_mat);
        gpu.moe_route(gl, Weight{}, p, ids, route_w, {});
        gpu.release(gl);
    } else {
        std::mt19937 rng(seed + 2);
        for (int64_t t = 0; t < n_tok; ++t) {
            std::vector<int32_t> all(n_mat);
            std::iota(all.begin(), all.end(), 0);
            std::shuffle(all.begin(), all.end(), rng);
            std::copy_n(all.begin(), n_used, ids.begin() + t * n_used);
        }
    }
    const int64_t x_rows = per_slot ? n_slot : n_tok;
    const auto x = normal_floats(x_rows * cols, seed + 3);
    Act gx = put(gpu, x, x_rows, cols), cx = put(cpu, x, x_rows, cols);
    Act go = gpu.alloc(n_slot, rows), co = cpu.alloc(n_slot, rows);
    gpu.moe_matmul(dw, gx, ids, n_used, go);
    cpu.moe_matmul(hw, cx, ids, n_used, co);
    const auto g = get(gpu, go), c = get(cpu, co);
    const size_t rb = row_bytes(type, cols);
    std::vector<float> wrow(cols);
    const bool gemm = n_tok >= gpu.options().gemm_min_rows;
    const bool quant = type_info(type).block_size > 1;
    for (int64_t s = 0; s < n_slot; ++s) {
        const float* xs = x.data() + (per_slot ? s : s / n_used) * cols;
        double amax = 0;
        for (int64_t i = 0; i < cols; ++i) amax = std::max(amax, std::fabs(double(xs[i])));
        for (int64_t r = 0; r < rows; ++r) {
            cpu::dequantize_row(type, w.data() + (ids[s] * rows + r) * rb, wrow.data(), cols);
            double ref = 0, mag = 0, wa = 0;
            for (int64_t i = 0; i < cols; ++i) {
                ref += double(wrow[i]) * xs[i];
                mag += std::fabs(double(wrow[i]) * xs[i]);
                wa += std::fabs(wrow[i]) * amax;
            }
            const double tol = (gemm ? 5e-3 : 1e-5) * mag + 1e-6;
            const double slack = quant                      ? wa / 127 + std::ldexp(mag, -9)
                                 : type == TensorType::BF16 ? std::ldexp(mag, -7)
                                                            : 1e-6 * mag;
            const size_t i = static_cast<size_t>(s * rows + r);
            ASSERT_NEAR(g[i], ref, tol) << "slot " << s << " row " << r;
            ASSERT_NEAR(g[i], c[i], tol + slack)
                << "slot " << s << " row " << r << " against the CPU";
        }
    }
    for (Act* a : {&gx, &go}) gpu.release(*a);
    for (Act* a : {&cx, &co}) cpu.release(*a);
}

TEST(CudaMoe, ExpertMatmulDecodeAndPrompt) {
    GB_REQUIRE_CUDA();
    cuda::CudaBackend gpu;
    cpu::CpuBackend cpu(2);
    uint32_t seed = 10;
    for (TensorType t : {TensorType::Q4_K, TensorType::Q6_K, TensorType::Q5_1, TensorType::Q8_0,
                         TensorType::F32, TensorType::BF16}) {
        for (int64_t n_tok : {1, 3, 12}) {
            check_moe_matmul(gpu, cpu, t, n_tok, false, false, seed += 5);
            check_moe_matmul(gpu, cpu, t, n_tok, true, false, seed += 5);
            check_moe_matmul(gpu, cpu, t, n_tok, false, true, seed += 5);
        }
    }
}

TEST(CudaMoe, CombineMatchesTheCpu) {
    GB_REQUIRE_CUDA();
    cuda::CudaBackend gpu;
    cpu::CpuBackend cpu(2);
    for (int64_t n_tok : {1, 9}) {
        const int n_used = 6;
        const int64_t cols = 200;
        const auto y = normal_floats(n_tok * n_used * cols, 3);
        const auto wv = normal_floats(n_tok * n_used, 4);
        Act gy = put(gpu, y, n_tok * n_used, cols), cy = put(cpu, y, n_tok * n_used, cols);
        Act go = gpu.alloc(n_tok, cols), co = cpu.alloc(n_tok, cols);
        gpu.moe_combine(gy, wv, n_used, go);
        cpu.moe_combine(cy, wv, n_used, co);
        const auto c = get(cpu, co);
        expect_close(get(gpu, go), c, 1e-6 * test::max_abs(c) + 1e-7, "moe_combine");
        for (Act* a : {&gy, &go}) gpu.release(*a);
        for (Act* a : {&cy, &co}) cpu.release(*a);
    }
}

TEST(CudaMoe, ExpertIdsOutsideTheStackAreRefused) {
    GB_REQUIRE_CUDA();
    cuda::CudaBackend gpu;
    std::vector<float> w(2 * 4 * 8, 1.0f);
    const Weight dw = gpu.upload(Weight{TensorType::F32, w.data(), 4, 8, "ffn_gate_exps", 2});
    Act x = gpu.alloc(1, 8), out = gpu.alloc(1, 4);
    const std::vector<int32_t> ids = {2};
    try {
        gpu.moe_matmul(dw, x, ids, 1, out);
        FAIL() << "expected gb::Error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("expert 2 outside ffn_gate_exps"), std::string::npos)
            << e.what();
    }
    EXPECT_FALSE(gpu.broken());
}

struct MlaCase {
    MlaShape s;
    TensorType type;
    bool kv_b_layout;  // v_b is attn_kv_b's rows: nope rows then n_v rows per head
    int64_t pos0, n_tok;
    double rel;
    TensorType kv_type = TensorType::F32;  // the cache (both sides store and read the same)
};

void check_mla(cuda::CudaBackend& gpu, cpu::CpuBackend& cpu, const MlaCase& c, uint32_t seed) {
    MlaShape s = c.s;
    SCOPED_TRACE(std::string(type_name(c.type)) + " heads " + std::to_string(s.n_head) + " nope " +
                 std::to_string(s.n_nope) + " rope " + std::to_string(s.n_rope) + " v " +
                 std::to_string(s.n_v) + " kv_lora " + std::to_string(s.kv_lora) + ", pos0 " +
                 std::to_string(c.pos0) + ", " + std::to_string(c.n_tok) + " tokens" +
                 (c.kv_b_layout ? ", attn_kv_b layout" : "") + ", " +
                 kv_cache_type_name(c.kv_type) + " cache");
    const int64_t H = s.n_head, L = s.kv_lora, R = s.n_rope, qk = s.n_nope + s.n_rope;
    const int64_t v_rows = c.kv_b_layout ? s.n_nope + s.n_v : s.n_v;
    s.v_row0 = c.kv_b_layout ? s.n_nope : 0;
    const auto kb = test::random_weights(c.type, H * L, s.n_nope, seed);
    const auto vb = test::random_weights(c.type, H * v_rows, L, seed + 1);
    const Weight hk{c.type, kb.data(), L, s.n_nope, "attn_k_b", H};
    const Weight hv{c.type, vb.data(), v_rows, L, "attn_v_b", H};
    const Weight dk = gpu.upload(hk), dv = gpu.upload(hv);
    const int64_t n_ctx = c.pos0 + c.n_tok + 2;
    const auto ckv = normal_floats(n_ctx * L, seed + 2), kpe = normal_floats(n_ctx * R, seed + 3);
    const auto q = normal_floats(c.n_tok * H * qk, seed + 4);
    KvLayer gc = kv_layer(gpu, ckv, L, kpe, R, n_ctx, c.kv_type);
    KvLayer cc = kv_layer(cpu, ckv, L, kpe, R, n_ctx, c.kv_type);
    Act gq = put(gpu, q, c.n_tok, H * qk), cq = put(cpu, q, c.n_tok, H * qk);
    Act go = gpu.alloc(c.n_tok, H * s.n_v), co = cpu.alloc(c.n_tok, H * s.n_v);
    const float scale = 1.0f / std::sqrt(static_cast<float>(qk));
    gpu.mla_attention(gq, dk, dv, gc, s, c.pos0, scale, go);
    cpu.mla_attention(cq, hk, hv, cc, s, c.pos0, scale, co);
    const auto cr = get(cpu, co);
    expect_close(get(gpu, go), cr, c.rel * test::max_abs(cr) + 1e-5, "mla_attention");
    for (Act* a : {&gq, &go}) gpu.release(*a);
    for (Act* a : {&cq, &co}) cpu.release(*a);
    for (KvTensor* t : {&gc.k, &gc.v}) gpu.release_kv(*t);
    for (KvTensor* t : {&cc.k, &cc.v}) cpu.release_kv(*t);
}

TEST(CudaMla, MatchesTheCpu) {
    GB_REQUIRE_CUDA();
    cuda::CudaBackend gpu;
    cpu::CpuBackend cpu(2);
    const MlaShape tiny{4, 32, 16, 32, 64, 0};
    const MlaShape v3{16, 128, 64, 128, 512, 0};  // DeepSeek-V3's per-head sizes, fewer heads
    const MlaCase cases[] = {
        {tiny, TensorType::F32, false, 0, 1, 1e-4},
        {tiny, TensorType::F32, false, 9, 6, 1e-4},
        {tiny, TensorType::F32, true, 0, 20, 1e-4},
        {tiny, TensorType::F16, true, 3, 1, 3e-3},
        {tiny, TensorType::Q8_0, false, 5, 4, 3e-2},
        {v3, TensorType::F16, false, 100, 1, 3e-3},
        {v3, TensorType::F32, true, 0, 17, 1e-4},
        {tiny, TensorType::F32, false, 9, 6, 1e-4, TensorType::F16},
        {v3, TensorType::F32, false, 300, 1, 1e-4, TensorType::BF16},
        {v3, TensorType::F32, true, 40, 20, 1e-4, TensorType::Q8_0},
    };
    uint32_t seed = 40;
    for (const MlaCase& c : cases) check_mla(gpu, cpu, c, seed += 7);
}

}  // namespace
}  // namespace gb

#else  // built without the CUDA backend

TEST(CudaMoe, BuiltWithoutCuda) { GTEST_SKIP() << "no CUDA device: built without CUDA"; }

#endif
