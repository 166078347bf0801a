// The backend factory shared by glassbox-cli and the app.
#include "engine/session/backends.h"

#include <cstdio>

#include "engine/model/model_config.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/error.h"

#ifdef GLASSBOX_HAVE_CUDA
#include "kernels/cuda/cuda_backend.h"
#endif

namespace gb {

std::vector<std::string> available_backends() {
#ifdef GLASSBOX_HAVE_CUDA
    return {"cpu", "cuda"};
#else
    return {"cpu"};
#endif
}

std::unique_ptr<Backend> make_backend(const std::string& name, int n_threads) {
    if (name == "cpu") return std::make_unique<cpu::CpuBackend>(n_threads);
    if (name != "cuda") throw Error("unknown backend '" + name + "' (choose cpu or cuda)");
#ifdef GLASSBOX_HAVE_CUDA
    std::string why;
    if (!cuda::cuda_available(&why))
        throw Error("the cuda backend has no CUDA device: " + why + " (choose the cpu backend)");
    return std::make_unique<cuda::CudaBackend>();
#else
    throw Error(
        "the cuda backend is not in this build (built without the CUDA toolkit; "
        "configure with it installed, -DGLASSBOX_CUDA=ON); choose the cpu backend");
#endif
}

Backends make_backends(const std::string& name, int n_threads, int64_t n_cpu_layers,
                       const BackendMaker& make_main) {
    n_threads = resolve_threads(n_threads);  // refused before a single thread starts
    if (n_cpu_layers < 0 && n_cpu_layers != RunSettings::kAutoCpuLayers)
        throw Error("the number of layers kept on the CPU must be >= 0, or auto");
    if (n_cpu_layers > 0 && name == "cpu")
        throw Error(
            "layers kept on the CPU are for a model split between the CPU and a GPU: "
            "they need the cuda backend (or keep 0 layers on the CPU)");
    Backends b;
    b.main = make_main ? make_main(name, n_threads) : make_backend(name, n_threads);
    // Auto on the CPU backend keeps nothing apart (Model::load decides 0): no second backend.
    if (n_cpu_layers != 0 && name != "cpu") b.host = std::make_unique<cpu::CpuBackend>(n_threads);
    return b;
}

std::string describe_backend(const Backend& backend, int n_threads) {
#ifdef GLASSBOX_HAVE_CUDA
    if (const auto* c = dynamic_cast<const cuda::CudaBackend*>(&backend)) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "cuda, %s (%.1f GiB, %.0f GB/s peak)",
                      c->device().name.c_str(), c->device().total_memory / (1024.0 * 1024 * 1024),
                      c->device().memory_bandwidth_gbs);
        return buf;
    }
#endif
    return backend.name() + ", " + std::to_string(n_threads) + " threads";
}

}  // namespace gb
