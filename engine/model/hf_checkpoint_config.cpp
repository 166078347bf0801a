// config.json -> hyper-parameters and the GGUF metadata keys a GGUF converter writes for them
// (general.architecture, ARCH.block_count, ARCH.rope.*, ARCH.expert_*, ...).
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>

#include "engine/model/hf_checkpoint_plan.h"
#include "kernels/error.h"

namespace gb::hf {
namespace {

using K = json::Value::Kind;

// Typed access to one JSON object of config.json; null counts as absent (HF writes
// "head_dim": null and the like). Errors name the file and the key.
class Cfg {
public:
    Cfg(const json::Value& v, std::string where) : v_(v), where_(std::move(where)) {}

    const json::Value* get(std::string_view key) const {
        const json::Value* x = v_.kind() == K::Object ? v_.find(key) : nullptr;
        return x && !x->is_null() ? x : nullptr;
    }
    [[noreturn]] void fail(std::string_view key, const std::string& what) const {
        throw Error(where_ + ": '" + std::string(key) + "' " + what);
    }
    std::optional<int64_t> opt_int(std::string_view key, int64_t lo, int64_t hi) const {
        const json::Value* x = get(key);
        if (!x) return std::nullopt;
        int64_t v = 0;
        try {
            v = x->as_int64();
        } catch (const Error&) {
            fail(key, std::string("is ") + json::kind_name(x->kind()) +
                          (x->kind() == K::Number ? " that is not an integer" : "") +
                          ", expected an integer");
        }
        if (v < lo || v > hi)
            fail(key, "= " + std::to_string(v) + " is out of range (" + std::to_string(lo) + ".." +
                          std::to_string(hi) + ")");
        return v;
    }
    int64_t req_int(std::string_view key, int64_t lo, int64_t hi) const {
        auto v = opt_int(key, lo, hi);
        if (!v) fail(key, "is missing (a required hyper-parameter)");
        return *v;
    }
    std::optional<double> opt_num(std::string_view key) const {
        const json::Value* x = get(key);
        if (!x) return std::nullopt;
        if (x->kind() != K::Number)
            fail(key, std::string("is ") + json::kind_name(x->kind()) + ", expected a number");
        const double v = x->as_number();
        if (!std::isfinite(v)) fail(key, "is not finite");
        return v;
    }
    double req_num(std::string_view key) const {
        auto v = opt_num(key);
        if (!v) fail(key, "is missing (a required hyper-parameter)");
        return *v;
    }
    // A number within [lo, hi] (each bound exclusive when `open`): every float hyper-parameter
    // becomes an F32 GGUF value, and one past float range (1e39) or of the wrong sign would
    // turn into inf or a silently wrong model.
    std::optional<double> opt_num(std::string_view key, double lo, double hi,
                                  bool open_lo = false) const {
        auto v = opt_num(key);
        if (v && ((open_lo ? !(*v > lo) : !(*v >= lo)) || !(*v <= hi)))
            fail(key, "= " + fmt_num(*v) + " is out of range " + (open_lo ? "(" : "[") +
                          fmt_num(lo) + ", " + fmt_num(hi) + "]");
        return v;
    }
    double req_num(std::string_view key, double lo, double hi, bool open_lo = false) const {
        auto v = opt_num(key, lo, hi, open_lo);
        if (!v) fail(key, "is missing (a required hyper-parameter)");
        return *v;
    }
    static std::string fmt_num(double v) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", v);
        return buf;
    }
    bool opt_bool(std::string_view key, bool def) const {
        const json::Value* x = get(key);
        if (!x) return def;
        if (x->kind() != K::Bool)
            fail(key, std::string("is ") + json::kind_name(x->kind()) + ", expected true/false");
        return x->as_bool();
    }
    std::optional<std::string> opt_str(std::string_view key) const {
        const json::Value* x = get(key);
        if (!x) return std::nullopt;
        if (x->kind() != K::String)
            fail(key, std::string("is ") + json::kind_name(x->kind()) + ", expected a string");
        return x->as_string();
    }

private:
    const json::Value& v_;
    std::string where_;
};

constexpr int64_t kMaxDim = int64_t{1} << 20;
constexpr double kMaxFloatParam = 1e30;  // well inside float range

void u32(std::vector<GgufKV>& kv, const std::string& key, int64_t v) {
    kv.push_back({key, GgufValue::u32(static_cast<uint32_t>(v))});
}
void f32(std::vector<GgufKV>& kv, const std::string& key, double v) {
    // Callers range-check; a double past float range would make the cast undefined.
    if (!(std::fabs(v) <= std::numeric_limits<float>::max()))
        throw Error("config.json: " + key + " = " + std::to_string(v) + " does not fit a float");
    kv.push_back({key, GgufValue::f32(static_cast<float>(v))});
}

// Llama 3.1 rope scaling: per frequency pair, high frequencies are kept, low ones divided by
// `factor`, and those between blended smoothly by wavelength.
std::vector<float> llama3_factors(double theta, int64_t n_dims, double factor, double lo, double hi,
                                  double orig) {
    std::vector<float> out;
    for (int64_t i = 0; i < n_dims; i += 2) {
        const double wavelen = 2 * M_PI * std::pow(theta, static_cast<double>(i) / n_dims);
        if (wavelen < orig / hi) {
            out.push_back(1.0f);
        } else if (wavelen > orig / lo) {
            out.push_back(static_cast<float>(factor));
        } else {
            const double smooth = (orig / wavelen - lo) / (hi - lo);
            out.push_back(static_cast<float>(1.0 / ((1 - smooth) / factor + smooth)));
        }
    }
    return out;
}

// YaRN's attention temperature for a context stretched by `factor` (Peng et al. 2023):
// 0.1 * m * ln(factor) + 1, as DeepSeek's config parameterises it with mscale m.
double yarn_mscale(double factor, double m) {
    return factor <= 1 ? 1.0 : 0.1 * m * std::log(factor) + 1.0;
}

void read_rope(const Cfg& c, const std::string& where, Hparams& h, int64_t rope_dims,
               std::vector<GgufKV>& kv) {
    const std::string a = h.gguf_arch + ".";
    // transformers >= 5 writes rope_parameters (theta included); older files rope_theta at the
    // top and an optional rope_scaling object.
    const json::Value* rp = c.get("rope_parameters");
    if (!rp) rp = c.get("rope_scaling");
    if (rp && rp->kind() != K::Object)
        throw Error(where + ": 'rope_parameters' / 'rope_scaling' is not an object");
    static const json::Value kEmpty = json::Value::from_object({});
    const Cfg r(rp ? *rp : kEmpty,
                where + " rope " + (c.get("rope_parameters") ? "rope_parameters" : "rope_scaling"));
    // Real bases run from 1e4 to 1e8; the model loader takes up to 1e12.
    const double theta = r.opt_num("rope_theta", 1, 1e12, true)
                             .value_or(c.opt_num("rope_theta", 1, 1e12, true).value_or(1e4));
    f32(kv, a + "rope.freq_base", theta);
    u32(kv, a + "rope.dimension_count", rope_dims);

    std::string type = r.opt_str("rope_type").value_or(r.opt_str("type").value_or("default"));
    if (type == "default" || type == "none") return;
    if (type != "linear" && type != "yarn" && type != "llama3")
        r.fail("rope_type", "'" + type + "' is not supported (default, linear, yarn, llama3)");
    const double factor = r.req_num("factor");
    if (!(factor >= 1 && factor < 1024)) r.fail("factor", "is out of range [1, 1024)");
    if (type == "linear") {
        kv.push_back({a + "rope.scaling.type", GgufValue::str("linear")});
        f32(kv, a + "rope.scaling.factor", factor);
    } else if (type == "yarn") {
        kv.push_back({a + "rope.scaling.type", GgufValue::str("yarn")});
        f32(kv, a + "rope.scaling.factor", factor);
        u32(kv, a + "rope.scaling.original_context_length",
            r.opt_int("original_max_position_embeddings", 1, int64_t{1} << 24).value_or(h.n_ctx));
        if (auto af = r.opt_num("attention_factor", 1e-3, 100))
            f32(kv, a + "rope.scaling.attn_factor", *af);
        // YaRN's ramp runs between the two (Peng et al. 2023: beta_fast 32, beta_slow 1). The
        // ranges are the model loader's, so errors name config.json's keys, not GGUF's.
        const auto bf = r.opt_num("beta_fast", 1e-3, 1e4);
        const auto bs = r.opt_num("beta_slow", 1e-3, 1e4);
        if (!(bs.value_or(1) < bf.value_or(32)))
            r.fail("beta_slow", "= " + Cfg::fmt_num(bs.value_or(1)) + " is not below beta_fast " +
                                    Cfg::fmt_num(bf.value_or(32)));
        if (bf) f32(kv, a + "rope.scaling.yarn_beta_fast", *bf);
        if (bs) f32(kv, a + "rope.scaling.yarn_beta_slow", *bs);
        if (h.arch == Arch::Deepseek2) {
            // DeepSeek scales attention by mscale(factor, mscale_all_dim)^2 and the rotary
            // cos/sin by mscale(factor, mscale) / mscale(factor, mscale_all_dim).
            // Both must keep 0.1 m ln(factor) + 1 positive: they are divided by.
            const double all = r.opt_num("mscale_all_dim", 0, 100).value_or(0.0);
            f32(kv, a + "rope.scaling.yarn_log_multiplier", 0.1 * all);
            if (auto ms = r.opt_num("mscale", 0, 100);
                ms && *ms != all && !r.get("attention_factor"))
                f32(kv, a + "rope.scaling.attn_factor",
                    yarn_mscale(factor, *ms) / yarn_mscale(factor, all));
        }
    } else if (type == "llama3") {
        // As GGUF files do: no scaling type, the per-pair divisors as rope_freqs.weight.
        // The smooth blend divides by high - low and by each (Llama 3.1: 1 and 4).
        const double lo = r.req_num("low_freq_factor", 0, 1e6, true);
        const double hi = r.req_num("high_freq_factor", 0, 1e6, true);
        if (!(hi > lo))
            r.fail("high_freq_factor",
                   "= " + Cfg::fmt_num(hi) + " is not above low_freq_factor " + Cfg::fmt_num(lo));
        h.rope_freqs = llama3_factors(theta, rope_dims, factor, lo, hi,
                                      r.req_num("original_max_position_embeddings", 1,
                                                static_cast<double>(int64_t{1} << 24)));
    } else {
        r.fail("rope_type", "'" + type + "' is not supported (default, linear, yarn, llama3)");
    }
}

}  // namespace

