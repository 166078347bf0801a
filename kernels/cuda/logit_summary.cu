// Backend::logit_summary on the GPU: one block per logits row. One pass keeps an online
// (max, Z, S) per thread, merged over the block, which gives max, log Z and the entropy; then
// top_n passes each pick the best logit strictly below the previous pick (ties to the lower id).
// The row (a vocabulary of ~150k floats) stays in L2 across the passes; only kLogitStats + 2 *
// top_n numbers per row leave the device. kernels/logit_summary.h is the reference.
#include <cfloat>
#include <cmath>

#include "kernels/cuda/backend_kernels.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/logit_summary.h"

namespace gb::cuda {

namespace {

constexpr int kThreads = 512;

// Sum of exp(l - m) and of exp(l - m) (l - m) over the entries seen, relative to their max m.
// Trivial (it lives in shared memory): empty() makes the empty one.
struct Partial {
    float m, z, s;
};
__device__ __forceinline__ Partial empty() { return Partial{-INFINITY, 0.0f, 0.0f}; }

// Merges two partials (either may be empty: z == 0), rescaling both to the larger maximum:
// with a = exp(m_i - m), z = sum a z_i and s = sum a (s_i + (m_i - m) z_i).
__device__ __forceinline__ Partial merge(Partial a, Partial b) {
    if (a.z == 0.0f) return b;
    if (b.z == 0.0f) return a;
    const float m = fmaxf(a.m, b.m);
    const float ea = __expf(a.m - m), eb = __expf(b.m - m);
    Partial r;
    r.m = m;
    r.z = a.z * ea + b.z * eb;
    r.s = ea * (a.s + (a.m - m) * a.z) + eb * (b.s + (b.m - m) * b.z);
    return r;
}

__device__ __forceinline__ Partial shfl_partial(Partial p, int offset) {
    Partial o;
    o.m = __shfl_xor_sync(0xffffffffu, p.m, offset);
    o.z = __shfl_xor_sync(0xffffffffu, p.z, offset);
    o.s = __shfl_xor_sync(0xffffffffu, p.s, offset);
    return o;
}

// (logit, id) candidates: better means a larger logit, or an equal logit with a lower id;
// id -1 is "none" and loses to everything.
__device__ __forceinline__ bool better(float la, int ia, float lb, int ib) {
    if (ia < 0) return false;
    if (ib < 0) return true;
    return la > lb || (la == lb && ia < ib);
}

__global__ void logit_summary_kernel(const float* logits, int64_t cols, int top_n, float* stats,
                                     int32_t* top_ids, float* top_logits) {
    const int64_t row = blockIdx.x;
    const float* x = logits + row * cols;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int n_warps = blockDim.x / 32;
    __shared__ Partial part[32];
    __shared__ int nan_seen;
    __shared__ float pick_l[32];
    __shared__ int pick_i[32];
    if (threadIdx.x == 0) nan_seen = 0;
    __syncthreads();

    // Pass 1: online max / Z / S per thread, then over the block.
    Partial p = empty();
    bool nan = false;
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
        const float l = x[i];
        if (l != l) {
            nan = true;
            continue;
        }
        if (l == -INFINITY) continue;  // no mass
        if (p.z == 0.0f) {
            p.m = l, p.z = 1.0f, p.s = 0.0f;
        } else if (l > p.m) {
            const float e = __expf(p.m - l);  // the old entries, rescaled to the new maximum
            p.s = e * (p.s + (p.m - l) * p.z);
            p.z = p.z * e + 1.0f;
            p.m = l;
        } else {
            const float d = l - p.m;
            const float e = __expf(d);
            p.z += e;
            p.s += e * d;
        }
    }
    if (nan) atomicOr(&nan_seen, 1);
    for (int offset = 16; offset > 0; offset /= 2) p = merge(p, shfl_partial(p, offset));
    if (lane == 0) part[warp] = p;
    __syncthreads();
    if (warp == 0) {
        p = lane < n_warps ? part[lane] : empty();
        for (int offset = 16; offset > 0; offset /= 2) p = merge(p, shfl_partial(p, offset));
        if (lane == 0) part[0] = p;
    }
    __syncthreads();
    const Partial all = part[0];
    // No distribution: a NaN, nothing finite, or a +inf maximum (inf - inf in every rescale).
    const bool none = nan_seen != 0 || all.z == 0.0f || !isfinite(all.m) || !isfinite(all.z);
    if (threadIdx.x == 0) {
        float* st = stats + row * kLogitStats;
        if (none) {
            st[0] = st[1] = st[2] = NAN;
        } else {
            const float log_z = logf(all.z);
            st[0] = all.m;
            st[1] = log_z;
            st[2] = fmaxf(0.0f, log_z - all.s / all.z);
        }
    }

    // Passes 2..: the j-th best is the best entry strictly worse than the (j-1)-th.
    float prev_l = INFINITY;
    int prev_i = -1;
    for (int j = 0; j < top_n; ++j) {
        float bl = -INFINITY;
        int bi = -1;
        if (!none) {
            for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
                const float l = x[i];
                const int id = static_cast<int>(i);
                const bool below = prev_i < 0 || l < prev_l || (l == prev_l && id > prev_i);
                if (below && better(l, id, bl, bi)) bl = l, bi = id;
            }
        }
        for (int offset = 16; offset > 0; offset /= 2) {
            const float ol = __shfl_xor_sync(0xffffffffu, bl, offset);
            const int oi = __shfl_xor_sync(0xffffffffu, bi, offset);
            if (better(ol, oi, bl, bi)) bl = ol, bi = oi;
        }
        if (lane == 0) pick_l[warp] = bl, pick_i[warp] = bi;
        __syncthreads();
        bl = pick_l[0], bi = pick_i[0];
        for (int w = 1; w < n_warps; ++w)
            if (better(pick_l[w], pick_i[w], bl, bi)) bl = pick_l[w], bi = pick_i[w];
        __syncthreads();  // pick_* are rewritten by the next pass
        if (threadIdx.x == 0) {
            top_ids[row * top_n + j] = bi;
            top_logits[row * top_n + j] = bi < 0 ? NAN : bl;
        }
        prev_l = bl, prev_i = bi;
        if (bi < 0) prev_i = 0x7fffffff, prev_l = -INFINITY;  // nothing left: later picks none
    }
}

}  // namespace

void launch_logit_summary(const float* logits, int64_t rows, int64_t cols, int top_n, float* stats,
                          int32_t* top_ids, float* top_logits, cudaStream_t s) {
    if (rows == 0) return;
    logit_summary_kernel<<<static_cast<unsigned>(rows), kThreads, 0, s>>>(
        logits, cols, top_n, stats, top_ids, top_logits);
    GB_CUDA_CHECK("logit_summary", cudaGetLastError());
}

}  // namespace gb::cuda
