// Model loading: file -> config -> placement -> the architecture's forward; weight binding
// with shape checks; the KV cache.
#include "engine/model/model.h"

#include "engine/model/deepseek2_model.h"
#include "engine/model/hf_checkpoint.h"
#include "engine/model/llama_model.h"
#include "engine/session/kv_cache.h"
#include "kernels/error.h"

namespace gb {

std::unique_ptr<Model> Model::load(const std::string& path, Backend& backend,
                                   const RunSettings& settings_in, Backend* host) {
    // A Hugging Face checkpoint directory (or its config.json) is read as a GGUF view of itself.
    auto file = std::make_unique<GgufFile>(is_hf_checkpoint(path) ? open_hf_checkpoint(path)
                                                                  : GgufFile::open(path));
    ModelConfig config = ModelConfig::from_gguf(*file);
    RunSettings settings = settings_in;
    settings.validate(config);
    Placement placement = Placement::plan(path, *file, config, settings, backend, host);

    // One forward function per set of equations (the architecture table's row says which).
    std::unique_ptr<Model> model;
    switch (arch_info(config.arch).forward) {
        case Forward::Decoder:
            model = make_llama_model(std::move(file), std::move(config), std::move(placement),
                                     settings);
            break;
        case Forward::LatentAttention:
            model = make_deepseek2_model(std::move(file), std::move(config), std::move(placement),
                                         settings);
            break;
    }
    if (!model) throw Error(path + ": no forward pass for architecture " + config.arch_str);
    model->set_precise(settings.precise);
    return model;
}

std::unique_ptr<KvCache> Model::new_cache(int64_t n_ctx) const {
    if (n_ctx <= 0 || n_ctx > settings_.n_ctx) n_ctx = settings_.n_ctx;
    std::vector<Backend*> where;
    for (int64_t l = 0; l < config_.n_layer; ++l) where.push_back(&layer_backend(l));
    // MLA caches the compressed latent: c_kv and k_pe per position.
    return std::make_unique<KvCache>(std::move(where), n_ctx, config_.kv_k_width(),
                                     config_.kv_v_width(), settings_.cache_type());
}

}  // namespace gb
