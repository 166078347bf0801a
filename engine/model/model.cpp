// Model loading: file -> config -> architecture; weight binding with shape checks; sizes.
#include "engine/model/model.h"

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>

#include "engine/model/deepseek2_model.h"
#include "engine/model/hf_checkpoint.h"
#include "engine/model/llama_model.h"
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

std::unique_ptr<Model> Model::load(const std::string& path, Backend& backend,
                                   const RunSettings& settings_in, Backend* host) {
    // A Hugging Face checkpoint directory (or its config.json) is read as a GGUF view of itself.
    auto file = std::make_unique<GgufFile>(is_hf_checkpoint(path) ? open_hf_checkpoint(path)
                                                                  : GgufFile::open(path));
    ModelConfig config = ModelConfig::from_gguf(*file);
    RunSettings settings = settings_in;
    settings.validate(config);

    const ModelSize size = model_size(*file, config);
    const int64_t need = size.weight_bytes + size.kv_bytes_per_token * settings.n_ctx;
    const int64_t have = total_memory_bytes();
    if (have > 0 && need > have)
        throw Error(path + ": the model needs " + gib(need) + " (weights " +
                    gib(size.weight_bytes) + " + KV cache for " + std::to_string(settings.n_ctx) +
                    " tokens " + gib(size.kv_bytes_per_token * settings.n_ctx) +
                    ") but this machine has " + gib(have) +
                    "; use a smaller quantisation or a shorter context (--ctx)");

    if (settings.n_cpu_layers == RunSettings::kAutoCpuLayers)
        settings.n_cpu_layers = auto_cpu_layers(backend, *file, config, settings, size);
    if (settings.n_cpu_layers > 0 && !host)
        throw Error(path + ": keeping layers on the CPU (" + std::to_string(settings.n_cpu_layers) +
                    " asked for) needs a CPU backend next to the " + backend.name() + " one");
    if (settings.n_cpu_layers > 0 && (!host->host_memory() || host == &backend))
        throw Error(path +
                    ": the backend for the CPU layers must be a separate one computing in "
                    "host memory, not " +
                    host->name());
    if (settings.n_cpu_layers == 0) host = nullptr;
    check_device_fit(path, backend, *file, config, settings, size);

    // One forward function per set of equations (the architecture table's row says which).
    switch (arch_info(config.arch).forward) {
        case Forward::Decoder:
            return make_llama_model(std::move(file), std::move(config), backend, settings, host);
        case Forward::LatentAttention:
            return make_deepseek2_model(std::move(file), std::move(config), backend, settings,
                                        host);
    }
    throw Error(path + ": no forward pass for architecture " + config.arch_str);
}

Weight Model::bind(const std::string& name, int64_t rows, int64_t cols, bool required) const {
    const GgufTensorInfo* t = file_->find_tensor(name);
    if (!t) {
        if (!required) return Weight{};
        throw Error(file_->path() + ": missing tensor '" + name + "' required by architecture " +
                    config_.arch_str);
    }
    const bool vec = rows == 1;
    const bool ok = vec ? (t->n_elements == cols && t->dims[0] == cols)
                        : (t->dims.size() == 2 && t->dims[0] == cols && t->dims[1] == rows);
    if (!ok) {
        std::string dims;
        for (size_t i = 0; i < t->dims.size(); ++i)
            dims += (i ? " x " : "") + std::to_string(t->dims[i]);
        throw Error(
            file_->path() + ": tensor '" + name + "' has shape [" + dims + "], expected [" +
            (vec ? std::to_string(cols) : std::to_string(cols) + " x " + std::to_string(rows)) +
            "]");
    }
    if (!type_info(t->type).computable)
        throw Error(file_->path() + ": tensor '" + name + "' has type " +
                    std::string(type_name(t->type)) + ", which the engine cannot compute with yet");
    Weight w{t->type, file_->tensor_data(*t), vec ? 1 : rows, cols, t->name};
    return bind_to_->upload(w);
}

std::unique_ptr<KvCache> Model::new_cache() const {
    std::vector<Backend*> where;
    for (int64_t l = 0; l < config_.n_layer; ++l) where.push_back(&layer_backend(l));
    if (config_.is_mla())  // the compressed cache: c_kv and k_pe per position
        return std::make_unique<KvCache>(std::move(where), settings_.n_ctx, config_.mla.kv_lora,
                                         config_.mla.n_rope);
    return std::make_unique<KvCache>(std::move(where), settings_.n_ctx, kv_width(), kv_width());
}

ModelSize model_size(const GgufFile& f, const ModelConfig& c) {
    ModelSize s;
    for (const auto& t : f.tensors()) {
        s.n_params += t.n_elements;
        s.weight_bytes += static_cast<int64_t>(t.n_bytes);
    }
    s.kv_bytes_per_token =
        c.is_mla()
            ? c.n_layer * (c.mla.kv_lora + c.mla.n_rope) * static_cast<int64_t>(sizeof(float))
            : KvCache::bytes_per_token(c.n_layer, c.n_head_kv * c.head_dim);
    return s;
}

}  // namespace gb
