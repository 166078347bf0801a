// CPU mixture-of-experts ops: routing (softmax/sigmoid gating, correction bias, group-limited
// top-k) and the expert matmul. Decode reads k of n_expert matrices, so the cost is memory
// traffic over the selected experts only; a prompt groups its token slots by expert, so each
// selected expert's matrix is streamed once for all the tokens routed to it (register tiles as
// in matmul), not once per token.
#include "kernels/cpu/moe.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/quant_gemm.h"
#include "kernels/error.h"

namespace gb {

// Declared in kernels/backend.h: every backend validates routing parameters the same way.
std::string router_params_error(const RouterParams& p) {
    const auto s = [](int64_t v) { return std::to_string(v); };
    if (p.n_expert < 1) return "expert count " + s(p.n_expert) + " must be at least 1";
    if (p.n_used < 1 || p.n_used > p.n_expert)
        return "experts used per token " + s(p.n_used) + " must be within 1.." + s(p.n_expert) +
               " (the expert count)";
    if (p.n_group < 1 || p.n_expert % p.n_group != 0)
        return "expert group count " + s(p.n_group) + " must divide the expert count " +
               s(p.n_expert);
    if (p.n_group_used < 1 || p.n_group_used > p.n_group)
        return "expert groups used " + s(p.n_group_used) + " must be within 1.." + s(p.n_group);
    const int per_group = p.n_expert / p.n_group;
    if (p.n_group > 1 && p.n_used > p.n_group_used * per_group)
        return "experts used per token " + s(p.n_used) + " exceed the " +
               s(p.n_group_used * per_group) + " experts of the " + s(p.n_group_used) +
               " groups a token may use";
    if (p.n_group > 1 && p.group_score == GroupScore::Top2Sum && per_group < 2)
        return "groups of one expert cannot be ranked by their best two";
    if (!std::isfinite(p.scale) || p.scale <= 0)
        return "routed scaling factor " + std::to_string(p.scale) + " must be positive";
    return {};
}

}  // namespace gb

namespace gb::cpu {

void route_token(const RouterParams& p, const float* logits, const float* bias, int32_t* ids,
                 float* weights, float* probs, const float* steer) {
    const int n = p.n_expert;
    thread_local std::vector<float> scores, choice, group, steered;
    thread_local std::vector<int32_t> order;
    scores.resize(n);
    choice.resize(n);
    if (steer) {
        // Off: 1 below the token's lowest logit; on: 1 above its highest (Backend::moe_route).
        float hi = -std::numeric_limits<float>::infinity(), lo = -hi;
        for (int i = 0; i < n; ++i) hi = std::max(hi, logits[i]), lo = std::min(lo, logits[i]);
        steered.assign(logits, logits + n);
        for (int i = 0; i < n; ++i)
            if (steer[i] != 0) steered[i] = steer[i] > 0 ? hi + 1.0f : lo - 1.0f;
        logits = steered.data();
    }
    if (p.gating == Gating::Softmax) {
        float mx = -std::numeric_limits<float>::infinity();
        for (int i = 0; i < n; ++i) mx = std::max(mx, logits[i]);
        float sum = 0;
        for (int i = 0; i < n; ++i) sum += scores[i] = std::exp(logits[i] - mx);
        for (int i = 0; i < n; ++i) scores[i] /= sum;
    } else {
        for (int i = 0; i < n; ++i) scores[i] = 1.0f / (1.0f + std::exp(-logits[i]));
    }
    if (probs) std::copy(scores.begin(), scores.end(), probs);
    for (int i = 0; i < n; ++i) choice[i] = scores[i] + (bias ? bias[i] : 0.0f);
    if (steer)  // below or above every other expert's choice, a masked group's included
        for (int i = 0; i < n; ++i)
            if (steer[i] != 0)
                choice[i] = steer[i] > 0 ? std::numeric_limits<float>::max()
                                         : -std::numeric_limits<float>::max();

    // Higher first, the lower index on ties (a strict order, so the result is deterministic).
    const auto by_score = [](const std::vector<float>& v) {
        return [&v](int32_t a, int32_t b) { return v[a] > v[b] || (v[a] == v[b] && a < b); };
    };
    if (p.n_group > 1 && p.n_group_used < p.n_group) {
        // Group-limited routing (DeepSeek-V2/V3): experts outside the best groups drop out.
        const int per = n / p.n_group;
        group.resize(p.n_group);
        for (int g = 0; g < p.n_group; ++g) {
            const float* c = choice.data() + g * per;
            float best = -std::numeric_limits<float>::infinity(), second = best;
            for (int i = 0; i < per; ++i) {
                if (c[i] > best)
                    second = best, best = c[i];
                else if (c[i] > second)
                    second = c[i];
            }
            group[g] = p.group_score == GroupScore::Max ? best : best + second;
        }
        order.resize(p.n_group);
        std::iota(order.begin(), order.end(), 0);
        std::partial_sort(order.begin(), order.begin() + p.n_group_used, order.end(),
                          by_score(group));
        // -inf, as DeepSeek's own inference code masks them (HF's port fills 0.0, which differs
        // only when every kept choice is negative).
        for (int j = p.n_group_used; j < p.n_group; ++j)
            std::fill_n(choice.begin() + order[j] * per, per,
                        -std::numeric_limits<float>::infinity());
    }
    order.resize(n);
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + p.n_used, order.end(), by_score(choice));
    float sum = 0;
    for (int k = 0; k < p.n_used; ++k) {
        ids[k] = order[k];
        weights[k] = scores[order[k]];
        sum += weights[k];
    }
    const float f = p.norm_topk && sum > 0 ? p.scale / sum : p.scale;
    for (int k = 0; k < p.n_used; ++k) weights[k] *= f;
}

}  // namespace gb::cpu

