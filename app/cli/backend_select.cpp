// The CLI's backend factory. The CUDA backend is linked only when the build found nvcc
// (GLASSBOX_HAVE_CUDA, set by engine/CMakeLists.txt).
#include "app/cli/backend_select.h"

#include <cstdio>
#include <stdexcept>

#include "engine/core/error.h"
#include "engine/model/model_config.h"
#include "kernels/cpu/cpu_backend.h"

#ifdef GLASSBOX_HAVE_CUDA
#include "kernels/cuda/cuda_backend.h"
#endif

namespace gb::cli {

std::unique_ptr<Backend> make_backend(const std::string& name, int n_threads) {
    if (name == "cpu") return std::make_unique<cpu::CpuBackend>(n_threads);
    if (name != "cuda") throw Error("unknown backend '" + name + "' (use --backend cpu or cuda)");
#ifdef GLASSBOX_HAVE_CUDA
    std::string why;
    if (!cuda::cuda_available(&why))
        throw Error("--backend cuda: no CUDA device: " + why + " (use --backend cpu)");
    return std::make_unique<cuda::CudaBackend>();
#else
    throw Error("--backend cuda: this glassbox-cli was built without CUDA support (configure "
                "with the CUDA toolkit installed, -DGLASSBOX_CUDA=ON); use --backend cpu");
#endif
}

Backends make_backends(const std::string& name, int n_threads, int64_t n_cpu_layers) {
    if (n_cpu_layers < 0 && n_cpu_layers != RunSettings::kAutoCpuLayers)
        throw Error("--cpu-layers must be >= 0, or auto");
    if (n_cpu_layers > 0 && name == "cpu")
        throw Error("--cpu-layers keeps layers on the CPU next to a GPU; it needs --backend cuda");
    Backends b;
    b.main = make_backend(name, n_threads);
    if (n_cpu_layers != 0 && name != "cpu") b.host = std::make_unique<cpu::CpuBackend>(n_threads);
    return b;
}

int64_t cpu_layers_arg(const std::string& value) {
    if (value.empty() || value == "auto") return RunSettings::kAutoCpuLayers;
    size_t used = 0;
    long long n = -2;
    try {
        n = std::stoll(value, &used);
    } catch (const std::exception&) {
    }
    if (used != value.size() || n < 0)
        throw Error("--cpu-layers must be a number of layers >= 0, or auto; got '" + value + "'");
    return n;
}

std::string describe_backend(const Backend& backend, int n_threads) {
#ifdef GLASSBOX_HAVE_CUDA
    if (const auto* c = dynamic_cast<const cuda::CudaBackend*>(&backend)) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "cuda, %s (%.1f GiB, %.0f GB/s peak)", c->device().name.c_str(),
                      c->device().total_memory / (1024.0 * 1024 * 1024), c->device().memory_bandwidth_gbs);
        return buf;
    }
#endif
    return backend.name() + ", " + std::to_string(n_threads) + " threads";
}

}  // namespace gb::cli
