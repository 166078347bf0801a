// Opens an HF checkpoint as a GGUF view: config.json -> metadata (hf_checkpoint_config.cpp),
// the architecture's tensor table -> GGUF tensors over the mapped safetensors, with the few
// owned copies hf_checkpoint.h lists. Every tensor the table names is checked for presence,
// dtype and shape, and every tensor of the checkpoint must have a place in the table.
#include "engine/model/hf_checkpoint.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "engine/core/file_read.h"
#include "engine/core/json.h"
#include "engine/gguf/safetensors_file.h"
#include "engine/model/hf_checkpoint_plan.h"
#include "kernels/cpu/quant.h"
#include "kernels/error.h"

namespace gb {
namespace {

std::string dims_str(const std::vector<int64_t>& d) {
    std::string s = "[";
    for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
    return s + "]";
}

}  // namespace

namespace hf {

std::vector<Planned> plan_tensors(const Hparams& h) {
    TensorDims d;
    d.arch = h.arch;
    d.n_vocab = h.n_vocab, d.n_embd = h.n_embd, d.n_layer = h.n_layer, d.n_head = h.n_head;
    d.n_head_kv = h.n_head_kv, d.head_dim = h.head_dim, d.n_ff = h.n_ff;
    d.tied = h.tied, d.attn_bias = h.attn_bias, d.o_bias = h.o_bias;
    d.n_expert = h.n_expert, d.n_ff_exp = h.n_ff_exp, d.n_shared = h.n_shared;
    d.n_dense_lead = h.n_dense_lead, d.score_bias = h.score_bias;
    d.q_lora = h.q_lora, d.kv_lora = h.kv_lora, d.qk_nope = h.qk_nope, d.qk_rope = h.qk_rope;
    d.v_head = h.v_head;
    return tensor_table(d);
}

bool ignorable(const Hparams& h, const std::string& name) {
    if (name.ends_with("rotary_emb.inv_freq")) return true;
    if (h.tied && name == "lm_head.weight") return true;  // tied: the embedding is the output
    // DeepSeek V3's multi-token-prediction modules are extra layers past num_hidden_layers.
    if (h.arch == Arch::Deepseek2 && name.rfind("model.layers.", 0) == 0) {
        const int64_t l = std::atoll(name.c_str() + 13);
        return l >= h.n_layer;
    }
    return false;
}

}  // namespace hf

namespace {

namespace fs = std::filesystem;

// What keeps the view's bytes alive: the mapped shards and the owned copies.
struct HfStorage {
    SafetensorsSet weights;
    std::vector<std::vector<uint8_t>> owned;
};

// config.json: real ones are a few KiB (a quantization config can make tens). The parsed form
// takes about 80 bytes per JSON value, and a file of "[]," is a value every 3 bytes, so the
// limit also bounds memory: 4 MiB parse into at most about 110 MB (16 MiB took 412 MB).
std::string read_text(const std::string& path) {
    return read_regular_file(path, size_t(4) << 20, fs::path(path).filename().string());
}

// Rows of each head from two rotary halves (NEOX: x_j pairs with x_{j+d/2}) to adjacent pairs
// (x_2j pairs with x_2j+1, the order GGUF "llama" files use): new row 2j+p of a head is old row
// p*d/2+j. Works on any row width (1 for a bias), in the tensor's own dtype.
void permute_rope_rows(const uint8_t* src, uint8_t* dst, int64_t rows, size_t row_bytes,
                       int64_t n_heads) {
    const int64_t d = rows / n_heads;
    for (int64_t hd = 0; hd < n_heads; ++hd)
        for (int64_t j = 0; j < d / 2; ++j)
            for (int64_t p = 0; p < 2; ++p)
                std::memcpy(dst + (hd * d + 2 * j + p) * row_bytes,
                            src + (hd * d + p * (d / 2) + j) * row_bytes, row_bytes);
}

}  // namespace

bool is_hf_checkpoint(const std::string& path) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) return fs::exists(fs::path(path) / "config.json", ec);
    return fs::path(path).filename() == "config.json";
}

