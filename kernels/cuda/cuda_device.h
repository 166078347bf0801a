// Host-side view of the CUDA device: is there one, what is it, and the context (stream + cuBLAS
// handle) the CUDA ops run on. Free of CUDA headers, so engine code builds with a plain C++
// compiler.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace gb::cuda {

// True when the CUDA runtime sees at least one device. Otherwise false, and *why (if given) says
// what the runtime answered (no driver, driver too old, no device), for skip and error messages.
bool cuda_available(std::string* why = nullptr);

struct DeviceInfo {
    int index = 0;
    std::string name;
    size_t total_memory = 0;  // bytes
    size_t free_memory = 0;   // bytes, when queried
    int sm_count = 0;
    int cc_major = 0;  // compute capability, e.g. 9.0 for H100/H200
    int cc_minor = 0;
    double memory_bandwidth_gbs = 0;  // theoretical peak from bus width and memory clock
};

int device_count();                  // 0 when CUDA is unavailable; never throws
DeviceInfo device_info(int device);  // throws gb::Error naming the call on failure

// The stream and cuBLAS handle one thread's ops are queued on, for one device. Ops on the same
// context run in order; synchronize() waits for them and reports any asynchronous kernel error.
class Context {
public:
    explicit Context(int device = 0);
    ~Context();
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

    int device() const { return device_; }
    void* stream() const;  // a cudaStream_t
    void* blas() const;    // a cublasHandle_t bound to stream()
    void synchronize(const char* op = "synchronize");

private:
    struct Impl;
    int device_ = 0;
    std::unique_ptr<Impl> impl_;
};

}  // namespace gb::cuda
