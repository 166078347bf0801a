// Aligning two replies (Hirschberg's linear-space LCS) and comparing what they hold.
#include "engine/trace/trace_compare.h"

#include <algorithm>
#include <cmath>
#include <ostream>
#include <span>

#include "engine/core/json.h"
#include "engine/trace/expert_load.h"

namespace gb {

namespace {

struct Seq {
    std::vector<int32_t> ids;
    std::vector<int> index;  // into the trace's tokens
};

Seq generated(const Trace& t) {
    Seq s;
    for (size_t i = 0; i < t.tokens.size(); ++i)
        if (t.tokens[i].phase != Phase::Prompt) {
            s.ids.push_back(t.tokens[i].id);
            s.index.push_back(static_cast<int>(i));
        }
    return s;
}

// LCS lengths of a against every prefix of b (forward) or suffix (reverse): one DP row, O(|b|)
// memory.
std::vector<int> lcs_row(std::span<const int32_t> a, std::span<const int32_t> b, bool reverse) {
    std::vector<int> prev(b.size() + 1, 0), cur(b.size() + 1, 0);
    const size_t n = a.size(), m = b.size();
    for (size_t i = 0; i < n; ++i) {
        const int32_t x = reverse ? a[n - 1 - i] : a[i];
        for (size_t j = 0; j < m; ++j) {
            const int32_t y = reverse ? b[m - 1 - j] : b[j];
            cur[j + 1] = x == y ? prev[j] + 1 : std::max(prev[j + 1], cur[j]);
        }
        std::swap(prev, cur);
    }
    return prev;
}

// Hirschberg: split a in half, find where b splits so the two halves' LCS add up to the most,
// recurse. O(|a| |b|) time, O(|a| + |b|) memory. Offsets are positions in the whole sequences.
void align(std::span<const int32_t> a, std::span<const int32_t> b, int a0, int b0,
           std::vector<AlignedToken>& out) {
    if (a.empty()) {
        for (size_t j = 0; j < b.size(); ++j) out.push_back({-1, b0 + static_cast<int>(j)});
        return;
    }
    if (b.empty()) {
        for (size_t i = 0; i < a.size(); ++i) out.push_back({a0 + static_cast<int>(i), -1});
        return;
    }
    if (a.size() == 1) {
        const auto it = std::find(b.begin(), b.end(), a[0]);
        if (it == b.end()) {
            out.push_back({a0, -1});
            for (size_t j = 0; j < b.size(); ++j) out.push_back({-1, b0 + static_cast<int>(j)});
            return;
        }
        const size_t k = static_cast<size_t>(it - b.begin());
        for (size_t j = 0; j < k; ++j) out.push_back({-1, b0 + static_cast<int>(j)});
        out.push_back({a0, b0 + static_cast<int>(k)});
        for (size_t j = k + 1; j < b.size(); ++j) out.push_back({-1, b0 + static_cast<int>(j)});
        return;
    }
    const size_t mid = a.size() / 2;
    const std::vector<int> front = lcs_row(a.first(mid), b, false);
    const std::vector<int> back = lcs_row(a.subspan(mid), b, true);
    size_t best = 0;
    int best_len = -1;
    for (size_t k = 0; k <= b.size(); ++k)
        if (front[k] + back[b.size() - k] > best_len) {
            best_len = front[k] + back[b.size() - k];
            best = k;
        }
    align(a.first(mid), b.first(best), a0, b0, out);
    align(a.subspan(mid), b.subspan(best), a0 + static_cast<int>(mid), b0 + static_cast<int>(best),
          out);
}

// Relative load per MoE layer over the generated tokens, keyed by layer index.
std::vector<std::pair<int, std::vector<int64_t>>> reply_counts(const Trace& t, int n_expert) {
    std::vector<std::pair<int, std::vector<int64_t>>> out;
    const ExpertLoad load = count_expert_load(t);
    for (size_t row = 0; row < load.layers.size(); ++row) {
        std::vector<int64_t> c(static_cast<size_t>(n_expert), 0);
        int64_t any = 0;
        for (int e = 0; e < n_expert && e < load.n_expert; ++e)
            any += c[static_cast<size_t>(e)] = load.reply_count(row, e);
        if (any) out.push_back({load.layers[row], std::move(c)});
    }
    return out;
}

}  // namespace

TraceComparison compare_traces(const Trace& ta, const Trace& tb) {
    TraceComparison c;
    const Seq a = generated(ta), b = generated(tb);
    for (const TokenRecord& t : ta.tokens) {
        c.n_reasoning_a += t.phase == Phase::Think;
        c.n_answer_a += t.phase == Phase::Answer;
    }
    for (const TokenRecord& t : tb.tokens) {
        c.n_reasoning_b += t.phase == Phase::Think;
        c.n_answer_b += t.phase == Phase::Answer;
    }
    // The common prefix and suffix need no search (a branch or a second seed often shares a
    // long start); the middle goes through Hirschberg.
    size_t pre = 0;
    while (pre < a.ids.size() && pre < b.ids.size() && a.ids[pre] == b.ids[pre]) ++pre;
    size_t suf = 0;
    while (suf < a.ids.size() - pre && suf < b.ids.size() - pre &&
           a.ids[a.ids.size() - 1 - suf] == b.ids[b.ids.size() - 1 - suf])
        ++suf;
    std::vector<AlignedToken> rows;
    for (size_t i = 0; i < pre; ++i) rows.push_back({static_cast<int>(i), static_cast<int>(i)});
    align(std::span<const int32_t>(a.ids).subspan(pre, a.ids.size() - pre - suf),
          std::span<const int32_t>(b.ids).subspan(pre, b.ids.size() - pre - suf),
          static_cast<int>(pre), static_cast<int>(pre), rows);
    for (size_t i = 0; i < suf; ++i)
        rows.push_back(
            {static_cast<int>(a.ids.size() - suf + i), static_cast<int>(b.ids.size() - suf + i)});

    // Positions in the generated sequences -> trace indices, and the differences.
    double sum_abs = 0, sum_sq = 0, ent_abs = 0;
    int scored = 0, ent_scored = 0;
    for (size_t r = 0; r < rows.size(); ++r) {
        AlignedToken row;
        row.a = rows[r].a >= 0 ? a.index[static_cast<size_t>(rows[r].a)] : -1;
        row.b = rows[r].b >= 0 ? b.index[static_cast<size_t>(rows[r].b)] : -1;
        c.alignment.push_back(row);
        double d = kUndefined;
        if (row.same()) {
            ++c.same;
            const TokenRecord &x = ta.tokens[static_cast<size_t>(row.a)],
                              &y = tb.tokens[static_cast<size_t>(row.b)];
            if (std::isfinite(x.logprob) && std::isfinite(y.logprob)) {
                d = static_cast<double>(y.logprob) - static_cast<double>(x.logprob);
                sum_abs += std::fabs(d);
                sum_sq += d * d;
                ++scored;
                if (!(std::fabs(d) <= c.logprob_max_abs)) {
                    c.logprob_max_abs = std::fabs(d);
                    c.logprob_max_row = static_cast<int>(r);
                }
            }
            if (std::isfinite(x.entropy) && std::isfinite(y.entropy)) {
                ent_abs +=
                    std::fabs(static_cast<double>(y.entropy) - static_cast<double>(x.entropy));
                ++ent_scored;
            }
        } else {
            (row.a >= 0 ? c.only_a : c.only_b) += 1;
            if (c.first_divergence < 0) c.first_divergence = static_cast<int>(r);
        }
        c.logprob_diff.push_back(d);
    }
    if (scored) {
        c.logprob_mean_abs = sum_abs / scored;
        c.logprob_rms = std::sqrt(sum_sq / scored);
    }
    if (ent_scored) c.entropy_mean_abs = ent_abs / ent_scored;

    // Expert loads, when both replies were routed over the same experts.
    auto routed_k = [](const Trace& t) {  // experts per token of the first routed generated one
        for (const TokenRecord& r : t.tokens)
            if (r.phase != Phase::Prompt && !r.routing.empty()) return r.routing.k;
        return 0;
    };
    const int k_a = routed_k(ta), k_b = routed_k(tb);
    c.loads_comparable = k_a > 0 && k_b > 0 && ta.n_expert > 0 && ta.n_expert == tb.n_expert;
    if (!c.loads_comparable) return c;
    const auto la = reply_counts(ta, ta.n_expert), lb = reply_counts(tb, tb.n_expert);
    for (const auto& [layer, ca] : la) {
        const auto it =
            std::find_if(lb.begin(), lb.end(), [&](const auto& p) { return p.first == layer; });
        if (it == lb.end()) continue;
        const std::vector<int64_t>& cb = it->second;
        int64_t sa = 0, sb = 0;
        for (int64_t x : ca) sa += x;
        for (int64_t x : cb) sb += x;
        LayerLoadChange ch;
        ch.layer = layer;
        ch.a = load_stats(ca, sa / k_a, k_a).relative_load;
        ch.b = load_stats(cb, sb / k_b, k_b).relative_load;
        double l1 = 0;
        for (size_t e = 0; e < ca.size(); ++e) {
            ch.diff.push_back(ch.b[e] - ch.a[e]);
            l1 += std::fabs(static_cast<double>(cb[e]) / static_cast<double>(sb) -
                            static_cast<double>(ca[e]) / static_cast<double>(sa));
        }
        ch.moved = l1 / 2;
        c.layers.push_back(std::move(ch));
    }
    return c;
}

void write_comparison_json(const TraceComparison& c, std::ostream& out) {
    json::Writer w(out, 1);
    auto num = [&](std::string_view key, double v) {
        w.key(key);
        if (std::isfinite(v))
            w.value(v);
        else
            w.null();
    };
    w.begin_object();
    w.field("format", "glassbox-comparison").field("version", 1);
    w.field("same", c.same).field("only_a", c.only_a).field("only_b", c.only_b);
    w.key("first_divergence");
    if (c.first_divergence >= 0)
        w.value(c.first_divergence);
    else
        w.null();
    w.field("n_reasoning_a", c.n_reasoning_a).field("n_reasoning_b", c.n_reasoning_b);
    w.field("n_answer_a", c.n_answer_a).field("n_answer_b", c.n_answer_b);
    num("logprob_mean_abs", c.logprob_mean_abs);
    num("logprob_rms", c.logprob_rms);
    num("logprob_max_abs", c.logprob_max_abs);
    w.key("logprob_max_row");
    if (c.logprob_max_row >= 0)
        w.value(c.logprob_max_row);
    else
        w.null();
    num("entropy_mean_abs", c.entropy_mean_abs);
    w.field("loads_comparable", c.loads_comparable);
    w.key("layers").begin_array();
    for (const LayerLoadChange& l : c.layers) {
        w.begin_object(true).field("layer", l.layer).field("moved", l.moved);
        for (const auto& [key, v] : {std::pair<const char*, const std::vector<double>*>{"a", &l.a},
                                     {"b", &l.b},
                                     {"diff", &l.diff}}) {
            w.key(key).begin_array(true);
            for (double x : *v) w.value(x);
            w.end_array();
        }
        w.end_object();
    }
    w.end_array();
    w.key("alignment").begin_array();
    for (size_t r = 0; r < c.alignment.size(); ++r) {
        const AlignedToken& t = c.alignment[r];
        w.begin_array(true);
        if (t.a >= 0)
            w.value(t.a);
        else
            w.null();
        if (t.b >= 0)
            w.value(t.b);
        else
            w.null();
        if (std::isfinite(c.logprob_diff[r]))
            w.value(c.logprob_diff[r]);
        else
            w.null();
        w.end_array();
    }
    w.end_array();
    w.end_object();
    out << '\n';
}

}  // namespace gb
