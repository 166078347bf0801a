// `glassbox-cli compare A B [--json]`: two replies aligned token by token, their probability
// differences and the difference of their expert loads (engine/trace/trace_compare.h).
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "engine/core/utf8.h"
#include "engine/trace/trace_compare.h"
#include "engine/trace/trace_file.h"

namespace gb::cli {

namespace {

std::string shown(const Trace& t, int index) {
    if (index < 0) return "(nothing)";
    std::string s = t.tokens[static_cast<size_t>(index)].text;
    std::string out;
    for (char ch : s) out += ch == '\n' ? std::string("\\n") : std::string(1, ch);
    return utf8::printable(out);
}

}  // namespace

int compare_command(const std::vector<std::string>& argv) {
    Args args(argv, {}, {"--json"});
    if (args.positional().size() != 2)
        throw Error(
            "compare takes two trace files (JSON, or binary .gbtrace), e.g. "
            "glassbox-cli compare seed1.json seed2.json");
    const Trace a = read_trace_file(args.positional()[0]);
    const Trace b = read_trace_file(args.positional()[1]);
    const TraceComparison c = compare_traces(a, b);
    if (args.has("--json")) {
        write_comparison_json(c, std::cout);
        std::cout.flush();
        return std::cout ? 0 : 1;
    }
    // The precision mode of each side, where the trace records it: fast against precise is the
    // fast mode's error.
    auto mode = [](const Trace& t) {
        return t.precision.empty() ? std::string() : ", " + utf8::printable(t.precision);
    };
    std::printf("A: %s%s, %d reasoning + %d answer tokens\n", utf8::printable(a.model).c_str(),
                mode(a).c_str(), c.n_reasoning_a, c.n_answer_a);
    std::printf("B: %s%s, %d reasoning + %d answer tokens\n", utf8::printable(b.model).c_str(),
                mode(b).c_str(), c.n_reasoning_b, c.n_answer_b);
    std::printf("aligned: %d tokens in both, %d only in A, %d only in B\n", c.same, c.only_a,
                c.only_b);
    if (c.first_divergence < 0) {
        std::printf("the replies are the same token for token\n");
    } else {
        const AlignedToken& r = c.alignment[static_cast<size_t>(c.first_divergence)];
        auto side = [&](const Trace& t, int i) {
            if (i < 0) return std::string("nothing");
            std::string s = "\"";
            s += shown(t, i);
            s += "\" (token ";
            s += std::to_string(i);
            s += ')';
            return s;
        };
        std::printf("first divergence at row %d: A %s, B %s\n", c.first_divergence,
                    side(a, r.a).c_str(), side(b, r.b).c_str());
    }
    if (std::isfinite(c.logprob_rms)) {
        const AlignedToken& r = c.alignment[static_cast<size_t>(c.logprob_max_row)];
        std::printf(
            "log-probability B - A over shared tokens: mean |d| %.4f, RMS %.4f, max |d| %.4f "
            "at \"%s\" (A token %d, B token %d)\n",
            c.logprob_mean_abs, c.logprob_rms, c.logprob_max_abs, shown(a, r.a).c_str(), r.a, r.b);
    }
    if (std::isfinite(c.entropy_mean_abs))
        std::printf("entropy: mean |d| %.4f nats\n", c.entropy_mean_abs);
    if (!c.loads_comparable) {
        std::printf(
            "expert loads: not comparable (a dense model, or different numbers of experts)\n");
        return 0;
    }
    std::printf("expert loads (relative load B - A), share of routings that moved:\n");
    for (const LayerLoadChange& l : c.layers) {
        size_t up = 0, down = 0;
        for (size_t e = 0; e < l.diff.size(); ++e) {
            if (l.diff[e] > l.diff[up]) up = e;
            if (l.diff[e] < l.diff[down]) down = e;
        }
        std::printf("  layer %3d: moved %5.1f%%  most gained #%zu %+.2f, most lost #%zu %+.2f\n",
                    l.layer, 100 * l.moved, up, l.diff[up], down, l.diff[down]);
    }
    return 0;
}

}  // namespace gb::cli
