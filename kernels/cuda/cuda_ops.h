// The CUDA ops callable from plain C++ on device pointers, queued on a Context's stream (what the
// CUDA backend calls). Shapes are validated here, at the boundary. The Backend interface
// (cuda_backend.h) is what everything else uses and what the op matrix test
// (tests/kernels/backend_ops_test.cpp) checks against float64 references.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_device.h"

namespace gb::cuda {

// out[r][c] = x[r][c] / sqrt(mean_c(x[r][c]^2) + eps) * w[c], for rows x cols float rows.
// out may alias x.
void rmsnorm(Context& ctx, const float* x, const float* w, int64_t rows, int64_t cols, float eps,
             float* out);

}  // namespace gb::cuda
