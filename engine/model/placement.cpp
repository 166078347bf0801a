// Placement: memory planning before anything is uploaded, which backend runs which layer, and
// activations carried across a CPU/GPU split.
#include "engine/model/placement.h"

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>

#include "engine/gguf/gguf_file.h"
#include "engine/session/kv_cache.h"
#include "kernels/error.h"

namespace gb {

namespace {

// Physical memory, to refuse a model that cannot fit before we touch its pages.
int64_t total_memory_bytes() {
    std::ifstream in("/proc/meminfo");
    std::string key;
    int64_t kb = 0;
    std::string unit;
    while (in >> key >> kb >> unit)
        if (key == "MemTotal:") return kb * 1024;
    return 0;
}

std::string gib(int64_t bytes) {
    std::ostringstream s;
    s.precision(2);
    s << std::fixed << static_cast<double>(bytes) / (1024.0 * 1024 * 1024) << " GiB";
    return s.str();
}

// The layer index of a "blk.N." tensor, or -1 for the others (embedding, head).
int64_t tensor_layer(const std::string& name) {
    if (name.rfind("blk.", 0) != 0) return -1;
    int64_t l = 0;
    size_t i = 4;
    if (i >= name.size() || name[i] < '0' || name[i] > '9') return -1;
    while (i < name.size() && name[i] >= '0' && name[i] <= '9') l = l * 10 + (name[i++] - '0');
    return l;
}

// What a backend with memory of its own (a GPU) must hold when layers 0 .. n_cpu-1 run on the
// CPU: the other layers' weights and KV cache, the output head, the activation buffers and its
// scratch.
struct DeviceNeed {
    int64_t weights = 0, kv = 0, act = 0, scratch = 0;
    int64_t total() const { return weights + kv + act + scratch; }
};

DeviceNeed device_need(Backend& backend, const GgufFile& file, const ModelConfig& c,
                       const RunSettings& s, const ModelSize& size, int64_t n_cpu) {
    DeviceNeed d;
    int64_t largest = 0;
    for (const auto& t : file.tensors()) {
        const int64_t l = tensor_layer(t.name);
        // The embedding table stays with layer 0; a tied output head needs it on the GPU anyway.
        const bool on_cpu =
            l >= 0 ? l < n_cpu : (n_cpu > 0 && t.name == "token_embd.weight" && !c.tied_output);
        if (on_cpu) continue;
        d.weights += static_cast<int64_t>(t.n_bytes);
        largest = std::max<int64_t>(largest, t.n_elements);
    }
    const int64_t ff = std::max(c.n_ff, c.n_expert_used * c.n_ff_exp);
    const int64_t q_width = c.is_mla() ? c.n_head * (c.mla.n_nope + c.mla.n_rope + c.mla.kv_lora)
                                       : c.n_head * c.head_dim;
    const int64_t max_width = std::max({c.n_embd, ff, q_width});
    // The forward passes' buffers per batch row: residual, norm output, q/k/v and attention
    // output, the FFN's gate and up, MoE per-slot outputs, the router and the logits (upper bound).
    d.act =
        s.n_batch * static_cast<int64_t>(sizeof(float)) *
        (4 * c.n_embd + 4 * q_width + 2 * ff + c.n_expert_used * c.n_embd + c.n_expert + c.n_vocab);
    d.kv = size.kv_bytes_per_token * s.n_ctx / c.n_layer * (c.n_layer - n_cpu);
    d.scratch = backend.scratch_bytes(largest, s.n_batch, max_width);
    return d;
}

// Refuses, before uploading anything, a model that does not fit the backend's own memory, with
// the sizes in the message and the number of CPU layers that would make it fit.
void check_device_fit(const std::string& path, Backend& backend, const GgufFile& file,
                      const ModelConfig& c, const RunSettings& s, const ModelSize& size) {
    const std::optional<int64_t> free = backend.free_memory_bytes();
    if (!free) return;
    const DeviceNeed d = device_need(backend, file, c, s, size, s.n_cpu_layers);
    if (d.total() <= *free) return;
    std::string split;
    if (s.n_cpu_layers > 0)
        split = " with layers 0-" + std::to_string(s.n_cpu_layers - 1) + " of " +
                std::to_string(c.n_layer) + " on the CPU";
    std::string advice =
        "use a smaller quantisation, a shorter context (--ctx) or a smaller batch "
        "(--batch)";
    for (int64_t k = s.n_cpu_layers + 1; k <= c.n_layer; ++k)
        if (device_need(backend, file, c, s, size, k).total() <= *free) {
            advice += ", or keep the first " + std::to_string(k) + " of the " +
                      std::to_string(c.n_layer) + " layers on the CPU (--cpu-layers " +
                      std::to_string(k) + "; in the app, Layers on the CPU)";
            break;
        }
    throw Error(path + ": the model needs " + gib(d.total()) + " of " + backend.name() + " memory" +
                split + " (weights " + gib(d.weights) + " + KV cache for " +
                std::to_string(s.n_ctx) + " tokens " + gib(d.kv) +
                " + activations for batches of " + std::to_string(s.n_batch) + " " + gib(d.act) +
                " + scratch " + gib(d.scratch) + ") but only " + gib(*free) + " is free; " +
                advice);
}

// RunSettings::kAutoCpuLayers: the fewest CPU layers with which the rest fits the backend's own
// memory (0 for a backend computing in host memory, or when everything fits); n_layer when
// nothing does, for check_device_fit to refuse with the sizes.
int64_t auto_cpu_layers(Backend& backend, const GgufFile& file, const ModelConfig& c,
                        const RunSettings& s, const ModelSize& size) {
    const std::optional<int64_t> free = backend.free_memory_bytes();
    if (!free) return 0;
    for (int64_t k = 0; k < c.n_layer; ++k)
        if (device_need(backend, file, c, s, size, k).total() <= *free) return k;
    return c.n_layer;
}

}  // namespace

Placement Placement::plan(const std::string& path, const GgufFile& file, const ModelConfig& c,
                          RunSettings& settings, Backend& backend, Backend* host) {
    const ModelSize size = model_size(file, c, settings.cache_type());
    const int64_t need = size.weight_bytes + size.kv_bytes_per_token * settings.n_ctx;
    const int64_t have = total_memory_bytes();
    if (have > 0 && need > have)
        throw Error(path + ": the model needs " + gib(need) + " (weights " +
                    gib(size.weight_bytes) + " + KV cache for " + std::to_string(settings.n_ctx) +
                    " tokens " + gib(size.kv_bytes_per_token * settings.n_ctx) +
                    ") but this machine has " + gib(have) +
                    "; use a smaller quantisation or a shorter context (--ctx)");

    if (settings.n_cpu_layers == RunSettings::kAutoCpuLayers)
        settings.n_cpu_layers = auto_cpu_layers(backend, file, c, settings, size);
    if (settings.n_cpu_layers > 0 && !host)
        throw Error(path + ": keeping layers on the CPU (" + std::to_string(settings.n_cpu_layers) +
                    " asked for) needs a CPU backend next to the " + backend.name() + " one");
    if (settings.n_cpu_layers > 0 && (!host->host_memory() || host == &backend))
        throw Error(path +
                    ": the backend for the CPU layers must be a separate one computing in "
                    "host memory, not " +
                    host->name());
    if (settings.n_cpu_layers == 0) host = nullptr;
    check_device_fit(path, backend, file, c, settings, size);

    return Placement(backend, host, settings.n_cpu_layers);
}

void Placement::carry(Backend& from, Act src, Backend& to, Act dst) {
    if (src.rows != dst.rows || src.cols != dst.cols)
        throw Error("forward: cannot carry " + std::to_string(src.rows) + "x" +
                    std::to_string(src.cols) + " activations into " + std::to_string(dst.rows) +
                    "x" + std::to_string(dst.cols));
    // to_device's source may be reused once it returns: no wait for the copy.
    if (from.host_memory()) {
        to.to_device(src.data, dst);
    } else if (to.host_memory()) {
        from.to_host(src, dst.data);
    } else {
        carry_buf_.resize(static_cast<size_t>(src.size()));
        from.to_host(src, carry_buf_.data());
        to.to_device(carry_buf_.data(), dst);
    }
}

ModelSize model_size(const GgufFile& f, const ModelConfig& c, TensorType kv_type) {
    ModelSize s;
    for (const auto& t : f.tensors()) {
        s.n_params += t.n_elements;
        s.weight_bytes += static_cast<int64_t>(t.n_bytes);
    }
    s.kv_bytes_per_token =
        KvCache::bytes_per_token(c.n_layer, c.kv_k_width(), c.kv_v_width(), kv_type);
    return s;
}

}  // namespace gb
