// Tokenizer::from_hf: reads a Hugging Face tokenizer.json (byte-level BPE) and its
// tokenizer_config.json into a Vocab. Everything the files say that would change the ids and
// that we do not implement is refused with the file and JSON path named.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "engine/core/file_read.h"
#include "engine/core/json.h"
#include "engine/tokenizer/pre_tokenizer.h"
#include "engine/tokenizer/tokenizer.h"
#include "kernels/error.h"

namespace gb {
namespace {

namespace fs = std::filesystem;
using json::Value;

// Each file's size limit, and a limit on its JSON values: the parsed form takes about 80 bytes
// per value and a file of "[]," is a value every 3 bytes, so 120 MB of it took 3.2 GB and 17 s.
// Real tokenizer.json files are up to about 35 MiB (Qwen3's: 10 MiB, 0.76 M values; a vocabulary
// of 262 144 with its merges makes about 3 M); tokenizer_config.json and chat templates are tens
// of KiB to a few MiB. Worst case within the limits: about 700 MB.
struct Limits {
    size_t bytes, values;
};
constexpr Limits kTokenizerJson{size_t(64) << 20, size_t(8) << 20};
constexpr Limits kSideFile{size_t(16) << 20, size_t(1) << 20};

std::string read_file(const fs::path& p, const Limits& lim) {
    return read_regular_file(p.string(), lim.bytes, p.filename().string());
}

// An upper bound of the values in a JSON text: every value but the first follows a ',', ':' or
// an opening bracket outside strings. One pass, no allocation.
size_t json_value_bound(std::string_view text) {
    size_t n = 1;
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == ',' || c == ':' || c == '[' || c == '{') {
            ++n;
        }
    }
    return n;
}

Value parse_file(const fs::path& p, const Limits& lim) {
    const std::string text = read_file(p, lim);
    if (const size_t n = json_value_bound(text); n > lim.values)
        throw Error("tokenizer: " + p.string() + ": about " + std::to_string(n) +
                    " JSON values, more than the " + std::to_string(lim.values) +
                    " a tokenizer file may hold");
    try {
        return json::parse(text);
    } catch (const Error& e) {
        throw Error("tokenizer: " + p.string() + ": " + e.what());
    }
}

// One JSON file being read: errors name it and the JSON path.
struct Doc {
    std::string file;
    [[noreturn]] void fail(const std::string& jpath, const std::string& what) const {
        throw Error("tokenizer: " + file + ": " + jpath + ": " + what);
    }
    const Value& expect(const Value& v, Value::Kind k, const std::string& jpath) const {
        if (v.kind() != k)
            fail(jpath, std::string("expected ") + json::kind_name(k) + ", found " +
                            json::kind_name(v.kind()));
        return v;
    }
    const std::string& str(const Value& v, const std::string& jpath) const {
        return expect(v, Value::Kind::String, jpath).as_string();
    }
    bool boolean(const Value& obj, std::string_view key, const std::string& jpath, bool def) const {
        const Value* v = obj.find(key);
        if (!v || v->is_null()) return def;
        return expect(*v, Value::Kind::Bool, jpath + "." + std::string(key)).as_bool();
    }
    int64_t integer(const Value& v, const std::string& jpath) const {
        expect(v, Value::Kind::Number, jpath);
        try {
            return v.as_int64();
        } catch (const Error&) {
            fail(jpath, "expected an integer");
        }
    }
    // Member `key` of an object, or the error naming it.
    const Value& at(const Value& obj, std::string_view key, const std::string& jpath) const {
        const Value* v = obj.find(key);
        if (!v) fail(jpath, "missing \"" + std::string(key) + "\"");
        return *v;
    }
    std::string type_of(const Value& obj, const std::string& jpath) const {
        expect(obj, Value::Kind::Object, jpath);
        return str(at(obj, "type", jpath), jpath + ".type");
    }
};

std::string jq(std::string_view s) {
    std::string out;
    json::append_quoted(out, s);
    return out;
}

// A literal string as a regex (Split with a "String" pattern).
std::string regex_literal(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (std::string_view("\\^$.|?*+()[]{}/-").find(c) != std::string_view::npos) out += '\\';
        out += c;
    }
    return out;
}

