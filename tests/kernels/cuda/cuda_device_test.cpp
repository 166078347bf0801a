// CUDA device queries, with or without a device: no device comes with the runtime's reason.
// (The CUDA ops themselves are checked in the op matrix, tests/kernels/backend_ops_test.cpp.)
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#ifdef GLASSBOX_HAVE_CUDA

#include "kernels/cuda/cuda_device.h"

namespace {

TEST(CudaDevice, AvailabilityComesWithAReason) {
    std::string why;
    if (!gb::cuda::cuda_available(&why)) {
        EXPECT_FALSE(why.empty());
        EXPECT_EQ(gb::cuda::device_count(), 0);
        return;
    }
    ASSERT_GT(gb::cuda::device_count(), 0);
    const gb::cuda::DeviceInfo info = gb::cuda::device_info(0);
    EXPECT_FALSE(info.name.empty());
    EXPECT_GT(info.total_memory, 0u);
    EXPECT_GT(info.sm_count, 0);
    EXPECT_GE(info.cc_major, 1);
    std::printf("device 0: %s, sm_%d%d, %d SMs, %.1f GiB, ~%.0f GB/s\n", info.name.c_str(),
                info.cc_major, info.cc_minor, info.sm_count, info.total_memory / 1073741824.0,
                info.memory_bandwidth_gbs);
}

}  // namespace

#else  // built without the CUDA backend: the file is still picked up by the test glob

TEST(CudaDevice, BuiltWithoutCuda) { GTEST_SKIP() << "no CUDA device: built without CUDA"; }

#endif
