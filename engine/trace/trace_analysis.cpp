// Reasoning map and MoE analytics of one trace (definitions: ANALYSIS_FORMAT.md).
#include "engine/trace/trace_analysis.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <numeric>
#include <ostream>
#include <unordered_map>

#include "engine/core/json.h"
#include "kernels/error.h"

namespace gb {

namespace {

bool generated(const TokenRecord& t) { return t.phase != Phase::Prompt; }

bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool is_alnum(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

unsigned char lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

double mean_of(std::span<const double> v) {
    if (v.empty()) return kUndefined;
    double s = 0;
    for (double x : v) s += x;
    return s / static_cast<double>(v.size());
}

// Mean of the finite entropies of tokens[i] for i in idx.
double mean_entropy(const Trace& trace, std::span<const int> idx) {
    double s = 0;
    int n = 0;
    for (int i : idx) {
        const float e = trace.tokens[static_cast<size_t>(i)].entropy;
        if (std::isfinite(e)) {
            s += e;
            ++n;
        }
    }
    return n ? s / n : kUndefined;
}

// The marker that S begins with at p (word-bounded), or nullptr.
const std::string_view* marker_at(std::string_view s, size_t p) {
    for (const std::string_view& m : step_markers()) {
        if (p + m.size() > s.size()) continue;
        bool eq = true;
        for (size_t i = 0; i < m.size() && eq; ++i)
            eq = lower(static_cast<unsigned char>(s[p + i])) == static_cast<unsigned char>(m[i]);
        if (!eq) continue;
        if (p + m.size() < s.size() && is_alnum(static_cast<unsigned char>(s[p + m.size()])))
            continue;
        return &m;
    }
    return nullptr;
}

struct StepStartAt {
    StepStart kind;
    const std::string_view* marker;  // for Marker
};

// Every step start in S by byte offset (ANALYSIS_FORMAT.md, "Steps"). A marker wins over a
// blank line at the same offset.
std::map<size_t, StepStartAt> step_starts(std::string_view s) {
    std::map<size_t, StepStartAt> out;
    const size_t n = s.size();
    bool seen_text = false;  // a non-whitespace byte before p
    size_t p = 0;
    while (p < n) {
        if (!is_space(static_cast<unsigned char>(s[p]))) {
            seen_text = true;
            ++p;
            continue;
        }
        // A maximal whitespace run [a, b).
        const size_t a = p;
        int lf = 0;
        while (p < n && is_space(static_cast<unsigned char>(s[p]))) lf += s[p++] == '\n';
        const size_t b = p;
        if (b >= n) break;
        if (lf >= 2) out[b] = {StepStart::BlankLine, nullptr};
        const bool sentence = !seen_text || lf > 0 ||
                              (a > 0 && (s[a - 1] == '.' || s[a - 1] == '!' || s[a - 1] == '?'));
        if (sentence)
            if (const std::string_view* m = marker_at(s, b)) out[b] = {StepStart::Marker, m};
    }
    // The first non-whitespace byte of S is a sentence start too (at offset 0 there is no
    // whitespace run before it, which the loop above handles).
    size_t first = 0;
    while (first < n && is_space(static_cast<unsigned char>(s[first]))) ++first;
    if (first < n)
        if (const std::string_view* m = marker_at(s, first)) out[first] = {StepStart::Marker, m};
    return out;
}

std::vector<ReasoningStep> split_steps(const Trace& trace, std::span<const int> reasoning) {
    std::vector<ReasoningStep> steps;
    if (reasoning.empty()) return steps;
    std::string s;
    std::vector<size_t> begin(reasoning.size());
    for (size_t r = 0; r < reasoning.size(); ++r) {
        begin[r] = s.size();
        s += trace.tokens[static_cast<size_t>(reasoning[r])].text;
    }
    const auto starts = step_starts(s);
    std::vector<int> members;
    auto close = [&] {
        ReasoningStep& st = steps.back();
        st.first = members.front();
        st.last = members.back();
        st.count = static_cast<int>(members.size());
        const double t_end = trace.tokens[static_cast<size_t>(st.last)].t_ms;
        const double t_begin =
            st.first > 0 ? trace.tokens[static_cast<size_t>(st.first - 1)].t_ms : 0;
        st.t_ms = t_end - t_begin;
        st.entropy_mean = mean_entropy(trace, members);
        members.clear();
    };
    for (size_t r = 0; r < reasoning.size(); ++r) {
        const size_t lo = begin[r];
        const size_t hi = r + 1 < reasoning.size() ? begin[r + 1] : s.size();
        const auto it = lo < hi ? starts.lower_bound(lo) : starts.end();
        const bool has_start = it != starts.end() && it->first < hi;
        if (r == 0 || has_start) {
            if (r > 0) close();
            ReasoningStep st;
            if (has_start) {
                st.start = it->second.kind;
                if (it->second.marker) st.marker = std::string(*it->second.marker);
            }
            steps.push_back(std::move(st));
        }
        members.push_back(reasoning[r]);
        steps.back().text += trace.tokens[static_cast<size_t>(reasoning[r])].text;
    }
    close();
    return steps;
}

Confidence deepconf(const Trace& trace) {
    Confidence c;
    for (size_t i = 0; i < trace.tokens.size(); ++i) {
        const TokenRecord& t = trace.tokens[i];
        if (!generated(t)) continue;
        double sum = 0;
        int used = 0;
        for (const Alternative& a : t.top) {
            if (used == kConfidenceTopN) break;
            if (!std::isfinite(a.logprob)) continue;
            sum += a.logprob;
            ++used;
        }
        if (!used) continue;
        c.tokens.push_back(static_cast<int>(i));
        c.token_confidence.push_back(-(sum / used));
    }
    const size_t n = c.tokens.size();
    if (!n) return c;
    c.mean = mean_of(c.token_confidence);
    // Each window summed on its own (not as a running sum), so equal windows give equal values.
    const size_t w = std::min<size_t>(kConfidenceWindow, n);
    for (size_t j = 0; j + w <= n; ++j)
        c.group.push_back(mean_of(std::span<const double>(c.token_confidence).subspan(j, w)));
    const auto low = std::min_element(c.group.begin(), c.group.end());
    const size_t j = static_cast<size_t>(low - c.group.begin());
    c.lowest = {c.tokens[j], c.tokens[j + w - 1], *low};
    std::vector<double> sorted = c.group;
    std::sort(sorted.begin(), sorted.end());
    const size_t bottom = std::max<size_t>(1, sorted.size() / 10);
    c.bottom_10pct = mean_of(std::span<const double>(sorted).first(bottom));
    const size_t tail = std::min<size_t>(kConfidenceTail, n);
    c.tail = mean_of(std::span<const double>(c.token_confidence).last(tail));
    return c;
}

struct NgramHash {
    size_t operator()(const std::array<int32_t, kLoopN>& a) const {
        uint64_t h = 1469598103934665603ull;
        for (int32_t v : a) h = (h ^ static_cast<uint32_t>(v)) * 1099511628211ull;
        return static_cast<size_t>(h);
    }
};

LoopAlarm find_loop(const Trace& trace) {
    LoopAlarm loop;
    std::vector<int> g;
    for (size_t i = 0; i < trace.tokens.size(); ++i)
        if (generated(trace.tokens[i])) g.push_back(static_cast<int>(i));
    auto gram = [&](size_t start) {
        std::array<int32_t, kLoopN> a{};
        for (int j = 0; j < kLoopN; ++j) a[j] = trace.tokens[static_cast<size_t>(g[start + j])].id;
        return a;
    };
    std::unordered_map<std::array<int32_t, kLoopN>, std::vector<int>, NgramHash> seen;
    for (size_t e = kLoopN - 1; e < g.size(); ++e) {
        const size_t start = e + 1 - kLoopN;
        std::vector<int>& at = seen[gram(start)];
        at.push_back(static_cast<int>(start));
        if (static_cast<int>(at.size()) < kLoopRepeats) continue;
        loop.found = true;
        loop.fired_at = g[e];
        const auto ids = gram(start);
        loop.ids.assign(ids.begin(), ids.end());
        for (int s : at) loop.occurrences.push_back(g[static_cast<size_t>(s)]);
        for (int j = 0; j < kLoopN; ++j)
            loop.text += trace.tokens[static_cast<size_t>(g[start + j])].text;
        for (size_t s = 0; s + kLoopN <= g.size(); ++s) loop.count += gram(s) == ids;
        break;
    }
    return loop;
}

}  // namespace

double percentile_linear(std::vector<double> values, double q) {
    const size_t n = values.size();
    if (!n) return kUndefined;
    std::sort(values.begin(), values.end());
    // numpy's method "linear" (alpha = beta = 1): virtual index n q + (alpha + q (1 - alpha -
    // beta)) - 1, evaluated in this order; then its lerp, which for t >= 1/2 interpolates from
    // the upper end so that t = 1 gives exactly the upper value.
    const double qq = q / 100.0;
    const double virtual_index = static_cast<double>(n) * qq + (1.0 + qq * (1.0 - 1.0 - 1.0)) - 1.0;
    double lo = std::floor(virtual_index);
    lo = std::clamp(lo, 0.0, static_cast<double>(n - 1));
    const double hi = std::min(lo + 1, static_cast<double>(n - 1));
    const double t = std::clamp(virtual_index - lo, 0.0, 1.0);
    const double a = values[static_cast<size_t>(lo)], b = values[static_cast<size_t>(hi)];
    const double d = b - a;
    return t >= 0.5 ? b - d * (1 - t) : a + d * t;
}

std::span<const std::string_view> step_markers() {
    static constexpr std::array<std::string_view, 15> kMarkers = {"wait",
                                                                  "but",
                                                                  "however",
                                                                  "alternatively",
                                                                  "actually",
                                                                  "hmm",
                                                                  "hold on",
                                                                  "on second thought",
                                                                  "let me check",
                                                                  "let me verify",
                                                                  "let me double-check",
                                                                  "let me recheck",
                                                                  "let me re-check",
                                                                  "let me reconsider",
                                                                  "double-check"};
    return kMarkers;
}

const char* step_start_name(StepStart s) {
    switch (s) {
        case StepStart::Begin: return "begin";
        case StepStart::BlankLine: return "blank line";
        case StepStart::Marker: return "marker";
    }
    return "?";
}

ReasoningMap map_reasoning(const Trace& trace) {
    ReasoningMap m;
    std::vector<int> reasoning;
    std::vector<double> entropies;
    for (size_t i = 0; i < trace.tokens.size(); ++i) {
        const TokenRecord& t = trace.tokens[i];
        if (t.phase == Phase::Answer) ++m.n_answer;
        if (t.phase != Phase::Think) continue;
        reasoning.push_back(static_cast<int>(i));
        if (std::isfinite(t.entropy)) entropies.push_back(t.entropy);
    }
    m.n_reasoning = static_cast<int>(reasoning.size());
    if (m.n_reasoning + m.n_answer)
        m.reasoning_share = static_cast<double>(m.n_reasoning) / (m.n_reasoning + m.n_answer);
    m.entropy_mean = mean_of(entropies);
    m.fork_threshold = percentile_linear(entropies, kForkPercentile);
    for (int i : reasoning) {
        const TokenRecord& t = trace.tokens[static_cast<size_t>(i)];
        if (std::isfinite(t.entropy) && static_cast<double>(t.entropy) >= m.fork_threshold)
            m.forks.push_back({i, t.text, t.entropy, t.logprob});
    }
    m.steps = split_steps(trace, reasoning);
    m.confidence = deepconf(trace);
    m.loop = find_loop(trace);
    return m;
}

LoadStats load_stats(std::span<const int64_t> counts, int64_t tokens, int k) {
    LoadStats s;
    const size_t e = counts.size();
    if (!e) return s;
    int64_t total = 0;
    for (int64_t c : counts) total += c;
    if (tokens > 0 && k > 0) {
        const double expected = static_cast<double>(tokens) * k / static_cast<double>(e);
        for (int64_t c : counts) s.relative_load.push_back(static_cast<double>(c) / expected);
        s.max_violation = *std::max_element(s.relative_load.begin(), s.relative_load.end()) - 1;
    }
    if (total > 0) {
        // sum_i sum_j |c_i - c_j| = 2 sum_i (2i - E + 1) c_(i) over the counts sorted ascending;
        // Gini = that / E^2 / (2 total / E).
        std::vector<int64_t> sorted(counts.begin(), counts.end());
        std::sort(sorted.begin(), sorted.end());
        int64_t pairs = 0;
        for (size_t i = 0; i < e; ++i)
            pairs += 2 * (2 * static_cast<int64_t>(i) - static_cast<int64_t>(e) + 1) * sorted[i];
        s.gini = static_cast<double>(pairs) /
                 (2.0 * static_cast<double>(e) * static_cast<double>(total));
    }
    return s;
}

std::vector<int> LayerAnalytics::experts_by_load() const {
    std::vector<int> order(counts.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
        return counts[static_cast<size_t>(a)] > counts[static_cast<size_t>(b)];
    });
    return order;
}

int LayerAnalytics::largest_phase_difference() const {
    if (think_minus_answer.empty()) return -1;
    const auto it =
        std::max_element(think_minus_answer.begin(), think_minus_answer.end(),
                         [](double a, double b) { return std::fabs(a) < std::fabs(b); });
    return static_cast<int>(it - think_minus_answer.begin());
}

MoeAnalytics analyze_moe(const Trace& trace) {
    MoeAnalytics moe;
    // The generated tokens with routing, and the layers they were routed in.
    std::vector<int> routed;
    std::vector<bool> seen(65536, false);
    int n_expert = std::max(0, trace.n_expert);
    for (size_t i = 0; i < trace.tokens.size(); ++i) {
        const TokenRecord& t = trace.tokens[i];
        const TokenRouting& r = t.routing;
        if (!generated(t) || r.empty() || r.k <= 0 || r.experts.size() < r.layers.size() * r.k)
            continue;
        routed.push_back(static_cast<int>(i));
        for (uint16_t l : r.layers) seen[l] = true;
        for (uint16_t x : r.experts) n_expert = std::max(n_expert, x + 1);
        if (!moe.k) moe.k = r.k;
    }
    moe.n_expert = n_expert;
    std::vector<int> row_of(65536, -1);
    for (size_t l = 0; l < seen.size(); ++l) {
        if (!seen[l]) continue;
        row_of[l] = static_cast<int>(moe.layers.size());
        moe.layers.push_back({});
        moe.layers.back().layer = static_cast<int>(l);
    }
    if (moe.layers.empty()) return moe;
    const size_t E = static_cast<size_t>(n_expert);
    // A hostile trace can name 65,536 layers and 65,535 experts in a few bytes; the largest
    // real models have 61 MoE layers and 384 experts.
    if (moe.layers.size() * E > kMaxLoadCells)
        throw Error("the trace routes tokens through " + std::to_string(moe.layers.size()) +
                    " MoE layers of " + std::to_string(E) +
                    " experts: too many to analyse (at most " + std::to_string(kMaxLoadCells) +
                    " layer-expert pairs)");
    const bool with_coactivation = E <= static_cast<size_t>(kMaxCoactivationExperts);

    // Texts are compared as bytes; give each distinct text an index once.
    std::unordered_map<std::string, int> text_index;
    std::vector<const std::string*> texts;
    std::vector<int> text_of(trace.tokens.size(), -1);
    for (int i : routed) {
        const std::string& s = trace.tokens[static_cast<size_t>(i)].text;
        auto [it, fresh] = text_index.try_emplace(s, static_cast<int>(texts.size()));
        if (fresh) texts.push_back(&it->first);
        text_of[static_cast<size_t>(i)] = it->second;
    }

    for (LayerAnalytics& la : moe.layers) {
        la.counts.assign(E, 0);
        std::vector<int64_t> think(E, 0), answer(E, 0);
        std::vector<int64_t> co(with_coactivation ? E * E : 0, 0);
        std::vector<int64_t> set_count(E, 0);              // tokens routed to i (each once)
        std::unordered_map<int64_t, int64_t> expert_text;  // (expert, text) -> count
        std::vector<int64_t> text_total(texts.size(), 0);
        std::vector<uint16_t> uniq;
        for (int i : routed) {
            const TokenRecord& t = trace.tokens[static_cast<size_t>(i)];
            const TokenRouting& r = t.routing;
            const auto pos = std::find(r.layers.begin(), r.layers.end(), la.layer);
            if (pos == r.layers.end()) continue;
            const auto experts = r.experts_of(static_cast<size_t>(pos - r.layers.begin()));
            ++la.tokens;
            (t.phase == Phase::Think ? la.tokens_think : la.tokens_answer) += 1;
            const int text = text_of[static_cast<size_t>(i)];
            ++text_total[static_cast<size_t>(text)];
            for (uint16_t x : experts) {
                ++la.counts[x];
                ++(t.phase == Phase::Think ? think : answer)[x];
                ++expert_text[static_cast<int64_t>(x) * static_cast<int64_t>(texts.size()) + text];
            }
            // Co-activation counts tokens, so an expert named twice in a row counts once.
            uniq.assign(experts.begin(), experts.end());
            std::sort(uniq.begin(), uniq.end());
            uniq.erase(std::unique(uniq.begin(), uniq.end()), uniq.end());
            for (uint16_t a : uniq) {
                ++set_count[a];
                if (with_coactivation)
                    for (uint16_t b : uniq) ++co[a * E + b];
            }
        }
        la.load = load_stats(la.counts, la.tokens, moe.k);
        la.coactivation.assign(with_coactivation ? E * E : 0, kUndefined);
        for (size_t a = 0; a < E && with_coactivation; ++a) {
            if (!set_count[a]) continue;
            for (size_t b = 0; b < E; ++b)
                la.coactivation[a * E + b] =
                    static_cast<double>(co[a * E + b]) / static_cast<double>(set_count[a]);
        }
        if (la.tokens_think)
            la.relative_load_think = load_stats(think, la.tokens_think, moe.k).relative_load;
        if (la.tokens_answer)
            la.relative_load_answer = load_stats(answer, la.tokens_answer, moe.k).relative_load;
        if (la.tokens_think && la.tokens_answer)
            for (size_t x = 0; x < E; ++x)
                la.think_minus_answer.push_back(la.relative_load_think[x] -
                                                la.relative_load_answer[x]);

        // Vocabulary specialisation: per expert, the texts it took most.
        std::vector<std::vector<std::pair<int64_t, int>>> by_expert(E);
        for (const auto& [key, count] : expert_text)
            by_expert[static_cast<size_t>(key / static_cast<int64_t>(texts.size()))].push_back(
                {count, static_cast<int>(key % static_cast<int64_t>(texts.size()))});
        for (size_t x = 0; x < E; ++x) {
            auto& v = by_expert[x];
            if (v.empty()) continue;
            std::sort(v.begin(), v.end(), [&](const auto& p, const auto& q) {
                if (p.first != q.first) return p.first > q.first;
                return *texts[static_cast<size_t>(p.second)] <
                       *texts[static_cast<size_t>(q.second)];
            });
            ExpertVocabulary ev;
            ev.expert = static_cast<int>(x);
            for (size_t j = 0; j < v.size() && j < static_cast<size_t>(kTopTexts); ++j)
                ev.top.push_back(
                    {*texts[static_cast<size_t>(v[j].second)], v[j].first,
                     static_cast<double>(v[j].first) /
                         static_cast<double>(text_total[static_cast<size_t>(v[j].second)])});
            la.specialisation.push_back(std::move(ev));
        }
    }

    // Paths: the first expert in every MoE layer, for tokens routed in all of them.
    std::map<std::vector<int>, int64_t> paths;
    int64_t with_path = 0;
    for (int i : routed) {
        const TokenRouting& r = trace.tokens[static_cast<size_t>(i)].routing;
        if (r.n_layers() != moe.layers.size()) continue;  // its layers are a subset of all
        std::vector<int> p(r.n_layers());
        for (size_t j = 0; j < r.n_layers(); ++j) p[j] = r.experts_of(j)[0];
        ++paths[p];
        ++with_path;
    }
    std::vector<std::pair<std::vector<int>, int64_t>> ranked(paths.begin(), paths.end());
    std::stable_sort(ranked.begin(), ranked.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    for (size_t j = 0; j < ranked.size() && j < static_cast<size_t>(kTopPaths); ++j)
        moe.paths.push_back(
            {ranked[j].first, ranked[j].second,
             static_cast<double>(ranked[j].second) / static_cast<double>(with_path)});

    // Transitions between consecutive MoE layers.
    for (size_t l = 0; l + 1 < moe.layers.size(); ++l) {
        LayerTransitions lt;
        lt.from = moe.layers[l].layer;
        lt.to = moe.layers[l + 1].layer;
        std::map<std::pair<int, int>, int64_t> moves;
        int64_t both = 0;
        for (int i : routed) {
            const TokenRouting& r = trace.tokens[static_cast<size_t>(i)].routing;
            const auto a = std::find(r.layers.begin(), r.layers.end(), lt.from);
            const auto b = std::find(r.layers.begin(), r.layers.end(), lt.to);
            if (a == r.layers.end() || b == r.layers.end()) continue;
            ++moves[{r.experts_of(static_cast<size_t>(a - r.layers.begin()))[0],
                     r.experts_of(static_cast<size_t>(b - r.layers.begin()))[0]}];
            ++both;
        }
        std::vector<std::pair<std::pair<int, int>, int64_t>> top(moves.begin(), moves.end());
        std::stable_sort(top.begin(), top.end(),
                         [](const auto& a, const auto& b) { return a.second > b.second; });
        for (size_t j = 0; j < top.size() && j < static_cast<size_t>(kTopTransitions); ++j)
            lt.top.push_back({top[j].first.first, top[j].first.second, top[j].second,
                              static_cast<double>(top[j].second) / static_cast<double>(both)});
        moe.transitions.push_back(std::move(lt));
    }
    return moe;
}

TraceAnalysis analyze_trace(const Trace& trace) {
    TraceAnalysis a;
    a.model = trace.model;
    for (const TokenRecord& t : trace.tokens) (generated(t) ? a.n_generated : a.n_prompt) += 1;
    a.reasoning = map_reasoning(trace);
    a.moe = analyze_moe(trace);
    return a;
}

// ---- JSON ----

namespace {

void number_or_null(json::Writer& w, double v) {
    if (std::isfinite(v))
        w.value(v);
    else
        w.null();
}

void numbers(json::Writer& w, std::string_view key, std::span<const double> v, bool null_if_empty) {
    w.key(key);
    if (v.empty() && null_if_empty) {
        w.null();
        return;
    }
    w.begin_array(true);
    for (double x : v) number_or_null(w, x);
    w.end_array();
}

template <class I>
void ints(json::Writer& w, std::string_view key, std::span<const I> v) {
    w.key(key).begin_array(true);
    for (I x : v) w.value(x);
    w.end_array();
}

void write_reasoning(json::Writer& w, const ReasoningMap& m) {
    w.key("reasoning").begin_object();
    w.field("n_reasoning", m.n_reasoning).field("n_answer", m.n_answer);
    w.key("reasoning_share");
    number_or_null(w, m.reasoning_share);
    w.key("entropy_mean");
    number_or_null(w, m.entropy_mean);
    w.key("fork_threshold");
    number_or_null(w, m.fork_threshold);
    w.key("forks").begin_array();
    for (const ForkToken& f : m.forks) {
        w.begin_object(true).field("token", f.token).field("text", f.text);
        w.key("entropy");
        number_or_null(w, f.entropy);
        w.key("logprob");
        number_or_null(w, f.logprob);
        w.end_object();
    }
    w.end_array();
    w.key("steps").begin_array();
    for (const ReasoningStep& s : m.steps) {
        w.begin_object(true);
        w.field("first", s.first).field("last", s.last).field("count", s.count);
        w.field("start", step_start_name(s.start)).field("marker", s.marker);
        w.field("t_ms", s.t_ms);
        w.key("entropy_mean");
        number_or_null(w, s.entropy_mean);
        w.field("text", s.text);
        w.end_object();
    }
    w.end_array();

    const Confidence& c = m.confidence;
    w.key("confidence").begin_object();
    w.field("window", kConfidenceWindow);
    ints<int>(w, "tokens", c.tokens);
    numbers(w, "token_confidence", c.token_confidence, false);
    w.key("mean");
    number_or_null(w, c.mean);
    numbers(w, "group", c.group, false);
    w.key("lowest");
    if (c.lowest.start < 0) {
        w.null();
    } else {
        w.begin_object(true).field("start", c.lowest.start).field("end", c.lowest.end);
        w.field("value", c.lowest.value).end_object();
    }
    w.key("bottom_10pct");
    number_or_null(w, c.bottom_10pct);
    w.key("tail");
    number_or_null(w, c.tail);
    w.end_object();

    const LoopAlarm& l = m.loop;
    w.key("loop").begin_object();
    w.field("found", l.found).field("n", kLoopN).field("repeats", kLoopRepeats);
    w.key("fired_at");
    if (l.found)
        w.value(l.fired_at);
    else
        w.null();
    ints<int>(w, "occurrences", l.occurrences);
    w.field("count", l.count);
    ints<int32_t>(w, "ids", l.ids);
    w.field("text", l.text);
    w.end_object();
    w.end_object();
}

void write_moe(json::Writer& w, const MoeAnalytics& moe) {
    w.key("moe");
    if (moe.empty()) {
        w.null();
        return;
    }
    const size_t E = static_cast<size_t>(moe.n_expert);
    w.begin_object();
    w.field("n_expert", moe.n_expert).field("k", moe.k);
    w.key("layers").begin_array();
    for (const LayerAnalytics& la : moe.layers) {
        w.begin_object();
        w.field("layer", la.layer).field("tokens", la.tokens);
        w.field("tokens_think", la.tokens_think).field("tokens_answer", la.tokens_answer);
        ints<int64_t>(w, "counts", la.counts);
        w.key("relative_load").begin_array(true);
        for (size_t x = 0; x < E; ++x)
            number_or_null(w,
                           la.load.relative_load.empty() ? kUndefined : la.load.relative_load[x]);
        w.end_array();
        w.key("max_violation");
        number_or_null(w, la.load.max_violation);
        w.field("gini", la.load.gini);
        w.key("coactivation");
        if (la.coactivation.empty()) {
            w.null();
        } else {
            w.begin_array();
            for (size_t a = 0; a < E; ++a) {
                if (la.counts[a] == 0 || std::isnan(la.coactivation[a * E])) {
                    w.null();
                    continue;
                }
                w.begin_array(true);
                for (size_t b = 0; b < E; ++b) w.value(la.coactivation[a * E + b]);
                w.end_array();
            }
            w.end_array();
        }
        w.key("specialisation").begin_array();
        for (const ExpertVocabulary& ev : la.specialisation) {
            w.begin_object(true).field("expert", ev.expert).key("top").begin_array();
            for (const TextShare& t : ev.top)
                w.begin_object()
                    .field("text", t.text)
                    .field("count", t.count)
                    .field("share", t.share)
                    .end_object();
            w.end_array().end_object();
        }
        w.end_array();
        numbers(w, "relative_load_think", la.relative_load_think, true);
        numbers(w, "relative_load_answer", la.relative_load_answer, true);
        numbers(w, "think_minus_answer", la.think_minus_answer, true);
        w.end_object();
    }
    w.end_array();
    w.key("paths").begin_array();
    for (const ExpertPath& p : moe.paths) {
        w.begin_object(true);
        ints<int>(w, "experts", p.experts);
        w.field("count", p.count).field("share", p.share).end_object();
    }
    w.end_array();
    w.key("transitions").begin_array();
    for (const LayerTransitions& lt : moe.transitions) {
        w.begin_object(true).field("from", lt.from).field("to", lt.to).key("top").begin_array();
        for (const Transition& t : lt.top)
            w.begin_object()
                .field("from_expert", t.from_expert)
                .field("to_expert", t.to_expert)
                .field("count", t.count)
                .field("share", t.share)
                .end_object();
        w.end_array().end_object();
    }
    w.end_array();
    w.end_object();
}

}  // namespace

void write_analysis_json(const TraceAnalysis& a, std::ostream& out) {
    json::Writer w(out, 1);
    w.begin_object();
    w.field("format", "glassbox-analysis").field("version", 1);
    w.field("model", a.model).field("n_prompt", a.n_prompt).field("n_generated", a.n_generated);
    write_reasoning(w, a.reasoning);
    write_moe(w, a.moe);
    w.end_object();
    out << '\n';
}

}  // namespace gb