namespace gb::cpu {

namespace {

void check(bool ok, const char* op, const std::string& what) {
    if (!ok) throw Error(std::string("cpu backend: ") + op + ": " + what);
}

std::string shape(Act a) { return std::to_string(a.rows) + "x" + std::to_string(a.cols); }

}  // namespace

void CpuBackend::moe_route(Act logits, const Weight& bias, const RouterParams& p,
                           std::span<int32_t> ids, std::span<float> weights, std::span<float> probs,
                           const Weight& steer) {
    const std::string bad = router_params_error(p);
    check(bad.empty(), "moe_route", bad);
    const int64_t n_tok = logits.rows;
    check(logits.cols == p.n_expert && static_cast<int64_t>(ids.size()) == n_tok * p.n_used &&
              weights.size() == ids.size() &&
              (probs.empty() || static_cast<int64_t>(probs.size()) == n_tok * p.n_expert),
          "moe_route",
          "logits " + shape(logits) + " for " + std::to_string(p.n_expert) + " experts, top-" +
              std::to_string(p.n_used));
    check(!bias || (bias.type == TensorType::F32 && bias.rows * bias.cols == p.n_expert),
          "moe_route", std::string(bias.name) + " must be F32 with one value per expert");
    check(!steer || (steer.type == TensorType::F32 && steer.rows * steer.cols == p.n_expert),
          "moe_route", "the expert steering must be F32 with one value per expert");
    const auto* b = static_cast<const float*>(bias.data);
    const auto* st = static_cast<const float*>(steer.data);
    const auto one = [&](int64_t t) {
        route_token(p, logits.data + t * logits.cols, b, ids.data() + t * p.n_used,
                    weights.data() + t * p.n_used,
                    probs.empty() ? nullptr : probs.data() + t * p.n_expert, st);
    };
    if (n_tok < 16) {  // decode: waking the pool costs more than routing one token
        for (int64_t t = 0; t < n_tok; ++t) one(t);
        return;
    }
    pool_.parallel_for(
        n_tok,
        [&](int64_t t0, int64_t t1, int) {
            for (int64_t t = t0; t < t1; ++t) one(t);
        },
        8);
}

void CpuBackend::moe_matmul(const Weight& w, Act x, std::span<const int32_t> ids, int n_used,
                            Act out) {
    const int64_t n_slot = static_cast<int64_t>(ids.size());
    check(n_used >= 1 && n_slot % n_used == 0, "moe_matmul",
          std::to_string(n_slot) + " slots for top-" + std::to_string(n_used));
    const bool per_slot = x.rows == n_slot;
    check((per_slot || x.rows * n_used == n_slot) && x.cols == w.cols && out.rows == n_slot &&
              out.cols == w.rows && w.n_mat >= 1,
          "moe_matmul",
          std::string(w.name) + " [" + std::to_string(w.n_mat) + " x " + std::to_string(w.rows) +
              "x" + std::to_string(w.cols) + "] with x " + shape(x) + " for " +
              std::to_string(n_slot) + " slots into " + shape(out));
    const int64_t n_mat = w.n_mat;
    for (int32_t e : ids)
        check(e >= 0 && e < n_mat, "moe_matmul",
              "expert " + std::to_string(e) + " outside " + std::string(w.name) + " (" +
                  std::to_string(n_mat) + " experts)");

    // Slots sorted by expert (a counting sort, stable): expert e owns slots
    // moe_slots_[moe_first_[e] .. moe_first_[e+1]).
    moe_first_.assign(static_cast<size_t>(n_mat + 1), 0);
    for (int32_t e : ids) ++moe_first_[e + 1];
    for (int64_t e = 0; e < n_mat; ++e) moe_first_[e + 1] += moe_first_[e];
    moe_slots_.resize(static_cast<size_t>(n_slot));
    {
        std::vector<int32_t> fill(moe_first_.begin(), moe_first_.end() - 1);
        for (int64_t s = 0; s < n_slot; ++s) moe_slots_[fill[ids[s]]++] = static_cast<int32_t>(s);
    }

    // Each slot's input, converted to the weight's dot format, gathered in expert order so an
    // expert's tokens are one strided block for the register-tiled kernel.
    // Precise mode keeps them as floats (Backend::set_precise). When every slot of a token reads
    // the token's row (gate and up), the row is converted once (quantize_rows, into matmul's
    // buffer, idle here), and its bytes are copied to the token's n_used slots.
    const bool precise_dot = precise();
    const TensorType dt = precise_dot ? TensorType::F32 : vec_dot_type(w.type);
    const size_t xrb = row_bytes(dt, x.cols);
    const size_t wrb = row_bytes(w.type, w.cols);
    const bool shared_rows = !per_slot && dt != TensorType::F32;
    const uint8_t* xq = shared_rows ? quantize_rows(dt, x) : nullptr;
    moe_x_.resize(xrb * n_slot);
    pool_.parallel_for(
        n_slot,
        [&](int64_t j0, int64_t j1, int) {
            for (int64_t j = j0; j < j1; ++j) {
                const int64_t s = moe_slots_[j];
                const int64_t r = per_slot ? s : s / n_used;
                if (shared_rows)
                    std::memcpy(moe_x_.data() + j * xrb, xq + r * xrb, xrb);
                else if (dt == TensorType::F32)
                    std::memcpy(moe_x_.data() + j * xrb, x.data + r * x.cols, xrb);
                else
                    quantize_row(dt, x.data + r * x.cols, moe_x_.data() + j * xrb, x.cols);
            }
        },
        n_slot < 64 ? n_slot : (shared_rows ? 64 : 8));
    if (precise_dot) {
        precise_x_.prepare(reinterpret_cast<const float*>(moe_x_.data()), x.cols, n_slot, x.cols,
                           has_precise_int_dot(w.type));
        if (precise_x_.split())
            pool_.parallel_for(
                n_slot, [&](int64_t j0, int64_t j1, int) { precise_x_.split_rows(j0, j1); }, 4);
    }

    // Work items: (selected expert, block of kRows output rows), in that order, split into one
    // contiguous range per thread (as in matmul, so each core streams its own part of the
    // selected matrices) of equal cost. An item costs its expert's token count plus one (the
    // weight block's trip from memory): a prompt routes tokens unevenly, and ranges of equal
    // item counts left one core waiting on the other for a fifth of a MoE layer.
    constexpr int64_t kRows = 16;
    const int64_t blocks = (w.rows + kRows - 1) / kRows;
    std::vector<int32_t> active;
    for (int64_t e = 0; e < n_mat; ++e)
        if (moe_first_[e + 1] > moe_first_[e]) active.push_back(static_cast<int32_t>(e));
    const int64_t n_items = static_cast<int64_t>(active.size()) * blocks;
    const int n_parts = static_cast<int>(std::min<int64_t>(pool_.size(), n_items));
    std::vector<int64_t> part_start(static_cast<size_t>(n_parts) + 1, n_items);
    {
        int64_t total = 0;
        for (int32_t e : active) total += (moe_first_[e + 1] - moe_first_[e] + 1) * blocks;
        int64_t acc = 0, item = 0;
        part_start[0] = 0;
        for (int p = 1; p < n_parts; ++p) {
            const int64_t goal = total * p / n_parts;
            while (item < n_items && acc < goal) {
                const int32_t e = active[item / blocks];
                acc += moe_first_[e + 1] - moe_first_[e] + 1;
                ++item;
            }
            part_start[p] = item;
        }
    }
    moe_out_.resize(static_cast<size_t>(n_slot * w.rows));
    const auto* wb = static_cast<const uint8_t*>(w.data);
    const size_t mat_bytes = wrb * static_cast<size_t>(w.rows);
    pool_.parallel_for(
        n_parts,
        [&](int64_t p0, int64_t p1, int tid) {
            for (int64_t i = part_start[p0]; i < part_start[p1]; ++i) {
                if (cancelled()) return;  // the caller discards this step
                const int32_t e = active[i / blocks];
                const int64_t ob = (i % blocks) * kRows, oe = std::min(w.rows, ob + kRows);
                const int64_t j0 = moe_first_[e], nt = moe_first_[e + 1] - j0;
                const uint8_t* we = wb + e * mat_bytes + ob * wrb;
                const uint8_t* xe = moe_x_.data() + j0 * xrb;
                float* oj = moe_out_.data() + j0 * w.rows + ob;
                if (precise_dot) {
                    vec_dot_precise_rows(w.type, w.cols, we, wrb, oe - ob, precise_x_, j0, nt, oj,
                                         w.rows, scratch_[tid]);
                    continue;
                }
                if (nt >= 2 && has_gemm_tile(w.type) && !row_invariant()) {
                    gemm_tile(w.type, w.cols, we, wrb, oe - ob, xe, xrb, nt, oj,
                              static_cast<size_t>(w.rows));
                    continue;
                }
                for (int64_t t = 0; t < nt; ++t)
                    for (int64_t o = 0; o < oe - ob; ++o)
                        oj[t * w.rows + o] = vec_dot(w.type, w.cols, we + o * wrb, xe + t * xrb);
            }
        },
        1);

    for (int64_t j = 0; j < n_slot; ++j)
        std::memcpy(out.data + static_cast<int64_t>(moe_slots_[j]) * out.cols,
                    moe_out_.data() + j * w.rows, static_cast<size_t>(w.rows) * sizeof(float));
}

void CpuBackend::moe_combine(Act y, std::span<const float> weights, int n_used, Act out) {
    check(n_used >= 1 && y.rows == out.rows * n_used && y.cols == out.cols &&
              static_cast<int64_t>(weights.size()) == y.rows,
          "moe_combine",
          "y " + shape(y) + " with " + std::to_string(weights.size()) + " weights, top-" +
              std::to_string(n_used) + ", into " + shape(out));
    const int64_t n = out.cols;
    pool_.parallel_for(
        out.rows,
        [&](int64_t t0, int64_t t1, int) {
            for (int64_t t = t0; t < t1; ++t) {
                float* o = out.data + t * n;
                const float* w = weights.data() + t * n_used;
                const float* yt = y.data + t * n_used * n;
                for (int64_t c = 0; c < n; ++c) o[c] = w[0] * yt[c];
                for (int k = 1; k < n_used; ++k)
                    for (int64_t c = 0; c < n; ++c) o[c] += w[k] * yt[k * n + c];
            }
        },
        out.rows < 32 ? out.rows : 4);
}

}  // namespace gb::cpu
