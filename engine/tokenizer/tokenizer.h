// Tokenizer of GGUF vocabularies (and of HF tokenizer.json byte-level BPE): byte-level BPE ("gpt2":
// regex pre-tokenization, rank-based merges) and SentencePiece-style BPE ("llama": scored pieces,
// byte fallback); special-token matching, decoding and streaming detokenisation.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gb {

class GgufFile;

// Token kinds as GGUF's tokenizer.ggml.token_type stores them.
enum class TokenType : uint8_t {
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,      // <|im_start|>, <|endoftext|>: matched in text only when parse_special
    UserDefined = 4,  // added tokens such as <think>: always matched in text, decoded verbatim
    Unused = 5,
    Byte = 6,
};

// Everything the tokenizer needs, as read from GGUF metadata (or built by a test).
struct Vocab {
    std::string model = "gpt2";       // tokenizer.ggml.model: "gpt2" or "llama" (SentencePiece)
    std::string pre = "default";      // tokenizer.ggml.pre: which split regexes to use
    std::vector<std::string> tokens;  // token text; normal tokens in GPT-2 byte symbols
    std::vector<float> scores;        // may be empty (byte-level BPE does not use them)
    std::vector<TokenType> types;     // empty means all Normal
    std::vector<std::string> merges;  // "left right", rank = index (lower merges first); gpt2
    int32_t bos = -1, eos = -1, eot = -1, pad = -1, unk = -1;
    // nullopt: the pre-tokenizer's default (true for llama-bpe and the deepseek ones).
    std::optional<bool> add_bos;
    bool add_eos = false;
    // "llama" only: a U+2581 is put before the text and after each special token, and decode
    // drops the first space again (tokenizer.ggml.add_space_prefix).
    bool add_space_prefix = true;
    std::string chat_template;  // tokenizer.chat_template, verbatim
    // When not empty: the split regexes (tokenizer.json's Oniguruma syntax) used instead of
    // the `pre` table entry.
    std::vector<std::string> pre_regexes;
    // Where each of pre_regexes comes from, for errors ("tokenizer.json:
    // pre_tokenizer.pretokenizers[0].pattern.Regex"); may be empty.
    std::vector<std::string> pre_regex_where;
    // nullopt: the pre-tokenizer's default. true: a word that is a vocabulary entry is taken
    // whole, without merging (Llama 3).
    std::optional<bool> ignore_merges;
    // Text between special tokens is put in Unicode NFC before splitting (tokenizer.json's
    // "NFC" normalizer; Qwen2 vocabularies).
    bool nfc = false;
    // Added tokens spelled only in byte-level symbols (such as "ø") decode to the bytes those
    // stand for, as tokenizer.json's ByteLevel decoder does, not to their text.
    bool decode_added_as_bytes = false;
    // Where the vocabulary came from, for error messages: GGUF key names (tokenizer.ggml.*)
    // are only named when it came from a GGUF file.
    bool from_gguf = true;
};

class Tokenizer {
public:
    // Reads the tokenizer.* keys; throws gb::Error naming the key or the unsupported value.
    static Tokenizer from_gguf(const GgufFile& file);
    // Reads a Hugging Face checkpoint's tokenizer: `path` is a directory holding tokenizer.json
    // (and usually tokenizer_config.json, for BOS/EOS, special token names and the chat
    // template) or the tokenizer.json file itself. Byte-level BPE only; anything else is a
    // gb::Error naming the file and the JSON path of the unsupported part.
    static Tokenizer from_hf(const std::string& path);
    // Validates the vocabulary and builds the lookup tables; throws gb::Error.
    explicit Tokenizer(Vocab vocab);

    // Text -> ids. add_special: BOS (and EOS) as the vocabulary asks. parse_special: control
    // token strings in the text become their ids (user-defined tokens always do). Invalid UTF-8
    // bytes in the text are tokenized as U+FFFD.
    std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;
    // Raw bytes of one token: byte-level symbols (gpt2) or <0xXX> pieces (llama) mapped back to
    // bytes, so a token may hold part of a UTF-8 character; U+2581 in llama pieces becomes ' '.
    // Control and user-defined tokens give their text. "" when out of range.
    std::string token_text(int32_t id) const;
    // Ids -> UTF-8 text; control and unknown tokens only when show_special; invalid bytes become
    // U+FFFD. With add_space_prefix (llama) the leading space of the first piece is dropped when
    // nothing but hidden tokens (BOS) comes before it, as SentencePiece decodes.
    std::string decode(std::span<const int32_t> ids, bool show_special) const;

    int32_t bos() const;
    int32_t eos() const;
    int32_t eot() const;  // end of turn; -1 when the vocabulary has none
    // End of generation: eos, eot, and control tokens such as <|im_end|> or <|endoftext|>.
    bool is_eog(int32_t id) const;
    bool is_control(int32_t id) const;
    size_t size() const;
    const std::string& chat_template() const;
    bool add_bos() const;
    bool add_eos() const;
    const Vocab& vocab() const;
    // Id of a token by its exact text (control tokens too); -1 when absent.
    int32_t find_token(std::string_view text) const;

    struct Impl;

private:
    friend class StreamDecoder;
    std::shared_ptr<const Impl> impl_;
};

// Streaming detokeniser: feed ids as they are generated, get the text that is complete so far.
// Bytes of an unfinished UTF-8 character are held back until the next token completes them;
// bytes that can never form a character come out as U+FFFD. Pieces keep their leading space
// (a stream continues a prompt), unlike Tokenizer::decode.
class StreamDecoder {
public:
    explicit StreamDecoder(const Tokenizer& tok, bool show_special = false);
    std::string push(int32_t id);
    std::string flush();  // whatever is held back, an unfinished character as U+FFFD

private:
    const Tokenizer& tok_;
    bool show_special_;
    std::string pending_;
};

}  // namespace gb