GgufFile open_hf_checkpoint(const std::string& path) {
    std::error_code ec;
    const fs::path dir = fs::is_directory(path, ec) ? fs::path(path) : fs::path(path).parent_path();
    const std::string cfg_path = (dir / "config.json").string();
    const std::string cfg_text = read_text(cfg_path);  // its errors name the file already
    json::Value cfg;
    try {
        cfg = json::parse(cfg_text, 64);
    } catch (const Error& e) {
        throw Error(cfg_path + ": " + e.what());
    }
    std::vector<GgufKV> kv;
    const hf::Hparams h = hf::read_hparams(cfg, cfg_path, kv);
    std::string name = fs::absolute(dir, ec).filename().string();
    if (name.empty() || name == ".") name = fs::absolute(dir, ec).parent_path().filename().string();
    kv.insert(kv.begin() + 1, GgufKV{"general.name", GgufValue::str(name)});
    hf::tokenizer_metadata(dir.string(), h.n_vocab, kv);  // when tokenizer.json is there

    auto store = std::make_shared<HfStorage>(HfStorage{SafetensorsSet::open(dir.string()), {}});
    const std::string& where = dir.string();
    std::vector<GgufTensorPart> parts;
    std::set<std::string> used;

    if (!h.rope_freqs.empty()) {
        auto& buf = store->owned.emplace_back(h.rope_freqs.size() * sizeof(float));
        std::memcpy(buf.data(), h.rope_freqs.data(), buf.size());
        parts.push_back({"rope_freqs.weight",
                         TensorType::F32,
                         {static_cast<int64_t>(h.rope_freqs.size())},
                         buf.data()});
    }
    for (const hf::Planned& p : hf::plan_tensors(h)) {
        std::vector<const SafetensorsTensor*> src;
        for (const std::string& n : p.hf) {
            const SafetensorsTensor* t = store->weights.find(n);
            if (!t) {
                if (!p.required && p.hf.size() == 1) break;
                throw Error(where + ": missing tensor '" + n + "' (GGUF " + p.gguf +
                            ") required by " + h.hf_arch +
                            (p.hf.size() > 1
                                 ? " with " + std::to_string(p.hf.size()) + " experts (config.json)"
                                 : std::string()));
            }
            if (t->shape != p.shape)
                throw Error(t->file + ": tensor '" + n + "' has shape " + dims_str(t->shape) +
                            ", expected " + dims_str(p.shape) + " from config.json (" + h.hf_arch +
                            ")");
            if (!src.empty() && t->type != src[0]->type)
                throw Error(t->file + ": tensor '" + n + "' is " + std::string(type_name(t->type)) +
                            " but '" + src[0]->name + "', stacked with it into " + p.gguf +
                            ", is " + std::string(type_name(src[0]->type)));
            src.push_back(t);
            used.insert(n);
        }
        if (src.empty()) continue;  // an optional tensor that is absent
        GgufTensorPart part;
        part.name = p.gguf;
        part.type = src[0]->type;
        part.dims.assign(p.shape.rbegin(), p.shape.rend());  // GGUF: ne[0] innermost
        if (src.size() > 1) part.dims.push_back(static_cast<int64_t>(src.size()));
        const size_t elem = type_info(part.type).block_bytes;
        const bool aligned = reinterpret_cast<uintptr_t>(src[0]->data) % elem == 0;
        if (p.shape.size() == 1 && part.type != TensorType::F32) {
            // Vectors (norms, biases) are F32 in GGUF files and the kernels expect them so.
            const SafetensorsTensor& t = *src[0];
            auto& buf = store->owned.emplace_back(static_cast<size_t>(t.n_elements) * 4);
            std::vector<uint8_t> tmp(t.data, t.data + t.n_bytes);  // aligned for the reader
            std::vector<uint8_t> permuted(t.n_bytes);
            if (p.rope_heads > 0) {
                permute_rope_rows(tmp.data(), permuted.data(), t.n_elements, elem, p.rope_heads);
                tmp.swap(permuted);
            }
            cpu::dequantize_row(t.type, tmp.data(), reinterpret_cast<float*>(buf.data()),
                                t.n_elements);
            part.type = TensorType::F32;
            part.data = buf.data();
        } else if (src.size() == 1 && p.rope_heads == 0 && aligned) {
            part.data = src[0]->data;
        } else {
            size_t total = 0;
            for (const auto* t : src) total += t->n_bytes;
            auto& buf = store->owned.emplace_back(total);
            uint8_t* dst = buf.data();
            for (const auto* t : src) {
                if (p.rope_heads > 0) {
                    const int64_t rows = p.shape[0];
                    if (rows % (2 * p.rope_heads) != 0)
                        throw Error(t->file + ": tensor '" + t->name +
                                    "': " + std::to_string(rows) + " rows do not split into " +
                                    std::to_string(p.rope_heads) + " heads of even size");
                    permute_rope_rows(t->data, dst, rows, t->n_bytes / rows, p.rope_heads);
                } else {
                    std::memcpy(dst, t->data, t->n_bytes);
                }
                dst += t->n_bytes;
            }
            part.data = buf.data();
        }
        parts.push_back(std::move(part));
    }
    for (const SafetensorsTensor* t : store->weights.tensors())
        if (!used.count(t->name) && !hf::ignorable(h, t->name))
            throw Error(t->file + ": tensor '" + t->name + "' has no place in " + h.hf_arch +
                        " as config.json describes it (" + std::to_string(h.n_layer) + " layers" +
                        (h.n_expert ? ", " + std::to_string(h.n_expert) + " experts" : "") +
                        "); a different architecture or a damaged checkpoint");
    return GgufFile::from_parts(where, std::move(kv), std::move(parts), store);
}

}  // namespace gb
