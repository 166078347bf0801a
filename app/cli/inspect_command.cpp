// `glassbox-cli inspect FILE`: what a model file holds and what it needs to run.
#include <cinttypes>
#include <cstdio>
#include <map>
#include <optional>
#include <string>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "engine/core/utf8.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/hf_checkpoint.h"
#include "engine/model/model.h"
#include "engine/model/model_config.h"
#include "kernels/error.h"

namespace gb::cli {

namespace {

std::string human_bytes(double b) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        ++u;
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", b, units[u]);
    return buf;
}

std::string human_count(double n) {
    char buf[64];
    if (n >= 1e9)
        std::snprintf(buf, sizeof buf, "%.2f B", n / 1e9);
    else if (n >= 1e6)
        std::snprintf(buf, sizeof buf, "%.1f M", n / 1e6);
    else
        std::snprintf(buf, sizeof buf, "%.0f", n);
    return buf;
}

// One line per value; long strings and arrays are shortened unless `full`.
std::string show(const GgufValue& v, bool full) {
    auto clip = [&](std::string s) {
        for (auto& ch : s)
            if (ch == '\n') ch = ' ';
        s = utf8::printable(s);  // no terminal escape sequences from a stranger's file
        if (!full && s.size() > 80) s = s.substr(0, 77) + "...";
        return s;
    };
    if (v.type == GgufType::STRING) return "\"" + clip(std::get<std::string>(v.v)) + "\"";
    if (v.type == GgufType::BOOL) return std::get<bool>(v.v) ? "true" : "false";
    if (v.is_float()) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%g", std::get<double>(v.v));
        return buf;
    }
    if (v.type == GgufType::UINT64) return std::to_string(std::get<uint64_t>(v.v));
    if (v.is_int()) return std::to_string(std::get<int64_t>(v.v));
    const GgufArray& a = std::get<GgufArray>(v.v);
    std::string s =
        std::string("[") + gguf_type_name(a.elem_type) + " x " + std::to_string(a.size()) + "]";
    const size_t n = full ? a.size() : std::min<size_t>(a.size(), 6);
    std::string items;
    for (size_t i = 0; i < n; ++i) {
        if (i) items += ", ";
        if (!a.strings.empty())
            items += "\"" + utf8::printable(a.strings[i]) + "\"";
        else if (!a.ints.empty())
            items += std::to_string(a.ints[i]);
        else if (!a.floats.empty())
            items += std::to_string(a.floats[i]);
        else if (!a.bools.empty())
            items += a.bools[i] ? "true" : "false";
    }
    if (!items.empty()) s += " " + clip(items) + (n < a.size() ? ", ..." : "");
    return s;
}

}  // namespace

