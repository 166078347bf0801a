// Device queries and the per-thread op context (stream + cuBLAS handle). Host code only: built by
// the C++ compiler against the CUDA runtime, no nvcc pass needed.
#include "kernels/cuda/cuda_device.h"

#include "kernels/cuda/cuda_check.h"

namespace gb::cuda {

bool cuda_available(std::string* why) {
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        // The runtime keeps this error sticky for the next cudaGetLastError(); clear it so later
        // checks (e.g. after a launch) do not report it as theirs.
        cudaGetLastError();
        if (why)
            *why = std::string("cudaGetDeviceCount: ") + cudaGetErrorName(e) + " (" +
                   cudaGetErrorString(e) + ")";
        return false;
    }
    if (n == 0) {
        if (why) *why = "cudaGetDeviceCount: 0 devices";
        return false;
    }
    return true;
}

int device_count() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

DeviceInfo device_info(int device) {
    const char* op = "device_info";
    cudaDeviceProp prop{};
    GB_CUDA_CHECK(op, cudaGetDeviceProperties(&prop, device));
    DeviceInfo info;
    info.index = device;
    info.name = prop.name;
    info.total_memory = prop.totalGlobalMem;
    info.sm_count = prop.multiProcessorCount;
    info.cc_major = prop.major;
    info.cc_minor = prop.minor;
    int clock_khz = 0, bus_bits = 0;
    GB_CUDA_CHECK(op, cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, device));
    GB_CUDA_CHECK(op, cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, device));
    // DDR: two transfers per clock.
    info.memory_bandwidth_gbs = 2.0 * clock_khz * 1e3 * (bus_bits / 8.0) / 1e9;
    int previous = 0;
    GB_CUDA_CHECK(op, cudaGetDevice(&previous));
    GB_CUDA_CHECK(op, cudaSetDevice(device));
    size_t free_b = 0, total_b = 0;
    const cudaError_t e = cudaMemGetInfo(&free_b, &total_b);
    cudaSetDevice(previous);
    if (e != cudaSuccess) throw_cuda_error(op, "cudaMemGetInfo", e, __FILE__, __LINE__);
    info.free_memory = free_b;
    return info;
}

struct Context::Impl {
    cudaStream_t stream = nullptr;
    cublasHandle_t blas = nullptr;
};

Context::Context(int device) : device_(device), impl_(std::make_unique<Impl>()) {
    const char* op = "context";
    GB_CUDA_CHECK(op, cudaSetDevice(device));
    try {
        GB_CUDA_CHECK(op, cudaStreamCreateWithFlags(&impl_->stream, cudaStreamNonBlocking));
        GB_CUBLAS_CHECK(op, cublasCreate(&impl_->blas));
        GB_CUBLAS_CHECK(op, cublasSetStream(impl_->blas, impl_->stream));
    } catch (...) {
        // The destructor does not run for a half-built object; free what was made.
        if (impl_->blas) cublasDestroy(impl_->blas);
        if (impl_->stream) cudaStreamDestroy(impl_->stream);
        throw;
    }
}

Context::~Context() {
    if (impl_->blas) cublasDestroy(impl_->blas);
    if (impl_->stream) cudaStreamDestroy(impl_->stream);
}

void* Context::stream() const { return impl_->stream; }
void* Context::blas() const { return impl_->blas; }

void Context::synchronize(const char* op) {
    GB_CUDA_CHECK(op, cudaStreamSynchronize(impl_->stream));
}

}  // namespace gb::cuda
