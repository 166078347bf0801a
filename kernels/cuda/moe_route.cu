// MoE routing on the device: gating scores, correction bias, group-limited top-k, renormalisation
// and scaling, with the CPU's rules and tie order (kernels/cpu/moe.cpp, route_token). One thread
// per token: a router has at most a few hundred experts, so one token's work (n_expert exps and
// k selection passes) is microseconds, and decode routes one token per layer; what matters is
// that the ids and weights then travel to the host in one small copy, not the routing speed.
#include <climits>

#include "kernels/cuda/backend_kernels.h"
#include "kernels/cuda/cuda_check.h"

namespace gb::cuda {
namespace {

// Index of the best not-yet-taken entry of v[0..n): higher value first, lower index on ties
// (the CPU's strict order); -1 when all are taken.
__device__ int take_best(const float* v, int n, uint32_t* taken) {
    int best = -1;
    for (int i = 0; i < n; ++i) {
        if (taken[i / 32] >> (i % 32) & 1u) continue;
        if (best < 0 || v[i] > v[best]) best = i;
    }
    if (best >= 0) taken[best / 32] |= 1u << (best % 32);
    return best;
}

__global__ void moe_route_kernel(const float* logits, const float* bias, RouterParams p,
                                 int64_t n_tok, int32_t* ids, float* weights, float* probs) {
    const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (t >= n_tok) return;
    const int n = p.n_expert;
    const float* lg = logits + t * n;
    float scores[kMaxRouteExperts], choice[kMaxRouteExperts];
    if (p.gating == Gating::Softmax) {
        float mx = -INFINITY;
        for (int i = 0; i < n; ++i) mx = fmaxf(mx, lg[i]);
        float sum = 0;
        for (int i = 0; i < n; ++i) sum += scores[i] = expf(lg[i] - mx);
        for (int i = 0; i < n; ++i) scores[i] /= sum;
    } else {
        for (int i = 0; i < n; ++i) scores[i] = 1.0f / (1.0f + expf(-lg[i]));
    }
    if (probs)
        for (int i = 0; i < n; ++i) probs[t * n + i] = scores[i];
    for (int i = 0; i < n; ++i) choice[i] = scores[i] + (bias ? bias[i] : 0.0f);

    uint32_t taken[kMaxRouteExperts / 32];
    if (p.n_group > 1 && p.n_group_used < p.n_group) {
        // Group-limited routing (DeepSeek-V2/V3): experts outside the best groups drop out.
        const int per = n / p.n_group;
        float group[kMaxRouteExperts];
        for (int g = 0; g < p.n_group; ++g) {
            const float* c = choice + g * per;
            float best = -INFINITY, second = -INFINITY;
            for (int i = 0; i < per; ++i) {
                if (c[i] > best) second = best, best = c[i];
                else if (c[i] > second) second = c[i];
            }
            group[g] = p.group_score == GroupScore::Max ? best : best + second;
        }
        for (int w = 0; w < kMaxRouteExperts / 32; ++w) taken[w] = 0;
        for (int j = 0; j < p.n_group_used; ++j) take_best(group, p.n_group, taken);
        for (int g = 0; g < p.n_group; ++g)
            if (!(taken[g / 32] >> (g % 32) & 1u))
                for (int i = 0; i < per; ++i) choice[g * per + i] = -INFINITY;
    }
    for (int w = 0; w < kMaxRouteExperts / 32; ++w) taken[w] = 0;
    int32_t* it = ids + t * p.n_used;
    float* wt = weights + t * p.n_used;
    float sum = 0;
    for (int k = 0; k < p.n_used; ++k) {
        const int e = take_best(choice, n, taken);
        it[k] = e;
        wt[k] = scores[e];
        sum += wt[k];
    }
    const float f = p.norm_topk && sum > 0 ? p.scale / sum : p.scale;
    for (int k = 0; k < p.n_used; ++k) wt[k] *= f;
}

}  // namespace

void launch_moe_route(const float* logits, const float* bias, const RouterParams& p,
                      int64_t n_tok, int32_t* ids, float* weights, float* probs, cudaStream_t s) {
    const char* op = "moe_route";
    if (n_tok == 0) return;
    require(p.n_expert <= kMaxRouteExperts, op,
            std::to_string(p.n_expert) + " experts exceed the CUDA router's " +
                std::to_string(kMaxRouteExperts));
    require(n_tok <= INT_MAX, op, "too many tokens");
    const int threads = 64;
    moe_route_kernel<<<static_cast<unsigned>((n_tok + threads - 1) / threads), threads, 0, s>>>(
        logits, bias, p, n_tok, ids, weights, probs);
    GB_CUDA_CHECK_LAUNCH(op);
}

}  // namespace gb::cuda
