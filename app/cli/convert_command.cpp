// glassbox-cli convert: a Hugging Face checkpoint (config.json + safetensors) to a GGUF file,
// written from the checkpoint's GGUF view (engine/model/hf_checkpoint.h), so the file holds
// exactly what Glassbox runs from the checkpoint, in the layout llama.cpp reads. A GGUF file in
// is rewritten with its tensors in another type.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "engine/core/file_read.h"
#include "engine/core/json.h"
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/model/hf_checkpoint.h"
#include "engine/model/hf_checkpoint_plan.h"
#include "kernels/cpu/quant.h"
#include "kernels/error.h"

namespace gb::cli {
namespace {

constexpr const char* kUsage =
    "usage: glassbox-cli convert CHECKPOINT_DIR|IN.gguf OUT.gguf [--type "
    "auto|f32|f16|bf16|q8_0|q5_1|q5_0|q4_1|q4_0] "
    "[--metadata FILE.json]";

// Vectors (norms, biases, score-correction biases), rope factors and MoE routers stay F32, as
// GGUF converters keep them: they are small and routing is sensitive to their precision.
bool keep_f32(const GgufTensorInfo& t) {
    return t.dims.size() == 1 || t.name == "rope_freqs.weight" ||
           t.name.find("ffn_gate_inp") != std::string::npos;
}

// GGUF general.file_type ids (the llama.cpp "ftype" numbering) for a uniform conversion.
int file_type_id(TensorType t) {
    switch (t) {
        case TensorType::F32: return 0;
        case TensorType::F16: return 1;
        case TensorType::Q4_0: return 2;
        case TensorType::Q4_1: return 3;
        case TensorType::Q8_0: return 7;
        case TensorType::Q5_0: return 8;
        case TensorType::Q5_1: return 9;
        case TensorType::BF16: return 32;
        default: return -1;
    }
}

// A small text file, read whole; anything but a regular file under 1 MiB is refused (a FIFO
// would block the read forever).
std::string read_text_file(const std::string& path) {
    return read_regular_file(path, size_t(1) << 20, "the metadata file");
}

// --metadata: a JSON object of extra GGUF keys (a model card: general.name, general.description,
// general.license, ...). Strings, booleans and integers keep their kind; other numbers become
// F32. Descriptive general.* keys may replace the checkpoint's (its name is the folder's); any
// other key the checkpoint view sets is refused, so a card cannot change how the model runs.
void add_metadata_file(const std::string& path, const GgufFile& view, GgufWriter& w) {
    const std::string text = read_text_file(path);
    json::Value doc;
    try {
        doc = json::parse(text);
    } catch (const Error& e) {
        throw Error(path + ": " + e.what());
    }
    if (doc.kind() != json::Value::Kind::Object)
        throw Error(path + ": --metadata expects a JSON object of GGUF keys");
    for (const auto& [key, v] : doc.as_object()) {
        std::string where = path;
        where.append(": metadata key '").append(key).append("'");
        if (key.empty() || key.size() > 256)
            throw Error(where + " is empty or longer than 256 bytes");
        const bool descriptive = key.starts_with("general.") && key != "general.architecture" &&
                                 key != "general.alignment" && key != "general.file_type" &&
                                 key != "general.quantization_version";
        if (view.find(key) && !descriptive)
            throw Error(where + " is set by the checkpoint itself and cannot be overridden");
        switch (v.kind()) {
            case json::Value::Kind::String: w.set(key, GgufValue::str(v.as_string())); break;
            case json::Value::Kind::Bool: w.set(key, GgufValue::boolean(v.as_bool())); break;
            case json::Value::Kind::Number: {
                int64_t i = 0;
                bool integral = true;
                try {
                    i = v.as_int64();
                } catch (const Error&) {
                    integral = false;
                }
                if (integral && i >= 0 && i <= UINT32_MAX)
                    w.set(key, GgufValue::u32(static_cast<uint32_t>(i)));
                else if (integral)
                    w.set(key, GgufValue::i64(i));
                else
                    w.set(key, GgufValue::f32(static_cast<float>(v.as_number())));
                break;
            }
            default:
                throw Error(where + " has a " + json::kind_name(v.kind()) +
                            " value; only strings, numbers and booleans are written");
        }
    }
}

std::string in_dir(const std::string& path) {
    return std::filesystem::is_directory(path) ? path
                                               : std::filesystem::path(path).parent_path().string();
}

}  // namespace

int convert_command(const std::vector<std::string>& argv) {
    Args a(argv, {"--type", "--metadata"}, {});
    if (a.positional().size() != 2) throw Error(kUsage);
    const std::string& in = a.positional()[0];
    const std::string& out = a.positional()[1];
    const std::string type_arg = a.str("--type", "auto");
    bool keep_source = false;
    TensorType target = TensorType::F32;
    if (type_arg == "auto")
        keep_source = true;
    else if (type_arg == "f32")
        target = TensorType::F32;
    else if (type_arg == "f16")
        target = TensorType::F16;
    else if (type_arg == "bf16")
        target = TensorType::BF16;
    else if (type_arg == "q8_0")
        target = TensorType::Q8_0;
    else if (type_arg == "q5_1")
        target = TensorType::Q5_1;
    else if (type_arg == "q5_0")
        target = TensorType::Q5_0;
    else if (type_arg == "q4_1")
        target = TensorType::Q4_1;
    else if (type_arg == "q4_0")
        target = TensorType::Q4_0;
    else
        throw Error("--type '" + type_arg +
                    "' is not one of auto, f32, f16, bf16, q8_0, q5_1, q5_0, q4_1, q4_0");
    // A GGUF file in: its tensors in another type (requantising: the block types are made from
    // the dequantised values), its metadata as it is.
    const bool from_gguf = !is_hf_checkpoint(in) && std::filesystem::is_regular_file(in);
    if (!from_gguf && !is_hf_checkpoint(in))
        throw Error(
            in + ": not a Hugging Face checkpoint (a directory with config.json) or a GGUF file");
    if (from_gguf && keep_source)
        throw Error("converting a GGUF file needs --type: auto would copy it unchanged");

    const GgufFile view = from_gguf ? GgufFile::open(in) : open_hf_checkpoint(in);
    GgufWriter w;
    for (const auto& kv : view.metadata()) w.set(kv.key, kv.value);
    // A checkpoint without tokenizer.json gives weights only; llama.cpp loads such a file when
    // it says so ("none": no vocabulary) and refuses it when the key is missing.
    if (!view.find("tokenizer.ggml.model")) {
        std::vector<GgufKV> probe;
        const std::string why = hf::tokenizer_metadata(in_dir(in), 1LL << 30, probe);
        std::fprintf(stderr, "convert: writing no vocabulary: %s\n", why.c_str());
        w.set("tokenizer.ggml.model", GgufValue::str("none"));
    }
    if (a.has("--metadata")) add_metadata_file(a.str("--metadata"), view, w);
    if (!keep_source) {
        w.set("general.file_type", GgufValue::u32(static_cast<uint32_t>(file_type_id(target))));
        if (type_info(target).block_size > 1)
            w.set("general.quantization_version", GgufValue::u32(2));
    }

    // Tensors are written straight from the mapped checkpoint, or converted one at a time while
    // the file is written: memory stays at one tensor, whatever the model's size.
    int64_t total = 0, fallbacks = 0;
    for (const GgufTensorInfo& t : view.tensors()) {
        TensorType to = keep_f32(t) ? TensorType::F32 : keep_source ? t.type : target;
        // The block formats work on blocks of 32 along a row; a row of another length goes to
        // F16.
        if (type_info(to).block_size > 1 && t.cols() % type_info(to).block_size != 0) {
            to = TensorType::F16;
            ++fallbacks;
        }
        const uint8_t* src = view.tensor_data(t);
        if (to == t.type) {
            w.add_tensor_ref(t.name, to, t.dims, src, t.n_bytes);
        } else {
            const TensorType from = t.type;
            const int64_t cols = t.cols(), rows = t.rows();
            w.add_tensor_fill(t.name, to, t.dims, [=](uint8_t* dst) {
                const size_t in_row = row_bytes(from, cols), out_row = row_bytes(to, cols);
                std::vector<float> row(static_cast<size_t>(cols));
                for (int64_t r = 0; r < rows; ++r) {
                    cpu::dequantize_row(from, src + r * in_row, row.data(), cols);
                    cpu::quantize_row(to, row.data(), dst + r * out_row, cols);
                }
            });
        }
        total += static_cast<int64_t>(row_bytes(to, t.cols()) * t.rows());
    }
    w.write(out);
    std::printf("%s: %zu tensors, %zu metadata keys, %.1f MiB of weights (%s)%s\n", out.c_str(),
                view.tensors().size(), view.metadata().size(),
                static_cast<double>(total) / (1024.0 * 1024.0), type_arg.c_str(),
                fallbacks ? (", " + std::to_string(fallbacks) +
                             " tensors with rows not a multiple of 32 written as F16")
                                .c_str()
                          : "");
    return 0;
}

}  // namespace gb::cli
