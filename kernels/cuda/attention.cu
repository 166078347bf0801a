// Causal attention over the KV cache (F32, F16, BF16 or Q8_0 values, read as floats where they
// are loaded), for standard (GQA) heads and for MLA's latent space.
// Decode (flash-decoding, split-K): one query per head reads the whole cache once, which is
// bandwidth work; a single block per head would leave most SMs idle, so the positions are split
// into chunks, each block reduces its chunk to (max, sum, weighted values) with an online softmax
// (one warp per position, a warp-shuffle dot product), and a second kernel merges the chunks.
// Heads that share a KV head (a GQA group; every head for MLA's latent) read each 32-position
// tile of their chunk once per block: up to 16 heads of one token take the tile from shared
// memory, converted to float once, instead of each head reading and converting it (the CPU's
// decode tiles, kernels/cpu/attention_simd.h, share rows the same way). One warp per head and
// step is the fallback for plain multi-head attention, where no row is shared.
// Prefill (tiled): 16 queries of one head share each 32-position K/V tile in shared memory, so
// the cache is read from L2 once per 16 queries instead of once per query; each lane scores one
// key of the tile against a query, and the values are folded in with the same online softmax.
#include <algorithm>
#include <climits>

#include "kernels/cuda/backend_kernels.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/quant_device.cuh"
#include "kernels/cuda/warp_reduce.cuh"

