// The recovery path for a sticky CUDA error (cuda_backend.h): a kernel that reads an illegal
// address poisons the context; the backend reports it, refuses every later op, and after it is
// destroyed and the device reset a new backend computes correctly in the same process. Its own
// executable, because the reset invalidates every CUDA object of the process. Skips without a
// CUDA device.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/error.h"
#include "tests/kernels/cuda/cuda_test_support.h"

#ifdef GLASSBOX_HAVE_CUDA
#include "kernels/cuda/cuda_backend.h"

namespace gb {
namespace {

TEST(CudaStickyError, IsReportedAndANewBackendWorksAfterAReset) {
    GB_REQUIRE_CUDA();
    {
        cuda::CudaBackend gpu;
        // A "device" weight in the unmapped first page: get_rows's kernel faults on it.
        const Weight bogus{TensorType::F32, reinterpret_cast<const void*>(uintptr_t{16}), 4, 8,
                           "bogus"};
        Act out = gpu.alloc(1, 8);
        const std::vector<int32_t> ids = {3};
        std::string message;
        try {
            gpu.get_rows(bogus, ids, out);  // queued: the fault shows at the next sync
            gpu.synchronize();
        } catch (const Error& e) {
            message = e.what();
        }
        ASSERT_FALSE(message.empty()) << "the illegal access was not reported";
        EXPECT_NE(message.find("context is lost"), std::string::npos) << message;
        EXPECT_NE(message.find("reset_device"), std::string::npos) << message;
        EXPECT_TRUE(gpu.broken());
        Act x = out;
        try {
            gpu.add(x, x);
            FAIL() << "a broken backend must refuse every op";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("unusable"), std::string::npos) << e.what();
        }
    }  // destroying a broken backend must not throw or crash
    cuda::CudaBackend::reset_device(0);

    cuda::CudaBackend fresh;
    EXPECT_FALSE(fresh.broken());
    Act a = test::put(fresh, std::vector<float>{1, 2, 3}, 1, 3);
    Act b = test::put(fresh, std::vector<float>{10, 20, 30}, 1, 3);
    fresh.add(a, b);
    EXPECT_EQ(test::get(fresh, a), (std::vector<float>{11, 22, 33}));
}

}  // namespace
}  // namespace gb

#else  // built without the CUDA backend

TEST(CudaStickyError, BuiltWithoutCuda) { GTEST_SKIP() << "no CUDA device: built without CUDA"; }

#endif