void read_normalizer(const Doc& d, const Value& n, const std::string& jpath, Vocab& v) {
    if (n.is_null()) return;
    const std::string type = d.type_of(n, jpath);
    if (type == "Sequence") {
        const Value& list =
            d.expect(d.at(n, "normalizers", jpath), Value::Kind::Array, jpath + ".normalizers");
        for (size_t i = 0; i < list.as_array().size(); ++i)
            read_normalizer(d, list.as_array()[i],
                            jpath + ".normalizers[" + std::to_string(i) + "]", v);
    } else if (type == "NFC") {
        v.nfc = true;
    } else {
        d.fail(jpath + ".type", jq(type) + " is not supported (supported: NFC, Sequence)");
    }
}

// Flattens the pre-tokenizer into split regexes; true once the ByteLevel step is seen.
void read_pre(const Doc& d, const Value& p, const std::string& jpath, Vocab& v, bool& byte_level) {
    const std::string type = d.type_of(p, jpath);
    if (byte_level) d.fail(jpath, "a pre-tokenizer after ByteLevel is not supported");
    if (type == "Sequence") {
        const Value& list =
            d.expect(d.at(p, "pretokenizers", jpath), Value::Kind::Array, jpath + ".pretokenizers");
        for (size_t i = 0; i < list.as_array().size(); ++i)
            read_pre(d, list.as_array()[i], jpath + ".pretokenizers[" + std::to_string(i) + "]", v,
                     byte_level);
    } else if (type == "Split") {
        const Value& pat =
            d.expect(d.at(p, "pattern", jpath), Value::Kind::Object, jpath + ".pattern");
        if (const Value* r = pat.find("Regex")) {
            v.pre_regexes.push_back(d.str(*r, jpath + ".pattern.Regex"));
            v.pre_regex_where.push_back(d.file + ": " + jpath + ".pattern.Regex");
        } else if (const Value* s = pat.find("String")) {
            v.pre_regexes.push_back(regex_literal(d.str(*s, jpath + ".pattern.String")));
            v.pre_regex_where.push_back(d.file + ": " + jpath + ".pattern.String");
        } else {
            d.fail(jpath + ".pattern", "expected \"Regex\" or \"String\"");
        }
        const std::string& behavior = d.str(d.at(p, "behavior", jpath), jpath + ".behavior");
        if (behavior != "Isolated")
            d.fail(jpath + ".behavior",
                   jq(behavior) + " is not supported (supported: \"Isolated\")");
        if (d.boolean(p, "invert", jpath, false))
            d.fail(jpath + ".invert", "true is not supported");
    } else if (type == "Digits") {
        // Rust's char::is_numeric is the N categories.
        v.pre_regexes.push_back(d.boolean(p, "individual_digits", jpath, false) ? "\\p{N}"
                                                                                : "\\p{N}+");
        v.pre_regex_where.push_back(d.file + ": " + jpath + " (Digits)");
    } else if (type == "ByteLevel") {
        if (d.boolean(p, "add_prefix_space", jpath, true))
            d.fail(jpath + ".add_prefix_space", "true is not supported");
        if (d.boolean(p, "use_regex", jpath, true)) {
            v.pre_regexes.emplace_back(pre_tokenizer_spec("gpt2").patterns.at(0));
            v.pre_regex_where.push_back(d.file + ": " + jpath + " (ByteLevel use_regex)");
        }
        byte_level = true;
    } else {
        d.fail(jpath + ".type",
               jq(type) + " is not supported (supported: Sequence, Split, Digits, ByteLevel)");
    }
}

