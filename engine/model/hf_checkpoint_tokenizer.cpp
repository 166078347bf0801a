// tokenizer.json (+ tokenizer_config.json) -> the tokenizer.ggml.* keys and tokenizer.chat_template
// of a GGUF view. GGUF names a pre-tokenizer instead of storing its regexes, so the name is found
// by behaviour: the one whose tokenization of a probe text equals tokenizer.json's own.
#include <filesystem>

#include "engine/model/hf_checkpoint_plan.h"
#include "engine/tokenizer/pre_tokenizer.h"
#include "engine/tokenizer/tokenizer.h"
#include "kernels/error.h"

namespace gb::hf {
namespace {

// Text that separates the known pre-tokenizers: contractions, digit runs, mixed scripts, runs of
// spaces and newlines, punctuation, and a decomposed accent (only NFC vocabularies compose it).
constexpr const char* kProbe =
    "Hello world! I'm 'testing' don't WE'LL 12 345 6789 3.14159 $1,000,000\n\n\t  spaces   "
    "end\r\n ünïcödé cafe\xcc\x81 Ελληνικά русский 中文字符 日本語の文 한국어 "
    "🙂🚀 ((x)) -> => ... ?!? __init__ x_y_z CamelCase ALLCAPS a1b2c3 ١٢٣ ";

}  // namespace

std::string tokenizer_metadata(const std::string& dir, int64_t n_vocab, std::vector<GgufKV>& kv) {
    const std::filesystem::path json = std::filesystem::path(dir) / "tokenizer.json";
    std::error_code ec;
    if (!std::filesystem::exists(json, ec)) return "no tokenizer.json";
    const Tokenizer hf = Tokenizer::from_hf(dir);
    Vocab v = hf.vocab();
    if (static_cast<int64_t>(v.tokens.size()) > n_vocab)
        throw Error(json.string() + ": " + std::to_string(v.tokens.size()) +
                    " tokens, more than the model's vocab_size " + std::to_string(n_vocab));
    const std::vector<int32_t> want = hf.encode(kProbe, false, false);
    // Several names can agree on the probe; prefer one that splits in as many regex steps as
    // tokenizer.json does (DeepSeek-V3's three splits, not Llama 3's one).
    std::string pre;
    for (std::string_view name : pre_tokenizer_names()) {
        Vocab c = v;
        c.pre = std::string(name);
        c.pre_regexes.clear();
        c.pre_regex_where.clear();
        c.ignore_merges.reset();
        // What the GGUF reader (tokenizer_gguf.cpp) decides from the name.
        c.nfc = name == "qwen2" || name == "deepseek-r1-qwen";
        c.decode_added_as_bytes = false;
        try {
            if (Tokenizer(c).encode(kProbe, false, false) != want) continue;
        } catch (const Error&) {
            continue;
        }
        if (pre.empty()) pre = c.pre;
        if (pre_tokenizer_spec(name).patterns.size() == v.pre_regexes.size()) {
            pre = c.pre;
            break;
        }
    }
    if (pre.empty()) return "tokenizer.json splits text like none of the known GGUF pre-tokenizers";

    // Ids past the vocabulary (embedding rows kept for alignment) become unused pad tokens.
    std::vector<int32_t> types;
    for (size_t i = 0; i < v.tokens.size(); ++i)
        types.push_back(static_cast<int32_t>(v.types.empty() ? TokenType::Normal : v.types[i]));
    for (int64_t i = static_cast<int64_t>(v.tokens.size()); i < n_vocab; ++i) {
        v.tokens.push_back("[PAD" + std::to_string(i) + "]");
        types.push_back(static_cast<int32_t>(TokenType::Unused));
    }
    kv.push_back({"tokenizer.ggml.model", GgufValue::str(v.model)});
    kv.push_back({"tokenizer.ggml.pre", GgufValue::str(pre)});
    kv.push_back({"tokenizer.ggml.tokens", GgufValue::str_array(v.tokens)});
    kv.push_back({"tokenizer.ggml.token_type", GgufValue::i32_array(types)});
    if (!v.merges.empty()) kv.push_back({"tokenizer.ggml.merges", GgufValue::str_array(v.merges)});
    const std::pair<const char*, int32_t> ids[] = {
        {"bos", v.bos}, {"eos", v.eos}, {"eot", v.eot}, {"padding", v.pad}, {"unknown", v.unk}};
    for (const auto& [key, id] : ids)
        if (id >= 0)
            kv.push_back({std::string("tokenizer.ggml.") + key + "_token_id",
                          GgufValue::u32(static_cast<uint32_t>(id))});
    if (v.add_bos) kv.push_back({"tokenizer.ggml.add_bos_token", GgufValue::boolean(*v.add_bos)});
    kv.push_back({"tokenizer.ggml.add_eos_token", GgufValue::boolean(v.add_eos)});
    if (!v.chat_template.empty())
        kv.push_back({"tokenizer.chat_template", GgufValue::str(v.chat_template)});
    return "";
}

}  // namespace gb::hf
