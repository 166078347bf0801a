// `glassbox-cli analyze TRACE [--json]`: the shape of a whole reply (ANALYSIS_FORMAT.md).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "engine/core/file_write.h"
#include "engine/core/utf8.h"
#include "engine/trace/trace_analysis.h"
#include "engine/trace/trace_bundle.h"
#include "engine/trace/trace_file.h"
#include "engine/trace/trace_html.h"

namespace gb::cli {

namespace {

// A token or step text on one line, quoted, control bytes shown, cut to `max` bytes.
std::string quoted(std::string s, size_t max = 40) {
    std::string out;
    for (char c : s) {
        if (c == '\n')
            out += "\\n";
        else if (c == '\t')
            out += "\\t";
        else
            out += c;
    }
    if (out.size() > max) {
        std::string cut;  // never end inside a UTF-8 character
        utf8::append_repaired(cut, std::string_view(out).substr(0, max), false);
        out = cut + "...";
    }
    std::string q = "\"";
    q += utf8::printable(out);
    q += '"';
    return q;
}

std::string num(double v, const char* fmt = "%.3f") {
    if (!std::isfinite(v)) return "-";
    char buf[64];
    std::snprintf(buf, sizeof buf, fmt, v);
    return buf;
}

void print_reasoning(const ReasoningMap& m) {
    std::printf("reasoning: %d tokens, answer: %d tokens", m.n_reasoning, m.n_answer);
    if (std::isfinite(m.reasoning_share))
        std::printf(" (%.0f%% of the reply is reasoning)", 100 * m.reasoning_share);
    std::printf("\n");
    if (!m.n_reasoning) {
        std::printf("  no reasoning in this reply\n");
    } else {
        std::printf(
            "  entropy: mean %s nats; fork tokens (entropy >= %s nats, the 80th "
            "percentile): %zu\n",
            num(m.entropy_mean).c_str(), num(m.fork_threshold).c_str(), m.forks.size());
        std::vector<ForkToken> top = m.forks;
        std::stable_sort(top.begin(), top.end(), [](const ForkToken& a, const ForkToken& b) {
            return a.entropy > b.entropy;
        });
        for (size_t i = 0; i < top.size() && i < 8; ++i)
            std::printf("    token %-6d %-18s entropy %s  p %s\n", top[i].token,
                        quoted(top[i].text, 16).c_str(), num(top[i].entropy).c_str(),
                        num(std::exp(top[i].logprob)).c_str());
        std::printf("  steps: %zu\n", m.steps.size());
        std::printf("    %4s %6s %7s %9s  %-12s %s\n", "#", "tokens", "ms", "H mean", "opened by",
                    "text");
        for (size_t i = 0; i < m.steps.size(); ++i) {
            const ReasoningStep& s = m.steps[i];
            const std::string by =
                s.start == StepStart::Marker ? "\"" + s.marker + "\"" : step_start_name(s.start);
            std::printf("    %4zu %6d %7.1f %9s  %-12s %s\n", i + 1, s.count, s.t_ms,
                        num(s.entropy_mean).c_str(), by.c_str(), quoted(s.text, 48).c_str());
        }
    }
    const Confidence& c = m.confidence;
    if (c.tokens.empty()) {
        std::printf("confidence: no token has recorded alternatives\n");
    } else {
        std::printf(
            "confidence (DeepConf, top %d alternatives, window %d): mean %s, tail %s, "
            "bottom 10%% of windows %s\n",
            kConfidenceTopN, kConfidenceWindow, num(c.mean).c_str(), num(c.tail).c_str(),
            num(c.bottom_10pct).c_str());
        std::printf("  lowest window: %s at tokens %d..%d\n", num(c.lowest.value).c_str(),
                    c.lowest.start, c.lowest.end);
    }
    const LoopAlarm& l = m.loop;
    if (l.found)
        std::printf(
            "loop: an %d-token sequence repeats %d times (first three from tokens %d, %d, "
            "%d; alarm at token %d): %s\n",
            kLoopN, l.count, l.occurrences[0], l.occurrences[1], l.occurrences[2], l.fired_at,
            quoted(l.text, 60).c_str());
    else
        std::printf("loop: none (no %d-token sequence repeats %d times)\n", kLoopN, kLoopRepeats);
}

void print_moe(const MoeAnalytics& moe) {
    if (moe.empty()) {
        std::printf("experts: no routing in this trace (a dense model, or routing not recorded)\n");
        return;
    }
    const int E = moe.n_expert;
    std::printf("experts: %zu MoE layers, %d experts, top-%d per token\n", moe.layers.size(), E,
                moe.k);
    std::printf("  %5s %6s %8s %6s  %-34s %s\n", "layer", "tokens", "MaxVio", "Gini",
                "busiest (relative load)", "reasoning - answer (largest)");
    for (const LayerAnalytics& la : moe.layers) {
        const std::vector<int> order = la.experts_by_load();
        std::string busiest;
        char buf[64];
        for (size_t i = 0; i < 3 && i < order.size(); ++i) {
            std::snprintf(buf, sizeof buf, "#%d %.2f  ", order[i],
                          la.load.relative_load[static_cast<size_t>(order[i])]);
            busiest += buf;
        }
        std::string diff = "-";
        if (const int e = la.largest_phase_difference(); e >= 0) {
            std::snprintf(buf, sizeof buf, "#%d %+.2f", e,
                          la.think_minus_answer[static_cast<size_t>(e)]);
            diff = buf;
        }
        std::printf("  %5d %6lld %8s %6s  %-34s %s\n", la.layer, static_cast<long long>(la.tokens),
                    num(la.load.max_violation, "%.2f").c_str(), num(la.load.gini, "%.2f").c_str(),
                    busiest.c_str(), diff.c_str());
    }
    std::printf("  strongest co-activation P(j | i) per layer (i taking >= 5 tokens):\n");
    for (const LayerAnalytics& la : moe.layers) {
        double best = -1;
        int bi = -1, bj = -1;
        for (int i = 0; i < E; ++i) {
            if (la.counts[static_cast<size_t>(i)] < 5) continue;
            for (int j = 0; j < E; ++j)
                if (i != j && la.p_given(i, j, E) > best)
                    best = la.p_given(i, j, E), bi = i, bj = j;
        }
        if (bi >= 0) std::printf("    layer %d: #%d -> #%d %.2f\n", la.layer, bi, bj, best);
    }
    std::printf("  vocabulary of the busiest experts (text: count, share of that text):\n");
    for (const LayerAnalytics& la : moe.layers) {
        const ExpertVocabulary* top = nullptr;
        for (const ExpertVocabulary& ev : la.specialisation)
            if (!top || la.counts[static_cast<size_t>(ev.expert)] >
                            la.counts[static_cast<size_t>(top->expert)])
                top = &ev;
        if (!top) continue;
        std::string line;
        for (const TextShare& t : top->top)
            line += quoted(t.text, 12) + ": " + std::to_string(t.count) + ", " +
                    num(t.share, "%.2f") + "  ";
        std::printf("    layer %d #%d: %s\n", la.layer, top->expert, line.c_str());
    }
    std::printf("  most frequent paths (first expert per layer):\n");
    for (const ExpertPath& p : moe.paths) {
        std::string s;
        for (int x : p.experts) {
            if (!s.empty()) s += '-';
            s += std::to_string(x);
        }
        std::printf("    %-40s %5lld tokens (%.1f%%)\n", s.c_str(), static_cast<long long>(p.count),
                    100 * p.share);
    }
}

}  // namespace

int analyze_command(const std::vector<std::string>& argv) {
    Args args(argv, {"--bundle", "--html"}, {"--json"});
    if (args.positional().size() != 1)
        throw Error(
            "analyze takes one trace file (JSON, or binary .gbtrace), e.g. "
            "glassbox-cli analyze reply.json --json");
    const Trace trace = read_trace_file(args.positional()[0]);
    if (args.has("--bundle")) {
        const std::string dir = args.str("--bundle");
        write_bundle(trace, dir);
        for (const std::string& f : bundle_files())
            std::fprintf(stderr, "wrote %s/%s\n", utf8::printable(dir).c_str(), f.c_str());
        if (!args.has("--json") && !args.has("--html")) return 0;
    }
    if (args.has("--html")) {
        const std::string path = args.str("--html");
        write_file_atomically(path, trace_html(trace));
        std::fprintf(stderr, "wrote %s\n", utf8::printable(path).c_str());
        if (!args.has("--json")) return 0;
    }
    const TraceAnalysis a = analyze_trace(trace);
    if (args.has("--json")) {
        write_analysis_json(a, std::cout);
        std::cout.flush();
        return std::cout ? 0 : 1;
    }
    std::printf("model: %s; %d prompt tokens, %d generated\n", utf8::printable(a.model).c_str(),
                a.n_prompt, a.n_generated);
    print_reasoning(a.reasoning);
    print_moe(a.moe);
    return 0;
}

}  // namespace gb::cli
