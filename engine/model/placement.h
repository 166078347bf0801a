// Where a model's layers run and whether they fit: the main backend (a GPU, or the CPU) and,
// with layers split, a host backend (the CPU) for the first n_cpu_layers; the memory planning
// that refuses a model which cannot fit (the machine's RAM, a GPU's own memory) and chooses the
// CPU layers for RunSettings::kAutoCpuLayers; and the copy of activations across the split.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/model_config.h"
#include "kernels/backend.h"

namespace gb {

class GgufFile;

// Weight bytes, KV cache bytes per token (its values of kv_type), parameter count: what
// `inspect` reports.
struct ModelSize {
    int64_t n_params = 0;
    int64_t weight_bytes = 0;
    int64_t kv_bytes_per_token = 0;
};
ModelSize model_size(const GgufFile& f, const ModelConfig& c, TensorType kv_type = TensorType::F16);

class Placement {
public:
    // Plans where the model described by file and c runs: throws gb::Error, before anything is
    // uploaded, when it does not fit host memory or the main backend's own memory (with the sizes
    // and what would make it fit); resolves kAutoCpuLayers in settings.n_cpu_layers; checks that
    // a split has a host backend computing in host memory. `path` names the model in errors.
    static Placement plan(const std::string& path, const GgufFile& file, const ModelConfig& c,
                          RunSettings& settings, Backend& main, Backend* host);

    Backend& main() const { return *main_; }
    Backend* host() const { return host_; }  // null unless layers are split
    int64_t n_cpu_layers() const { return n_cpu_; }
    // The backend layer l runs on: the host backend for the first n_cpu_layers.
    Backend& layer_backend(int64_t l) const { return l < n_cpu_ ? *host_ : *main_; }

    // Copies rows of activations from one backend's memory to another's (layers split between
    // the CPU and a GPU), through a host buffer unless one side computes in host memory.
    void carry(Backend& from, Act src, Backend& to, Act dst);

private:
    Placement(Backend& main, Backend* host, int64_t n_cpu)
        : main_(&main), host_(host), n_cpu_(n_cpu) {}
    Backend* main_;
    Backend* host_;
    int64_t n_cpu_;
    std::vector<float> carry_buf_;
};

}  // namespace gb
