// Two replies side by side (different seeds, models, quantisations, thinking on and off, or an
// intervention): their generated tokens aligned by a longest common subsequence of token ids,
// the probability differences along the alignment, and the difference of their expert loads.
// glassbox-cli compare prints it; the app's compare dialog draws it.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <vector>

#include "engine/trace/trace.h"
#include "engine/trace/trace_analysis.h"

namespace gb {

// One row of the alignment: a token of both replies (the same id), or of one only (-1 on the
// other side). Indices are into each trace's tokens.
struct AlignedToken {
    int a = -1;
    int b = -1;
    bool same() const { return a >= 0 && b >= 0; }
};

// Relative expert load (load_stats) of one MoE layer over each reply's generated tokens.
struct LayerLoadChange {
    int layer = 0;
    std::vector<double> a, b;  // relative load per expert
    std::vector<double> diff;  // b - a
    // Half the L1 distance of the two load distributions (count shares): the share of the
    // routings that would have to move to turn one into the other, 0..1.
    double moved = 0;
};

struct TraceComparison {
    std::vector<AlignedToken> alignment;  // every generated token of both, in order
    int same = 0;                         // tokens in both (the LCS length)
    int only_a = 0;                       // tokens of a with no partner in b
    int only_b = 0;
    int first_divergence = -1;  // row of the first token not in both; -1: identical replies
    int n_reasoning_a = 0, n_reasoning_b = 0, n_answer_a = 0, n_answer_b = 0;
    // Over the rows in both whose log-probabilities are both scored: b - a.
    std::vector<double> logprob_diff;  // one per row of the alignment, NaN where undefined
    double logprob_mean_abs = kUndefined;
    double logprob_rms = kUndefined;
    double logprob_max_abs = kUndefined;
    int logprob_max_row = -1;
    double entropy_mean_abs = kUndefined;
    // Expert loads: only when both replies have routing over the same number of experts.
    bool loads_comparable = false;
    std::vector<LayerLoadChange> layers;  // the MoE layers both replies were routed in
};

TraceComparison compare_traces(const Trace& a, const Trace& b);

// {"format":"glassbox-comparison","version":1,...}: the fields above, the alignment as rows
// [a, b, logprob_diff] (null for a gap or an undefined difference).
void write_comparison_json(const TraceComparison& c, std::ostream& out);

}  // namespace gb
