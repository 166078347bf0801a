// Reads hyper-parameters from GGUF metadata (key names as written by the usual GGUF converters).
#include "engine/model/model_config.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <thread>

#include "engine/core/utf8.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/deepseek2_model.h"
#include "kernels/error.h"

namespace gb {

namespace {

int64_t positive(const GgufFile& f, const std::string& key, int64_t max) {
    int64_t v = f.require_int(key);
    if (v <= 0 || v > max)
        throw Error(f.path() + ": metadata '" + key + "' = " + std::to_string(v) +
                    " is out of range (1.." + std::to_string(max) + ")");
    return v;
}

int64_t optional_count(const GgufFile& f, const std::string& key, int64_t dflt, int64_t lo,
                       int64_t max) {
    const int64_t v = f.get_int(key).value_or(dflt);
    if (v < lo || v > max)
        throw Error(f.path() + ": metadata '" + key + "' = " + std::to_string(v) +
                    " is out of range (" + std::to_string(lo) + ".." + std::to_string(max) + ")");
    return v;
}

// An optional float key that must be finite and within [lo, hi] (NaN and infinities from a
// hostile file are refused here, before they poison every rope angle).
double finite_in(const GgufFile& f, const std::string& key, double dflt, double lo, double hi) {
    const double v = f.get_float(key).value_or(dflt);
    if (!std::isfinite(v) || v < lo || v > hi)
        throw Error(f.path() + ": metadata '" + key + "' = " + std::to_string(v) +
                    " is out of range (" + std::to_string(lo) + ".." + std::to_string(hi) + ")");
    return v;
}

// Layers are counted by ARCH.block_count; a tensor of a layer past that count would be dropped
// without a word (a file that lost layers from its count runs as a shallower, wrong model).
void check_layer_tensors(const GgufFile& f, const std::string& a, int64_t n_layer) {
    for (const auto& t : f.tensors()) {
        if (t.name.rfind("blk.", 0) != 0) continue;
        int64_t layer = 0;
        size_t i = 4;
        for (; i < t.name.size() && t.name[i] >= '0' && t.name[i] <= '9' && i < 14; ++i)
            layer = layer * 10 + (t.name[i] - '0');
        if (i == 4 || i >= t.name.size() || t.name[i] != '.')
            throw Error(f.path() + ": tensor '" + utf8::printable(t.name) +
                        "' has no layer number (blk.N.name expected)");
        if (layer >= n_layer)
            throw Error(f.path() + ": tensor '" + utf8::printable(t.name) + "' belongs to layer " +
                        std::to_string(layer) + ", but metadata '" + a +
                        "block_count' = " + std::to_string(n_layer) +
                        " says the model has only layers 0.." + std::to_string(n_layer - 1));
    }
}

// The MoE hyper-parameters (keys as the usual GGUF converters write them: ARCH.expert_count,
// expert_used_count, expert_feed_forward_length, expert_shared_count, leading_dense_block_count,
// expert_weights_norm, expert_weights_scale, expert_gating_func, expert_group_count,
// expert_group_used_count). Family defaults where a key is absent: qwen3moe renormalises the
// top-k weights (Qwen3-MoE ships norm_topk_prob = true), mixtral always does, olmoe and
// deepseek2 do not.
void read_moe(const GgufFile& f, const std::string& a, ModelConfig& c) {
    // Expert ids are stored as 16-bit numbers in the trace.
    c.n_expert = positive(f, a + "expert_count", 65535);
    c.n_expert_used = positive(f, a + "expert_used_count", 65535);
    if (c.n_expert_used > c.n_expert)
        throw Error(f.path() + ": metadata '" + a +
                    "expert_used_count' = " + std::to_string(c.n_expert_used) + " exceeds '" + a +
                    "expert_count' = " + std::to_string(c.n_expert));
    if (f.find(a + "expert_feed_forward_length"))
        c.n_ff_exp = positive(f, a + "expert_feed_forward_length", 1 << 22);
    else
        c.n_ff_exp = positive(f, a + "feed_forward_length", 1 << 22);
    c.n_expert_shared = optional_count(f, a + "expert_shared_count", 0, 0, 64);
    c.n_layer_dense_lead = optional_count(f, a + "leading_dense_block_count", 0, 0, c.n_layer - 1);

    RouterParams& r = c.router;
    r.n_expert = static_cast<int>(c.n_expert);
    r.n_used = static_cast<int>(c.n_expert_used);
    const ArchInfo& info = arch_info(c.arch);
    r.norm_topk = info.norm_topk_always ||
                  f.get_bool(a + "expert_weights_norm").value_or(info.norm_topk_default);
    r.scale = static_cast<float>(finite_in(f, a + "expert_weights_scale", 1.0, 0.0, 1e4));
    if (r.scale == 0.0f) r.scale = 1.0f;  // converters write 0 for "no scaling"
    const int64_t gating = f.get_int(a + "expert_gating_func").value_or(1);
    if (gating != 1 && gating != 2)
        throw Error(f.path() + ": metadata '" + a + "expert_gating_func' = " +
                    std::to_string(gating) + " is not 1 (softmax) or 2 (sigmoid)");
    r.gating = gating == 2 ? Gating::Sigmoid : Gating::Softmax;
    r.n_group = static_cast<int>(optional_count(f, a + "expert_group_count", 1, 1, c.n_expert));
    r.n_group_used =
        static_cast<int>(optional_count(f, a + "expert_group_used_count", r.n_group, 1, r.n_group));
    // DeepSeek's reference ranks groups by their best two scores when the router has a
    // correction bias (V3, R1) and by the best one otherwise (V2).
    const std::string bias = "blk." + std::to_string(c.n_layer_dense_lead) + ".exp_probs_b.bias";
    c.expert_probs_bias = f.find_tensor(bias) != nullptr;
    r.group_score = c.expert_probs_bias ? GroupScore::Top2Sum : GroupScore::Max;
    if (std::string bad = router_params_error(r); !bad.empty())
        throw Error(f.path() + ": inconsistent expert metadata (" + a + "expert_*): " + bad);
}

}  // namespace

ModelConfig ModelConfig::from_gguf(const GgufFile& f) {
    ModelConfig c;
    c.arch_str = f.require_string("general.architecture");
    if (c.arch_str.find('\0') != std::string::npos || !utf8::is_valid(c.arch_str))
        throw Error(f.path() + ": metadata 'general.architecture' = '" +
                    utf8::printable(c.arch_str) +
                    "' holds a NUL byte or ill-formed UTF-8; it is not an architecture name");
    const ArchInfo* info =
        arch_from_gguf(c.arch_str, f.get_int(c.arch_str + ".expert_count").value_or(0) > 0);
    if (!info)
        throw Error(f.path() + ": unsupported architecture '" + utf8::printable(c.arch_str) +
                    "' (supported: " + supported_gguf_architectures() + ")");
    c.arch = info->arch;
    const bool moe = info->moe;
    c.name = f.get_string("general.name").value_or("");
    const std::string a = c.arch_str + ".";

    c.n_embd = positive(f, a + "embedding_length", 1 << 20);
    c.n_layer = positive(f, a + "block_count", 4096);
    if (moe) read_moe(f, a, c);
    // MoE files need feed_forward_length only for dense layers (or as the expert width).
    c.n_ff = moe && !f.find(a + "feed_forward_length")
                 ? c.n_ff_exp
                 : positive(f, a + "feed_forward_length", 1 << 22);
    c.n_head = positive(f, a + "attention.head_count", 4096);
    c.n_head_kv = f.find(a + "attention.head_count_kv")
                      ? positive(f, a + "attention.head_count_kv", 4096)
                      : c.n_head;
    c.n_ctx_train = positive(f, a + "context_length", int64_t(1) << 24);
    if (c.n_head % c.n_head_kv != 0)
        throw Error(f.path() + ": attention.head_count " + std::to_string(c.n_head) +
                    " is not a multiple of head_count_kv " + std::to_string(c.n_head_kv));
    if (info->forward == Forward::LatentAttention) {
        read_deepseek2_attention(f, a, c);  // MLA: per-head sizes differ for q/k and v
    } else {
        c.head_dim = f.find(a + "attention.key_length")
                         ? positive(f, a + "attention.key_length", 4096)
                         : c.n_embd / c.n_head;
        if (auto vl = f.get_int(a + "attention.value_length"); vl && *vl != c.head_dim)
            throw Error(f.path() + ": attention.value_length " + std::to_string(*vl) +
                        " differs from key_length " + std::to_string(c.head_dim) +
                        " (not supported)");
        if (!f.find(a + "attention.key_length") && c.n_embd % c.n_head != 0)
            throw Error(f.path() + ": embedding_length is not a multiple of attention.head_count");
    }
    c.rms_eps = static_cast<float>(f.require_float(a + "attention.layer_norm_rms_epsilon"));
    if (!(c.rms_eps > 0 && c.rms_eps < 1))
        throw Error(f.path() + ": attention.layer_norm_rms_epsilon out of range (0, 1)");
    // Qwen2 always has q/k/v biases; Llama has them (and one on the output) with attention_bias.
    c.qkv_bias = info->qkv_bias || f.find_tensor("blk.0.attn_q.bias") != nullptr;
    c.o_bias = f.find_tensor("blk.0.attn_output.bias") != nullptr;  // Llama's attention_bias
    c.qk_norm = info->qk_norm != QkNorm::None;
    c.qk_norm_full = info->qk_norm == QkNorm::Full;

    RopeParams& r = c.rope;
    const int64_t n_dims = f.get_int(a + "rope.dimension_count").value_or(c.head_dim);
    if (n_dims <= 0 || n_dims > c.head_dim || n_dims % 2)
        throw Error(f.path() + ": rope.dimension_count " + std::to_string(n_dims) +
                    " must be even and at most the head size " + std::to_string(c.head_dim));
    r.n_dims = static_cast<int>(n_dims);
    const double base = f.get_float(a + "rope.freq_base").value_or(10000.0);
    if (!(base > 1.0) || !(base <= 1e12))
        throw Error(f.path() + ": rope.freq_base = " + std::to_string(base) +
                    " must be a finite number > 1 (at most 1e12)");
    r.freq_base = static_cast<float>(base);
    // llama (and mixtral) files store Q/K permuted for interleaved pairs; deepseek2 rotates
    // interleaved pairs too (DeepSeek's own rope layout).
    r.neox = info->rope_neox;
    r.n_ctx_orig = static_cast<int>(c.n_ctx_train);

    std::string type = f.get_string(a + "rope.scaling.type").value_or("");
    float factor = static_cast<float>(finite_in(f, a + "rope.scaling.factor", 0.0, 0.0, 1024.0));
    if (auto lin = f.get_float(a + "rope.scale_linear"); lin && type.empty()) {
        type = "linear";
        factor = static_cast<float>(finite_in(f, a + "rope.scale_linear", 1.0, 0.0, 1024.0));
    }
    if (!type.empty() && type != "none" && type != "linear" && type != "yarn" && type != "llama3")
        throw Error(f.path() + ": unsupported rope.scaling.type '" + utf8::printable(type) +
                    "' (supported: none, linear, yarn, llama3)");
    if (type.empty() || type == "none" || factor == 0.0f || factor == 1.0f) {
        c.rope_scaling = RopeScaling::None;
    } else if (type == "linear" || type == "yarn") {
        if (!(factor > 0 && factor < 1024))
            throw Error(f.path() + ": rope.scaling.factor " + std::to_string(factor) +
                        " out of range");
        c.rope_factor = factor;
        r.freq_scale = 1.0f / factor;
        if (type == "yarn") {
            c.rope_scaling = RopeScaling::Yarn;
            r.ext_factor = 1.0f;
            r.attn_factor =
                static_cast<float>(finite_in(f, a + "rope.scaling.attn_factor", 1.0, 1e-3, 100.0));
            r.beta_fast = static_cast<float>(
                finite_in(f, a + "rope.scaling.yarn_beta_fast", 32.0, 1e-3, 1e4));
            r.beta_slow =
                static_cast<float>(finite_in(f, a + "rope.scaling.yarn_beta_slow", 1.0, 1e-3, 1e4));
            r.n_ctx_orig = static_cast<int>(optional_count(
                f, a + "rope.scaling.original_context_length", r.n_ctx_orig, 1, int64_t(1) << 24));
        } else {
            c.rope_scaling = RopeScaling::Linear;
        }
    } else if (type == "llama3") {
        c.rope_scaling = RopeScaling::Llama3;  // per-dimension factors come as rope_freqs.weight
        c.rope_factor = factor;
    } else {
        throw Error(f.path() + ": unsupported rope.scaling.type '" + type + "'");
    }

    const GgufTensorInfo* emb = f.find_tensor("token_embd.weight");
    if (!emb || emb->dims.size() != 2)
        throw Error(f.path() + ": missing or malformed tensor 'token_embd.weight'");
    c.n_vocab = emb->dims[1];
    check_layer_tensors(f, a, c.n_layer);
    c.tied_output = f.find_tensor("output.weight") == nullptr;
    return c;
}

namespace {
int hardware_threads() {
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}
}  // namespace

int max_threads() { return std::min(512, std::max(8, 4 * hardware_threads())); }

int resolve_threads(int64_t requested) {
    if (requested == 0) return hardware_threads();
    if (requested < 0 || requested > max_threads())
        throw Error("threads " + std::to_string(requested) + " is out of range (1.." +
                    std::to_string(max_threads()) + ", or 0 for all " +
                    std::to_string(hardware_threads()) +
                    " hardware threads): more threads than cores only slow the workers down");
    return static_cast<int>(requested);
}

void RunSettings::validate(const ModelConfig& c) {
    if (n_ctx == 0) n_ctx = c.n_ctx_train;
    if (n_ctx < 16 || n_ctx > (int64_t(1) << 22))
        throw Error("context length " + std::to_string(n_ctx) + " is out of range (16..4194304)");
    n_threads = resolve_threads(n_threads);
    if (n_batch < 1 || n_batch > 8192)
        throw Error("batch size " + std::to_string(n_batch) + " is out of range (1..8192)");
    if ((n_cpu_layers < 0 && n_cpu_layers != kAutoCpuLayers) || n_cpu_layers > c.n_layer)
        throw Error("CPU layers " + std::to_string(n_cpu_layers) + " is out of range (0.." +
                    std::to_string(c.n_layer) + ", the model's layer count)");
    for (int64_t w : {c.kv_k_width(), c.kv_v_width()})
        if (const std::string bad = kv_cache_type_error(kv_type, w); !bad.empty())
            throw Error("KV cache type: " + bad);
}

}  // namespace gb
