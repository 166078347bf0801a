// `glassbox-cli bench`: prompt-processing and generation speed, measured like llama-bench
// (ppN: one N-token prompt; tgN: N single-token steps), each from an empty cache or, with
// -d D1,D2,..., after D tokens already in it (speed deep into a long chain of thought). Reports
// the median of R runs and their range, as llama-bench reports a central value and spread.
// --routing (MoE models) also measures what recording each token's expert routing costs.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
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

// "0,4096,8192" -> {0, 4096, 8192}: each a depth of 0..2^22 tokens, at most 64 of them.
std::vector<int64_t> depths_arg(const std::string& text) {
    std::vector<int64_t> out;
    size_t pos = 0;
    while (pos <= text.size()) {
        const size_t comma = std::min(text.find(',', pos), text.size());
        const std::string item = text.substr(pos, comma - pos);
        char* end = nullptr;
        errno = 0;
        const long long d = std::strtoll(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || errno == ERANGE || d < 0 || d > (1 << 22))
            throw Error("-d expects depths in tokens, 0..4194304, separated by commas; got '" +
                        text + "'");
        out.push_back(d);
        pos = comma + 1;
    }
    if (out.size() > 64) throw Error("-d: at most 64 depths");
    return out;
}

// Median and range of a run's speeds.
struct Spread {
    double median, lo, hi;
};
Spread spread(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    const double median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    return {median, v.front(), v.back()};
}

}  // namespace

int bench_command(const std::vector<std::string>& argv) {
    Args args(argv,
              {"-m", "--model", "-t", "--threads", "-p", "-n", "-r", "-d", "--depth", "--backend",
               "--cpu-layers", "--cache-type"},
              {"--routing", "--trace-cost", "--precise"});
    const std::string path = args.has("-m") ? args.str("-m") : args.str("--model");
    if (path.empty()) throw Error("bench needs a model: -m FILE");
    // The context holds the longer of the two runs: past 2^22 tokens RunSettings refuses it.
    const int64_t n_pp = args.integer("-p", 512, 1, 1 << 22),
                  n_tg = args.integer("-n", 128, 1, 1 << 22);
    const int reps = static_cast<int>(args.integer("-r", 3, 1, 1000000));
    const std::vector<int64_t> depths =
        depths_arg(args.has("-d") ? args.str("-d") : args.str("--depth", "0"));
    const int64_t max_depth = *std::max_element(depths.begin(), depths.end());
    RunSettings rs;
    rs.n_threads =
        resolve_threads(args.integer(args.has("-t") ? "-t" : "--threads", 0, LLONG_MIN, LLONG_MAX));
    // The depth is filled in batches of up to 512 tokens, as a prompt would be.
    rs.n_batch = std::max<int64_t>(n_pp, max_depth > 0 ? 512 : 1);
    rs.n_ctx = max_depth + std::max<int64_t>(n_pp, n_tg + 1) + 16;
    rs.n_cpu_layers = cpu_layers_arg(args.str("--cpu-layers", ""));
    rs.kv_type = cache_type_arg(args.str("--cache-type", ""));
    rs.precise = precise_arg(args);

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
    std::printf("KV cache: %s, %.1f MiB for %lld positions\nprecision: %s\n",
                kv_cache_type_name(rs.cache_type()).c_str(),
                static_cast<double>(
                    model_size(model->file(), model->config(), rs.cache_type()).kv_bytes_per_token *
                    rs.n_ctx) /
                    (1024.0 * 1024.0),
                static_cast<long long>(rs.n_ctx),
                rs.precise ? "precise (F32 activations and KV cache)" : "fast");
    if (model->settings().n_cpu_layers > 0)
        std::printf("layers on the CPU: %lld of %lld%s\n",
                    static_cast<long long>(model->settings().n_cpu_layers),
                    static_cast<long long>(model->config().n_layer),
                    rs.n_cpu_layers == RunSettings::kAutoCpuLayers ? " (auto)" : "");
    auto report = [&](const char* test, int64_t n, int64_t depth, const std::vector<double>& v) {
        const Spread s = spread(v);
        char name[64];
        if (depth > 0)
            std::snprintf(name, sizeof name, "%s%lld @ d%lld", test, static_cast<long long>(n),
                          static_cast<long long>(depth));
        else
            std::snprintf(name, sizeof name, "%s%lld", test, static_cast<long long>(n));
        std::printf("%s: %.2f tok/s (median of %d, range %.2f..%.2f)\n", name, s.median, reps, s.lo,
                    s.hi);
    };
    // One untimed run first, as llama-bench does: it pages the weights in and sizes the buffers.
    cache->set_n_past(0);
    model->forward(prompt, *cache, 1, logits);
    model->forward(std::span<const int32_t>(prompt.data(), 1), *cache, 1, logits);
    std::vector<int32_t> filler;
    for (const int64_t depth : depths) {
        // The first `depth` positions of the cache are filled once, untimed, in batches; every
        // run then starts from there (what a run writes past them is overwritten by the next).
        cache->set_n_past(0);
        for (int64_t done = 0; done < depth;) {
            const int64_t n = std::min<int64_t>(rs.n_batch, depth - done);
            filler.resize(static_cast<size_t>(n));
            for (auto& t : filler) t = pick(rng);
            model->forward(filler, *cache, 1, logits);
            done += n;
        }
        std::vector<double> pp, tg;
        for (int r = 0; r < reps; ++r) {
            cache->set_n_past(depth);
            auto t0 = Clock::now();
            model->forward(prompt, *cache, 1, logits);
            pp.push_back(static_cast<double>(n_pp) / seconds(t0));

            cache->set_n_past(depth);
            int32_t tok = prompt[0];
            t0 = Clock::now();
            for (int64_t i = 0; i < n_tg; ++i) {
                model->forward(std::span<const int32_t>(&tok, 1), *cache, 1, logits);
                tok = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) -
                                           logits.begin());
            }
            tg.push_back(static_cast<double>(n_tg) / seconds(t0));
        }
        report("pp", n_pp, depth, pp);
        report("tg", n_tg, depth, tg);
    }
    if (args.has("--trace-cost") || args.has("--routing"))
        trace_cost_bench(*model, *cache, prompt, n_tg, reps);
    return 0;
}

}  // namespace gb::cli
