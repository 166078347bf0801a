// Tokenizer: special-token matching, then pre-tokenization and byte-level BPE (gpt2) or
// SentencePiece-style BPE (llama) for encoding; piece-to-bytes mapping for decoding; the
// streaming detokeniser.
#include "engine/tokenizer/tokenizer.h"

#include <algorithm>
#include <array>
#include <tuple>
#include <unordered_map>

#include "engine/core/utf8.h"
#include "engine/tokenizer/bpe.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/pre_tokenizer.h"
#include "engine/tokenizer/special_tokens.h"
#include "engine/tokenizer/spm.h"
#include "engine/tokenizer/unicode_nfc.h"
#include "kernels/error.h"

namespace gb {
namespace {

// Texts of tokens that end generation in the chat models we run (when the vocabulary has them
// as control or user-defined tokens), beside whatever eos / eot ids the file names.
constexpr std::array<std::string_view, 10> kEogTexts = {
    "<|im_end|>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|end|>",
    "<end_of_turn>",
    "<|end_of_text|>",
    "<EOT>",
    "<\xEF\xBD\x9C"
    "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",  // <｜end▁of▁sentence｜>
    "<|return|>",
};
// Candidates for the end-of-turn token when the file does not name one, in order of preference.
constexpr std::array<std::string_view, 5> kEotTexts = {"<|eot_id|>", "<|im_end|>", "<|end|>",
                                                       "<end_of_turn>", "<EOT>"};

}  // namespace

struct Tokenizer::Impl {
    Vocab vocab;
    bool spm_model = false;  // "llama": SentencePiece pieces instead of byte-level BPE
    PreTokenizer pre;
    std::unique_ptr<BpeModel> bpe;  // gpt2 only
    std::unique_ptr<SpmModel> spm;  // llama only (views into vocab.tokens)
    bool add_bos = false;
    std::vector<std::string> bytes;  // what each token decodes to
    std::vector<uint8_t> eog;
    std::unordered_map<std::string_view, int32_t> by_text;  // exact token text -> id

    // Control, user-defined and unknown tokens, matched in the text before pre-tokenization.
    SpecialTokens specials;

    Impl(Vocab v)
        : vocab(std::move(v)),
          spm_model(vocab.model == "llama"),
          // SentencePiece vocabularies split nothing before merging; their pre value is moot.
          pre(spm_model || vocab.pre_regexes.empty()
                  ? PreTokenizer(spm_model ? std::string("default") : vocab.pre)
                  : PreTokenizer(vocab.pre_regexes, vocab.pre_regex_where)),
          // SentencePiece models put BOS first unless the file says otherwise.
          add_bos(vocab.add_bos.value_or(spm_model || pre.spec().add_bos)) {
        if (spm_model)
            spm = std::make_unique<SpmModel>(vocab);
        else
            bpe = std::make_unique<BpeModel>(
                vocab, vocab.ignore_merges.value_or(pre.spec().ignore_merges));
    }

    TokenType type(int32_t id) const {
        return vocab.types.empty() ? TokenType::Normal : vocab.types[id];
    }
    bool valid(int32_t id) const {
        return id >= 0 && static_cast<size_t>(id) < vocab.tokens.size();
    }

    // Not shown by decode unless show_special.
    bool hidden(int32_t id) const {
        const TokenType t = type(id);
        return t == TokenType::Control || t == TokenType::Unknown;
    }

