// Decode matrix-vector products for every weight type, dequantising in registers.
// Bandwidth: at batch 1 each weight byte is read once and used for one multiply-add, so the op
// is bound by streaming W (0.56 B/weight for Q4_K, 1.06 for Q8_0); x is shared by every row and
// is served from L1/L2. One warp per output row: lane i decodes 8 consecutive weights (chunk i,
// then i+32, ...), so a warp reads a contiguous run of the row per step (one Q4_K super-block,
// eight Q8_0 blocks) and the row streams through in order; x comes in as two float4 per chunk.
// Four chunks per lane are in flight per step (loads first, then math) to hide DRAM latency.
// Up to 8 activation vectors share one pass over W (small prompt batches), and the same kernel
// serves the MoE experts and MLA's per-head products through the slot -> matrix mapping.
#include <algorithm>
#include <climits>

#include "kernels/cuda/backend_kernels.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/quant_device.cuh"
#include "kernels/cuda/warp_reduce.cuh"

namespace gb::cuda {
namespace {

constexpr int kWarps = 4;   // output rows per CUDA block
constexpr int kUnroll = 4;  // chunks per lane per step

__device__ __forceinline__ float dot8(const float* v, const float* x) {
    const float4 a = *reinterpret_cast<const float4*>(x);
    const float4 b = *reinterpret_cast<const float4*>(x + 4);
    return v[0] * a.x + v[1] * a.y + v[2] * a.z + v[3] * a.w + v[4] * b.x + v[5] * b.y +
           v[6] * b.z + v[7] * b.w;
}

template <TensorType T, int NX>
__global__ void __launch_bounds__(32 * kWarps) matvec_kernel(const MatvecArgs a) {
    const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
    if (row >= a.rows) return;  // whole warps leave together: the shuffles below stay full
    const int lane = threadIdx.x % 32;
    const int64_t s0 = a.slot0 + static_cast<int64_t>(blockIdx.y) * NX;
    const int64_t m = a.ids ? a.ids[s0] : s0 % a.m_mod;
    const auto* wr =
        static_cast<const uint8_t*>(a.w) + m * a.mat_bytes + (a.row0 + row) * a.row_bytes;
    const float* xs[NX];
    int nx = 0;
#pragma unroll
    for (int k = 0; k < NX; ++k) {
        const bool valid = s0 + k < a.n_slot;
        xs[k] = a.x + ((valid ? s0 + k : s0) / a.x_div) * a.x_stride;
        nx += valid;
    }
    float acc[NX];
#pragma unroll
    for (int k = 0; k < NX; ++k) acc[k] = 0.0f;

    if constexpr (kPlain<T>) {
        for (int64_t i = lane; i < a.cols; i += 32) {
            const float wv = plain_at<T>(wr, i);
#pragma unroll
            for (int k = 0; k < NX; ++k) acc[k] += wv * xs[k][i];
        }
    } else {
        using Q = Quant<T>;
        constexpr int kChunks = Q::kBlock / 8;  // chunks per block
        const int64_t n_chunks = a.cols / 8;
        for (int64_t c0 = lane; c0 < n_chunks; c0 += 32 * kUnroll) {
            float v[kUnroll][8];
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) {
                const int64_t c = c0 + 32 * u;
                if (c < n_chunks)
                    Q::dequant8(wr + (c / kChunks) * Q::kBytes, static_cast<int>(c % kChunks),
                                v[u]);
            }
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) {
                const int64_t c = c0 + 32 * u;
                if (c >= n_chunks) break;
#pragma unroll
                for (int k = 0; k < NX; ++k) acc[k] += dot8(v[u], xs[k] + 8 * c);
            }
        }
    }
#pragma unroll
    for (int k = 0; k < NX; ++k) {
        const float sum = warp_sum(acc[k]);
        if (lane == 0 && k < nx) a.out[(s0 + k) * a.out_stride + row] = sum;
    }
}

// Slots in launches of at most 65535 groups (the grid's y limit), each starting at slot0.
template <TensorType T, int NX>
void launch_nx(MatvecArgs a, cudaStream_t s) {
    const int64_t per_launch = int64_t{65535} * NX;
    for (int64_t first = 0; first < a.n_slot; first += per_launch) {
        a.slot0 = first;
        const int64_t groups = (std::min(a.n_slot - first, per_launch) + NX - 1) / NX;
        const dim3 grid(static_cast<unsigned>((a.rows + kWarps - 1) / kWarps),
                        static_cast<unsigned>(groups));
        matvec_kernel<T, NX><<<grid, 32 * kWarps, 0, s>>>(a);
    }
}

}  // namespace

void launch_matvec(const MatvecArgs& a, cudaStream_t s) {
    const char* op = "matmul";
    if (a.rows == 0 || a.n_slot == 0) return;
    require(a.rows <= static_cast<int64_t>(INT_MAX), op, "too many rows");
    const bool shared = a.ids == nullptr && a.m_mod == 1;
    const int64_t nx = shared ? a.n_slot : 1;
    const bool ok = dispatch_type(a.type, [&](auto tag) {
        constexpr TensorType T = decltype(tag)::value;
        if (nx >= 5)
            launch_nx<T, 8>(a, s);
        else if (nx >= 3)
            launch_nx<T, 4>(a, s);
        else if (nx == 2)
            launch_nx<T, 2>(a, s);
        else
            launch_nx<T, 1>(a, s);
    });
    require(ok, op, "no CUDA matvec for tensor type " + std::string(type_name(a.type)));
    GB_CUDA_CHECK_LAUNCH(op);
}

}  // namespace gb::cuda
