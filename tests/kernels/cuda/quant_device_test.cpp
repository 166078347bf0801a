// The CUDA kernels' block decoders (kernels/cuda/quant_device.cuh) compiled as host code and
// checked against the CPU reference dequantiser on random blocks of every weight type. Needs
// the CUDA toolkit's headers but no device, so the layouts every CUDA matvec, get_rows and GEMM
// copy depend on are verified on any machine that builds the CUDA backend.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/cpu/quant.h"
#include "tests/kernels/cpu/random_weights.h"

#ifdef GLASSBOX_HAVE_CUDA
#include "kernels/cuda/quant_device.cuh"

namespace gb {
namespace {

// Decodes a whole row chunk by chunk, as the kernels do, and compares with the CPU. The same
// float expressions on both sides; 1e-6 of the row's largest value allows for a compiler that
// fuses d * q - m into one multiply-add.
template <TensorType T>
void check_quant_type() {
    using Q = cuda::Quant<T>;
    SCOPED_TRACE(std::string(type_name(T)));
    static_assert(Q::kBlock % 8 == 0);
    ASSERT_EQ(static_cast<uint32_t>(Q::kBlock), type_info(T).block_size);
    ASSERT_EQ(static_cast<uint32_t>(Q::kBytes), type_info(T).block_bytes);
    const int64_t rows = 4, cols = 1024;
    const auto w = test::random_weights(T, rows, cols, 1234 + static_cast<uint32_t>(T));
    const size_t rb = row_bytes(T, cols);
    std::vector<float> want(cols), got(cols);
    for (int64_t r = 0; r < rows; ++r) {
        const uint8_t* row = w.data() + r * rb;
        cpu::dequantize_row(T, row, want.data(), cols);
        for (int64_t c = 0; c < cols / 8; ++c)
            Q::dequant8(row + (c / (Q::kBlock / 8)) * Q::kBytes,
                        static_cast<int>(c % (Q::kBlock / 8)), got.data() + 8 * c);
        double mx = 0;
        for (float v : want) mx = std::max(mx, std::fabs(static_cast<double>(v)));
        for (int64_t i = 0; i < cols; ++i)
            ASSERT_NEAR(got[i], want[i], 1e-6 * mx) << "row " << r << " element " << i;
    }
}

template <TensorType T>
void check_plain_type() {
    SCOPED_TRACE(std::string(type_name(T)));
    const int64_t cols = 37;
    const auto w = test::random_weights(T, 1, cols, 99);
    std::vector<float> want(cols);
    cpu::dequantize_row(T, w.data(), want.data(), cols);
    for (int64_t i = 0; i < cols; ++i) ASSERT_EQ(cuda::plain_at<T>(w.data(), i), want[i]) << i;
}

TEST(CudaQuantDevice, BlockDecodersMatchTheCpuReference) {
    check_quant_type<TensorType::Q8_0>();
    check_quant_type<TensorType::Q4_0>();
    check_quant_type<TensorType::Q4_1>();
    check_quant_type<TensorType::Q5_0>();
    check_quant_type<TensorType::Q5_1>();
    check_quant_type<TensorType::Q4_K>();
    check_quant_type<TensorType::Q5_K>();
    check_quant_type<TensorType::Q6_K>();
    check_plain_type<TensorType::F32>();
    check_plain_type<TensorType::F16>();
    check_plain_type<TensorType::BF16>();
}

TEST(CudaQuantDevice, DispatchCoversExactlyTheElevenWeightTypes) {
    int n = 0;
    for (uint32_t raw = 0; raw < 40; ++raw) {
        const auto info = type_info(raw);
        if (!info) continue;
        const bool ok = cuda::dispatch_type(info->type, [](auto) {});
        EXPECT_EQ(ok, info->computable) << info->name;
        n += ok;
    }
    EXPECT_EQ(n, 11);
}

}  // namespace
}  // namespace gb

#else  // built without the CUDA backend

TEST(CudaQuantDevice, BuiltWithoutCuda) { GTEST_SKIP() << "built without CUDA"; }

#endif
