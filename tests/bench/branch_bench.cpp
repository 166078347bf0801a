// Time to first token of a branch deep into a reply against a fresh reply of the same prompt:
// the branch reuses the KV cache of the shared prefix, so it runs 2 tokens where a fresh reply
// (or a branch on a generator whose cache holds nothing of it) runs the whole prompt. Run by
// hand: branch_bench MODEL.gguf [DEPTH=2000] [THREADS=2].
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "engine/model/model.h"
#include "engine/session/generator.h"
#include "engine/session/interventions.h"
#include "engine/tokenizer/tokenizer.h"
#include "kernels/cpu/cpu_backend.h"

using namespace gb;
using Clock = std::chrono::steady_clock;

namespace {

// Milliseconds from the call to the callback of generated token `index`.
double ttft(Generator& gen, const GenerateRequest& req, int index, Trace* out = nullptr) {
    const auto t0 = Clock::now();
    double at = -1;
    int seen = 0;
    Trace t = gen.generate(req, [&](const TokenRecord* r, const std::string&) {
        if (r && seen++ == index)
            at = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        return true;
    });
    if (out) *out = std::move(t);
    return at;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: branch_bench MODEL.gguf [DEPTH=2000] [THREADS=2]\n");
        return 2;
    }
    const int depth = argc > 2 ? std::atoi(argv[2]) : 2000;
    const int threads = argc > 3 ? std::atoi(argv[3]) : 2;
    cpu::CpuBackend be(threads);
    RunSettings rs;
    rs.n_ctx = depth + 256;
    rs.n_threads = threads;
    auto model = Model::load(argv[1], be, rs);
    Tokenizer tok = Tokenizer::from_gguf(model->file());
    std::string text;
    for (int i = 0; static_cast<int>(tok.encode(text, false, false).size()) < depth; ++i)
        text += "Step " + std::to_string(i) + ": add the next number to the running total. ";
    GenerateRequest req;
    req.prompt = tok.encode(text, true, false);
    req.prompt.resize(static_cast<size_t>(depth));
    req.max_tokens = 40;
    req.sampling.temperature = 0;
    req.stop_at_eog = false;
    req.prompt_logprobs = true;  // as the app asks

    Generator gen(*model, tok);
    Trace parent;
    const double fresh = ttft(gen, req, 0, &parent);
    const int at = 30;
    const int32_t other = parent.tokens[static_cast<size_t>(parent.n_prompt + at)].top.at(1).id;
    GenerateRequest b = branch_request(parent, at, other, 5, tok);
    // The branch's first new token is generated index at+1 (after the kept ones and its own).
    const double reused = ttft(gen, b, at + 1);
    Generator cold(*model, tok);
    const double not_reused = ttft(cold, b, at + 1);
    std::printf("%s, %d prompt tokens, %d threads\n", model->config().name.c_str(), depth, threads);
    std::printf("  fresh reply, time to first token:                    %8.1f ms\n", fresh);
    std::printf("  branch at generated token %d, cache reused:          %8.1f ms (%.0fx faster)\n",
                at, reused, fresh / reused);
    std::printf("  the same branch on an empty cache (whole prefix run): %8.1f ms\n", not_reused);
    return 0;
}