    // `after_special`: the text starts the input or follows a special token, where
    // SentencePiece vocabularies put their space prefix.
    void encode_text(std::string_view text, bool after_special, std::vector<int32_t>& out,
                     std::vector<std::string_view>& words, PreTokenizer::Budget& budget) const {
        if (spm) {
            spm->encode(text, after_special && vocab.add_space_prefix, out);
            return;
        }
        words.clear();
        std::string normalized;
        if (vocab.nfc && !is_nfc_quick(text)) {
            normalized = nfc(text);
            text = normalized;
        }
        pre.split(text, words, budget);
        for (std::string_view w : words) bpe->encode_word(w, out);
    }
};

Tokenizer::Tokenizer(Vocab v) {
    // Errors name GGUF keys only for a vocabulary read from GGUF (tokenizer.json says it in
    // other words, and the caller adds the file).
    const bool g = v.from_gguf;
    auto key = [g](const char* gguf, const char* other) { return std::string(g ? gguf : other); };
    if (v.model != "gpt2" && v.model != "llama")
        throw Error("tokenizer: unsupported " + key("tokenizer.ggml.model", "tokenizer model") +
                    " = '" + v.model + "' (supported: gpt2, llama)");
    const size_t n = v.tokens.size();
    if (n == 0)
        throw Error("tokenizer: " + key("tokenizer.ggml.tokens", "the vocabulary") + " is empty");
    if (n > static_cast<size_t>(INT32_MAX)) throw Error("tokenizer: too many tokens");
    if (!v.types.empty() && v.types.size() != n)
        throw Error("tokenizer: " + key("tokenizer.ggml.token_type", "the token types") + " has " +
                    std::to_string(v.types.size()) + " entries for " + std::to_string(n) +
                    " tokens");
    if (!v.scores.empty() && v.scores.size() != n)
        throw Error("tokenizer: " + key("tokenizer.ggml.scores", "the token scores") + " has " +
                    std::to_string(v.scores.size()) + " entries for " + std::to_string(n) +
                    " tokens");
    for (auto [gguf, other, id] : {std::tuple{"tokenizer.ggml.bos_token_id", "bos_token", v.bos},
                                   {"tokenizer.ggml.eos_token_id", "eos_token", v.eos},
                                   {"tokenizer.ggml.eot_token_id", "eot_token", v.eot},
                                   {"tokenizer.ggml.padding_token_id", "pad_token", v.pad},
                                   {"tokenizer.ggml.unknown_token_id", "unk_token", v.unk}}) {
        if (id < -1 || id >= static_cast<int64_t>(n))
            throw Error("tokenizer: " + key(gguf, other) + " = " + std::to_string(id) +
                        " is outside the vocabulary of " + std::to_string(n) + " tokens");
    }

    auto impl = std::make_shared<Impl>(std::move(v));
    Impl& m = *impl;
    const Vocab& voc = m.vocab;
    m.bytes.resize(n);
    m.eog.assign(n, 0);
    m.by_text.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        const auto id = static_cast<int32_t>(i);
        const std::string& text = voc.tokens[i];
        m.by_text.emplace(text, id);
        const TokenType t = m.type(id);
        const bool special = t == TokenType::Control || t == TokenType::UserDefined;
        // Normal tokens are spelled in byte symbols (gpt2) or with U+2581 and <0xXX> pieces
        // (llama); special ones are literal text.
        std::string raw;
        if (special && voc.decode_added_as_bytes && byte_level::to_bytes(text, raw))
            m.bytes[i] = std::move(raw);  // spelled in byte symbols: decodes to those bytes
        else if (special || t == TokenType::Unknown)
            m.bytes[i] = text;
        else if (m.spm_model)
            m.bytes[i] = SpmModel::decode_piece(text, t);
        else if (!byte_level::to_bytes(text, m.bytes[i]))
            m.bytes[i] = text;
        // The unknown token's text ("<unk>") is matched like a control token's.
        if (special || t == TokenType::Unknown)
            m.specials.add(text, id, t != TokenType::UserDefined);
        if (special && std::find(kEogTexts.begin(), kEogTexts.end(), text) != kEogTexts.end())
            m.eog[i] = 1;
    }
    if (m.vocab.eot < 0) {
        for (std::string_view t : kEotTexts) {
            auto it = m.by_text.find(t);
            if (it != m.by_text.end() && m.type(it->second) == TokenType::Control) {
                m.vocab.eot = it->second;
                break;
            }
        }
    }
    if (m.vocab.eos >= 0) m.eog[m.vocab.eos] = 1;
    if (m.vocab.eot >= 0) m.eog[m.vocab.eot] = 1;
    impl_ = std::move(impl);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
    const Impl& m = *impl_;
    std::string repaired;
    if (!utf8::is_valid(text)) {
        repaired = utf8::repaired(text);
        text = repaired;
    }
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 2);
    if (add_special && m.add_bos && m.vocab.bos >= 0) out.push_back(m.vocab.bos);

    std::vector<std::string_view> words;
    // One regex work budget for the whole text, however many special tokens cut it into parts.
    PreTokenizer::Budget budget = m.pre.budget_for(text.size());
    size_t frag = 0;            // start of the text not yet tokenized
    bool after_special = true;  // the next text starts the input or follows a special token
    auto text_part = [&](std::string_view part) {
        if (part.empty()) return;  // an empty stretch between specials changes nothing
        m.encode_text(part, after_special, out, words, budget);
        after_special = false;
    };
    uint64_t special_work = SpecialTokens::budget_for(text.size());
    for (size_t i = 0; i < text.size();) {
        const SpecialTokens::Match hit =
            m.specials.longest_at(text, i, parse_special, special_work);
        if (hit.id < 0) {
            ++i;
            continue;
        }
        text_part(text.substr(frag, i - frag));
        out.push_back(hit.id);
        after_special = true;
        i += hit.len;
        frag = i;
    }
    text_part(text.substr(frag));

    if (add_special && m.vocab.add_eos && m.vocab.eos >= 0) out.push_back(m.vocab.eos);
    return out;
}

