// gb_synthetic_model: writes a GGUF with the exact tensor shapes and quantisation mix of a real
// model, filled with random weights, for benchmarking where no weights can be downloaded
// (tools/gpu_check.sh). Prints key=value facts the roofline summary needs.
//
//   gb_synthetic_model r1-distill-qwen-7b|qwen3-30b-a3b OUT.gguf
//
// Shapes are the published configs (DeepSeek-R1-Distill-Qwen-7B: Qwen2.5-7B's; Qwen3-30B-A3B).
// The Q4_K_M mix follows how llama.cpp assigns it: Q4_K everywhere, Q6_K for output.weight and,
// in the first and last eighth of the layers and every third layer between, for attn_v and
// ffn_down (the expert stack ffn_down_exps in MoE models); vectors and the router stay F32.
// Values are random: quantised blocks get random codes from a shared pool with small fixed
// scales (so activations stay finite), F32 norms are 1, the router is N(0, 0.02).
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/gguf/gguf_writer.h"
#include "kernels/cpu/half.h"
#include "kernels/error.h"
#include "kernels/tensor_type.h"

namespace {

using gb::TensorType;

struct Shape {
    std::string arch, name;
    int64_t n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_ctx;
    int64_t n_expert = 0, n_used = 0, n_ff_exp = 0;
    float rope_base;
    bool qkv_bias = false, qk_norm = false;
};

Shape shape_of(const std::string& which) {
    if (which == "r1-distill-qwen-7b")
        return Shape{"qwen2", "synthetic DeepSeek-R1-Distill-Qwen-7B",
                     3584,    28,
                     28,      4,
                     128,     18944,
                     152064,  131072,
                     0,       0,
                     0,       10000.0f,
                     true,    false};
    if (which == "qwen3-30b-a3b")
        return Shape{"qwen3moe", "synthetic Qwen3-30B-A3B",
                     2048,       48,
                     32,         4,
                     128,        6144,
                     151936,     40960,
                     128,        8,
                     768,        1e6f,
                     false,      true};
    throw gb::Error("unknown model '" + which + "' (r1-distill-qwen-7b or qwen3-30b-a3b)");
}

// llama.cpp's "use more bits" layers of Q4_K_M.
bool more_bits(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

// 64 MiB of random bytes, reused for every quantised tensor at a shifting offset.
const std::vector<uint8_t>& pool() {
    static const std::vector<uint8_t> p = [] {
        std::vector<uint8_t> v(size_t{64} << 20);
        uint64_t s = 0x9e3779b97f4a7c15ull;
        for (size_t i = 0; i < v.size(); i += 8) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            std::memcpy(v.data() + i, &s, 8);
        }
        return v;
    }();
    return p;
}

struct Stats {
    int64_t weight_bytes = 0, decode_bytes = 0, prefill_params = 0;
};

class Builder {
public:
    Builder(gb::GgufWriter& w, const Shape& s, Stats& st) : w_(w), s_(s), st_(st) {}

    // A matrix [rows x cols] (n_mat stacked), counted in the per-token traffic and work: only
    // `used` of n_mat matrices are read per token; token_embd is a lookup, output runs on one
    // row per prompt in bench (prefill counts it out).
    void matrix(const std::string& name, TensorType t, int64_t cols, int64_t rows,
                int64_t n_mat = 1, int64_t used = 1, bool lookup = false,
                bool last_row_only = false) {
        std::vector<int64_t> dims = {cols, rows};
        if (n_mat > 1) dims.push_back(n_mat);
        const int64_t bytes = static_cast<int64_t>(gb::row_bytes(t, cols)) * rows * n_mat;
        st_.weight_bytes += bytes;
        if (!lookup) st_.decode_bytes += bytes / n_mat * used;
        if (!lookup && !last_row_only) st_.prefill_params += cols * rows * used;
        const size_t block = gb::type_info(t).block_bytes;
        const size_t shift = (++count_ * 4099) % (size_t{1} << 20);
        w_.add_tensor_fill(name, t, dims, [=](uint8_t* dst) {
            const auto& p = pool();
            for (size_t off = 0; off < static_cast<size_t>(bytes);) {
                const size_t n = std::min(static_cast<size_t>(bytes) - off, p.size() - shift);
                std::memcpy(dst + off, p.data() + shift, n);
                off += n;
            }
            const uint16_t d = gb::cpu::float_to_fp16(1e-4f);
            for (size_t b = 0; b < static_cast<size_t>(bytes); b += block) {
                if (t == TensorType::Q6_K) {
                    std::memcpy(dst + b + 208, &d, 2);
                } else {
                    std::memcpy(dst + b, &d, 2);
                    std::memcpy(dst + b + 2, &d, 2);  // Q4_K/Q5_K dmin (Q8_0/Q4_0: first quants)
                }
            }
        });
    }

    void vector(const std::string& name, int64_t n, float value) {
        st_.weight_bytes += 4 * n;
        w_.add_tensor_fill(name, TensorType::F32, {n}, [=](uint8_t* dst) {
            for (int64_t i = 0; i < n; ++i) std::memcpy(dst + 4 * i, &value, 4);
        });
    }