namespace gb::cuda {
namespace {

enum class Kv { F32, F16, BF16, Q8_0 };

// Value col of row `row` of a cache tensor of `stride` values per row, as a float.
template <Kv T>
__device__ __forceinline__ float kv_ld(const void* base, int64_t row, int64_t stride, int64_t col) {
    if constexpr (T == Kv::F32) {
        return static_cast<const float*>(base)[row * stride + col];
    } else if constexpr (T == Kv::F16) {
        return __half2float(static_cast<const __half*>(base)[row * stride + col]);
    } else if constexpr (T == Kv::BF16) {
        return __bfloat162float(static_cast<const __nv_bfloat16*>(base)[row * stride + col]);
    } else {  // blocks of 32: an fp16 scale, 32 int8 values
        const uint8_t* blk =
            static_cast<const uint8_t*>(base) + row * (stride / 32 * 34) + (col / 32) * 34;
        return ld_half(blk) * static_cast<float>(static_cast<int8_t>(blk[2 + col % 32]));
    }
}

// One warp per 32-value group of a row: F16/BF16 round to nearest even; Q8_0 scales by the
// group's largest magnitude / 127 and rounds half away from zero, as the CPU reference does.
__global__ void kv_store_kernel(const float* src, int64_t rows, int64_t cols, void* dst,
                                TensorType type) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    const int64_t n = rows * cols;
    if (type == TensorType::Q8_0) {
        // Warp-uniform: every lane of a warp is in the same block (cols is a multiple of 32).
        const int64_t base = i / 32 * 32;
        if (base >= n) return;
        const float x = src[i];
        float amax = fabsf(x);
        for (int o = 16; o > 0; o /= 2) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        const int64_t blk = i / 32;  // blocks run on across rows: a row is whole blocks
        auto* b = static_cast<uint8_t*>(dst) + blk * 34;
        if (i % 32 == 0) *reinterpret_cast<__half*>(b) = __float2half_rn(d);
        b[2 + i % 32] = static_cast<uint8_t>(static_cast<int8_t>(roundf(x * id)));
        return;
    }
    if (i >= n) return;
    if (type == TensorType::F16)
        static_cast<__half*>(dst)[i] = __float2half_rn(src[i]);
    else if (type == TensorType::BF16)
        static_cast<__nv_bfloat16*>(dst)[i] = __float2bfloat16_rn(src[i]);
    else
        static_cast<float*>(dst)[i] = src[i];
}

constexpr int kSplitWarps = 4;
constexpr int kTileQ = 16, kTileK = 32, kTileWarps = 4, kQPerWarp = kTileQ / kTileWarps;

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// One row of a tile kernel (a query of the prefill tile, a head of the group tile) folds in the
// kTileK keys of the tile in shared memory: lane j scores key j against the row (DK values; key j
// at ks + j * k_row), the row's online softmax state (m, l, o) is rescaled and the tile's values
// (v_row apart, D wide) added with their weights. `valid`: key j is visible to the row. A tile
// with no visible key leaves the state as it is. ps: the warp's kTileK floats of shared memory.
template <int PV>
__device__ __forceinline__ void fold_tile(const float* qr, const float* ks, int k_row, int DK,
                                          const float* vs, int v_row, int D, bool valid, float* ps,
                                          float& m, float& l, float (&o)[PV]) {
    const int lane = threadIdx.x % 32;
    float s = -INFINITY;
    if (valid) {
        const float* kr = ks + lane * k_row;
        float acc = 0.0f;
        for (int d = 0; d < DK; ++d) acc += qr[d] * kr[d];
        s = acc;
    }
    const float tile_max = warp_max(s);
    if (tile_max == -INFINITY) return;  // no visible key in this tile (warp-uniform)
    const float m_new = fmaxf(m, tile_max);
    const float alpha = expf(m - m_new);
    const float p = valid ? expf(s - m_new) : 0.0f;
    l = l * alpha + warp_sum(p);
    ps[lane] = p;
    __syncwarp();
#pragma unroll
    for (int i = 0; i < PV; ++i) {
        const int d = lane + 32 * i;
        float acc = o[i] * alpha;
        if (d < D)
            for (int j = 0; j < kTileK; ++j) acc += ps[j] * vs[j * v_row + d];
        o[i] = acc;
    }
    __syncwarp();
    m = m_new;
}

// Per (split, head, token): partial softmax state of positions [split*chunk, ...) written as
// [m, l, o[0..dv)] to part. PA: floats per lane of the A part (da = dv <= 32 PA), PB of B.
template <int PA, int PB, Kv T>
__global__ void __launch_bounds__(32 * kSplitWarps)
    attn_split_kernel(const AttnArgs a, int64_t chunk, int n_split, float* part) {
    const int split = blockIdx.x, h = blockIdx.y;
    const int64_t t = blockIdx.z;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int64_t n_kv = a.pos0 + t + 1;
    const int64_t j0 = split * chunk, j1 = min(n_kv, j0 + chunk);
    const int64_t g = h / a.group;

    float qa[PA], qb[PB > 0 ? PB : 1], o[PA];
    const float* qap = a.qa + t * a.q_stride + h * a.q_head;
#pragma unroll
    for (int i = 0; i < PA; ++i) {
        const int d = lane + 32 * i;
        qa[i] = d < a.da ? qap[d] * a.scale : 0.0f;
        o[i] = 0.0f;
    }
    if constexpr (PB > 0) {
        const float* qbp = a.qb + t * a.qb_stride + h * a.qb_head;
#pragma unroll
        for (int i = 0; i < PB; ++i) {
            const int d = lane + 32 * i;
            qb[i] = d < a.db ? qbp[d] * a.scale : 0.0f;
        }
    }
    float m = -INFINITY, l = 0.0f;
    for (int64_t j = j0 + warp; j < j1; j += kSplitWarps) {
        float partial = 0.0f;
#pragma unroll
        for (int i = 0; i < PA; ++i) {
            const int d = lane + 32 * i;
            if (d < a.da) partial += qa[i] * kv_ld<T>(a.ka, j, a.ka_stride, g * a.kv_head + d);
        }
        if constexpr (PB > 0) {
#pragma unroll
            for (int i = 0; i < PB; ++i) {
                const int d = lane + 32 * i;
                if (d < a.db) partial += qb[i] * kv_ld<T>(a.kb, j, a.kb_stride, g * a.kb_head + d);
            }
        }
        const float s = warp_sum(partial);
        const float m_new = fmaxf(m, s);
        const float alpha = expf(m - m_new), p = expf(s - m_new);
        l = l * alpha + p;
#pragma unroll
        for (int i = 0; i < PA; ++i) {
            const int d = lane + 32 * i;
            o[i] = o[i] * alpha +
                   (d < a.dv ? p * kv_ld<T>(a.v, j, a.v_stride, g * a.kv_head + d) : 0.0f);
        }
        m = m_new;
    }

    // Merge the warps' states through shared memory.
    __shared__ float sm_m[kSplitWarps], sm_l[kSplitWarps];
    __shared__ float sm_o[kSplitWarps][32 * PA];
    if (lane == 0) sm_m[warp] = m, sm_l[warp] = l;
#pragma unroll
    for (int i = 0; i < PA; ++i) sm_o[warp][lane + 32 * i] = o[i];
    __syncthreads();
    float M = -INFINITY;
    for (int w = 0; w < kSplitWarps; ++w) M = fmaxf(M, sm_m[w]);
    float* dst = part + ((t * a.n_head + h) * n_split + split) * (a.dv + 2);
    float f[kSplitWarps];
    float L = 0.0f;
    for (int w = 0; w < kSplitWarps; ++w) {
        f[w] = M == -INFINITY ? 0.0f : expf(sm_m[w] - M);  // an empty warp has m = -inf: 0
        L += sm_l[w] * f[w];
    }
    if (threadIdx.x == 0) dst[0] = M, dst[1] = L;
    for (int d = threadIdx.x; d < a.dv; d += blockDim.x) {
        float acc = 0.0f;
        for (int w = 0; w < kSplitWarps; ++w) acc += sm_o[w][d] * f[w];
        dst[2 + d] = acc;
    }
}

// The values are the keys' first dv columns (MLA: c_kv is both): the group kernel's K tile is
// also its V tile. The host sizes shared memory by it, the kernel lays the tiles out by it.
__host__ __device__ bool group_v_in_k(const AttnArgs& a) {
    return a.v == a.ka && a.v_stride == a.ka_stride && a.dv <= a.da;
}

// Per (split, tile of heads, token): the partial softmax states of up to kTileQ heads of one KV
// group (blockIdx.y = group * tiles + tile) for positions [split*chunk, ...), written as
// attn_split_kernel writes them. Query and key rows are DK = da + db wide (MLA: the latent, then
// the rope part); values are dv <= 32 PV wide. When the values are the keys' first dv columns
// (MLA: c_kv is both), the K tile serves as the V tile. Warp w owns heads w, w+4, w+8, w+12, so
// a small group still spreads over the warps. Shared memory: Q [kTileQ][DK] (scaled), K
// [kTileK][DK+1] (padded: lane j reads row j), V [kTileK][dv] unless shared, P [warps][kTileK].
template <int PV, Kv T>
__global__ void __launch_bounds__(32 * kTileWarps)
    attn_group_kernel(const AttnArgs a, int64_t chunk, int n_split, int tiles, float* part) {
    extern __shared__ float smem[];
    const int DK = a.da + a.db, D = a.dv;
    const bool v_in_k = group_v_in_k(a);
    float* qs = smem;
    float* ks = qs + kTileQ * DK;
    float* vs = v_in_k ? ks : ks + kTileK * (DK + 1);
    const int v_row = v_in_k ? DK + 1 : D;
    float* ps = vs + (v_in_k ? kTileK * (DK + 1) : kTileK * D);
    const int split = blockIdx.x, lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int64_t g = blockIdx.y / tiles;
    const int h0 = static_cast<int>(g * a.group + (blockIdx.y % tiles) * kTileQ);
    const int rows = min(kTileQ, static_cast<int>(g * a.group + a.group) - h0);
    const int64_t t = blockIdx.z;
    const int64_t n_kv = a.pos0 + t + 1;
    const int64_t j0 = split * chunk, j1 = min(n_kv, j0 + chunk);

    for (int idx = threadIdx.x; idx < kTileQ * DK; idx += blockDim.x) {
        const int r = idx / DK, d = idx % DK;
        float x = 0.0f;
        if (r < rows)
            x = d < a.da ? a.qa[t * a.q_stride + (h0 + r) * a.q_head + d]
                         : a.qb[t * a.qb_stride + (h0 + r) * a.qb_head + (d - a.da)];
        qs[idx] = x * a.scale;
    }
    float m[kQPerWarp], l[kQPerWarp], o[kQPerWarp][PV];
#pragma unroll
    for (int qi = 0; qi < kQPerWarp; ++qi) {
        m[qi] = -INFINITY;
        l[qi] = 0.0f;
#pragma unroll
        for (int i = 0; i < PV; ++i) o[qi][i] = 0.0f;
    }
    for (int64_t kb = j0; kb < j1; kb += kTileK) {
        __syncthreads();  // the previous tile is no longer read (and Q is written, first time)
        for (int idx = threadIdx.x; idx < kTileK * DK; idx += blockDim.x) {
            const int j = idx / DK, d = idx % DK;
            const int64_t pos = kb + j;
            float x = 0.0f;
            if (pos < j1)
                x = d < a.da ? kv_ld<T>(a.ka, pos, a.ka_stride, g * a.kv_head + d)
                             : kv_ld<T>(a.kb, pos, a.kb_stride, g * a.kb_head + (d - a.da));
            ks[j * (DK + 1) + d] = x;
        }
        if (!v_in_k)
            for (int idx = threadIdx.x; idx < kTileK * D; idx += blockDim.x) {
                const int j = idx / D, d = idx % D;
                const int64_t pos = kb + j;
                vs[idx] = pos < j1 ? kv_ld<T>(a.v, pos, a.v_stride, g * a.kv_head + d) : 0.0f;
            }
        __syncthreads();
        const bool valid = kb + lane < j1;  // the same for every head of the token
#pragma unroll
        for (int qi = 0; qi < kQPerWarp; ++qi) {
            const int row = warp + kTileWarps * qi;
            if (row >= rows) break;  // warp-uniform
            fold_tile<PV>(qs + row * DK, ks, DK + 1, DK, vs, v_row, D, valid, ps + warp * kTileK,
                          m[qi], l[qi], o[qi]);
        }
    }
#pragma unroll
    for (int qi = 0; qi < kQPerWarp; ++qi) {
        const int row = warp + kTileWarps * qi;
        if (row >= rows) break;
        // An empty split (j0 >= j1) leaves m = -inf, l = 0: the merge skips it.
        float* dst = part + ((t * a.n_head + h0 + row) * n_split + split) * (a.dv + 2);
        if (lane == 0) dst[0] = m[qi], dst[1] = l[qi];
#pragma unroll
        for (int i = 0; i < PV; ++i) {
            const int d = lane + 32 * i;
            if (d < D) dst[2 + d] = o[qi][i];
        }
    }
}

// Per (head, token): merges the n_split partial states into the output row.
__global__ void attn_merge_kernel(const AttnArgs a, int n_split, const float* part) {
    const int h = blockIdx.x;
    const int64_t t = blockIdx.y;
    const float* src = part + (t * a.n_head + h) * n_split * (a.dv + 2);
    float M = -INFINITY;
    for (int s = 0; s < n_split; ++s) M = fmaxf(M, src[s * (a.dv + 2)]);
    float L = 0.0f;
    for (int s = 0; s < n_split; ++s) {
        const float ms = src[s * (a.dv + 2)];
        if (ms != -INFINITY) L += src[s * (a.dv + 2) + 1] * expf(ms - M);
    }
    float* out = a.out + t * a.out_stride + h * a.out_head;
    for (int d = threadIdx.x; d < a.dv; d += blockDim.x) {
        float acc = 0.0f;
        for (int s = 0; s < n_split; ++s) {
            const float ms = src[s * (a.dv + 2)];
            if (ms != -INFINITY) acc += src[s * (a.dv + 2) + 2 + d] * expf(ms - M);
        }
        out[d] = acc / L;  // L > 0: position 0 is always visible
    }
}

// Tiled prefill for standard heads (db == 0, da == dv = D <= 32 PV). Block: kTileQ queries of
// head blockIdx.y starting at token blockIdx.x * kTileQ; warp w owns queries w*4 .. w*4+3.
// Shared memory: Q [kTileQ][D] (scaled), K [kTileK][D+1] (padded: lane j reads row j, no bank
// conflicts), V [kTileK][D], P [kTileWarps][kTileK].
template <int PV, Kv T>
__global__ void __launch_bounds__(32 * kTileWarps) attn_tiled_kernel(const AttnArgs a) {
    extern __shared__ float smem[];
    const int D = a.dv;
    float* qs = smem;
    float* ks = qs + kTileQ * D;
    float* vs = ks + kTileK * (D + 1);
    float* ps = vs + kTileK * D;
    const int h = blockIdx.y, lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int64_t q0 = static_cast<int64_t>(blockIdx.x) * kTileQ;
    const int64_t g = h / a.group;
    const int64_t q_end = min(a.n_tok, q0 + kTileQ);
    const int64_t kv_end = a.pos0 + q_end;  // the last query's position + 1

    for (int idx = threadIdx.x; idx < kTileQ * D; idx += blockDim.x) {
        const int64_t tq = q0 + idx / D;
        qs[idx] = tq < a.n_tok ? a.qa[tq * a.q_stride + h * a.q_head + idx % D] * a.scale : 0.0f;
    }
    float m[kQPerWarp], l[kQPerWarp], o[kQPerWarp][PV];
#pragma unroll
    for (int qi = 0; qi < kQPerWarp; ++qi) {
        m[qi] = -INFINITY;
        l[qi] = 0.0f;
#pragma unroll
        for (int i = 0; i < PV; ++i) o[qi][i] = 0.0f;
    }
    for (int64_t kb = 0; kb < kv_end; kb += kTileK) {
        __syncthreads();  // the previous tile is no longer read (and Q is written, first time)
        for (int idx = threadIdx.x; idx < kTileK * D; idx += blockDim.x) {
            const int j = idx / D, d = idx % D;
            const int64_t pos = kb + j;
            const bool in = pos < kv_end;
            ks[j * (D + 1) + d] = in ? kv_ld<T>(a.ka, pos, a.ka_stride, g * a.kv_head + d) : 0.0f;
            vs[j * D + d] = in ? kv_ld<T>(a.v, pos, a.v_stride, g * a.kv_head + d) : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int qi = 0; qi < kQPerWarp; ++qi) {
            const int row = warp * kQPerWarp + qi;
            const int64_t tq = q0 + row;
            if (tq >= a.n_tok) break;                     // warp-uniform
            const bool valid = kb + lane <= a.pos0 + tq;  // causal (and within kv_end)
            fold_tile<PV>(qs + row * D, ks, D + 1, D, vs, D, D, valid, ps + warp * kTileK, m[qi],
                          l[qi], o[qi]);
        }
    }
#pragma unroll
    for (int qi = 0; qi < kQPerWarp; ++qi) {
        const int64_t tq = q0 + warp * kQPerWarp + qi;
        if (tq >= a.n_tok) break;
        float* out = a.out + tq * a.out_stride + h * a.out_head;
#pragma unroll
        for (int i = 0; i < PV; ++i) {
            const int d = lane + 32 * i;
            if (d < D) out[d] = o[qi][i] / l[qi];
        }
    }
}

int per_lane(int d) { return d <= 32 ? 1 : d <= 64 ? 2 : d <= 128 ? 4 : d <= 256 ? 8 : 16; }

bool use_tiled(const AttnArgs& a) {
    return a.db == 0 && a.da == a.dv && a.dv <= 256 && a.n_tok >= kTileQ;
}

int group_tiles(const AttnArgs& a) { return (a.group + kTileQ - 1) / kTileQ; }

size_t group_smem(const AttnArgs& a) {
    const int64_t dk = a.da + a.db;
    return sizeof(float) *
           static_cast<size_t>(kTileQ * dk + kTileK * (dk + 1) +
                               (group_v_in_k(a) ? 0 : kTileK * a.dv) + kTileWarps * kTileK);
}

// The largest dynamic shared memory a block of the current device may opt in to.
size_t max_smem() {
    static const size_t bytes = [] {
        int dev = 0, v = 48 * 1024;
        if (cudaGetDevice(&dev) != cudaSuccess ||
            cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess)
            v = 48 * 1024;
        return static_cast<size_t>(v);
    }();
    return bytes;
}

// Heads that share a KV head go through attn_group_kernel when their tiles fit the device.
bool use_group(const AttnArgs& a) {
    return !use_tiled(a) && a.group >= 2 && a.group <= a.n_head && a.n_head % a.group == 0 &&
           group_smem(a) <= max_smem();
}

// Splits over positions: enough blocks to fill the GPU (~4 per SM on a 132-SM part) when each
// split makes `per_split` blocks, chunks of at least 64 positions, a multiple of `align`.
void split_shape(const AttnArgs& a, int64_t per_split, int64_t align, int& n_split,
                 int64_t& chunk) {
    const int64_t max_kv = a.pos0 + a.n_tok;
    const int64_t want = std::max<int64_t>(1, 528 / std::max<int64_t>(1, per_split));
    const int64_t most = std::max<int64_t>(1, (max_kv + 63) / 64);
    const int64_t n = std::min({want, most, int64_t{1024}});
    chunk = ((max_kv + n - 1) / n + align - 1) / align * align;
    n_split = static_cast<int>((max_kv + chunk - 1) / chunk);
}

// The split of the kernel that serves `a` (the group kernel's chunks are whole K tiles).
void split_of(const AttnArgs& a, int& n_split, int64_t& chunk) {
    if (use_group(a))
        split_shape(a, int64_t{a.n_head / a.group} * group_tiles(a) * a.n_tok, kTileK, n_split,
                    chunk);
    else
        split_shape(a, int64_t{a.n_head} * a.n_tok, 1, n_split, chunk);
}

template <int PV, Kv T>
void launch_tiled(const AttnArgs& a, cudaStream_t s) {
    const size_t smem =
        sizeof(float) * (kTileQ * a.dv + kTileK * (a.dv + 1) + kTileK * a.dv + kTileWarps * kTileK);
    // Above 48 KiB a kernel must opt in; setting the attribute is cheap and idempotent.
    GB_CUDA_CHECK("attention", cudaFuncSetAttribute(attn_tiled_kernel<PV, T>,
                                                    cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                    static_cast<int>(smem)));
    const dim3 grid(static_cast<unsigned>((a.n_tok + kTileQ - 1) / kTileQ),
                    static_cast<unsigned>(a.n_head));
    attn_tiled_kernel<PV, T><<<grid, 32 * kTileWarps, smem, s>>>(a);
}

template <int PV, Kv T>
void launch_group(const AttnArgs& a, float* scratch, cudaStream_t s) {
    int n_split;
    int64_t chunk;
    split_of(a, n_split, chunk);
    const size_t smem = group_smem(a);
    GB_CUDA_CHECK("attention", cudaFuncSetAttribute(attn_group_kernel<PV, T>,
                                                    cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                    static_cast<int>(smem)));
    const int tiles = group_tiles(a);
    const dim3 grid(static_cast<unsigned>(n_split),
                    static_cast<unsigned>(a.n_head / a.group * tiles),
                    static_cast<unsigned>(a.n_tok));
    attn_group_kernel<PV, T><<<grid, 32 * kTileWarps, smem, s>>>(a, chunk, n_split, tiles, scratch);
    GB_CUDA_CHECK_LAUNCH("attention");
    attn_merge_kernel<<<dim3(static_cast<unsigned>(a.n_head), static_cast<unsigned>(a.n_tok)), 128,
                        0, s>>>(a, n_split, scratch);
}

template <int PA, int PB, Kv T>
void launch_split(const AttnArgs& a, float* scratch, cudaStream_t s) {
    int n_split;
    int64_t chunk;
    split_of(a, n_split, chunk);
    const dim3 grid(static_cast<unsigned>(n_split), static_cast<unsigned>(a.n_head),
                    static_cast<unsigned>(a.n_tok));
    attn_split_kernel<PA, PB, T><<<grid, 32 * kSplitWarps, 0, s>>>(a, chunk, n_split, scratch);
    GB_CUDA_CHECK_LAUNCH("attention");
    attn_merge_kernel<<<dim3(static_cast<unsigned>(a.n_head), static_cast<unsigned>(a.n_tok)), 128,
                        0, s>>>(a, n_split, scratch);
}

template <int PA, Kv T>
void launch_split_pb(const AttnArgs& a, float* scratch, cudaStream_t s) {
    const char* op = "attention";
    if (a.db == 0) return launch_split<PA, 0, T>(a, scratch, s);
    if (a.db <= 32) return launch_split<PA, 1, T>(a, scratch, s);
    if (a.db <= 64) return launch_split<PA, 2, T>(a, scratch, s);
    require(false, op, "rope part of " + std::to_string(a.db) + " dims exceeds 64");
}

}  // namespace

