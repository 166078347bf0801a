// The CPU attention kernel at the shapes of the models we benchmark against llama.cpp, deep into
// a context: decode (one token) and a 512-token prompt batch, for each cache type, in ms per
// call per layer and the cache bytes read per call over that time (GB/s), beside the kernel this
// one replaced (one head at a time, every score row materialised, scalar loops over an F32
// cache), run in the same process. Run by hand:
//   build/tests/attention_bench [-t THREADS] [--quick]
// Not a test: it asserts nothing.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/thread_pool.h"

namespace {

using namespace gb;
using Clock = std::chrono::steady_clock;

struct Shape {
    const char* model;
    int n_head, n_kv, hd;
};

double seconds_per_call(const std::function<void()>& fn, double min_s) {
    fn();
    int iters = 0;
    const auto t0 = Clock::now();
    double s = 0;
    do {
        fn();
        ++iters;
        s = std::chrono::duration<double>(Clock::now() - t0).count();
    } while (s < min_s);
    return s / iters;
}

// The replaced kernel: per (token, head) all scores into a row, softmax, weighted sum.
void naive_attention(cpu::ThreadPool& pool, const float* q, int64_t T, const float* k,
                     const float* v, int n_head, int n_kv, int hd, int64_t pos0, float scale,
                     float* out) {
    const int group = n_head / n_kv;
    const int64_t kvw = int64_t{n_kv} * hd;
    std::vector<std::vector<float>> scratch(pool.size(), std::vector<float>(pos0 + T));
    pool.parallel_for(
        T * n_head,
        [&](int64_t i0, int64_t i1, int tid) {
            float* s = scratch[tid].data();
            for (int64_t i = i0; i < i1; ++i) {
                const int64_t t = i / n_head, h = i % n_head, n = pos0 + t + 1;
                const float* qh = q + (t * n_head + h) * hd;
                const int64_t off = (h / group) * hd;
                float mx = -INFINITY;
                for (int64_t j = 0; j < n; ++j) {
                    float a = 0;
                    for (int d = 0; d < hd; ++d) a += qh[d] * k[j * kvw + off + d];
                    s[j] = a * scale;
                    mx = std::max(mx, s[j]);
                }
                float sum = 0;
                for (int64_t j = 0; j < n; ++j) sum += s[j] = std::exp(s[j] - mx);
                float* o = out + (t * n_head + h) * hd;
                std::fill(o, o + hd, 0.0f);
                for (int64_t j = 0; j < n; ++j)
                    for (int d = 0; d < hd; ++d) o[d] += s[j] / sum * v[j * kvw + off + d];
            }
        },
        1);
}

}  // namespace

int main(int argc, char** argv) {
    int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    bool quick = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "-t" && i + 1 < argc)
            threads = std::atoi(argv[++i]);
        else if (a == "--quick")
            quick = true;
        else {
            std::fprintf(stderr, "usage: attention_bench [-t THREADS] [--quick]\n");
            return 2;
        }
    }
    const double min_s = quick ? 0.05 : 0.3;
    cpu::CpuBackend be(threads);
    cpu::ThreadPool pool(threads);
    std::printf("cpu, %d threads; ms per call for one layer; GB/s = cache bytes read / time\n",
                threads);
    std::printf("%-22s %-7s %-5s %6s %5s %10s %8s %12s %8s\n", "model shape", "phase", "cache",
                "depth", "toks", "ms", "GB/s", "replaced ms", "speedup");
    const Shape shapes[] = {{"SmolLM2-135M 9/3x64", 9, 3, 64},
                            {"Qwen2.5-0.5B 14/2x64", 14, 2, 64},
                            {"Qwen3-30B-A3B 32/4x128", 32, 4, 128}};
    const std::vector<int64_t> depths =
        quick ? std::vector<int64_t>{4096} : std::vector<int64_t>{512, 4096, 8192, 16384};
    std::mt19937 rng(1);
    std::normal_distribution<float> nd;
    for (const Shape& sh : shapes) {
        const int64_t kvw = int64_t{sh.n_kv} * sh.hd, qw = int64_t{sh.n_head} * sh.hd;
        const float scale = 1.0f / std::sqrt(float(sh.hd));
        for (int64_t depth : depths) {
            for (const int64_t T : {int64_t{1}, int64_t{512}}) {
                const int64_t ctx = depth + T;
                std::vector<float> k(size_t(ctx * kvw)), v(k.size()), q(size_t(T * qw)),
                    out(q.size());
                for (auto* x : {&k, &v, &q})
                    for (auto& e : *x) e = nd(rng);
                double naive = 0;
                if (T == 1 || depth <= 4096)  // the replaced kernel at 512 x 8k+ takes minutes
                    naive = seconds_per_call(
                        [&] {
                            naive_attention(pool, q.data(), T, k.data(), v.data(), sh.n_head,
                                            sh.n_kv, sh.hd, depth, scale, out.data());
                        },
                        min_s);
                for (TensorType type : {TensorType::F16, TensorType::Q8_0, TensorType::F32}) {
                    KvLayer cache{be.alloc_kv(ctx, kvw, type), be.alloc_kv(ctx, kvw, type)};
                    be.kv_store(cache, Act{k.data(), ctx, kvw}, Act{v.data(), ctx, kvw}, 0);
                    Act qa{q.data(), T, qw}, oa{out.data(), T, qw};
                    const double s = seconds_per_call(
                        [&] {
                            be.attention(qa, cache, sh.n_head, sh.n_kv, sh.hd, depth, scale, oa);
                        },
                        min_s);
                    const double bytes = double(cache.k.row_bytes()) * 2 * (depth + T);
                    std::printf("%-22s %-7s %-5s %6lld %5lld %10.3f %8.2f", sh.model,
                                T == 1 ? "decode" : "prompt", kv_cache_type_name(type).c_str(),
                                static_cast<long long>(depth), static_cast<long long>(T), s * 1e3,
                                bytes / s / 1e9);
                    if (naive > 0)
                        std::printf(" %12.3f %7.2fx\n", naive * 1e3, naive / s);
                    else
                        std::printf(" %12s %8s\n", "-", "-");
                    std::fflush(stdout);
                    be.release_kv(cache.k);
                    be.release_kv(cache.v);
                }
            }
        }
    }
    return 0;
}