Hparams read_hparams(const json::Value& root, const std::string& where, std::vector<GgufKV>& kv) {
    if (root.kind() != K::Object) throw Error(where + ": not a JSON object");
    const Cfg c(root, where);
    Hparams h;
    const json::Value* archs = c.get("architectures");
    if (!archs || archs->kind() != K::Array || archs->as_array().empty() ||
        archs->as_array()[0].kind() != K::String)
        throw Error(where + ": 'architectures' is missing or not a list of class names");
    h.hf_arch = archs->as_array()[0].as_string();
    const ArchInfo* info = arch_from_hf(h.hf_arch);
    if (!info)
        throw Error(where + ": unsupported architecture '" + h.hf_arch +
                    "' (supported: " + supported_hf_architectures() + ")");
    h.arch = info->arch;
    h.gguf_arch = info->gguf;
    h.deepseek_v3 = h.hf_arch == "DeepseekV3ForCausalLM";
    const std::string a = h.gguf_arch + ".";
    const bool moe = info->moe;

    h.n_vocab = c.req_int("vocab_size", 1, int64_t{1} << 24);
    h.n_embd = c.req_int("hidden_size", 1, kMaxDim);
    h.n_layer = c.req_int("num_hidden_layers", 1, 4096);
    h.n_head = c.req_int("num_attention_heads", 1, 4096);
    h.n_head_kv = c.opt_int("num_key_value_heads", 1, 4096).value_or(h.n_head);
    h.n_ff = c.req_int("intermediate_size", 1, kMaxDim);
    h.n_ctx = c.req_int("max_position_embeddings", 1, int64_t{1} << 24);
    const double eps = c.req_num("rms_norm_eps");
    if (!(eps > 0 && eps < 1)) c.fail("rms_norm_eps", "is out of range (0, 1)");
    h.tied = c.opt_bool("tie_word_embeddings", false);
    if (h.n_head % h.n_head_kv != 0)
        c.fail("num_attention_heads", std::to_string(h.n_head) +
                                          " is not a multiple of num_key_value_heads " +
                                          std::to_string(h.n_head_kv));

    kv.push_back({"general.architecture", GgufValue::str(h.gguf_arch)});
    u32(kv, a + "context_length", h.n_ctx);
    u32(kv, a + "embedding_length", h.n_embd);
    u32(kv, a + "block_count", h.n_layer);
    u32(kv, a + "feed_forward_length", h.n_ff);
    u32(kv, a + "attention.head_count", h.n_head);
    u32(kv, a + "attention.head_count_kv", h.n_head_kv);
    f32(kv, a + "attention.layer_norm_rms_epsilon", eps);
    u32(kv, a + "vocab_size", h.n_vocab);

    int64_t rope_dims = 0;
    if (info->forward == Forward::LatentAttention) {
        h.q_lora = c.opt_int("q_lora_rank", 1, kMaxDim).value_or(0);
        h.kv_lora = c.req_int("kv_lora_rank", 1, kMaxDim);
        h.qk_nope = c.req_int("qk_nope_head_dim", 1, 4096);
        h.qk_rope = c.req_int("qk_rope_head_dim", 2, 4096);
        h.v_head = c.req_int("v_head_dim", 1, 4096);
        if (h.qk_rope % 2) c.fail("qk_rope_head_dim", "must be even");
        if (!c.opt_bool("rope_interleave", true))
            c.fail("rope_interleave", "false is not supported (DeepSeek rope is interleaved)");
        if (h.q_lora) u32(kv, a + "attention.q_lora_rank", h.q_lora);
        u32(kv, a + "attention.kv_lora_rank", h.kv_lora);
        u32(kv, a + "attention.key_length", h.qk_nope + h.qk_rope);
        u32(kv, a + "attention.value_length", h.v_head);
        rope_dims = h.qk_rope;
    } else {
        const auto hd = c.opt_int("head_dim", 1, 4096);
        if (!hd && h.n_embd % h.n_head != 0)
            c.fail("hidden_size", "is not a multiple of num_attention_heads (and no head_dim)");
        h.head_dim = hd.value_or(h.n_embd / h.n_head);
        if (hd || info->qk_norm == QkNorm::PerHead) {
            u32(kv, a + "attention.key_length", h.head_dim);
            u32(kv, a + "attention.value_length", h.head_dim);
        }
        const double partial = c.opt_num("partial_rotary_factor", 0, 1, true).value_or(1.0);
        rope_dims = static_cast<int64_t>(std::lround(static_cast<double>(h.head_dim) * partial));
        if (rope_dims < 2 || rope_dims > h.head_dim || rope_dims % 2)
            c.fail("partial_rotary_factor",
                   "gives " + std::to_string(rope_dims) +
                       " rotary dimensions; need an even count <= " + std::to_string(h.head_dim));
    }
    read_rope(c, where, h, rope_dims, kv);

    if (info->qkv_bias) h.attn_bias = true;
    if (h.arch == Arch::Llama || h.arch == Arch::Mixtral) {
        h.attn_bias = h.o_bias = c.opt_bool("attention_bias", false);
        if (c.opt_bool("mlp_bias", false)) c.fail("mlp_bias", "true is not supported");
    }
    if (h.arch == Arch::Olmoe)
        if (auto clip = c.opt_num("clip_qkv", 0, kMaxFloatParam, true))
            f32(kv, a + "attention.clamp_kqv", *clip);

    if (moe) {
        // Qwen-style configs name the count num_experts; some write num_local_experts.
        const char* n_key =
            std::string_view(info->hf_expert_count) == "num_experts" && !c.get("num_experts")
                ? "num_local_experts"
                : info->hf_expert_count;
        h.n_expert = c.req_int(n_key, 1, 1 << 16);
        h.n_expert_used = c.req_int("num_experts_per_tok", 1, 1 << 16);
        if (h.n_expert_used > h.n_expert)
            c.fail("num_experts_per_tok", "= " + std::to_string(h.n_expert_used) + " exceeds the " +
                                              std::to_string(h.n_expert) + " experts of '" + n_key +
                                              "'");
        u32(kv, a + "expert_count", h.n_expert);
        u32(kv, a + "expert_used_count", h.n_expert_used);
        h.n_ff_exp = h.n_ff;
        if (info->hf_moe_ff) {
            h.n_ff_exp = c.req_int("moe_intermediate_size", 1, kMaxDim);
            u32(kv, a + "expert_feed_forward_length", h.n_ff_exp);
        }
        if (!info->norm_topk_always)
            kv.push_back({a + "expert_weights_norm",
                          GgufValue::boolean(c.opt_bool("norm_topk_prob", false))});
        if (h.arch == Arch::Qwen3Moe) {
            if (c.opt_int("decoder_sparse_step", 0, 4096).value_or(1) != 1)
                c.fail("decoder_sparse_step",
                       "other than 1 (dense layers between MoE layers) "
                       "is not supported");
            if (const json::Value* m = c.get("mlp_only_layers");
                m && (m->kind() != K::Array || !m->as_array().empty()))
                c.fail("mlp_only_layers",
                       "is not empty (dense layers in a MoE model) and that "
                       "is not supported");
        }
    }
    if (h.arch == Arch::Deepseek2) {
        h.n_dense_lead = c.opt_int("first_k_dense_replace", 0, h.n_layer).value_or(0);
        h.n_shared = c.opt_int("n_shared_experts", 0, 1 << 16).value_or(0);
        if (c.opt_int("moe_layer_freq", 1, 4096).value_or(1) != 1)
            c.fail("moe_layer_freq", "other than 1 is not supported");
        u32(kv, a + "leading_dense_block_count", h.n_dense_lead);
        u32(kv, a + "expert_shared_count", h.n_shared);
        f32(kv, a + "expert_weights_scale",
            c.opt_num("routed_scaling_factor", 0, 1e4, true).value_or(1.0));
        // DeepSeek V3 routes by sigmoid scores; V2 by softmax (the gating-function ids are
        // those of GGUF: 1 softmax, 2 sigmoid).
        const std::string scoring =
            c.opt_str("scoring_func").value_or(h.deepseek_v3 ? "sigmoid" : "softmax");
        if (scoring != "softmax" && scoring != "sigmoid")
            c.fail("scoring_func", "'" + scoring + "' is not supported (softmax, sigmoid)");
        u32(kv, a + "expert_gating_func", scoring == "softmax" ? 1 : 2);
        const std::string method =
            c.opt_str("topk_method").value_or(h.deepseek_v3 ? "noaux_tc" : "greedy");
        if (method != "greedy" && method != "group_limited_greedy" && method != "noaux_tc")
            c.fail("topk_method", "'" + method + "' is not supported");
        h.score_bias = method == "noaux_tc";
        const auto groups = c.opt_int("n_group", 1, 1 << 16);
        const auto groups_used = c.opt_int("topk_group", 1, 1 << 16);
        if (groups && method != "greedy") {
            if (h.n_expert % *groups != 0)
                c.fail("n_group", "= " + std::to_string(*groups) + " does not divide the " +
                                      std::to_string(h.n_expert) + " routed experts");
            if (groups_used.value_or(*groups) > *groups) c.fail("topk_group", "exceeds n_group");
            u32(kv, a + "expert_group_count", *groups);
            u32(kv, a + "expert_group_used_count", groups_used.value_or(*groups));
        }
    }
    return h;
}

}  // namespace gb::hf
