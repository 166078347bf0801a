// Rollouts of a resampling one by one against decoded together (Generator::generate_batch with
// row-invariant products): the time for k rollouts of n tokens from one position of a greedy
// reply, for each number decoded at once, and whether every rollout came out the same as one
// by one (it must: the batch changes only the speed). Run by hand:
// resample_bench MODEL.gguf [K=8] [N=128] [DEPTH=64] [THREADS=2].
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/model/model.h"
#include "engine/session/generator.h"
#include "engine/session/interventions.h"
#include "engine/tokenizer/tokenizer.h"
#include "kernels/cpu/cpu_backend.h"

using namespace gb;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr,
                     "usage: resample_bench MODEL.gguf [K=8] [N=128] [DEPTH=64] [THREADS=2]\n");
        return 2;
    }
    const int k = argc > 2 ? std::atoi(argv[2]) : 8;
    const int n = argc > 3 ? std::atoi(argv[3]) : 128;
    const int depth = argc > 4 ? std::atoi(argv[4]) : 64;
    const int threads = argc > 5 ? std::atoi(argv[5]) : 2;
    cpu::CpuBackend be(threads);
    RunSettings rs;
    rs.n_ctx = depth + 2 * n + 64;
    rs.n_threads = threads;
    auto model = Model::load(argv[1], be, rs);
    Tokenizer tok = Tokenizer::from_gguf(model->file());
    std::string text;
    for (int i = 0; static_cast<int>(tok.encode(text, false, false).size()) < depth; ++i)
        text += "Step " + std::to_string(i) + ": add the next number to the running total. ";
    GenerateRequest req;
    req.prompt = tok.encode(text, true, false);
    req.prompt.resize(static_cast<size_t>(depth));
    req.max_tokens = 8;
    req.sampling.temperature = 0;
    req.stop_at_eog = false;
    Generator parent_gen(*model, tok);
    const Trace parent = parent_gen.generate(req);
    ResampleOptions opt;
    opt.k = k;
    opt.max_new = n;
    opt.temperature = 1.0f;
    opt.first_seed = 1;
    std::printf("%s, %d rollouts of up to %d tokens from depth %d, %d threads\n", argv[1], k, n,
                depth + 4, threads);
    ResampleResult one_by_one;
    double base_ms = 0;
    for (int together : {1, 2, 4, 8, 16}) {
        if (together > k) break;
        opt.batch = together;
        Generator gen(*model, tok);  // each from the same (empty) cache
        const auto t0 = Clock::now();
        const ResampleResult r = resample_at(gen, parent, 4, opt, tok);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        int tokens = 0;
        for (const Rollout& ro : r.rollouts) tokens += ro.tokens;
        bool same = true;
        if (together == 1) {
            one_by_one = r;
            base_ms = ms;
        } else {
            for (size_t i = 0; i < r.rollouts.size(); ++i)
                same = same && r.rollouts[i].answer == one_by_one.rollouts[i].answer &&
                       r.rollouts[i].tokens == one_by_one.rollouts[i].tokens;
        }
        std::printf("  %2d at once: %8.1f ms, %6.1f tokens/s, %.2fx one by one, rollouts %s\n",
                    together, ms, 1000.0 * tokens / ms, base_ms / ms,
                    together == 1 ? "(reference)"
                    : same        ? "identical"
                                  : "DIFFERENT");
    }
    return 0;
}
