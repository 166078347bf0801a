// Pre-tokenization: splitting text into words before BPE, by the regexes each GGUF
// tokenizer.ggml.pre value stands for (compiled with PCRE2, Unicode properties, JIT).
#pragma once

#include <chrono>
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
    // line ends, \h is a hex digit), applied like a table entry's. `where` names them in errors.
    PreTokenizer(std::vector<std::string> patterns, std::string_view where);
    ~PreTokenizer();
    PreTokenizer(PreTokenizer&&) noexcept;
    PreTokenizer& operator=(PreTokenizer&&) noexcept;

    // Appends the pieces of `text` (valid UTF-8) to out, in order; together they are the text.
    // Past `deadline` it stops with a gb::Error naming the regex: a split regex from a
    // stranger's tokenizer.json can backtrack catastrophically in every match while each match
    // stays under PCRE2's own per-call limit, so the whole text needs a time budget.
    using Clock = std::chrono::steady_clock;
    void split(std::string_view text, std::vector<std::string_view>& out,
               Clock::time_point deadline = Clock::time_point::max()) const;
    // The time budget of a text of `bytes` bytes: a second, plus a second per MiB (real
    // tokenizers split tens of MiB per second).
    static Clock::duration budget_for(size_t bytes);
    const PreTokenizerSpec& spec() const { return *spec_; }

private:
    struct Regex;
    void compile(std::string_view where, bool ruby);
    const PreTokenizerSpec* spec_;
    std::unique_ptr<PreTokenizerSpec> own_spec_;  // patterns not from the table
    std::vector<std::string> own_patterns_;
    std::vector<std::unique_ptr<Regex>> regexes_;
};

}  // namespace gb
