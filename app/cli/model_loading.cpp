// Loading a command's model from its flags.
#include "app/cli/model_loading.h"

#include <algorithm>
#include <climits>
#include <cstdio>

namespace gb::cli {

const std::vector<std::string> kModelFlags = {
    "-m", "--model", "-t",        "--threads",    "-c",          "--ctx",
    "-b", "--batch", "--backend", "--cpu-layers", "--cache-type"};

std::vector<std::string> with_model_flags(const std::vector<std::string>& own) {
    std::vector<std::string> all = kModelFlags;
    all.insert(all.end(), own.begin(), own.end());
    return all;
}

LoadedModel load_model(const Args& args, int64_t min_ctx) {
    const std::string path = args.has("-m") ? args.str("-m") : args.str("--model");
    if (path.empty()) throw Error("a model is needed: -m FILE");
    RunSettings rs;
    rs.n_threads =
        resolve_threads(args.integer(args.has("-t") ? "-t" : "--threads", 0, LLONG_MIN, LLONG_MAX));
    rs.n_ctx = args.integer(args.has("-c") ? "-c" : "--ctx", std::max<int64_t>(4096, min_ctx), 0,
                            LLONG_MAX);
    rs.n_batch = args.integer(args.has("-b") ? "-b" : "--batch", 512, 1, LLONG_MAX);
    rs.n_cpu_layers = cpu_layers_arg(args.str("--cpu-layers", ""));
    rs.kv_type = cache_type_arg(args.str("--cache-type", ""));
    rs.precise = precise_arg(args);
    LoadedModel m;
    m.be = make_backends(args.str("--backend", "cpu"), rs.n_threads, rs.n_cpu_layers);
    m.model = Model::load(path, *m.be.main, rs, m.be.host.get());
    if (rs.n_cpu_layers == RunSettings::kAutoCpuLayers && m.model->settings().n_cpu_layers > 0)
        std::fprintf(stderr,
                     "glassbox-cli: the first %lld of %lld layers run on the CPU: the rest fill "
                     "the %s memory (--cpu-layers N to choose)\n",
                     static_cast<long long>(m.model->settings().n_cpu_layers),
                     static_cast<long long>(m.model->config().n_layer), m.be.main->name().c_str());
    m.tok = std::make_unique<Tokenizer>(Tokenizer::from_gguf(m.model->file()));
    return m;
}

}  // namespace gb::cli