int64_t attention_scratch_floats(const AttnArgs& a) {
    if (use_tiled(a)) return 0;
    int n_split;
    int64_t chunk;
    split_of(a, n_split, chunk);
    return a.n_tok * a.n_head * n_split * (a.dv + 2);
}

namespace {

template <Kv T>
void launch_typed(const AttnArgs& a, float* scratch, cudaStream_t s) {
    if (use_tiled(a)) {
        switch (per_lane(a.dv)) {
            case 1: launch_tiled<1, T>(a, s); break;
            case 2: launch_tiled<2, T>(a, s); break;
            case 4: launch_tiled<4, T>(a, s); break;
            default: launch_tiled<8, T>(a, s); break;
        }
    } else if (use_group(a)) {
        switch (per_lane(a.dv)) {
            case 1: launch_group<1, T>(a, scratch, s); break;
            case 2: launch_group<2, T>(a, scratch, s); break;
            case 4: launch_group<4, T>(a, scratch, s); break;
            case 8: launch_group<8, T>(a, scratch, s); break;
            default: launch_group<16, T>(a, scratch, s); break;
        }
    } else {
        switch (per_lane(a.dv)) {
            case 1: launch_split_pb<1, T>(a, scratch, s); break;
            case 2: launch_split_pb<2, T>(a, scratch, s); break;
            case 4: launch_split_pb<4, T>(a, scratch, s); break;
            case 8: launch_split_pb<8, T>(a, scratch, s); break;
            default: launch_split_pb<16, T>(a, scratch, s); break;
        }
    }
}

}  // namespace

