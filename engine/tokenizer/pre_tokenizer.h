// Pre-tokenization: splitting text into words before BPE, by the regexes each GGUF
// tokenizer.ggml.pre value stands for (compiled with PCRE2, Unicode properties, JIT).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace gb {

// One tokenizer.ggml.pre value. Its regexes apply in sequence: each one splits every piece the
// previous left, and both its matches and the text between them become pieces.
struct PreTokenizerSpec {
    std::string_view name;
    std::vector<std::string_view> patterns;  // PCRE2 syntax
    bool ignore_merges = false;  // a word that is a vocabulary entry is taken whole (Llama 3)
    bool add_bos = false;        // used when the GGUF has no tokenizer.ggml.add_bos_token
};

// The known pre-tokenizers; throws gb::Error naming `name` (and listing the known ones) when
// it is not one of them.
const PreTokenizerSpec& pre_tokenizer_spec(std::string_view name);
std::vector<std::string_view> pre_tokenizer_names();

class PreTokenizer {
public:
    explicit PreTokenizer(std::string_view name);  // throws gb::Error
    // Split regexes as tokenizer.json writes them (Oniguruma, Ruby syntax: ^ and $ match at
    // line ends, \h is a hex digit), applied like a table entry's. `where` names each one in
    // errors (the file and JSON path it came from); one name stands for all of them. More than
    // 32 regexes is a gb::Error (real tokenizers have at most six).
    PreTokenizer(std::vector<std::string> patterns, std::vector<std::string> where);
    ~PreTokenizer();
    PreTokenizer(PreTokenizer&&) noexcept;
    PreTokenizer& operator=(PreTokenizer&&) noexcept;

    // The matching work one text may cost, in PCRE2 match-limit units, shared by every match
    // of every regex on it (however many pieces special tokens cut it into). A split regex
    // from a stranger's tokenizer.json can backtrack catastrophically in every match while
    // each match stays under PCRE2's own per-call limit (minutes on 46 KB), so the limit is
    // per text: each match may use what is left, and running out is a gb::Error naming the
    // regex. Work is counted, not time, so the outcome does not depend on the machine.
    struct Budget {
        uint64_t left = 0;
    };
    // A text of `bytes` bytes: 4 Mi units plus 512 per byte and 128 more per byte and regex.
    // The real regexes take 2 to 32 units per match and at most two matches per byte and regex;
    // one unit is 2 to 15 ns.
    Budget budget_for(size_t bytes) const;

    // Appends the pieces of `text` (valid UTF-8) to out, in order; together they are the text.
    void split(std::string_view text, std::vector<std::string_view>& out, Budget& budget) const;
    void split(std::string_view text, std::vector<std::string_view>& out) const;
    const PreTokenizerSpec& spec() const { return *spec_; }

private:
    struct Regex;
    void compile(bool ruby);
    const PreTokenizerSpec* spec_;
    std::unique_ptr<PreTokenizerSpec> own_spec_;  // patterns not from the table
    std::vector<std::string> own_patterns_;
    std::vector<std::string> where_;  // per regex, for errors
    std::vector<std::unique_ptr<Regex>> regexes_;
};

}  // namespace gb
