// How many tokens each expert took in every MoE layer, by phase, with the gate weight they
// carried: the one count behind glassbox-cli's routing summary, the app's routing heatmaps and
// the history store's expert-usage table.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/trace/trace.h"

namespace gb {

struct ExpertLoad {
    std::vector<uint16_t> layers;  // the MoE layers that routed any token, ascending (the rows)
    int n_expert = 0;              // the trace's n_expert (or more, if a token names a higher id)

    // A token counts once for each expert among its top-k in a layer.
    int64_t count(Phase phase, size_t row, int expert) const {
        return counts_[at(phase, row, expert)];
    }
    // The sum of the gate weights those tokens gave the expert.
    double weight_sum(Phase phase, size_t row, int expert) const {
        return weight_sums_[at(phase, row, expert)];
    }
    // Over the reply (think and answer), or over one phase.
    int64_t reply_count(size_t row, int expert) const {
        return count(Phase::Think, row, expert) + count(Phase::Answer, row, expert);
    }
    // Tokens of `phase` routed through the layer (each counted once).
    int64_t tokens(Phase phase, size_t row) const {
        return tokens_[row * 3 + static_cast<size_t>(phase)];
    }
    bool empty() const { return layers.empty(); }

private:
    friend ExpertLoad count_expert_load(const Trace& trace);
    size_t at(Phase phase, size_t row, int expert) const {
        return (static_cast<size_t>(phase) * layers.size() + row) * static_cast<size_t>(n_expert) +
               static_cast<size_t>(expert);
    }
    std::vector<int64_t> counts_;      // [phase][row][expert]
    std::vector<double> weight_sums_;  // [phase][row][expert]
    std::vector<int64_t> tokens_;      // [row][phase]
};

// Counts every token of the trace that has routing (prompt tokens too, under Phase::Prompt).
ExpertLoad count_expert_load(const Trace& trace);

}  // namespace gb