void launch_attention(const AttnArgs& a, float* scratch, cudaStream_t s) {
    const char* op = "attention";
    if (a.n_tok == 0) return;
    require(a.n_tok <= 65535 && a.n_head <= 65535, op, "too many tokens or heads for one launch");
    require(a.da >= 1 && a.da == a.dv && a.dv <= 512, op,
            "key/value widths " + std::to_string(a.da) + "/" + std::to_string(a.dv) +
                " unsupported (equal, at most 512)");
    switch (a.kv_type) {
        case TensorType::F32: launch_typed<Kv::F32>(a, scratch, s); break;
        case TensorType::F16: launch_typed<Kv::F16>(a, scratch, s); break;
        case TensorType::BF16: launch_typed<Kv::BF16>(a, scratch, s); break;
        case TensorType::Q8_0: launch_typed<Kv::Q8_0>(a, scratch, s); break;
        default:
            require(false, op, "a KV cache of " + std::string(type_name(a.kv_type)) + " values");
    }
    GB_CUDA_CHECK_LAUNCH(op);
}

void launch_kv_store(const float* src, int64_t rows, int64_t cols, void* dst, TensorType type,
                     cudaStream_t s) {
    const int64_t n = rows * cols;
    if (n == 0) return;
    const int64_t blocks = (n + 255) / 256;
    require(blocks <= INT_MAX, "kv_store", "too many values for one launch");
    kv_store_kernel<<<static_cast<unsigned>(blocks), 256, 0, s>>>(src, rows, cols, dst, type);
    GB_CUDA_CHECK_LAUNCH("kv_store");
}

}  // namespace gb::cuda
