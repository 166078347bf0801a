// Every Backend op on every backend present, at the sizes of a 7-8B model (and of a DeepSeek-V3
// layer for the MoE and latent-attention ops), timed through the Backend interface: milliseconds
// per call and the bytes the op must move per call over that time (GB/s), beside memcpy's rate
// on this machine (the CPU roofline) and the device's peak bandwidth for a GPU. Run by hand:
//   build/tests/ops_bench [--quick] [--backend cpu|cuda] [-t THREADS]
// Not a test: it asserts nothing.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/session/backends.h"
#include "kernels/backend.h"
#include "kernels/logit_summary.h"
#include "tests/kernels/cpu/random_weights.h"

namespace {

using namespace gb;
using Clock = std::chrono::steady_clock;

std::vector<float> randn(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d;
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

struct Bench {
    Backend& be;
    double min_seconds;
    std::vector<std::vector<uint8_t>> keep;  // host copies of weights (the CPU uses them in place)

    Act act(int64_t rows, int64_t cols, uint32_t seed) {
        Act a = be.alloc(rows, cols);
        const auto v = randn(static_cast<size_t>(rows * cols), seed);
        be.to_device(v.data(), a);
        return a;
    }
    // A cache tensor of `type` filled with random values through kv_store.
    KvTensor kv(int64_t rows, int64_t cols, TensorType type, uint32_t seed) {
        KvLayer l{be.alloc_kv(rows, cols, type), be.alloc_kv(rows, cols, type)};
        Act a = act(rows, cols, seed);
        be.kv_store(l, a, a, 0);
        be.release(a);
        be.release_kv(l.v);
        return l.k;
    }
    Weight weight(TensorType t, int64_t rows, int64_t cols, int64_t n_mat, const char* name) {
        keep.push_back(test::random_weights(t, rows * n_mat, cols, 7));
        Weight w{t, keep.back().data(), rows, cols, name, n_mat};
        return be.upload(w);
    }
    // Mean seconds per call after a warm-up call, over at least min_seconds.
    double time(const std::function<void()>& fn) {
        fn();
        be.synchronize();
        int iters = 0;
        const auto t0 = Clock::now();
        double s = 0;
        do {
            fn();
            be.synchronize();
            ++iters;
            s = std::chrono::duration<double>(Clock::now() - t0).count();
        } while (s < min_seconds && iters < 100000);
        return s / iters;
    }
    void report(const char* op, const std::string& shape, double bytes,
                const std::function<void()>& fn) {
        const double s = time(fn);
        std::printf("%-14s %-6s %-44s %9.3f ms %9.1f GB/s\n", op, be.name().c_str(), shape.c_str(),
                    s * 1e3, bytes / s / 1e9);
        std::fflush(stdout);
    }
};

double memcpy_gbs() {
    const size_t n = size_t{256} << 20;
    std::vector<char> a(n, 1), b(n, 0);
    std::memcpy(b.data(), a.data(), n);
    const auto t0 = Clock::now();
    int iters = 0;
    double s = 0;
    do {
        std::memcpy(b.data(), a.data(), n);
        ++iters;
        s = std::chrono::duration<double>(Clock::now() - t0).count();
    } while (s < 0.5);
    return 2.0 * n * iters / s / 1e9;  // read + write
}

void run(Backend& be, bool quick) {
    Bench b{be, quick ? 0.05 : 0.3, {}};
    const int64_t E = 4096, F = 14336, T = quick ? 64 : 512, V = 151936;
    auto sz = [](std::initializer_list<int64_t> d) {
        std::string s;
        for (int64_t x : d) s += (s.empty() ? "" : "x") + std::to_string(x);
        return s;
    };
    // Dense projections: decode (one token, memory-bound: the weights once) and prefill.
    for (TensorType t : {TensorType::F16, TensorType::Q8_0, TensorType::Q4_K}) {
        const Weight w = b.weight(t, F, E, 1, "ffn_up.weight");
        const double wb = double(row_bytes(t, E)) * F;
        Act x1 = b.act(1, E, 1), y1 = be.alloc(1, F);
        b.report("matmul", std::string(type_name(t)) + " " + sz({F, E}) + " x 1 token",
                 wb + 4.0 * (E + F), [&] { be.matmul(w, x1, y1); });
        Act xt = b.act(T, E, 2), yt = be.alloc(T, F);
        b.report("matmul", std::string(type_name(t)) + " " + sz({F, E}) + " x " + std::to_string(T),
                 wb + 4.0 * T * (E + F), [&] { be.matmul(w, xt, yt); });
        be.release(x1), be.release(y1), be.release(xt), be.release(yt);
    }
    {
        Act x = b.act(T, E, 3), out = be.alloc(T, E);
        const Weight g = b.weight(TensorType::F32, 1, E, 1, "attn_norm.weight");
        b.report("rmsnorm", sz({T, E}), 4.0 * (2.0 * T * E + E),
                 [&] { be.rmsnorm(x, g, 1e-6f, out); });
        Act y = b.act(T, E, 4);
        b.report("add", sz({T, E}), 12.0 * T * E, [&] { be.add(out, y); });
        b.report("swiglu", sz({T, E}), 12.0 * T * E, [&] { be.swiglu(x, y, out); });
        std::vector<int32_t> pos(static_cast<size_t>(T));
        for (int64_t i = 0; i < T; ++i) pos[static_cast<size_t>(i)] = static_cast<int32_t>(i);
        RopeParams rp;
        rp.n_dims = 128;
        rp.neox = true;
        b.report("rope", sz({T, 32, 128}), 8.0 * T * E, [&] { be.rope(x, 32, 128, pos, rp); });
        be.release(x), be.release(out), be.release(y);
    }
    {
        // Attention over a 4096-position cache, 32 query heads over 8 KV heads (GQA).
        const int64_t ctx = quick ? 1024 : 4096, kvw = 8 * 128;
        for (TensorType t : {TensorType::F16, TensorType::F32}) {
            KvLayer cache{b.kv(ctx, kvw, t, 5), b.kv(ctx, kvw, t, 6)};
            Act q = b.act(1, E, 7), out = be.alloc(1, E);
            b.report("attention",
                     kv_cache_type_name(t) + " 1 token over " + std::to_string(ctx) +
                         " pos, 32/8 heads x 128",
                     2.0 * ctx * cache.k.row_bytes(),
                     [&] { be.attention(q, cache, 32, 8, 128, ctx - 1, 0.088f, out); });
            be.release_kv(cache.k), be.release_kv(cache.v), be.release(q), be.release(out);
        }
    }
    {
        // DeepSeek-V3's MoE layer: 256 routed experts of 2048 x 7168, top-8 in 8 groups.
        const int64_t D = 7168, FE = 2048, N = 256, K = 8;
        RouterParams rp;
        rp.n_expert = static_cast<int>(N);
        rp.n_used = static_cast<int>(K);
        rp.gating = Gating::Sigmoid;
        rp.norm_topk = true;
        rp.n_group = 8;
        rp.n_group_used = 4;
        rp.scale = 2.5f;
        Act logits = b.act(T, N, 8);
        std::vector<int32_t> ids(static_cast<size_t>(T * K));
        std::vector<float> wts(ids.size());
        const Weight bias = b.weight(TensorType::F32, 1, N, 1, "exp_probs_b.bias");
        b.report("moe_route", sz({T, N}) + " top-8 of 8 groups", 4.0 * T * N,
                 [&] { be.moe_route(logits, bias, rp, ids, wts, {}); });
        const int64_t experts = quick ? 32 : N;
        const Weight up = b.weight(TensorType::Q8_0, FE, D, experts, "ffn_up_exps.weight");
        std::vector<int32_t> one(static_cast<size_t>(K));
        for (int64_t k = 0; k < K; ++k)
            one[static_cast<size_t>(k)] = static_cast<int32_t>(k * 3 % experts);
        Act x = b.act(1, D, 9), y = be.alloc(K, FE);
        b.report("moe_matmul",
                 "Q8_0 8 of " + std::to_string(experts) + " x " + sz({FE, D}) + ", 1 token",
                 K * double(row_bytes(TensorType::Q8_0, D)) * FE,
                 [&] { be.moe_matmul(up, x, one, static_cast<int>(K), y); });
        Act comb = be.alloc(1, FE);
        b.report("moe_combine", "8 slots x " + std::to_string(FE), 4.0 * (K + 1) * FE, [&] {
            be.moe_combine(y, std::span<const float>(wts.data(), K), static_cast<int>(K), comb);
        });
        be.release(logits), be.release(x), be.release(y), be.release(comb);
    }
    {
        // DeepSeek-V3's latent attention, 16 of its 128 heads, over the compressed cache.
        const int64_t ctx = quick ? 1024 : 4096;
        MlaShape s{16, 128, 64, 128, 512, 128};
        const int64_t qk = s.n_nope + s.n_rope;
        const Weight kb = b.weight(TensorType::F16, s.kv_lora, s.n_nope, s.n_head, "attn_k_b");
        const Weight vb =
            b.weight(TensorType::F16, s.n_nope + s.n_v, s.kv_lora, s.n_head, "attn_kv_b");
        KvLayer cache{b.kv(ctx, s.kv_lora, TensorType::F16, 10),
                      b.kv(ctx, s.n_rope, TensorType::F16, 11)};
        Act q = b.act(1, s.n_head * qk, 12), out = be.alloc(1, s.n_head * s.n_v);
        b.report("mla_attention", "1 token over " + std::to_string(ctx) + " pos, 16 heads",
                 2.0 * ctx * (s.kv_lora + s.n_rope),
                 [&] { be.mla_attention(q, kb, vb, cache, s, ctx - 1, 0.07f, out); });
        be.release_kv(cache.k), be.release_kv(cache.v), be.release(q), be.release(out);
    }
    {
        Act logits = b.act(1, V, 13);
        std::vector<float> stats(kLogitStats), top(5);
        std::vector<int32_t> ids(5);
        b.report("logit_summary", "1 x " + std::to_string(V) + ", top-5", 4.0 * V,
                 [&] { be.logit_summary(logits, 5, stats, ids, top); });
        be.release(logits);
    }
}

}  // namespace

int main(int argc, char** argv) {
    bool quick = false;
    std::string only;
    int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--quick")
            quick = true;
        else if (a == "--backend" && i + 1 < argc)
            only = argv[++i];
        else if (a == "-t" && i + 1 < argc)
            threads = std::atoi(argv[++i]);
        else {
            std::fprintf(stderr, "usage: ops_bench [--quick] [--backend cpu|cuda] [-t THREADS]\n");
            return 2;
        }
    }
    std::printf("memcpy on this machine: %.1f GB/s (read + write, one thread)\n", memcpy_gbs());
    for (const std::string& name : gb::available_backends()) {
        if (!only.empty() && name != only) continue;
        try {
            auto be = gb::make_backend(name, threads);
            std::printf("\n== %s\n", gb::describe_backend(*be, threads).c_str());
            run(*be, quick);
        } catch (const std::exception& e) {
            std::printf("\n== %s: skipped: %s\n", name.c_str(), e.what());
        }
    }
    return 0;
}
