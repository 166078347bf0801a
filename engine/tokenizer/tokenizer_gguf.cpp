// Tokenizer::from_gguf: reads the tokenizer.* metadata keys into a Vocab (kept apart from
// tokenizer.cpp so the BPE core links without the GGUF reader).
#include <cmath>

#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/tokenizer.h"
#include "kernels/error.h"

namespace gb {
namespace {

const GgufArray& array_of(const GgufFile& f, const std::string& key, GgufType want, bool integer) {
    const GgufArray* a = f.get_array(key);
    if (!a) throw Error("tokenizer: " + f.path() + ": missing required key '" + key + "'");
    const bool is_int = a->elem_type != GgufType::FLOAT32 && a->elem_type != GgufType::FLOAT64 &&
                        a->elem_type != GgufType::BOOL && a->elem_type != GgufType::STRING &&
                        a->elem_type != GgufType::ARRAY;
    if (integer ? !is_int : a->elem_type != want)
        throw Error("tokenizer: " + f.path() + ": key '" + key + "' is an array of " +
                    gguf_type_name(a->elem_type) + ", expected " +
                    (integer ? "integers" : gguf_type_name(want)));
    return *a;
}

int32_t token_id(const GgufFile& f, const std::string& key) {
    auto v = f.get_int(key);
    if (!v) return -1;
    // -1, and UINT32_MAX as some converters write it, mean "none"; any other id outside int32
    // is a damaged file (it used to be taken as "none" too, and BOS or EOS quietly went away).
    if (*v == -1 || *v == UINT32_MAX) return -1;
    if (*v < 0 || *v > INT32_MAX)
        throw Error("tokenizer: " + f.path() + ": " + key + " = " + std::to_string(*v) +
                    " is not a token id");
    return static_cast<int32_t>(*v);
}

}  // namespace

Tokenizer Tokenizer::from_gguf(const GgufFile& f) {
    Vocab v;
    v.model = f.require_string("tokenizer.ggml.model");
    if (v.model != "gpt2" && v.model != "llama")
        throw Error("tokenizer: " + f.path() + ": unsupported tokenizer.ggml.model = '" + v.model +
                    "' (supported: gpt2, llama)");
    const bool spm = v.model == "llama";  // SentencePiece: scored pieces, no merge list
    v.pre = f.get_string("tokenizer.ggml.pre").value_or("default");
    v.tokens = array_of(f, "tokenizer.ggml.tokens", GgufType::STRING, false).strings;
    if (f.get_array("tokenizer.ggml.token_type")) {
        const GgufArray& t = array_of(f, "tokenizer.ggml.token_type", GgufType::INT32, true);
        v.types.reserve(t.ints.size());
        for (size_t i = 0; i < t.ints.size(); ++i) {
            const int64_t x = t.ints[i];
            // 0..6 as llama.cpp's converters write them; anything else is a damaged file (it
            // was taken as "undefined", which BPE then treated as an ordinary token).
            if (x < 0 || x > 6)
                throw Error("tokenizer: " + f.path() + ": tokenizer.ggml.token_type[" +
                            std::to_string(i) + "] = " + std::to_string(x) + " (token " +
                            std::to_string(i) + ") is not a token type (0..6)");
            v.types.push_back(static_cast<TokenType>(x));
        }
    }
    if (f.get_array("tokenizer.ggml.scores")) {
        const GgufArray& s = array_of(f, "tokenizer.ggml.scores", GgufType::FLOAT32, false);
        v.scores.assign(s.floats.begin(), s.floats.end());
        // SentencePiece merges by comparing scores; a NaN breaks the ordering.
        for (size_t i = 0; i < v.scores.size(); ++i)
            if (std::isnan(v.scores[i]))
                throw Error("tokenizer: " + f.path() + ": tokenizer.ggml.scores[" +
                            std::to_string(i) + "] is NaN");
    }
    if (!spm || f.get_array("tokenizer.ggml.merges"))
        v.merges = array_of(f, "tokenizer.ggml.merges", GgufType::STRING, false).strings;
    v.bos = token_id(f, "tokenizer.ggml.bos_token_id");
    v.eos = token_id(f, "tokenizer.ggml.eos_token_id");
    v.eot = token_id(f, "tokenizer.ggml.eot_token_id");
    v.pad = token_id(f, "tokenizer.ggml.padding_token_id");
    v.unk = token_id(f, "tokenizer.ggml.unknown_token_id");
    v.add_bos = f.get_bool("tokenizer.ggml.add_bos_token");
    v.add_eos = f.get_bool("tokenizer.ggml.add_eos_token").value_or(false);
    v.add_space_prefix = f.get_bool("tokenizer.ggml.add_space_prefix").value_or(true);
    v.chat_template = f.get_string("tokenizer.chat_template").value_or("");
    // Qwen2's tokenizer.json (and the R1 Qwen distills') normalises to NFC; GGUF does not
    // record normalizers, so the pre-tokenizer type stands for it.
    v.nfc = !spm && (v.pre == "qwen2" || v.pre == "deepseek-r1-qwen");
    try {
        return Tokenizer(std::move(v));
    } catch (const Error& e) {
        throw Error(std::string(e.what()) + " (in " + f.path() + ")");
    }
}

}  // namespace gb
