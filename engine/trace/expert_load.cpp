// Expert load from a trace's per-token routing.
#include "engine/trace/expert_load.h"

#include <algorithm>

namespace gb {

ExpertLoad count_expert_load(const Trace& trace) {
    ExpertLoad load;
    load.n_expert = std::max(0, trace.n_expert);
    // The rows: every layer any token was routed in (normally the same for all tokens).
    std::vector<bool> seen(65536, false);
    for (const TokenRecord& r : trace.tokens) {
        for (uint16_t l : r.routing.layers) seen[l] = true;
        for (uint16_t e : r.routing.experts) load.n_expert = std::max(load.n_expert, e + 1);
    }
    for (size_t l = 0; l < seen.size(); ++l)
        if (seen[l]) load.layers.push_back(static_cast<uint16_t>(l));
    if (load.layers.empty()) return load;
    std::vector<int> row_of(65536, -1);
    for (size_t i = 0; i < load.layers.size(); ++i) row_of[load.layers[i]] = static_cast<int>(i);

    const size_t cells = 3 * load.layers.size() * static_cast<size_t>(load.n_expert);
    load.counts_.assign(cells, 0);
    load.weight_sums_.assign(cells, 0.0);
    load.tokens_.assign(3 * load.layers.size(), 0);
    for (const TokenRecord& t : trace.tokens) {
        const TokenRouting& r = t.routing;
        if (r.empty() || r.k <= 0) continue;
        const bool has_weights = r.weights.size() == r.experts.size();
        for (size_t i = 0; i < r.n_layers(); ++i) {
            if ((i + 1) * static_cast<size_t>(r.k) > r.experts.size()) break;
            const size_t row = static_cast<size_t>(row_of[r.layers[i]]);
            load.tokens_[row * 3 + static_cast<size_t>(t.phase)] += 1;
            const auto experts = r.experts_of(i);
            for (size_t j = 0; j < experts.size(); ++j) {
                const size_t cell = load.at(t.phase, row, experts[j]);
                load.counts_[cell] += 1;
                if (has_weights) load.weight_sums_[cell] += r.weights_of(i)[j];
            }
        }
    }
    return load;
}

}  // namespace gb
