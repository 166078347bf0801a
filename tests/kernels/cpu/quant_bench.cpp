// Throughput of the quant kernels: vec_dot over a 4096x4096 weight matrix row by row on one
// thread (the decode matmul), precise mode's vec_dot_precise (the activations split once), and
// dequantize_row over the same matrix. Reports weight GB/s.
// Run: quant_bench [--benchmark_filter=Q4_K]; _ref variants time the scalar reference.
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/half.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/quant_ref.h"

namespace gb::cpu {
namespace {

constexpr int64_t kRows = 4096, kCols = 4096;

// Random codes with small, valid fp16 scales (random bits could make inf/NaN scales).
std::vector<uint8_t> random_matrix(TensorType t) {
    std::mt19937 rng(42);
    const size_t rb = row_bytes(t, kCols);
    std::vector<uint8_t> m(rb * kRows);
    for (auto& b : m) b = static_cast<uint8_t>(rng());
    const TypeInfo& ti = type_info(t);
    std::normal_distribution<float> nd(0.0f, 0.02f);
    auto put_f16 = [&](size_t off) {
        const uint16_t h = float_to_fp16(nd(rng));
        std::memcpy(m.data() + off, &h, 2);
    };
    if (ti.block_size == 1) {
        for (size_t i = 0; i < m.size(); i += ti.block_bytes) {
            const float v = nd(rng);
            if (t == TensorType::F32)
                std::memcpy(m.data() + i, &v, 4);
            else {
                const uint16_t h = t == TensorType::F16 ? float_to_fp16(v) : float_to_bf16(v);
                std::memcpy(m.data() + i, &h, 2);
            }
        }
        return m;
    }
    for (size_t off = 0; off < m.size(); off += ti.block_bytes) {
        if (t == TensorType::Q6_K) {
            put_f16(off + ti.block_bytes - 2);
            continue;
        }
        put_f16(off);
        if (t != TensorType::Q4_0 && t != TensorType::Q5_0 && t != TensorType::Q8_0)
            put_f16(off + 2);
    }
    return m;
}

template <bool kRef>
void BM_vec_dot(benchmark::State& state, TensorType t) {
    const std::vector<uint8_t> w = random_matrix(t);
    std::vector<float> x(kCols);
    std::mt19937 rng(1);
    std::normal_distribution<float> nd;
    for (auto& v : x) v = nd(rng);
    const TensorType dt = vec_dot_type(t);
    std::vector<uint8_t> xq(row_bytes(dt, kCols));
    quantize_row(dt, x.data(), xq.data(), kCols);
    const size_t rb = row_bytes(t, kCols);
    std::vector<float> out(kRows);
    for (auto _ : state) {
        for (int64_t r = 0; r < kRows; ++r)
            out[r] = kRef ? ref::vec_dot(t, kCols, w.data() + r * rb, xq.data())
                          : vec_dot(t, kCols, w.data() + r * rb, xq.data());
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                            static_cast<int64_t>(w.size()));
}

// Precise mode's product: the same matrix against unrounded activations (vec_dot_precise), to
// set against vec_dot's: the weight GB/s both stream at on one thread.
void BM_vec_dot_precise(benchmark::State& state, TensorType t) {
    const std::vector<uint8_t> w = random_matrix(t);
    std::vector<float> x(kCols);
    std::mt19937 rng(1);
    std::normal_distribution<float> nd;
    for (auto& v : x) v = nd(rng);
    const size_t rb = row_bytes(t, kCols);
    std::vector<float> out(kRows);
    PreciseActs xp;
    xp.assign(x.data(), kCols, 1, kCols, has_precise_int_dot(t));
    for (auto _ : state) {
        for (int64_t r = 0; r < kRows; ++r)
            out[r] = vec_dot_precise(t, kCols, w.data() + r * rb, xp, 0);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                            static_cast<int64_t>(w.size()));
}

void BM_dequantize(benchmark::State& state, TensorType t) {
    const std::vector<uint8_t> w = random_matrix(t);
    const size_t rb = row_bytes(t, kCols);
    std::vector<float> out(kCols);
    for (auto _ : state) {
        for (int64_t r = 0; r < kRows; ++r) {
            dequantize_row(t, w.data() + r * rb, out.data(), kCols);
            benchmark::DoNotOptimize(out.data());
        }
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                            static_cast<int64_t>(w.size()));
}

void BM_quantize_activation(benchmark::State& state, TensorType t) {
    std::vector<float> x(kCols);
    std::mt19937 rng(1);
    std::normal_distribution<float> nd;
    for (auto& v : x) v = nd(rng);
    std::vector<uint8_t> xq(row_bytes(t, kCols));
    for (auto _ : state) {
        quantize_row(t, x.data(), xq.data(), kCols);
        benchmark::DoNotOptimize(xq.data());
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kCols);
}

const TensorType kTypes[] = {TensorType::Q4_K, TensorType::Q6_K, TensorType::Q8_0, TensorType::Q4_1,
                             TensorType::Q4_0, TensorType::Q5_K, TensorType::Q5_0, TensorType::Q5_1,
                             TensorType::F16,  TensorType::F32,  TensorType::BF16};

[[maybe_unused]] const bool kRegistered = [] {
    for (TensorType t : kTypes) {
        const std::string name(type_name(t));
        benchmark::RegisterBenchmark(("vec_dot/" + name).c_str(), BM_vec_dot<false>, t)
            ->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("vec_dot_ref/" + name).c_str(), BM_vec_dot<true>, t)
            ->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("vec_dot_precise/" + name).c_str(), BM_vec_dot_precise, t)
            ->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("dequantize/" + name).c_str(), BM_dequantize, t)
            ->Unit(benchmark::kMillisecond);
    }
    for (TensorType t : {TensorType::Q8_0, TensorType::Q8_1, TensorType::Q8_K})
        benchmark::RegisterBenchmark(("quantize_row/" + std::string(type_name(t))).c_str(),
                                     BM_quantize_activation, t);
    return true;
}();

}  // namespace
}  // namespace gb::cpu

BENCHMARK_MAIN();