std::string Tokenizer::token_text(int32_t id) const {
    return impl_->valid(id) ? impl_->bytes[id] : std::string();
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool show_special) const {
    const Impl& m = *impl_;
    std::string raw;
    // SentencePiece decoding drops the space the encoder put in front of the text: the first
    // shown piece's leading space when only hidden tokens (BOS) precede it. (llama.cpp drops
    // it only from the very first id, so keeps it after a BOS; we follow SentencePiece.)
    bool strip_space = m.spm_model && m.vocab.add_space_prefix;
    for (int32_t id : ids) {
        if (!m.valid(id)) continue;
        if (!show_special && m.hidden(id)) continue;
        const std::string& piece = m.bytes[id];
        const bool strip =
            strip_space && m.type(id) == TokenType::Normal && !piece.empty() && piece[0] == ' ';
        raw.append(piece, strip ? 1 : 0);
        strip_space = false;
    }
    return utf8::is_valid(raw) ? raw : utf8::repaired(raw);
}

int32_t Tokenizer::bos() const { return impl_->vocab.bos; }
int32_t Tokenizer::eos() const { return impl_->vocab.eos; }
int32_t Tokenizer::eot() const { return impl_->vocab.eot; }
bool Tokenizer::is_eog(int32_t id) const { return impl_->valid(id) && impl_->eog[id]; }
bool Tokenizer::is_control(int32_t id) const {
    return impl_->valid(id) && impl_->type(id) == TokenType::Control;
}
size_t Tokenizer::size() const { return impl_->vocab.tokens.size(); }
const std::string& Tokenizer::chat_template() const { return impl_->vocab.chat_template; }
bool Tokenizer::add_bos() const { return impl_->add_bos; }
bool Tokenizer::add_eos() const { return impl_->vocab.add_eos; }
const Vocab& Tokenizer::vocab() const { return impl_->vocab; }

int32_t Tokenizer::find_token(std::string_view text) const {
    auto it = impl_->by_text.find(text);
    return it == impl_->by_text.end() ? -1 : it->second;
}

StreamDecoder::StreamDecoder(const Tokenizer& tok, bool show_special)
    : tok_(tok), show_special_(show_special) {}

std::string StreamDecoder::push(int32_t id) {
    if (!tok_.impl_->valid(id) || (!show_special_ && tok_.impl_->hidden(id))) return {};
    pending_ += tok_.token_text(id);
    std::string out;
    const size_t used = utf8::append_repaired(out, pending_, /*final=*/false);
    pending_.erase(0, used);
    return out;
}

std::string StreamDecoder::flush() {
    std::string out;
    utf8::append_repaired(out, pending_, /*final=*/true);
    pending_.clear();
    return out;
}

}  // namespace gb
