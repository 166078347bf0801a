// The shape of a whole reply from its trace: the reasoning map (entropy, fork tokens, steps,
// DeepConf confidence, loop alarm, reasoning against answer) and the MoE analytics per layer
// (load, relative load, MaxVio, Gini, co-activation, vocabulary specialisation, expert paths).
// The definitions, and the JSON that glassbox-cli analyze prints, are in ANALYSIS_FORMAT.md;
// tools/analyze_reference.py computes the same independently.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/trace/trace.h"

namespace gb {

inline constexpr double kForkPercentile = 80;  // fork tokens: entropy at or above it
inline constexpr int kConfidenceTopN = 5;      // DeepConf: alternatives per token confidence
inline constexpr int kConfidenceWindow = 64;   // DeepConf: tokens per group confidence
inline constexpr int kConfidenceTail = 2048;   // DeepConf: tokens of the tail confidence
inline constexpr int kLoopN = 8;               // loop alarm: n-gram length in tokens
inline constexpr int kLoopRepeats = 3;         // loop alarm: occurrences that fire it
inline constexpr int kTopTexts = 5;            // vocabulary specialisation: texts per expert
inline constexpr int kTopPaths = 10;           // expert paths listed
inline constexpr int kTopTransitions = 5;      // moves listed per pair of layers
// Bounds that keep a hostile trace from asking for gigabytes: MoE layers x experts analysed at
// all (analyze_moe throws gb::Error beyond), and experts for which co-activation (E x E per
// layer) is computed (beyond, it is left out: empty, null in JSON).
inline constexpr size_t kMaxLoadCells = size_t{1} << 22;
inline constexpr int kMaxCoactivationExperts = 512;

inline constexpr double kUndefined = std::numeric_limits<double>::quiet_NaN();

// numpy's default ("linear") percentile of values, q in [0, 100], with numpy's own rounding
// (virtual index n q + (1 - q) - 1, and the interpolation taken from the upper end when its
// fraction is at least 1/2), so a value that equals the threshold compares equal in both.
// NaN for no values.
double percentile_linear(std::vector<double> values, double q);

// The discourse markers that open a reasoning step, lower case (ANALYSIS_FORMAT.md, "Steps").
std::span<const std::string_view> step_markers();

enum class StepStart : uint8_t { Begin, BlankLine, Marker };
const char* step_start_name(StepStart s);  // "begin", "blank line", "marker"

struct ReasoningStep {
    int first = 0;  // token indices (into Trace::tokens) of its first and last token
    int last = 0;
    int count = 0;  // its tokens
    StepStart start = StepStart::Begin;
    std::string marker;  // the marker that opened it (lower case), or ""
    double t_ms = 0;
    double entropy_mean = kUndefined;
    std::string text;  // its tokens' bytes
};

struct ForkToken {
    int token = 0;  // index into Trace::tokens
    std::string text;
    float entropy = 0;
    float logprob = 0;
};

struct ConfidenceWindow {
    int start = -1;  // token indices of its first and last token; -1 when there is none
    int end = -1;
    double value = kUndefined;
};

// DeepConf (Fu et al., "Deep Think with Confidence"): token confidence is minus the mean
// log-probability of the top alternatives; group confidence its mean over a sliding window.
struct Confidence {
    std::vector<int> tokens;               // the scored generated tokens (indices)
    std::vector<double> token_confidence;  // one per entry of tokens
    std::vector<double> group;             // window j starts at tokens[j]
    double mean = kUndefined;
    ConfidenceWindow lowest;
    double bottom_10pct = kUndefined;
    double tail = kUndefined;
};

struct LoopAlarm {
    bool found = false;
    int fired_at = -1;             // the token that completed the third occurrence
    std::vector<int> occurrences;  // where the first three occurrences begin
    int count = 0;                 // occurrences in the whole reply
    std::vector<int32_t> ids;
    std::string text;
};

struct ReasoningMap {
    int n_reasoning = 0;
    int n_answer = 0;
    double reasoning_share = kUndefined;
    double entropy_mean = kUndefined;
    double fork_threshold = kUndefined;
    std::vector<ForkToken> forks;
    std::vector<ReasoningStep> steps;
    Confidence confidence;
    LoopAlarm loop;
};

// How the counts of one layer spread over the experts.
struct LoadStats {
    std::vector<double> relative_load;  // c[e] / (N k / E); empty when N is 0
    double max_violation = kUndefined;  // max relative load - 1
    double gini = 0;                    // Gini coefficient of the counts
};
// From counts alone, so the history's expert-usage table gives the same numbers.
LoadStats load_stats(std::span<const int64_t> counts, int64_t tokens, int k);

struct TextShare {
    std::string text;
    int64_t count = 0;
    double share = 0;  // of that text's occurrences in the layer
};
struct ExpertVocabulary {
    int expert = 0;
    std::vector<TextShare> top;
};

struct LayerAnalytics {
    int layer = 0;
    int64_t tokens = 0;
    int64_t tokens_think = 0;
    int64_t tokens_answer = 0;
    std::vector<int64_t> counts;  // per expert
    LoadStats load;
    std::vector<double> coactivation;  // [E x E] P(j | i); a row of NaN when c[i] is 0; empty
                                       // above kMaxCoactivationExperts
    std::vector<ExpertVocabulary> specialisation;
    std::vector<double> relative_load_think;   // empty: no think token in this layer
    std::vector<double> relative_load_answer;  // empty: no answer token in this layer
    std::vector<double> think_minus_answer;    // empty unless both phases have tokens

    // The experts by tokens taken, most first (ties to the lower id).
    std::vector<int> experts_by_load() const;
    // The expert whose relative load differs most between reasoning and answer; -1 when one
    // phase has no token here.
    int largest_phase_difference() const;

    double p_given(int i, int j, int n_expert) const {
        if (coactivation.empty()) return kUndefined;
        return coactivation[static_cast<size_t>(i) * static_cast<size_t>(n_expert) +
                            static_cast<size_t>(j)];
    }
};

struct ExpertPath {
    std::vector<int> experts;  // the first expert in every MoE layer, in layer order
    int64_t count = 0;
    double share = 0;
};
struct Transition {
    int from_expert = 0;
    int to_expert = 0;
    int64_t count = 0;
    double share = 0;
};
struct LayerTransitions {
    int from = 0;  // layer indices
    int to = 0;
    std::vector<Transition> top;
};

struct MoeAnalytics {
    int n_expert = 0;
    int k = 0;
    std::vector<LayerAnalytics> layers;
    std::vector<ExpertPath> paths;
    std::vector<LayerTransitions> transitions;
    bool empty() const { return layers.empty(); }
};

struct TraceAnalysis {
    std::string model;
    int n_prompt = 0;
    int n_generated = 0;
    ReasoningMap reasoning;
    MoeAnalytics moe;  // empty when no generated token has routing
};

ReasoningMap map_reasoning(const Trace& trace);
// gb::Error when the routing has more layer-expert pairs than kMaxLoadCells.
MoeAnalytics analyze_moe(const Trace& trace);
TraceAnalysis analyze_trace(const Trace& trace);

// {"format":"glassbox-analysis","version":1,...}, ANALYSIS_FORMAT.md.
void write_analysis_json(const TraceAnalysis& analysis, std::ostream& out);

}  // namespace gb
