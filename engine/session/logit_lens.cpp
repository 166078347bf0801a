// Logit lens over the model's residual stream (Model::forward_lens, Model::lens_logits).
#include "engine/session/logit_lens.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "engine/model/model.h"
#include "engine/session/kv_cache.h"
#include "engine/tokenizer/tokenizer.h"
#include "kernels/error.h"

namespace gb {

namespace {

// Log-sum-exp and entropy of one row, in double.
struct RowStats {
    double log_z = 0, entropy = 0;
};
RowStats row_stats(const float* row, int64_t n) {
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t i = 0; i < n; ++i) m = std::max(m, static_cast<double>(row[i]));
    double z = 0, s = 0;
    for (int64_t i = 0; i < n; ++i) {
        const double e = std::exp(row[i] - m);
        z += e;
        s += e * (row[i] - m);
    }
    RowStats r;
    r.log_z = m + std::log(z);
    r.entropy = std::log(z) - s / z;  // -sum p log p with p = e / z
    return r;
}

// Runs tokens[0 .. end) from an empty cache, capturing rows first .. first+count-1 (which lie
// in one chunk: the chunks are cut so), then calls read(layer, logits [count x n_vocab]).
template <class Read>
void run_lens(Model& model, std::span<const int32_t> tokens, int64_t end, int64_t first,
              int64_t count, Read&& read) {
    const ModelConfig& c = model.config();
    if (end > model.settings().n_ctx)
        throw Error("logit lens: " + std::to_string(end) + " tokens do not fit the context of " +
                    std::to_string(model.settings().n_ctx));
    for (int64_t i = 0; i < end; ++i)
        if (tokens[static_cast<size_t>(i)] < 0 || tokens[static_cast<size_t>(i)] >= c.n_vocab)
            throw Error("logit lens: token id " + std::to_string(tokens[static_cast<size_t>(i)]) +
                        " is outside the vocabulary");
    const int64_t n_batch = model.settings().n_batch;
    if (count > n_batch)
        throw Error("logit lens: at most " + std::to_string(n_batch) + " positions at a time");
    std::unique_ptr<KvCache> cache = model.new_cache();
    std::vector<float> logits;
    model.set_logit_summary(-1);  // the lens reads whole rows (the generator sets its own)
    // Before the lens rows, then the chunk holding them, then nothing more is needed.
    for (int64_t i0 = 0; i0 < first;) {
        const int64_t n = std::min(n_batch, first - i0);
        model.forward(tokens.subspan(static_cast<size_t>(i0), static_cast<size_t>(n)), *cache, 1,
                      logits);
        i0 += n;
    }
    model.forward_lens(tokens.subspan(static_cast<size_t>(first), static_cast<size_t>(count)),
                       *cache, 0, count, logits);
    std::vector<float> lens;
    for (int64_t l = 0; l < c.n_layer; ++l) {
        model.lens_logits(l, lens);
        read(static_cast<int>(l), lens);
    }
}

}  // namespace

LogitLens logit_lens(Model& model, const Tokenizer& tok, std::span<const int32_t> tokens,
                     int position, int top_k) {
    if (position < 0 || static_cast<size_t>(position) >= tokens.size())
        throw Error("logit lens: position " + std::to_string(position) + " is outside the " +
                    std::to_string(tokens.size()) + " tokens");
    if (top_k < 1 || top_k > 100) throw Error("logit lens: top-k must be 1..100");
    const int64_t n_vocab = model.config().n_vocab;
    LogitLens out;
    out.position = position;
    const bool has_next = static_cast<size_t>(position) + 1 < tokens.size();
    // Every layer's row (n_layer x n_vocab floats: tens of MB at most), then the numbers.
    std::vector<std::vector<float>> rows;
    run_lens(model, tokens, position + 1, position, 1,
             [&](int, const std::vector<float>& lg) { rows.push_back(lg); });
    const int k = static_cast<int>(std::min<int64_t>(top_k, n_vocab));
    std::vector<int32_t> idx(static_cast<size_t>(n_vocab));
    for (size_t l = 0; l < rows.size(); ++l) {
        const float* row = rows[l].data();
        const RowStats st = row_stats(row, n_vocab);
        for (int32_t i = 0; i < n_vocab; ++i) idx[static_cast<size_t>(i)] = i;
        std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int32_t a, int32_t b) {
            return row[a] > row[b] || (row[a] == row[b] && a < b);
        });
        LensLayer L;
        L.layer = static_cast<int>(l);
        for (int i = 0; i < k; ++i) {
            const int32_t id = idx[static_cast<size_t>(i)];
            L.top.push_back({id, tok.token_text(id), static_cast<float>(row[id] - st.log_z)});
        }
        L.entropy = static_cast<float>(st.entropy);
        out.layers.push_back(std::move(L));
    }
    out.target = has_next ? tokens[static_cast<size_t>(position) + 1]
                          : (out.layers.empty() ? -1 : out.layers.back().top.at(0).id);
    if (out.target < 0) return out;
    out.target_text = tok.token_text(out.target);
    for (size_t l = 0; l < rows.size(); ++l) {
        const float* row = rows[l].data();
        const RowStats st = row_stats(row, n_vocab);
        LensLayer& L = out.layers[l];
        const float t = row[out.target];
        L.target_logprob = static_cast<float>(t - st.log_z);
        int rank = 0;
        for (int64_t i = 0; i < n_vocab; ++i)
            if (row[i] > t || (row[i] == t && i < out.target)) ++rank;
        L.target_rank = rank;
    }
    return out;
}

LensSpan logit_lens_span(Model& model, std::span<const int32_t> tokens, int first, int count) {
    if (first < 0 || count < 1 || static_cast<size_t>(first) + 1 >= tokens.size())
        throw Error("logit lens: the span " + std::to_string(first) + " +" + std::to_string(count) +
                    " has no position followed by a token in the " + std::to_string(tokens.size()) +
                    " tokens");
    count = std::min<int>(count, static_cast<int>(tokens.size()) - 1 - first);
    const int64_t n_vocab = model.config().n_vocab;
    LensSpan out;
    out.first = first;
    for (int i = 0; i < count; ++i)
        out.targets.push_back(tokens[static_cast<size_t>(first + i + 1)]);
    out.prob.assign(static_cast<size_t>(model.config().n_layer), std::vector<float>(count, 0.0f));
    run_lens(
        model, tokens, first + count, first, count, [&](int layer, const std::vector<float>& lg) {
            for (int i = 0; i < count; ++i) {
                const float* row = lg.data() + static_cast<size_t>(i) * n_vocab;
                const RowStats st = row_stats(row, n_vocab);
                out.prob[static_cast<size_t>(layer)][static_cast<size_t>(i)] = static_cast<float>(
                    std::exp(row[out.targets[static_cast<size_t>(i)]] - st.log_z));
            }
        });
    return out;
}

}  // namespace gb
