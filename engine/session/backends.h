// Which backends this build can run on and how to make them: one place for the CLI and the app.
// The CUDA backend is linked only when the build found nvcc (GLASSBOX_HAVE_CUDA).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kernels/backend.h"

namespace gb {

// The backends of this build: {"cpu"}, or {"cpu", "cuda"} when CUDA support was built in
// (whether a GPU is present is only known when one is made).
std::vector<std::string> available_backends();

// "cpu" (n_threads threads) or "cuda" (device 0). Throws gb::Error for an unknown name, a build
// without CUDA support, or a machine without a usable CUDA device (with the driver's reason).
std::unique_ptr<Backend> make_backend(const std::string& name, int n_threads);

// The backends one model runs on: `main`, and when layers may be kept on the CPU next to a GPU
// (n_cpu_layers > 0, or RunSettings::kAutoCpuLayers with a GPU backend) a CPU backend `host` for
// them. Throws as make_backend does, and for a negative count other than auto, or layers to be
// kept on the CPU while the main backend already is the CPU.
// make_main makes the main backend (default: make_backend); tests pass their own to inject
// faults.
struct Backends {
    std::unique_ptr<Backend> main;
    std::unique_ptr<Backend> host;
};
using BackendMaker =
    std::function<std::unique_ptr<Backend>(const std::string& name, int n_threads)>;
Backends make_backends(const std::string& name, int n_threads, int64_t n_cpu_layers,
                       const BackendMaker& make_main = {});

// One line about the backend for reports: "cpu, 16 threads" or
// "cuda, NVIDIA H200 (139.8 GiB, 4800 GB/s peak)".
std::string describe_backend(const Backend& backend, int n_threads);

}  // namespace gb
