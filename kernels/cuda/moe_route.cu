// MoE routing on the device: gating scores, correction bias, group-limited top-k, renormalisation
// and scaling, with the CPU's rules and tie order (kernels/cpu/moe.cpp, route_token). One warp
// per token, its scores in shared memory: a router has at most a few hundred experts, so a
// token's work (n_expert exps, k arg-max passes of a warp reduction) takes microseconds, and what
// matters for decode is that ids and weights then go to the host in one small copy. (Per-thread
// arrays would be local memory, which the driver reserves for every resident thread of the GPU.)
#include <cfloat>
#include <climits>

#include "kernels/cuda/backend_kernels.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/warp_reduce.cuh"

namespace gb::cuda {
namespace {

constexpr int kMaxGroups = 64;

// The better of two (value, index) candidates in the CPU's strict order: higher value first,
// the lower index on ties; index -1 is no candidate.
__device__ __forceinline__ void better(float v, int i, float& bv, int& bi) {
    if (i >= 0 && (bi < 0 || v > bv || (v == bv && i < bi))) bv = v, bi = i;
}

// The best entry of v[0..n) not yet taken, marked taken; every lane gets its index.
__device__ int take_best(const float* v, int n, bool* taken) {
    const int lane = threadIdx.x;
    float bv = 0.0f;
    int bi = -1;
    for (int i = lane; i < n; i += 32)
        if (!taken[i]) better(v[i], i, bv, bi);
    for (int o = 16; o > 0; o /= 2) {
        const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        better(ov, oi, bv, bi);
    }
    __syncwarp();
    if (lane == 0 && bi >= 0) taken[bi] = true;
    __syncwarp();
    return bi;
}

__device__ __forceinline__ float warp_max_f(float v) {
    for (int o = 16; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Block = one warp = token blockIdx.x.
__global__ void moe_route_kernel(const float* logits, const float* bias, RouterParams p,
                                 int32_t* ids, float* weights, float* probs, const float* steer) {
    __shared__ float scores[kMaxRouteExperts], choice[kMaxRouteExperts], group[kMaxGroups];
    __shared__ float steered[kMaxRouteExperts];
    __shared__ bool taken[kMaxRouteExperts];
    const int64_t t = blockIdx.x;
    const int lane = threadIdx.x, n = p.n_expert;
    const float* lg = logits + t * n;
    if (steer) {
        // Off: 1 below the token's lowest logit; on: 1 above its highest (Backend::moe_route).
        float hi = -INFINITY, lo = INFINITY;
        for (int i = lane; i < n; i += 32) hi = fmaxf(hi, lg[i]), lo = fminf(lo, lg[i]);
        hi = warp_max_f(hi);
        lo = -warp_max_f(-lo);
        for (int i = lane; i < n; i += 32)
            steered[i] = steer[i] > 0.0f ? hi + 1.0f : steer[i] < 0.0f ? lo - 1.0f : lg[i];
        __syncwarp();
        lg = steered;
    }
    if (p.gating == Gating::Softmax) {
        float mx = -INFINITY;
        for (int i = lane; i < n; i += 32) mx = fmaxf(mx, lg[i]);
        mx = warp_max_f(mx);
        float sum = 0.0f;
        for (int i = lane; i < n; i += 32) sum += scores[i] = expf(lg[i] - mx);
        sum = warp_sum(sum);
        for (int i = lane; i < n; i += 32) scores[i] /= sum;
    } else {
        for (int i = lane; i < n; i += 32) scores[i] = 1.0f / (1.0f + expf(-lg[i]));
    }
    for (int i = lane; i < n; i += 32) {
        if (probs) probs[t * n + i] = scores[i];
        choice[i] = scores[i] + (bias ? bias[i] : 0.0f);
        if (steer && steer[i] != 0.0f) choice[i] = steer[i] > 0.0f ? FLT_MAX : -FLT_MAX;
        taken[i] = false;
    }
    __syncwarp();
    if (p.n_group > 1 && p.n_group_used < p.n_group) {
        // Group-limited routing (DeepSeek-V2/V3): experts outside the best groups drop out.
        const int per = n / p.n_group;
        for (int g = lane; g < p.n_group; g += 32) {
            const float* c = choice + g * per;
            float best = -INFINITY, second = -INFINITY;
            for (int i = 0; i < per; ++i) {
                if (c[i] > best)
                    second = best, best = c[i];
                else if (c[i] > second)
                    second = c[i];
            }
            group[g] = p.group_score == GroupScore::Max ? best : best + second;
        }
        __syncwarp();
        for (int j = 0; j < p.n_group_used; ++j) take_best(group, p.n_group, taken);
        // taken[0..n_group) now marks the kept groups; mask the others' experts, then clear.
        for (int i = lane; i < n; i += 32)
            if (!taken[i / per]) choice[i] = -INFINITY;
        __syncwarp();
        for (int g = lane; g < p.n_group; g += 32) taken[g] = false;
        __syncwarp();
    }
    int32_t* it = ids + t * p.n_used;
    float* wt = weights + t * p.n_used;
    float sum = 0.0f;
    for (int k = 0; k < p.n_used; ++k) {
        const int e = take_best(choice, n, taken);
        const float w = scores[e];
        sum += w;
        if (lane == 0) it[k] = e, wt[k] = w;
    }
    const float f = p.norm_topk && sum > 0 ? p.scale / sum : p.scale;
    __syncwarp();
    if (lane == 0)
        for (int k = 0; k < p.n_used; ++k) wt[k] *= f;
}

}  // namespace

void launch_moe_route(const float* logits, const float* bias, const RouterParams& p, int64_t n_tok,
                      int32_t* ids, float* weights, float* probs, cudaStream_t s,
                      const float* steer) {
    const char* op = "moe_route";
    if (n_tok == 0) return;
    require(p.n_expert <= kMaxRouteExperts && p.n_group <= kMaxGroups, op,
            std::to_string(p.n_expert) + " experts in " + std::to_string(p.n_group) +
                " groups exceed the CUDA router's " + std::to_string(kMaxRouteExperts) + " / " +
                std::to_string(kMaxGroups));
    require(n_tok <= INT_MAX, op, "too many tokens");
    moe_route_kernel<<<static_cast<unsigned>(n_tok), 32, 0, s>>>(logits, bias, p, ids, weights,
                                                                 probs, steer);
    GB_CUDA_CHECK_LAUNCH(op);
}

}  // namespace gb::cuda
