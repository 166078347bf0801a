// The sampler chain's stages 2-7 as a distribution instead of a draw.
#include "engine/sample/what_if.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace gb {

std::vector<double> what_if_distribution(std::span<const float> logprobs,
                                         const SamplerSettings& s) {
    validate(s);
    const size_t n = logprobs.size();
    std::vector<double> out(n, 0.0);
    // The total order the sampler keeps prefixes of: logit descending, then position (the
    // recorded alternatives are already in that order, ties to the lower id).
    std::vector<size_t> order;
    for (size_t i = 0; i < n; ++i)
        if (std::isfinite(logprobs[i])) order.push_back(i);
    if (order.empty()) return out;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return logprobs[a] > logprobs[b]; });
    if (s.greedy()) {
        out[order[0]] = 1;
        return out;
    }
    // top-k
    if (s.top_k > 0 && order.size() > static_cast<size_t>(s.top_k))
        order.resize(static_cast<size_t>(s.top_k));
    // top-p over the untempered softmax of the survivors: the smallest prefix reaching top_p.
    const double top = logprobs[order[0]];
    std::vector<double> p(order.size());
    double z = 0;
    for (size_t j = 0; j < order.size(); ++j)
        z += p[j] = std::exp(static_cast<double>(logprobs[order[j]]) - top);
    if (s.top_p < 1.0f) {
        double cum = 0;
        size_t keep = order.size();
        for (size_t j = 0; j < order.size(); ++j) {
            cum += p[j] / z;
            if (cum >= s.top_p) {
                keep = j + 1;
                break;
            }
        }
        order.resize(keep);
        p.resize(keep);
    }
    // min-p: a ratio to the most likely survivor.
    if (s.min_p > 0.0f) {
        size_t keep = 0;
        while (keep < order.size() && p[keep] >= s.min_p * p[0]) ++keep;
        order.resize(std::max<size_t>(keep, 1));
    }
    // temperature, then the softmax the draw is made from.
    double zt = 0;
    std::vector<double> w(order.size());
    for (size_t j = 0; j < order.size(); ++j)
        zt += w[j] = std::exp((static_cast<double>(logprobs[order[j]]) - top) / s.temperature);
    for (size_t j = 0; j < order.size(); ++j) out[order[j]] = w[j] / zt;
    return out;
}

}  // namespace gb
