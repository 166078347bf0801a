// The reference logit summary (kernels/logit_summary.h): three passes over the row (maximum;
// exponentials in float lanes the compiler vectorises, summed per chunk into doubles; a top-N
// heap that skips everything below its worst entry). A 152k-token vocabulary takes a fraction
// of a millisecond instead of the milliseconds a double-precision std::exp pass costs.
#include "kernels/logit_summary.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/error.h"

namespace gb {

namespace {

// exp(x) for x <= 0 in float: x = n ln2 + r with |r| <= ln2/2, exp(r) by its degree-6 Taylor
// polynomial (relative error below 2e-7 there), times 2^n built in the exponent bits. Below
// -87 (where 2^n leaves the normal range) the result is 0, and so is exp(-inf). Branch-free, so
// that a loop over it vectorises.
inline float exp_nonpositive(float x) {
    const float t = std::max(x, -87.0f);
    // Round to nearest by the 1.5 * 2^23 shifter (|t log2 e| < 2^22 here): vectorises, where
    // nearbyint may not.
    const float n = (t * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    const float r = (t - n * 0.693359375f) + n * 2.12194440e-4f;  // ln 2 split in two parts
    float p = 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const float scale = std::bit_cast<float>(static_cast<int32_t>(n + 127.0f) << 23);
    return p * scale * static_cast<float>(x >= -87.0f);
}

}  // namespace

void logit_summary_row(const float* row, int64_t n, int top_n, float* stats, int32_t* ids,
                       float* logits) {
    constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
    const int k = static_cast<int>(std::min<int64_t>(std::max(top_n, 0), n));
    for (int j = 0; j < top_n; ++j) ids[j] = -1, logits[j] = kNaN;
    stats[0] = stats[1] = stats[2] = kNaN;

    // Lane arrays instead of one accumulator: float sums may not be reordered otherwise, and
    // the lanes are what lets the compiler use vector registers.
    constexpr int64_t kLanes = 16;
    const int64_t n_vec = n / kLanes * kLanes;
    float ml[kLanes], zl[kLanes], sl[kLanes];
    int nl[kLanes];
    for (int j = 0; j < kLanes; ++j) ml[j] = -std::numeric_limits<float>::infinity(), nl[j] = 0;
    for (int64_t i = 0; i < n_vec; i += kLanes)
        for (int j = 0; j < kLanes; ++j) {
            const float x = row[i + j];
            nl[j] |= x != x;
            ml[j] = x > ml[j] ? x : ml[j];
        }
    float m = -std::numeric_limits<float>::infinity();
    bool nan = false;
    for (int j = 0; j < kLanes; ++j) m = std::max(m, ml[j]), nan |= nl[j] != 0;
    for (int64_t i = n_vec; i < n; ++i) nan |= row[i] != row[i], m = std::max(m, row[i]);
    if (nan || !std::isfinite(m)) return;

    // Z = sum e_i and S = sum e_i d_i with d_i = l_i - m; then log Z and H = log Z - S / Z.
    // Per chunk in float lanes, the chunks summed in double.
    constexpr int64_t kChunk = 1024;
    double z = 0, s = 0;
    for (int64_t c = 0; c < n_vec; c += kChunk) {
        const int64_t end = std::min(n_vec, c + kChunk);
        for (int j = 0; j < kLanes; ++j) zl[j] = sl[j] = 0;
        for (int64_t i = c; i < end; i += kLanes)
            for (int j = 0; j < kLanes; ++j) {
                const float d = row[i + j] - m;
                const float e = exp_nonpositive(d);
                zl[j] += e;
                sl[j] += e * std::max(d, -87.0f);  // d = -inf has e = 0: 0, not 0 * -inf
            }
        for (int j = 0; j < kLanes; ++j) z += zl[j], s += sl[j];
    }
    for (int64_t i = n_vec; i < n; ++i) {
        const float d = row[i] - m;
        const float e = exp_nonpositive(d);
        z += e;
        s += e * std::max(d, -87.0f);
    }
    const double log_z = std::log(z);
    stats[0] = m;
    stats[1] = static_cast<float>(log_z);
    stats[2] = static_cast<float>(std::max(0.0, log_z - s / z));
    if (k == 0) return;

    // Top-k by a heap whose front is the worst kept entry; most logits are below it and cost
    // one compare.
    struct Entry {
        float logit;
        int32_t id;
    };
    const auto better = [](const Entry& a, const Entry& b) {
        return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
    };
    std::vector<Entry> heap;
    heap.reserve(static_cast<size_t>(k));
    for (int32_t i = 0; i < k; ++i) heap.push_back({row[i], i});
    std::make_heap(heap.begin(), heap.end(), better);
    float worst = heap.front().logit;
    const auto offer = [&](int64_t i) {
        if (!(row[i] > worst)) return;  // equal logits lose: their id is higher
        std::pop_heap(heap.begin(), heap.end(), better);
        heap.back() = {row[i], static_cast<int32_t>(i)};
        std::push_heap(heap.begin(), heap.end(), better);
        worst = heap.front().logit;
    };
    // Blocks of lanes with nothing above the worst kept logit (nearly all) cost one vector
    // compare.
    int64_t i = k;
    for (; i + kLanes <= n; i += kLanes) {
        int above = 0;
        for (int j = 0; j < kLanes; ++j) above |= row[i + j] > worst;
        if (above)
            for (int j = 0; j < kLanes; ++j) offer(i + j);
    }
    for (; i < n; ++i) offer(i);
    std::sort_heap(heap.begin(), heap.end(), better);
    for (int j = 0; j < k; ++j) ids[j] = heap[j].id, logits[j] = heap[j].logit;
}

std::string logit_summary_error(Act logits, int top_n, size_t n_stats, size_t n_ids, size_t n_top) {
    const auto rows = static_cast<size_t>(logits.rows);
    if (top_n < 0 || top_n > 1024)
        return "top_n " + std::to_string(top_n) + " must be within 0..1024";
    if (n_stats != rows * kLogitStats || n_ids != rows * top_n || n_top != rows * top_n)
        return "output spans (" + std::to_string(n_stats) + ", " + std::to_string(n_ids) + ", " +
               std::to_string(n_top) + ") do not fit " + std::to_string(rows) + " rows with top " +
               std::to_string(top_n);
    return {};
}

void Backend::logit_summary(Act logits, int top_n, std::span<float> stats,
                            std::span<int32_t> top_ids, std::span<float> top_logits) {
    const std::string bad =
        logit_summary_error(logits, top_n, stats.size(), top_ids.size(), top_logits.size());
    if (!bad.empty()) throw Error(name() + " logit_summary: " + bad);
    std::vector<float> host(static_cast<size_t>(logits.size()));
    if (!host.empty()) to_host(logits, host.data());
    for (int64_t r = 0; r < logits.rows; ++r)
        logit_summary_row(host.data() + r * logits.cols, logits.cols, top_n,
                          stats.data() + r * kLogitStats, top_ids.data() + r * top_n,
                          top_logits.data() + r * top_n);
}

}  // namespace gb
