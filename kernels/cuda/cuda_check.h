// Turns CUDA runtime and cuBLAS status codes into gb::Error naming the op and the failing call,
// plus an owning device buffer. Internal to kernels/cuda: it includes the CUDA headers.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <string>

#include "kernels/error.h"

namespace gb::cuda {

[[noreturn]] inline void throw_cuda_error(const char* op, const char* call, cudaError_t e,
                                          const char* file, int line) {
    throw Error(std::string("CUDA ") + op + ": " + call + " failed: " + cudaGetErrorName(e) + " (" +
                cudaGetErrorString(e) + ") at " + file + ":" + std::to_string(line));
}

[[noreturn]] inline void throw_cublas_error(const char* op, const char* call, cublasStatus_t s,
                                            const char* file, int line) {
    throw Error(std::string("CUDA ") + op + ": " + call + " failed: " + cublasGetStatusName(s) +
                " (" + cublasGetStatusString(s) + ") at " + file + ":" + std::to_string(line));
}

}  // namespace gb::cuda

// GB_CUDA_CHECK("rmsnorm", cudaMemcpyAsync(...)); throws gb::Error unless the call succeeded.
#define GB_CUDA_CHECK(op, call)                                                        \
    do {                                                                               \
        const cudaError_t gb_cuda_err_ = (call);                                       \
        if (gb_cuda_err_ != cudaSuccess)                                               \
            ::gb::cuda::throw_cuda_error(op, #call, gb_cuda_err_, __FILE__, __LINE__); \
    } while (0)

#define GB_CUBLAS_CHECK(op, call)                                                         \
    do {                                                                                  \
        const cublasStatus_t gb_cublas_st_ = (call);                                      \
        if (gb_cublas_st_ != CUBLAS_STATUS_SUCCESS)                                       \
            ::gb::cuda::throw_cublas_error(op, #call, gb_cublas_st_, __FILE__, __LINE__); \
    } while (0)

// After a kernel launch: reports a bad launch configuration at once (execution errors surface
// at the next synchronising call).
#define GB_CUDA_CHECK_LAUNCH(op) GB_CUDA_CHECK(op, cudaGetLastError())

namespace gb::cuda {

// Argument validation at the op boundary: "CUDA <op>: <what is wrong>".
inline void require(bool ok, const char* op, const std::string& what) {
    if (!ok) throw Error(std::string("CUDA ") + op + ": " + what);
}

inline cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }
inline cublasHandle_t as_blas(void* h) { return static_cast<cublasHandle_t>(h); }

}  // namespace gb::cuda
