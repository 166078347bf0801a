// Hand-run micro-benchmark of the CUDA ops on device-resident data: prints time per call and the
// achieved bandwidth (memory-bound ops) or TFLOP/s (GEMM) beside the device's peak bandwidth.
// Usage: gb_cuda_bench [iterations]. Not a test: it asserts nothing.
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include "kernels/cuda/cuda_device.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/error.h"

namespace {

void* device_zeros(size_t bytes) {
    void* p = nullptr;
    if (cudaMalloc(&p, bytes) != cudaSuccess || cudaMemset(p, 0, bytes) != cudaSuccess)
        throw gb::Error("bench: cudaMalloc of " + std::to_string(bytes) + " bytes failed");
    return p;
}

// Mean milliseconds per call of fn over iters calls, after one warm-up call.
double time_ms(gb::cuda::Context& ctx, int iters, const std::function<void()>& fn) {
    auto s = static_cast<cudaStream_t>(ctx.stream());
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    fn();
    cudaEventRecord(a, s);
    for (int i = 0; i < iters; ++i) fn();
    cudaEventRecord(b, s);
    ctx.synchronize("bench");
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    return ms / iters;
}

}  // namespace

int main(int argc, char** argv) {
    const int iters = argc > 1 ? std::atoi(argv[1]) : 200;
    std::string why;
    if (!gb::cuda::cuda_available(&why)) {
        std::printf("no CUDA device: %s\n", why.c_str());
        return 0;
    }
    try {
        const gb::cuda::DeviceInfo info = gb::cuda::device_info(0);
        std::printf("%s: sm_%d%d, %d SMs, peak ~%.0f GB/s\n", info.name.c_str(), info.cc_major,
                    info.cc_minor, info.sm_count, info.memory_bandwidth_gbs);
        gb::cuda::Context ctx;

        // Decode-sized rmsnorm: 1 row and 64 rows of 4096.
        for (int64_t rows : {1, 64}) {
            const int64_t cols = 4096;
            auto* x = static_cast<float*>(device_zeros(rows * cols * 4));
            auto* w = static_cast<float*>(device_zeros(cols * 4));
            const double ms =
                time_ms(ctx, iters, [&] { gb::cuda::rmsnorm(ctx, x, w, rows, cols, 1e-6f, x); });
            std::printf("rmsnorm     %5lld x %-6lld %8.4f ms  %7.1f GB/s\n", (long long)rows,
                        (long long)cols, ms, 2.0 * rows * cols * 4 / (ms * 1e6));
            cudaFree(x);
            cudaFree(w);
        }
        // Q8_0 matvec, a 7B-class FFN projection (11008 x 4096) and a square 4096.
        for (auto [rows, cols] : {std::pair<int64_t, int64_t>{4096, 4096}, {11008, 4096}}) {
            void* w = device_zeros(rows * cols / 32 * 34);
            auto* x = static_cast<float*>(device_zeros(cols * 4));
            auto* y = static_cast<float*>(device_zeros(rows * 4));
            const double ms =
                time_ms(ctx, iters, [&] { gb::cuda::matvec_q8_0(ctx, w, rows, cols, x, y); });
            std::printf("matvec_q8_0 %5lld x %-6lld %8.4f ms  %7.1f GB/s (weights)\n",
                        (long long)rows, (long long)cols, ms, rows * cols / 32 * 34 / (ms * 1e6));
            cudaFree(w);
            cudaFree(x);
            cudaFree(y);
        }
        // F16 GEMM, a 512-token prefill through a 4096 x 4096 projection.
        {
            const int64_t n = 4096, k = 4096, m = 512;
            auto* w = static_cast<uint16_t*>(device_zeros(n * k * 2));
            auto* x = static_cast<float*>(device_zeros(m * k * 4));
            auto* xh = static_cast<uint16_t*>(device_zeros(m * k * 2));
            auto* out = static_cast<float*>(device_zeros(m * n * 4));
            const double ms = time_ms(ctx, iters / 10 + 1,
                                      [&] { gb::cuda::gemm_f16(ctx, w, n, k, x, m, xh, out); });
            std::printf("gemm_f16    %lldx%lldx%lld %8.4f ms  %7.1f TFLOP/s\n", (long long)m,
                        (long long)n, (long long)k, ms, 2.0 * m * n * k / (ms * 1e9));
            cudaFree(w);
            cudaFree(x);
            cudaFree(xh);
            cudaFree(out);
        }
    } catch (const gb::Error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
    return 0;
}