    void router(const std::string& name, int64_t cols, int64_t rows) {
        st_.weight_bytes += 4 * cols * rows;
        st_.decode_bytes += 4 * cols * rows;
        st_.prefill_params += cols * rows;
        w_.add_tensor_fill(name, TensorType::F32, {cols, rows}, [=](uint8_t* dst) {
            std::mt19937 rng(static_cast<uint32_t>(rows));
            std::normal_distribution<float> nd(0.0f, 0.02f);
            for (int64_t i = 0; i < cols * rows; ++i) {
                const float v = nd(rng);
                std::memcpy(dst + 4 * i, &v, 4);
            }
        });
    }

private:
    gb::GgufWriter& w_;
    const Shape& s_;
    Stats& st_;
    size_t count_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr,
                     "usage: gb_synthetic_model r1-distill-qwen-7b|qwen3-30b-a3b OUT.gguf\n");
        return 2;
    }
    try {
        const Shape s = shape_of(argv[1]);
        gb::GgufWriter w;
        const std::string a = s.arch + ".";
        w.set("general.architecture", gb::GgufValue::str(s.arch));
        w.set("general.name", gb::GgufValue::str(s.name));
        w.set(a + "embedding_length", gb::GgufValue::u32(static_cast<uint32_t>(s.n_embd)));
        w.set(a + "block_count", gb::GgufValue::u32(static_cast<uint32_t>(s.n_layer)));
        w.set(a + "feed_forward_length", gb::GgufValue::u32(static_cast<uint32_t>(s.n_ff)));
        w.set(a + "attention.head_count", gb::GgufValue::u32(static_cast<uint32_t>(s.n_head)));
        w.set(a + "attention.head_count_kv",
              gb::GgufValue::u32(static_cast<uint32_t>(s.n_head_kv)));
        w.set(a + "attention.key_length", gb::GgufValue::u32(static_cast<uint32_t>(s.head_dim)));
        w.set(a + "attention.value_length", gb::GgufValue::u32(static_cast<uint32_t>(s.head_dim)));
        w.set(a + "context_length", gb::GgufValue::u32(static_cast<uint32_t>(s.n_ctx)));
        w.set(a + "attention.layer_norm_rms_epsilon", gb::GgufValue::f32(1e-6f));
        w.set(a + "rope.freq_base", gb::GgufValue::f32(s.rope_base));
        if (s.n_expert > 0) {
            w.set(a + "expert_count", gb::GgufValue::u32(static_cast<uint32_t>(s.n_expert)));
            w.set(a + "expert_used_count", gb::GgufValue::u32(static_cast<uint32_t>(s.n_used)));
            w.set(a + "expert_feed_forward_length",
                  gb::GgufValue::u32(static_cast<uint32_t>(s.n_ff_exp)));
        }
        Stats st;
        Builder b(w, s, st);
        const int64_t qw = s.n_head * s.head_dim, kv = s.n_head_kv * s.head_dim;
        b.matrix("token_embd.weight", TensorType::Q4_K, s.n_embd, s.n_vocab, 1, 1, true);
        b.vector("output_norm.weight", s.n_embd, 1.0f);
        b.matrix("output.weight", TensorType::Q6_K, s.n_embd, s.n_vocab, 1, 1, false, true);
        for (int64_t l = 0; l < s.n_layer; ++l) {
            const std::string p = "blk." + std::to_string(l) + ".";
            const TensorType hi = more_bits(l, s.n_layer) ? TensorType::Q6_K : TensorType::Q4_K;
            b.vector(p + "attn_norm.weight", s.n_embd, 1.0f);
            b.matrix(p + "attn_q.weight", TensorType::Q4_K, s.n_embd, qw);
            b.matrix(p + "attn_k.weight", TensorType::Q4_K, s.n_embd, kv);
            b.matrix(p + "attn_v.weight", hi, s.n_embd, kv);
            b.matrix(p + "attn_output.weight", TensorType::Q4_K, qw, s.n_embd);
            if (s.qkv_bias) {
                b.vector(p + "attn_q.bias", qw, 0.0f);
                b.vector(p + "attn_k.bias", kv, 0.0f);
                b.vector(p + "attn_v.bias", kv, 0.0f);
            }
            if (s.qk_norm) {
                b.vector(p + "attn_q_norm.weight", s.head_dim, 1.0f);
                b.vector(p + "attn_k_norm.weight", s.head_dim, 1.0f);
            }
            b.vector(p + "ffn_norm.weight", s.n_embd, 1.0f);
            if (s.n_expert > 0) {
                b.router(p + "ffn_gate_inp.weight", s.n_embd, s.n_expert);
                b.matrix(p + "ffn_gate_exps.weight", TensorType::Q4_K, s.n_embd, s.n_ff_exp,
                         s.n_expert, s.n_used);
                b.matrix(p + "ffn_up_exps.weight", TensorType::Q4_K, s.n_embd, s.n_ff_exp,
                         s.n_expert, s.n_used);
                b.matrix(p + "ffn_down_exps.weight", hi, s.n_ff_exp, s.n_embd, s.n_expert,
                         s.n_used);
            } else {
                b.matrix(p + "ffn_gate.weight", TensorType::Q4_K, s.n_embd, s.n_ff);
                b.matrix(p + "ffn_up.weight", TensorType::Q4_K, s.n_embd, s.n_ff);
                b.matrix(p + "ffn_down.weight", hi, s.n_ff, s.n_embd);
            }
        }
        w.write(argv[2]);
        std::printf(
            "file=%s\nweight_bytes=%lld\ndecode_bytes_per_token=%lld\n"
            "prefill_params_per_token=%lld\nn_layer=%lld\nn_head=%lld\nhead_dim=%lld\n",
            argv[2], static_cast<long long>(st.weight_bytes),
            static_cast<long long>(st.decode_bytes), static_cast<long long>(st.prefill_params),
            static_cast<long long>(s.n_layer), static_cast<long long>(s.n_head),
            static_cast<long long>(s.head_dim));
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "gb_synthetic_model: %s\n", e.what());
        return 1;
    }
}
