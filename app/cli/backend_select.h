// --backend cpu|cuda for the CLI commands: makes the chosen backend, or says clearly why it
// cannot (CUDA support not built in, no device).
#pragma once

#include <memory>
#include <string>

#include "kernels/backend.h"

namespace gb::cli {

// "cpu" (n_threads threads) or "cuda" (device 0). Throws gb::Error for an unknown name, a build
// without CUDA support, or a machine without a usable CUDA device (with the driver's reason).
std::unique_ptr<Backend> make_backend(const std::string& name, int n_threads);

// The backends one model runs on: `main`, and with n_cpu_layers > 0 (--cpu-layers, only with
// --backend cuda) a CPU backend `host` for the first layers. Throws as make_backend does, or
// when layers are to be kept on the CPU while the main backend already is the CPU.
struct Backends {
    std::unique_ptr<Backend> main;
    std::unique_ptr<Backend> host;
};
Backends make_backends(const std::string& name, int n_threads, int64_t n_cpu_layers);
// The value of --cpu-layers: a count, or "auto" (RunSettings::kAutoCpuLayers), also when absent.
int64_t cpu_layers_arg(const std::string& value);

// One line about the backend for reports: "cpu, 16 threads" or "cuda, NVIDIA H200 (139.8 GiB)".
std::string describe_backend(const Backend& backend, int n_threads);

}  // namespace gb::cli
