// The sampler chain (see sampler.h for the order of the stages and why it is portable). Sized
// for vocabularies of ~150k: no full sort unless top-p has to walk the whole distribution.
#include "engine/sample/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "kernels/error.h"

namespace gb {

namespace {

[[noreturn]] void bad_setting(const char* field, double value, const char* range) {
    throw Error(std::string("sampler setting ") + field + " = " + std::to_string(value) +
                " is out of range: " + range);
}

// "a" ranks before "b": higher logit, then lower id. A strict total order, so partial sorts
// select the same set on every standard library.
struct Better {
    template <class C>
    bool operator()(const C& a, const C& b) const {
        return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
    }
};

// Top-p over c[0, n), whose logits' maximum is m and whose top-k normaliser is z: reorders c
// so that the smallest rank prefix with probability >= p comes first, and returns its length.
// Sorting all n survivors would cost O(n log n) on a flat distribution (tens of thousands of
// tokens for p = 0.9), so the logits are first binned by value: buckets above the one where
// the cumulative mass crosses p are kept whole, unsorted, and only that one bucket is sorted.
template <class C>
size_t top_p_keep(std::vector<C>& c, size_t n, double m, double z, float p) {
    const auto prob = [&](const C& x) { return std::exp(x.logit - m) / z; };
    size_t first = 0, last = n;  // c[first, last) is what still needs sorting
    double above = 0;            // mass of c[0, first)
    constexpr size_t kBinFrom = 256;
    if (n > kBinFrom) {
        const float hi = static_cast<float>(m);  // exact: m is a float logit
        float lo = hi;
        for (size_t i = 0; i < n; ++i) lo = std::min(lo, c[i].logit);
        // Below hi - 64 the mass is < e^-64 per token: all such tokens share the last bucket,
        // so one outlier cannot make the buckets too wide to separate the top.
        lo = std::max(lo, hi - 64.0f);
        if (hi > lo) {
            constexpr int kBuckets = 1024;
            const double scale = kBuckets / (static_cast<double>(hi) - lo);
            // Monotone in the logit: higher logits never land in a later bucket.
            const auto bucket = [&](float l) {
                return static_cast<int>(
                    std::min<double>(kBuckets - 1, (static_cast<double>(hi) - l) * scale));
            };
            std::vector<double> mass(kBuckets, 0.0);
            for (size_t i = 0; i < n; ++i)
                mass[static_cast<size_t>(bucket(c[i].logit))] += prob(c[i]);
            int b = 0;
            while (b < kBuckets && above + mass[static_cast<size_t>(b)] < p)
                above += mass[static_cast<size_t>(b++)];
            if (b == kBuckets) return n;  // rounding kept the total just below p: keep all
            const auto begin = c.begin(), end = c.begin() + static_cast<ptrdiff_t>(n);
            const auto mid =
                std::partition(begin, end, [&](const C& x) { return bucket(x.logit) < b; });
            const auto tail =
                std::partition(mid, end, [&](const C& x) { return bucket(x.logit) == b; });
            first = static_cast<size_t>(mid - begin);
            last = static_cast<size_t>(tail - begin);
        }
    }
    std::sort(c.begin() + static_cast<ptrdiff_t>(first), c.begin() + static_cast<ptrdiff_t>(last),
              Better{});
    double cum = above;
    for (size_t i = first; i < last; ++i) {
        cum += prob(c[i]);
        if (cum >= p) return i + 1;
    }
    return last;  // only by rounding: the crossing bucket's tokens summed a hair below p
}

}  // namespace

void validate(const SamplerSettings& s) {
    // Written as !(in range) so NaN fails every check.
    if (!(std::isfinite(s.temperature) && s.temperature >= 0))
        bad_setting("temperature", s.temperature, "must be a finite number >= 0 (0 = greedy)");
    if (s.top_k < 0) bad_setting("top_k", s.top_k, "must be >= 0 (0 = off)");
    if (!(s.top_p >= 0 && s.top_p <= 1)) bad_setting("top_p", s.top_p, "must be in 0..1 (1 = off)");
    if (!(s.min_p >= 0 && s.min_p <= 1)) bad_setting("min_p", s.min_p, "must be in 0..1 (0 = off)");
    if (!(std::isfinite(s.repeat_penalty) && s.repeat_penalty > 0))
        bad_setting("repeat_penalty", s.repeat_penalty, "must be a finite number > 0 (1 = off)");
    if (s.repeat_last_n < -1)
        bad_setting("repeat_last_n", s.repeat_last_n,
                    "must be >= -1 (0 = no penalties, -1 = the whole history)");
    if (!(s.frequency_penalty >= -2 && s.frequency_penalty <= 2))
        bad_setting("frequency_penalty", s.frequency_penalty, "must be in -2..2 (0 = off)");
    if (!(s.presence_penalty >= -2 && s.presence_penalty <= 2))
        bad_setting("presence_penalty", s.presence_penalty, "must be in -2..2 (0 = off)");
}

Sampler::Sampler(SamplerSettings settings, int n_vocab) : s_(settings), n_vocab_(n_vocab) {
    validate(s_);
    if (n_vocab <= 0)
        throw Error("sampler: the vocabulary size must be > 0, got " + std::to_string(n_vocab));
    reset();
}

bool Sampler::penalties_active() const {
    return s_.repeat_last_n != 0 && (s_.repeat_penalty != 1.0f || s_.frequency_penalty != 0.0f ||
                                     s_.presence_penalty != 0.0f);
}

void Sampler::reset() {
    rng_.reseed(s_.seed);
    window_.clear();
    count_.assign(penalties_active() ? static_cast<size_t>(n_vocab_) : 0, 0);
}

void Sampler::accept(int32_t token) {
    if (token < 0 || token >= n_vocab_)
        throw Error("sampler: accepted token id " + std::to_string(token) +
                    " is outside the vocabulary (" + std::to_string(n_vocab_) + ")");
    if (!penalties_active()) return;
    window_.push_back(token);
    ++count_[static_cast<size_t>(token)];
    if (s_.repeat_last_n > 0 && window_.size() > static_cast<size_t>(s_.repeat_last_n)) {
        --count_[static_cast<size_t>(window_.front())];
        window_.pop_front();
    }
}

void Sampler::apply_penalties() {
    // Each distinct token is penalised once; its count is negated to mark it done, then restored.
    for (int32_t t : window_) {
        int32_t& c = count_[static_cast<size_t>(t)];
        if (c <= 0) continue;
        float& l = work_[static_cast<size_t>(t)];
        if (s_.repeat_penalty != 1.0f) l = l > 0 ? l / s_.repeat_penalty : l * s_.repeat_penalty;
        l -= static_cast<float>(c) * s_.frequency_penalty + s_.presence_penalty;
        c = -c;
    }
    for (int32_t t : window_) {
        int32_t& c = count_[static_cast<size_t>(t)];
        if (c < 0) c = -c;
    }
}

int32_t Sampler::sample(std::span<const float> logits) {
    if (logits.size() != static_cast<size_t>(n_vocab_))
        throw Error("sampler: got " + std::to_string(logits.size()) +
                    " logits for a vocabulary of " + std::to_string(n_vocab_));
    constexpr float kInf = std::numeric_limits<float>::infinity();
    // One branch-free pass (NaN and +inf both fail l < inf); find the culprit only if needed.
    bool bad = false;
    for (float l : logits) bad |= !(l < kInf);
    for (size_t i = 0; bad && i < logits.size(); ++i)
        if (!(logits[i] < kInf))
            throw Error("sampler: the logit of token " + std::to_string(i) + " is " +
                        (std::isnan(logits[i]) ? "NaN" : "+inf") + " (the forward pass is broken)");

    std::span<const float> src = logits;
    if (penalties_active() && !window_.empty()) {
        work_.assign(logits.begin(), logits.end());
        apply_penalties();
        src = work_;
    }
    const int32_t n_vocab = n_vocab_;

    // 2. Greedy.
    if (s_.greedy()) {
        int32_t best = -1;
        for (int32_t i = 0; i < n_vocab; ++i)
            if (src[i] > -kInf && (best < 0 || src[i] > src[best])) best = i;
        if (best < 0) throw Error("sampler: every logit is -inf, there is nothing to sample");
        return best;
    }

    // 3. Top-k. For the usual small k, one pass with a heap of k whose front is the worst kept
    // token: almost every logit loses one comparison against it, so this costs about a copy of
    // the row. Large k: collect everything and quickselect. Either way survivors stay unsorted.
    cand_.clear();
    const size_t k = s_.top_k > 0 ? static_cast<size_t>(s_.top_k) : 0;
    if (k > 0 && k <= 4096) {
        for (int32_t i = 0; i < n_vocab; ++i) {
            const float l = src[i];
            if (cand_.size() < k) {
                if (l == -kInf) continue;
                cand_.push_back({l, i});
                std::push_heap(cand_.begin(), cand_.end(), Better{});
            } else if (l > cand_.front().logit) {  // ids rise, so an equal logit ranks lower
                std::pop_heap(cand_.begin(), cand_.end(), Better{});
                cand_.back() = {l, i};
                std::push_heap(cand_.begin(), cand_.end(), Better{});
            }
        }
    } else {
        for (int32_t i = 0; i < n_vocab; ++i)
            if (src[i] > -kInf) cand_.push_back({src[i], i});
        if (k > 0 && k < cand_.size()) {
            std::nth_element(cand_.begin(), cand_.begin() + static_cast<ptrdiff_t>(k - 1),
                             cand_.end(), Better{});
            cand_.resize(k);
        }
    }
    if (cand_.empty()) throw Error("sampler: every logit is -inf, there is nothing to sample");
    size_t n = cand_.size();
    double m = -kInf;
    for (size_t i = 0; i < n; ++i) m = std::max(m, static_cast<double>(cand_[i].logit));

    // Normaliser of the top-k distribution, which top-p's cumulative sum is measured against.
    double z = 0;
    if (s_.top_p < 1.0f)
        for (size_t i = 0; i < n; ++i) z += std::exp(cand_[i].logit - m);

    // 5 before 4 in the code, same result: min-p keeps a rank prefix (p >= min_p * p_max, i.e.
    // logit >= max + ln(min_p)) and so does top-p, so the survivors are the shorter of the two
    // prefixes. Cutting min-p first (an O(n) partition) leaves top-p only the few tokens near
    // the top to sort; top-p's probabilities still use z of the whole top-k set.
    if (s_.min_p > 0.0f) {
        const double threshold = m + std::log(static_cast<double>(s_.min_p));
        const auto mid = std::partition(cand_.begin(), cand_.begin() + static_cast<ptrdiff_t>(n),
                                        [&](const Cand& c) { return c.logit >= threshold; });
        n = static_cast<size_t>(mid - cand_.begin());  // >= 1: the maximum always passes
    }

    // 4. Top-p.
    if (s_.top_p < 1.0f) n = top_p_keep(cand_, n, m, z, s_.top_p);

    // The survivors are the top n of the ranking; find the last of them, then walk the
    // vocabulary in id order so the draw is independent of how the selection left them.
    Cand cut = cand_[0];
    for (size_t i = 1; i < n; ++i)
        if (Better{}(cut, cand_[i])) cut = cand_[i];

    // 6-7. Temperature, softmax, draw. Weights are relative to the maximum, so no overflow.
    const double inv_t = 1.0 / static_cast<double>(s_.temperature);
    double total = 0;
    cand_.clear();  // reused to hold (weight, id) of the survivors in id order
    std::vector<double>& w = weights_;
    w.clear();
    for (int32_t i = 0; i < n_vocab; ++i) {
        const float l = src[i];
        if (l > cut.logit || (l == cut.logit && i <= cut.id)) {
            const double wi = std::exp((l - m) * inv_t);
            total += wi;
            w.push_back(wi);
            cand_.push_back({l, i});
        }
    }
    const double u = rng_.uniform() * total;
    double acc = 0;
    for (size_t i = 0; i < w.size(); ++i) {
        acc += w[i];
        if (u < acc) return cand_[i].id;
    }
    return cand_.back().id;  // u within rounding of the total
}

void Sampler::skip_draw() {
    if (!s_.greedy()) rng_.uniform();
}

}  // namespace gb
