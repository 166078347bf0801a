// `glassbox-cli bench`: prompt-processing and generation speed, measured like llama-bench
// (ppN: one N-token prompt from an empty cache; tgN: N single-token steps), best of R runs.
// --routing (MoE models) also measures what recording each token's expert routing costs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <thread>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "engine/model/model.h"
#include "engine/session/backends.h"
#include "engine/session/kv_cache.h"
#include "engine/trace/trace.h"

namespace gb::cli {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point a) {
    return std::chrono::duration<double>(Clock::now() - a).count();
}

// What tracing costs a decode step: off; on as the Generator records it (the backend's logit
// summary for the probability, entropy and top-5 alternatives, and on MoE models the experts and
// weights of every MoE layer copied into one TokenRouting per token); and on with the full
// router vectors (MoE). A shared machine's speed drifts by more than the few microseconds this
// costs per token, so the modes take turns in short blocks of 8 decode steps over the same
// positions (each block restarts after the prompt), and each mode's total time is compared.
void trace_cost_bench(Model& model, KvCache& cache, const std::vector<int32_t>& prompt,
                      int64_t n_tg, int reps) {
    constexpr int64_t kBlock = 8;
    constexpr int kTopN = 5;
    const bool moe = model.config().is_moe();
    const int n_modes = moe ? 3 : 2;
    const char* names[3] = {"off", "on", "on + probs"};
    double total[3] = {0, 0, 0}, record[3] = {0, 0, 0};
    std::vector<float> logits;
    std::vector<TokenRouting> kept;
    std::vector<TokenStats> stats;
    model.set_routing_capture(false);
    model.set_logit_summary(-1);
    cache.set_n_past(0);
    model.forward(prompt, cache, 1, logits);
    const int64_t n_prompt = static_cast<int64_t>(prompt.size());
    const int64_t n_blocks = std::max<int64_t>(1, n_tg / kBlock) * reps;
    for (int64_t b = 0; b < n_blocks; ++b) {
        for (int i = 0; i < n_modes; ++i) {
            const int mode = static_cast<int>((b + i) % n_modes);  // rotate who goes first
            model.set_routing_capture(mode > 0, mode == 2);
            model.set_logit_summary(mode > 0 ? kTopN : -1);
            cache.set_n_past(n_prompt);
            int32_t tok = prompt.back();
            const auto t0 = Clock::now();
            for (int64_t s = 0; s < kBlock; ++s) {
                model.forward(std::span<const int32_t>(&tok, 1), cache, 1, logits);
                tok = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) -
                                           logits.begin());
                if (mode > 0) {
                    const auto tc = Clock::now();
                    const LogitSummary& ls = model.last_logit_summary();
                    stats.push_back(token_stats_from_summary(ls.stats.data(), ls.ids.data(),
                                                             ls.logits.data(), kTopN, logits[tok]));
                    if (moe) kept.push_back(model.last_routing().token(0));
                    record[mode] += seconds_since(tc);
                }
            }
            total[mode] += seconds_since(t0);
        }
        kept.clear();
        stats.clear();
    }
    model.set_routing_capture(false);
    model.set_logit_summary(-1);
    const ModelConfig& c = model.config();
    const double steps = static_cast<double>(n_blocks * kBlock);
    if (moe)
        std::printf(
            "trace cost (top-%d summary; routing of %lld MoE layers, top-%lld of %lld "
            "experts); %.0f decode steps per mode in interleaved blocks of %lld:\n",
            kTopN, static_cast<long long>(c.n_moe_layers()),
            static_cast<long long>(c.n_expert_used), static_cast<long long>(c.n_expert), steps,
            static_cast<long long>(kBlock));
    else
        std::printf(
            "trace cost (top-%d summary; dense model, no routing); %.0f decode steps per "
            "mode in interleaved blocks of %lld:\n",
            kTopN, steps, static_cast<long long>(kBlock));
    for (int mode = 0; mode < n_modes; ++mode)
        std::printf("  %-11s %8.2f tok/s (%+.2f%%), recording %.2f us/token\n", names[mode],
                    steps / total[mode], 100.0 * (total[0] / total[mode] - 1),
                    1e6 * record[mode] / steps);
}

}  // namespace

int bench_command(const std::vector<std::string>& argv) {
    Args args(argv,
              {"-m", "--model", "-t", "--threads", "-p", "-n", "-r", "--backend", "--cpu-layers"},
              {"--routing", "--trace-cost"});
    const std::string path = args.has("-m") ? args.str("-m") : args.str("--model");
    if (path.empty()) throw Error("bench needs a model: -m FILE");
    // The context holds the longer of the two runs: past 2^22 tokens RunSettings refuses it.
    const int64_t n_pp = args.integer("-p", 512, 1, 1 << 22),
                  n_tg = args.integer("-n", 128, 1, 1 << 22);
    const int reps = static_cast<int>(args.integer("-r", 3, 1, 1000000));
    RunSettings rs;
    rs.n_threads =
        resolve_threads(args.integer(args.has("-t") ? "-t" : "--threads", 0, LLONG_MIN, LLONG_MAX));
    rs.n_batch = std::max<int64_t>(n_pp, 1);
    rs.n_ctx = std::max<int64_t>(n_pp, n_tg + 1) + 16;
    rs.n_cpu_layers = cpu_layers_arg(args.str("--cpu-layers", ""));

    Backends be = make_backends(args.str("--backend", "cpu"), rs.n_threads, rs.n_cpu_layers);
    Backend* backend = be.main.get();
    std::unique_ptr<Model> model = Model::load(path, *backend, rs, be.host.get());
    std::unique_ptr<KvCache> cache = model->new_cache();
    std::mt19937 rng(42);
    std::uniform_int_distribution<int32_t> pick(0,
                                                static_cast<int32_t>(model->config().n_vocab - 1));
    std::vector<int32_t> prompt(static_cast<size_t>(n_pp));
    for (auto& t : prompt) t = pick(rng);
    std::vector<float> logits;
    using Clock = std::chrono::steady_clock;
    auto seconds = [](Clock::time_point a) {
        return std::chrono::duration<double>(Clock::now() - a).count();
    };

    std::printf("model: %s\nbackend: %s\n", path.c_str(),
                describe_backend(*backend, rs.n_threads).c_str());
    if (model->settings().n_cpu_layers > 0)
        std::printf("layers on the CPU: %lld of %lld%s\n",
                    static_cast<long long>(model->settings().n_cpu_layers),
                    static_cast<long long>(model->config().n_layer),
                    rs.n_cpu_layers == RunSettings::kAutoCpuLayers ? " (auto)" : "");
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
            tok = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) -
                                       logits.begin());
        }
        best_tg = std::max(best_tg, static_cast<double>(n_tg) / seconds(t0));
    }
    std::printf("pp%lld: %.2f tok/s\ntg%lld: %.2f tok/s\n", static_cast<long long>(n_pp), best_pp,
                static_cast<long long>(n_tg), best_tg);
    if (args.has("--trace-cost") || args.has("--routing"))
        trace_cost_bench(*model, *cache, prompt, n_tg, reps);
    return 0;
}

}  // namespace gb::cli
