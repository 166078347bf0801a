// `glassbox-cli bench`: prompt-processing and generation speed, measured like llama-bench
// (ppN: one N-token prompt from an empty cache; tgN: N single-token steps), best of R runs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <thread>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "engine/model/model.h"
#include "engine/session/kv_cache.h"
#include "kernels/cpu/cpu_backend.h"

namespace gb::cli {

int bench_command(const std::vector<std::string>& argv) {
    Args args(argv, {"-m", "--model", "-t", "--threads", "-p", "-n", "-r"}, {});
    const std::string path = args.has("-m") ? args.str("-m") : args.str("--model");
    if (path.empty()) throw Error("bench needs a model: -m FILE");
    const int64_t n_pp = args.integer("-p", 512), n_tg = args.integer("-n", 128);
    const int reps = static_cast<int>(args.integer("-r", 3));
    if (n_pp < 1 || n_tg < 1 || reps < 1) throw Error("-p, -n and -r must be positive");
    RunSettings rs;
    rs.n_threads = static_cast<int>(args.integer(args.has("-t") ? "-t" : "--threads", 0));
    if (rs.n_threads <= 0) rs.n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    rs.n_batch = std::max<int64_t>(n_pp, 1);
    rs.n_ctx = std::max<int64_t>(n_pp, n_tg + 1) + 16;

    cpu::CpuBackend backend(rs.n_threads);
    std::unique_ptr<Model> model = Model::load(path, backend, rs);
    std::unique_ptr<KvCache> cache = model->new_cache();
    std::mt19937 rng(42);
    std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(model->config().n_vocab - 1));
    std::vector<int32_t> prompt(static_cast<size_t>(n_pp));
    for (auto& t : prompt) t = pick(rng);
    std::vector<float> logits;
    using Clock = std::chrono::steady_clock;
    auto seconds = [](Clock::time_point a) { return std::chrono::duration<double>(Clock::now() - a).count(); };

    std::printf("model: %s\nbackend: %s, threads: %d\n", path.c_str(), backend.name().c_str(), rs.n_threads);
    double best_pp = 0, best_tg = 0;
    for (int r = 0; r < reps; ++r) {
        cache->set_n_past(0);
        auto t0 = Clock::now();
        model->forward(prompt, *cache, 1, logits);
        best_pp = std::max(best_pp, static_cast<double>(n_pp) / seconds(t0));

        cache->set_n_past(0);
        int32_t tok = prompt[0];
        t0 = Clock::now();
        for (int64_t i = 0; i < n_tg; ++i) {
            model->forward(std::span<const int32_t>(&tok, 1), *cache, 1, logits);
            tok = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
        }
        best_tg = std::max(best_tg, static_cast<double>(n_tg) / seconds(t0));
    }
    std::printf("pp%lld: %.2f tok/s\ntg%lld: %.2f tok/s\n", static_cast<long long>(n_pp), best_pp,
                static_cast<long long>(n_tg), best_tg);
    return 0;
}

}  // namespace gb::cli