// BOS / EOS from a TemplateProcessing post-processor: at most one special token before the
// text and one after.
void read_post(const Doc& d, const Value& p, const std::string& jpath, std::string& bos,
               std::string& eos) {
    if (p.is_null()) return;
    const std::string type = d.type_of(p, jpath);
    if (type == "ByteLevel") return;  // only adjusts offsets
    if (type == "Sequence") {
        const Value& list =
            d.expect(d.at(p, "processors", jpath), Value::Kind::Array, jpath + ".processors");
        for (size_t i = 0; i < list.as_array().size(); ++i)
            read_post(d, list.as_array()[i], jpath + ".processors[" + std::to_string(i) + "]", bos,
                      eos);
        return;
    }
    if (type != "TemplateProcessing")
        d.fail(jpath + ".type", jq(type) +
                                    " is not supported (supported: ByteLevel, Sequence, "
                                    "TemplateProcessing)");
    const Value& single = d.expect(d.at(p, "single", jpath), Value::Kind::Array, jpath + ".single");
    bool seen_text = false;
    for (size_t i = 0; i < single.as_array().size(); ++i) {
        const std::string ip = jpath + ".single[" + std::to_string(i) + "]";
        const Value& item = d.expect(single.as_array()[i], Value::Kind::Object, ip);
        if (item.find("Sequence")) {
            seen_text = true;
            continue;
        }
        const Value* sp = item.find("SpecialToken");
        if (!sp) d.fail(ip, "expected \"Sequence\" or \"SpecialToken\"");
        const std::string& id =
            d.str(d.at(*sp, "id", ip + ".SpecialToken"), ip + ".SpecialToken.id");
        std::string& slot = seen_text ? eos : bos;
        if (!slot.empty())
            d.fail(ip, "more than one special token " +
                           std::string(seen_text ? "after" : "before") +
                           " the text is not supported");
        slot = id;
    }
}

// A token named in tokenizer_config.json: a string, an AddedToken object, or null.
std::string token_name(const Doc& d, const Value& cfg, std::string_view key) {
    const Value* v = cfg.find(key);
    if (!v || v->is_null()) return {};
    const std::string jpath = std::string(key);
    if (v->kind() == Value::Kind::Object)
        return d.str(d.at(*v, "content", jpath), jpath + ".content");
    return d.str(*v, jpath);
}

}  // namespace