int inspect_command(const std::vector<std::string>& argv) {
    Args args(argv, {"--cache-type"}, {"--tensors", "--all-metadata"});
    const TensorType kv_type = cache_type_arg(args.str("--cache-type", ""));
    if (args.positional().size() != 1)
        throw Error("inspect needs exactly one FILE (a .gguf, or a checkpoint directory)");
    const std::string path = args.positional()[0];
    // A file cut off inside its tensor data (an interrupted or partial download) still has its
    // metadata: show it, and say plainly that the model cannot run from this file.
    std::string cut_off;
    std::optional<GgufFile> opened;
    const bool checkpoint = is_hf_checkpoint(path);
    try {
        // An HF checkpoint is shown through the GGUF view the engine runs it from.
        opened.emplace(checkpoint ? open_hf_checkpoint(path) : GgufFile::open(path));
    } catch (const Error& full_error) {
        if (checkpoint) throw;
        try {
            opened.emplace(GgufFile::open(path, GgufOpen::MetadataOnly));
        } catch (const Error&) {
            throw full_error;  // not even the header is readable: report the first problem
        }
        cut_off = full_error.what();
    }
    const GgufFile& f = *opened;

    std::printf("file:            %s\n", path.c_str());
    if (!cut_off.empty())
        std::printf("tensor data:     MISSING, metadata only: %s\n", cut_off.c_str());
    if (checkpoint)
        std::printf(
            "format:          Hugging Face checkpoint (safetensors), %zu tensors; shown as the "
            "GGUF "
            "metadata it converts to\n",
            f.tensors().size());
    else
        std::printf("format:          GGUF v%u, %zu tensors, %zu metadata keys, %s\n", f.version(),
                    f.tensors().size(), f.metadata().size(),
                    human_bytes(static_cast<double>(f.file_size())).c_str());
    std::optional<ModelConfig> cfg;
    std::string cfg_error;
    try {
        cfg = ModelConfig::from_gguf(f);
    } catch (const std::exception& e) {
        cfg_error = e.what();
    }
    int64_t n_params = 0, weight_bytes = 0;
    std::map<std::string, std::pair<int, int64_t>> mix;  // type -> (tensors, bytes)
    for (const auto& t : f.tensors()) {
        n_params += t.n_elements;
        weight_bytes += static_cast<int64_t>(t.n_bytes);
        auto& m = mix[std::string(type_name(t.type))];
        m.first++;
        m.second += static_cast<int64_t>(t.n_bytes);
    }
    std::printf("architecture:    %s\n",
                utf8::printable(f.get_string("general.architecture").value_or("?")).c_str());
    if (auto name = f.get_string("general.name"))
        std::printf("name:            %s\n", utf8::printable(*name).c_str());
    std::printf("parameters:      %s (%" PRId64 ")\n",
                human_count(static_cast<double>(n_params)).c_str(), n_params);
    std::printf(
        "weights:         %s (%.2f bits per weight)\n",
        human_bytes(static_cast<double>(weight_bytes)).c_str(),
        n_params ? 8.0 * static_cast<double>(weight_bytes) / static_cast<double>(n_params) : 0.0);
    std::printf("quant mix:      ");
    for (const auto& [type, m] : mix)
        std::printf(" %s: %d tensors %.1f%%;", type.c_str(), m.first,
                    weight_bytes
                        ? 100.0 * static_cast<double>(m.second) / static_cast<double>(weight_bytes)
                        : 0.0);
    std::printf("\n");
    if (cfg) {
        const ModelConfig& c = *cfg;
        std::printf("layers:          %" PRId64 ", embedding %" PRId64 ", feed-forward %" PRId64
                    "\n",
                    c.n_layer, c.n_embd, c.n_ff);
        if (c.is_mla()) {
            // DeepSeek MLA: the cache keeps one latent per position, not per-head keys and values.
            const MlaConfig& m = c.mla;
            std::printf("attention:       MLA, %" PRId64 " heads, q rank %s, kv latent %" PRId64
                        ", head key %" PRId64 " (%" PRId64 " + %" PRId64 " rope), value %" PRId64
                        "\n",
                        c.n_head, m.q_lora ? std::to_string(m.q_lora).c_str() : "full", m.kv_lora,
                        m.n_nope + m.n_rope, m.n_nope, m.n_rope, m.n_v);
        } else {
            std::printf("attention:       %" PRId64 " heads, %" PRId64
                        " kv heads, head size %" PRId64 "%s%s\n",
                        c.n_head, c.n_head_kv, c.head_dim, c.qkv_bias ? ", qkv bias" : "",
                        c.qk_norm ? ", q/k norm" : "");
        }
        if (c.is_moe()) {
            const RouterParams& r = c.router;
            std::string gate = r.gating == Gating::Sigmoid ? "sigmoid" : "softmax";
            if (c.expert_probs_bias) gate += " + score-correction bias";
            if (r.n_group > 1)
                gate += ", top-" + std::to_string(r.n_group_used) + " of " +
                        std::to_string(r.n_group) + " groups";
            gate += r.norm_topk ? ", top-k weights renormalised" : ", top-k weights as gated";
            if (r.scale != 1.0f) {
                char buf[32];
                std::snprintf(buf, sizeof buf, "%g", r.scale);
                gate += std::string(", scaled by ") + buf;
            }
            std::printf("experts:         %" PRId64 " per MoE layer, %" PRId64
                        " routed per token%s, width %" PRId64 "\n",
                        c.n_expert, c.n_expert_used,
                        c.n_expert_shared
                            ? (" + " + std::to_string(c.n_expert_shared) + " shared").c_str()
                            : "",
                        c.n_ff_exp);
            std::printf("MoE layers:      %" PRId64 " of %" PRId64 " (%" PRId64
                        " leading dense); gating %s\n",
                        c.n_moe_layers(), c.n_layer, c.n_layer_dense_lead, gate.c_str());
            // Active parameters: a token reads n_used of n_expert experts in every routed tensor.
            int64_t inactive = 0;
            for (const auto& t : f.tensors())
                if (t.name.find("_exps.") != std::string::npos && c.n_expert > 0)
                    inactive += t.n_elements - t.n_elements / c.n_expert * c.n_expert_used;
            std::printf("active params:   %s per token (%.1f%% of all)\n",
                        human_count(static_cast<double>(n_params - inactive)).c_str(),
                        n_params ? 100.0 * static_cast<double>(n_params - inactive) /
                                       static_cast<double>(n_params)
                                 : 0.0);
        }
        const char* scaling[] = {"none", "linear", "yarn", "llama3"};
        std::printf("rope:            base %g, %d dims, %s, scaling %s (factor %g)\n",
                    c.rope.freq_base, c.rope.n_dims, c.rope.neox ? "neox" : "interleaved",
                    scaling[static_cast<int>(c.rope_scaling)], c.rope_factor);
        std::printf("vocabulary:      %" PRId64 " tokens%s\n", c.n_vocab,
                    c.tied_output ? ", output tied to embeddings" : "");
        std::printf("context length:  %" PRId64 " (training)\n", c.n_ctx_train);
        const ModelSize s = model_size(f, c, kv_type);
        std::string others;  // the same cache in the other types
        for (TensorType t :
             {TensorType::F16, TensorType::BF16, TensorType::Q8_0, TensorType::F32}) {
            if (t == kv_type || !kv_cache_type_error(t, c.kv_k_width()).empty() ||
                !kv_cache_type_error(t, c.kv_v_width()).empty())
                continue;
            others += others.empty() ? "; " : ", ";
            others += kv_cache_type_name(t);
            others += ' ';
            others += human_bytes(static_cast<double>(model_size(f, c, t).kv_bytes_per_token));
        }
        std::printf("KV cache:        %s per token (%s%s%s)\n",
                    human_bytes(static_cast<double>(s.kv_bytes_per_token)).c_str(),
                    kv_cache_type_name(kv_type).c_str(),
                    c.is_mla() ? ", compressed latent + rope key per layer" : "", others.c_str());
        for (int64_t ctx : {int64_t(4096), c.n_ctx_train})
            std::printf(
                "memory needed:   %s at context %" PRId64 " (weights + KV cache)\n",
                human_bytes(static_cast<double>(s.weight_bytes + s.kv_bytes_per_token * ctx))
                    .c_str(),
                ctx);
    } else {
        std::printf("runnable:        no: %s\n", utf8::printable(cfg_error).c_str());
    }

    std::printf("\nmetadata:\n");
    const bool full = args.has("--all-metadata");
    for (const auto& kv : f.metadata()) {
        if (kv.key == "tokenizer.chat_template") continue;
        std::printf("  %-45s %s\n", utf8::printable(kv.key).c_str(), show(kv.value, full).c_str());
    }
    if (auto tmpl = f.get_string("tokenizer.chat_template"))
        std::printf("\nchat template:\n%s\n", utf8::printable(*tmpl, true).c_str());
    else
        std::printf("\nchat template:   (none in the file)\n");

    if (args.has("--tensors")) {
        std::printf("\n%-48s %-7s %-24s %12s %12s\n", "tensor", "type", "shape", "bytes", "offset");
        for (const auto& t : f.tensors()) {
            std::string dims;
            for (size_t i = 0; i < t.dims.size(); ++i)
                dims += (i ? " x " : "") + std::to_string(t.dims[i]);
            std::printf("%-48s %-7s %-24s %12zu %12" PRIu64 "\n", t.name.c_str(),
                        std::string(type_name(t.type)).c_str(), dims.c_str(), t.n_bytes, t.offset);
        }
    }
    return 0;
}

}  // namespace gb::cli