Tokenizer Tokenizer::from_hf(const std::string& path) {
    fs::path json_path = path, dir = path;
    if (fs::is_directory(json_path))
        json_path /= "tokenizer.json";
    else
        dir = json_path.parent_path();
    const Doc d{json_path.string()};
    const Value root = parse_file(json_path, kTokenizerJson);
    d.expect(root, Value::Kind::Object, "(top level)");
    Vocab v;
    v.model = "gpt2";
    v.pre = "tokenizer.json";
    v.decode_added_as_bytes = true;

    // ---- model ----
    const Value& model = d.at(root, "model", "(top level)");
    if (const std::string type = d.type_of(model, "model"); type != "BPE")
        d.fail("model.type", jq(type) + " is not supported (supported: \"BPE\")");
    if (const Value* dr = model.find("dropout"); dr && !dr->is_null())
        d.fail("model.dropout", "BPE dropout is not supported (expected null)");
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
        const Value* x = model.find(key);
        if (x && !x->is_null() && !d.str(*x, std::string("model.") + key).empty())
            d.fail(std::string("model.") + key, jq(x->as_string()) + " is not supported");
    }
    v.ignore_merges = d.boolean(model, "ignore_merges", "model", false);
    const Value& vocab =
        d.expect(d.at(model, "vocab", "model"), Value::Kind::Object, "model.vocab");
    std::unordered_map<std::string_view, int32_t> by_text;
    by_text.reserve(vocab.as_object().size());
    int64_t max_id = -1;
    for (const auto& [text, idv] : vocab.as_object()) {
        const int64_t id = d.integer(idv, "model.vocab[" + jq(text) + "]");
        if (id < 0 || id > INT32_MAX)
            d.fail("model.vocab[" + jq(text) + "]",
                   "id " + std::to_string(id) + " is out of range");
        by_text.emplace(text, static_cast<int32_t>(id));
        max_id = std::max(max_id, id);
    }
    const Value& added =
        d.expect(d.at(root, "added_tokens", "(top level)"), Value::Kind::Array, "added_tokens");
    for (size_t i = 0; i < added.as_array().size(); ++i)
        max_id = std::max(max_id, d.integer(d.at(added.as_array()[i], "id",
                                                 "added_tokens[" + std::to_string(i) + "]"),
                                            "added_tokens[" + std::to_string(i) + "].id"));
    if (max_id < 0) d.fail("model.vocab", "the vocabulary is empty");
    if (max_id > 16'000'000)
        d.fail("model.vocab", "ids up to " + std::to_string(max_id) + " are implausible");
    // Every id up to the largest gets a slot: one id of 15 999 999 made a table of 16 M empty
    // tokens (a gigabyte and seconds). Real vocabularies name every id.
    const size_t named = vocab.as_object().size() + added.as_array().size();
    if (static_cast<size_t>(max_id) + 1 > 2 * named + 1024)
        d.fail("model.vocab", "ids run up to " + std::to_string(max_id) + " but only " +
                                  std::to_string(named) +
                                  " are named (model.vocab and added_tokens): the file is damaged");
    v.tokens.assign(static_cast<size_t>(max_id) + 1, std::string());
    v.types.assign(v.tokens.size(), TokenType::Unused);  // ids nobody names stay unused
    for (const auto& [text, id] : by_text) {
        if (v.types[id] != TokenType::Unused)
            d.fail("model.vocab[" + jq(text) + "]",
                   "id " + std::to_string(id) + " is also given to " + jq(v.tokens[id]));
        v.tokens[id] = std::string(text);
        v.types[id] = TokenType::Normal;
    }
    if (const Value* unk = model.find("unk_token"); unk && !unk->is_null()) {
        auto it = by_text.find(d.str(*unk, "model.unk_token"));
        if (it == by_text.end())
            d.fail("model.unk_token", jq(unk->as_string()) + " is not in model.vocab");
        v.unk = it->second;
    }
    const Value& merges =
        d.expect(d.at(model, "merges", "model"), Value::Kind::Array, "model.merges");
    v.merges.reserve(merges.as_array().size());
    std::string joined;
    for (size_t i = 0; i < merges.as_array().size(); ++i) {
        const std::string mp = "model.merges[" + std::to_string(i) + "]";
        const Value& m = merges.as_array()[i];
        std::string left, right;
        if (m.kind() == Value::Kind::String) {
            const std::string& s = m.as_string();
            const size_t sp = s.find(' ', 1);
            if (sp == std::string::npos) d.fail(mp, jq(s) + " is not two tokens");
            left = s.substr(0, sp);
            right = s.substr(sp + 1);
        } else {
            d.expect(m, Value::Kind::Array, mp);
            if (m.as_array().size() != 2) d.fail(mp, "expected a pair of tokens");
            left = d.str(m.as_array()[0], mp + "[0]");
            right = d.str(m.as_array()[1], mp + "[1]");
            if (left.empty() || left.find(' ') != std::string::npos ||
                right.find(' ') != std::string::npos)
                d.fail(mp, "a merge part holding a space is not supported");
        }
        joined.assign(left).append(right);
        for (const std::string* part : {&left, &right, &joined})
            if (!by_text.count(*part))
                d.fail(mp, jq(left + " " + right) + ": " + jq(*part) + " is not in model.vocab");
        v.merges.push_back(left + " " + right);
    }

    // ---- added tokens: special ones are control tokens, the others user-defined ----
    for (size_t i = 0; i < added.as_array().size(); ++i) {
        const std::string ap = "added_tokens[" + std::to_string(i) + "]";
        const Value& a = d.expect(added.as_array()[i], Value::Kind::Object, ap);
        const auto id = static_cast<int32_t>(d.integer(d.at(a, "id", ap), ap + ".id"));
        const std::string& content = d.str(d.at(a, "content", ap), ap + ".content");
        if (content.empty()) d.fail(ap + ".content", "an empty added token is not supported");
        for (const char* flag : {"lstrip", "rstrip", "single_word"})
            if (d.boolean(a, flag, ap, false))
                d.fail(ap + "." + flag, "true is not supported (token " + jq(content) + ")");
        if (id < 0) d.fail(ap + ".id", "negative id");
        if (v.types[id] != TokenType::Unused && v.tokens[id] != content)
            d.fail(ap + ".id", "id " + std::to_string(id) + " is " + jq(v.tokens[id]) +
                                   " in model.vocab, not " + jq(content));
        v.tokens[id] = content;
        v.types[id] =
            d.boolean(a, "special", ap, false) ? TokenType::Control : TokenType::UserDefined;
    }

    read_normalizer(d, root.find("normalizer") ? *root.find("normalizer") : Value(), "normalizer",
                    v);
    const Value* pre = root.find("pre_tokenizer");
    bool byte_level = false;
    if (pre && !pre->is_null()) read_pre(d, *pre, "pre_tokenizer", v, byte_level);
    if (!byte_level)
        d.fail("pre_tokenizer", "no ByteLevel step: only byte-level BPE tokenizers are supported");
    if (v.pre_regexes.empty()) {  // one word: the whole text
        v.pre_regexes.emplace_back("(?s).+");
        v.pre_regex_where.push_back(d.file + ": pre_tokenizer (no split)");
    }
    const Value* dec = root.find("decoder");
    if (!dec || dec->is_null() || d.type_of(*dec, "decoder") != "ByteLevel")
        d.fail("decoder", "only a ByteLevel decoder is supported");
    std::string post_bos, post_eos;
    if (const Value* post = root.find("post_processor"))
        read_post(d, *post, "post_processor", post_bos, post_eos);

    // ---- tokenizer_config.json: special token names, BOS/EOS policy, chat template ----
    auto id_of = [&](const Doc& cd, const std::string& name, const std::string& key) -> int32_t {
        if (name.empty()) return -1;
        for (size_t i = 0; i < v.tokens.size(); ++i)
            if (v.tokens[i] == name && v.types[i] != TokenType::Unused)
                return static_cast<int32_t>(i);
        cd.fail(key, jq(name) + " is not a token of " + d.file);
    };
    const fs::path cfg_path = dir / "tokenizer_config.json";
    std::string tokenizer_class;
    if (fs::exists(cfg_path)) {
        const Doc c{cfg_path.string()};
        const Value cfg = parse_file(cfg_path, kSideFile);
        c.expect(cfg, Value::Kind::Object, "(top level)");
        v.bos = id_of(c, token_name(c, cfg, "bos_token"), "bos_token");
        v.eos = id_of(c, token_name(c, cfg, "eos_token"), "eos_token");
        v.pad = id_of(c, token_name(c, cfg, "pad_token"), "pad_token");
        if (const int32_t unk = id_of(c, token_name(c, cfg, "unk_token"), "unk_token"); unk >= 0)
            v.unk = unk;
        if (const Value* tc = cfg.find("tokenizer_class"); tc && !tc->is_null())
            tokenizer_class = c.str(*tc, "tokenizer_class");
        // transformers' Llama-style classes add BOS / EOS as these flags say (transformers 5
        // loads a byte-level tokenizer.json through its generic backend instead, which adds
        // nothing; the models were trained, and llama.cpp converts them, with the flags).
        static const char* const kFlagClasses[] = {"LlamaTokenizer",     "LlamaTokenizerFast",
                                                   "CodeLlamaTokenizer", "CodeLlamaTokenizerFast",
                                                   "GemmaTokenizer",     "GemmaTokenizerFast"};
        // The flags are checked whatever the class: "add_bos_token": "yes" is a broken file,
        // not a default.
        const bool add_bos = c.boolean(cfg, "add_bos_token", "(top level)", true);
        const bool add_eos = c.boolean(cfg, "add_eos_token", "(top level)", false);
        if (std::find(std::begin(kFlagClasses), std::end(kFlagClasses), tokenizer_class) !=
            std::end(kFlagClasses)) {
            v.add_bos = add_bos;
            v.add_eos = add_eos;
        }
        if (const Value* t = cfg.find("chat_template"); t && !t->is_null()) {
            if (t->kind() == Value::Kind::String) {
                v.chat_template = t->as_string();
            } else {
                c.expect(*t, Value::Kind::Array, "chat_template");
                for (size_t i = 0; i < t->as_array().size(); ++i) {
                    const std::string tp = "chat_template[" + std::to_string(i) + "]";
                    const Value& e = t->as_array()[i];
                    if (c.str(c.at(e, "name", tp), tp + ".name") == "default")
                        v.chat_template = c.str(c.at(e, "template", tp), tp + ".template");
                }
            }
        }
    }
    if (v.chat_template.empty() && fs::exists(dir / "chat_template.jinja"))
        v.chat_template = read_file(dir / "chat_template.jinja", kSideFile);
    if (!v.add_bos) {  // no Llama-style flags: the post-processor's template decides
        v.add_bos = !post_bos.empty();
        v.add_eos = !post_eos.empty();
        if (!post_bos.empty()) v.bos = id_of(d, post_bos, "post_processor");
        if (!post_eos.empty()) v.eos = id_of(d, post_eos, "post_processor");
    }
    v.from_gguf = false;
    try {
        return Tokenizer(std::move(v));
    } catch (const Error& e) {
        const std::string what = e.what();
        if (what.find(d.file) != std::string::npos) throw;
        throw Error(what + " (in " + d.file + ")");
    }
}

}  // namespace gb
