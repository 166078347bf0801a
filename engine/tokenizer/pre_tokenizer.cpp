// The split regexes of each known tokenizer.ggml.pre value, and the PCRE2 machinery that runs
// them. The patterns are those of the models' own tokenizer.json files, written for PCRE2.
#include "engine/tokenizer/pre_tokenizer.h"

#include <algorithm>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "kernels/error.h"

namespace gb {
namespace {

// Split steps one tokenizer may have (real ones have at most six; each is a pass over the text).
constexpr size_t kMaxRegexes = 32;

// GPT-2's regex: contractions, letters, digits and other runs each with an optional leading
// space, and whitespace that is not followed by a word.
constexpr std::string_view kGpt2 =
    R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)re";

// Llama 3: contractions in any case, a word may take one leading non-letter, digits in groups
// of at most three, newlines kept apart from other whitespace.
constexpr std::string_view kLlama3 =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3})re"
    R"re(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// Qwen2 (and the DeepSeek-R1 Qwen distills): Llama 3's rules with one digit per piece.
constexpr std::string_view kQwen2 =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N})re"
    R"re(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// DeepSeek LLM (V1/V2): newlines alone; runs of Latin, Greek, Cyrillic and other cased letters;
// ASCII and fullwidth punctuation; trailing whitespace; CJK and hangul; digit runs.
constexpr std::string_view kDeepseekLetters =
    R"re(\s?[A-Za-z\x{b5}\x{c0}-\x{d6}\x{d8}-\x{f6}\x{f8}-\x{1ba}\x{1bc}-\x{1bf}\x{1c4}-\x{293})re"
    R"re(\x{295}-\x{2af}\x{370}-\x{373}\x{376}\x{377}\x{37b}-\x{37d}\x{37f}\x{386})re"
    R"re(\x{388}-\x{38a})re"
    R"re(\x{38c}\x{38e}-\x{3a1}\x{3a3}-\x{3f5}\x{3f7}-\x{481}\x{48a}-\x{52f}\x{531}-\x{556})re"
    R"re(\x{10a0}-\x{10c5}\x{13a0}-\x{13f5}\x{13f8}-\x{13fd}\x{1c90}-\x{1cba}\x{1cbd}-\x{1cbf})re"
    R"re(\x{1d00}-\x{1d2b}\x{1d6b}-\x{1d77}\x{1d79}-\x{1d9a}\x{1e00}-\x{1f15}\x{1f18}-\x{1f1d})re"
    R"re(\x{1f20}-\x{1f45}\x{1f48}-\x{1f4d}\x{1f50}-\x{1f57}\x{1f59}\x{1f5b}\x{1f5d})re"
    R"re(\x{1f5f}-\x{1f7d}\x{1f80}-\x{1fb4}\x{1fb6}-\x{1fbc}\x{1fbe}\x{1fc2}-\x{1fc4})re"
    R"re(\x{1fc6}-\x{1fcc}\x{1fd0}-\x{1fd3}\x{1fd6}-\x{1fdb}\x{1fe0}-\x{1fec}\x{1ff2}-\x{1ff4})re"
    R"re(\x{1ff6}-\x{1ffc}\x{2102}\x{2107}\x{210a}-\x{2113}\x{2115}\x{2119}-\x{211d}\x{2124})re"
    R"re(\x{2126}\x{2128}\x{212a}-\x{212d}\x{212f}-\x{2134}\x{2139}\x{213c}-\x{213f})re"
    R"re(\x{2145}-\x{2149}\x{214e}\x{2183}\x{2184}\x{2c00}-\x{2c7b}\x{2c7e}-\x{2ce4})re"
    R"re(\x{2ceb}-\x{2cee}\x{2cf2}\x{2cf3}\x{a640}-\x{a66d}\x{a680}-\x{a69b}\x{a722}-\x{a76f})re"
    R"re(\x{a771}-\x{a787}\x{a78b}-\x{a78e}\x{ab70}-\x{abbf}\x{fb00}-\x{fb06}\x{fb13}-\x{fb17})re"
    R"re(\x{ff21}-\x{ff3a}\x{ff41}-\x{ff5a}\x{10400}-\x{1044f}\x{104b0}-\x{104d3})re"
    R"re(\x{104d8}-\x{104fb}\x{10c80}-\x{10cb2}\x{10cc0}-\x{10cf2}\x{118a0}-\x{118df})re"
    R"re(\x{1e900}-\x{1e943}]+)re";

// DeepSeek V3 / R1: digit groups of at most three, CJK and kana runs, then a Llama-3-like rule
// where punctuation may lead an ASCII word and letters keep their combining marks.
constexpr std::string_view kDeepseekV3Words =
    R"re([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+)re"
    R"re(| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

const std::vector<PreTokenizerSpec>& specs() {
    static const std::vector<PreTokenizerSpec> table = {
        {"default", {kGpt2}},
        {"gpt2", {kGpt2}},
        {"gpt-2", {kGpt2}},
        // OLMo / OLMoE: a GPT-NeoX-style tokenizer.json, ByteLevel with GPT-2's regex.
        {"olmo", {kGpt2}},
        // SmolLM / SmolLM2: every digit alone, then GPT-2's regex.
        {"smollm", {R"re(\p{N})re", kGpt2}},
        {"llama-bpe", {kLlama3}, /*ignore_merges=*/true, /*add_bos=*/true},
        {"qwen2", {kQwen2}},
        {"deepseek-r1-qwen", {kQwen2}, false, /*add_bos=*/true},
        {"deepseek-llm",
         {R"re([\r\n])re", kDeepseekLetters,
          R"re(\s?[!-/:-~\x{ff01}-\x{ff0f}\x{ff1a}-\x{ff5e}\x{2018}-\x{201f}\x{3000}-\x{3002}]+)re",
          R"re(\s+$)re", R"re([\x{4e00}-\x{9fa5}\x{800}-\x{4e00}\x{ac00}-\x{d7ff}]+)re",
          R"re(\p{N}+)re"},
         false,
         /*add_bos=*/true},
        {"deepseek-v3",
         {R"re(\p{N}{1,3})re", R"re([\x{4e00}-\x{9fa5}\x{3040}-\x{309f}\x{30a0}-\x{30ff}]+)re",
          kDeepseekV3Words},
         false,
         /*add_bos=*/true},
    };
    return table;
}

// White_Space, which is what the reference's \s matches (PCRE2's \s also takes U+180E).
constexpr std::string_view kWhiteSpace =
    R"re(\t-\r\x{20}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f})re"
    R"re(\x{3000})re";

struct ClassAddition {
    std::string_view category;  // "L", "N", "P", "S", "M"
    std::string_view items;     // PCRE2 class items
};
constexpr ClassAddition kAdditions[] = {
#include "engine/tokenizer/unicode_additions.inc"
};

std::string_view additions_of(char category) {
    for (const auto& a : kAdditions)
        if (a.category.size() == 1 && a.category[0] == category) return a.items;
    return {};
}

// Rewrites a pattern so that its classes mean what the reference tokenizers' do, whatever
// Unicode version this PCRE2 knows: \s and \S become the White_Space set, and \p{L}, \p{N},
// \p{P}, \p{S}, \p{M} take the characters encoded after Unicode 14 (unicode_additions.inc).
// With `ruby`, Oniguruma's \\h (a hex digit; PCRE2's is horizontal space) is spelled out too.
std::string adapt_pattern(std::string_view p, bool ruby) {
    std::string out;
    bool in_class = false;
    for (size_t i = 0; i < p.size(); ++i) {
        const char c = p[i];
        if (c == '\\' && i + 1 < p.size()) {
            const char e = p[i + 1];
            if (e == 's' || (e == 'S' && !in_class)) {
                if (in_class)
                    out += kWhiteSpace;
                else
                    out.append(e == 's' ? "[" : "[^").append(kWhiteSpace).append("]");
                ++i;
                continue;
            }
            if (ruby && (e == 'h' || e == 'H')) {
                if (in_class && e == 'H')
                    throw Error("tokenizer: \\H inside a character class is not supported");
                if (in_class)
                    out += "0-9a-fA-F";
                else
                    out.append(e == 'h' ? "[" : "[^").append("0-9a-fA-F]");
                ++i;
                continue;
            }
            if (e == 'p' && i + 4 < p.size() && p[i + 2] == '{' && p[i + 4] == '}') {
                const std::string_view prop = p.substr(i, 5), extra = additions_of(p[i + 3]);
                if (!extra.empty()) {
                    if (in_class)
                        out.append(prop).append(extra);
                    else
                        out.append("[").append(prop).append(extra).append("]");
                    i += 4;
                    continue;
                }
            }
            out += c;
            out += e;
            ++i;
            continue;
        }
        if (c == '[' && !in_class)
            in_class = true;
        else if (c == ']' && in_class)
            in_class = false;
        out += c;
    }
    return out;
}

}  // namespace

std::vector<std::string_view> pre_tokenizer_names() {
    std::vector<std::string_view> names;
    for (const auto& s : specs()) names.push_back(s.name);
    return names;
}

const PreTokenizerSpec& pre_tokenizer_spec(std::string_view name) {
    for (const auto& s : specs())
        if (s.name == name) return s;
    std::string known;
    for (const auto& s : specs()) known += (known.empty() ? "" : ", ") + std::string(s.name);
    throw Error("tokenizer: unsupported pre-tokenizer tokenizer.ggml.pre = '" + std::string(name) +
                "' (supported: " + known + ")");
}

// One compiled regex. Matching state (match data, JIT stack) is made per split() call, so one
// PreTokenizer can be used from several threads at once.
struct PreTokenizer::Regex {
    pcre2_code* code = nullptr;
    bool jit = false;
    ~Regex() { pcre2_code_free(code); }
};

PreTokenizer::PreTokenizer(std::string_view name) : spec_(&pre_tokenizer_spec(name)) {
    where_.assign(spec_->patterns.size(), "pre-tokenizer '" + std::string(name) + "'");
    compile(false);
}

PreTokenizer::PreTokenizer(std::vector<std::string> patterns, std::vector<std::string> where)
    : own_spec_(std::make_unique<PreTokenizerSpec>()),
      own_patterns_(std::move(patterns)),
      where_(std::move(where)) {
    for (const std::string& p : own_patterns_) own_spec_->patterns.push_back(p);
    spec_ = own_spec_.get();
    if (where_.size() != own_patterns_.size())
        where_.assign(own_patterns_.size(), where_.empty() ? std::string("split") : where_[0]);
    if (own_patterns_.size() > kMaxRegexes)
        throw Error("tokenizer: " + where_.back() + ": " + std::to_string(own_patterns_.size()) +
                    " split regexes; at most " + std::to_string(kMaxRegexes) + " are supported");
    compile(true);
}

void PreTokenizer::compile(bool ruby) {
    // Ruby's ^ and $ are line anchors (before or after any "\n"), which PCRE2's multiline
    // mode with LF newlines and ALT_CIRCUMFLEX gives.
    pcre2_compile_context* cctx = pcre2_compile_context_create(nullptr);
    if (!cctx) throw Error("tokenizer: out of memory compiling a regex");
    pcre2_set_newline(cctx, PCRE2_NEWLINE_LF);
    const uint32_t options =
        PCRE2_UTF | PCRE2_UCP | (ruby ? PCRE2_MULTILINE | PCRE2_ALT_CIRCUMFLEX : 0);
    for (size_t r = 0; r < spec_->patterns.size(); ++r) {
        const std::string_view original = spec_->patterns[r];
        const std::string pattern = adapt_pattern(original, ruby);
        int err = 0;
        PCRE2_SIZE err_off = 0;
        auto rx = std::make_unique<Regex>();
        rx->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                 options, &err, &err_off, cctx);
        if (!rx->code) {
            pcre2_compile_context_free(cctx);
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            throw Error("tokenizer: " + where_[r] + ": regex /" +
                        std::string(original.substr(0, 200)) + "/ does not compile at " +
                        std::to_string(err_off) + ": " + reinterpret_cast<const char*>(msg));
        }
        // Without JIT (a PCRE2 built without it) pcre2_match interprets: slower, same result.
        rx->jit = pcre2_jit_compile(rx->code, PCRE2_JIT_COMPLETE) == 0;
        regexes_.push_back(std::move(rx));
    }
    pcre2_compile_context_free(cctx);
}

PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

namespace {

// Matching state for one split() call.
struct MatchState {
    pcre2_match_data* md = nullptr;
    pcre2_match_context* ctx = nullptr;
    pcre2_jit_stack* stack = nullptr;
    MatchState() {
        md = pcre2_match_data_create(4, nullptr);
        ctx = pcre2_match_context_create(nullptr);
        // Long runs (a megabyte of spaces) need more than the default 32 KiB JIT stack.
        stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
        if (!md || !ctx || !stack) throw Error("tokenizer: out of memory for regex matching");
        pcre2_jit_stack_assign(ctx, nullptr, stack);
    }
    ~MatchState() {
        pcre2_jit_stack_free(stack);
        pcre2_match_context_free(ctx);
        pcre2_match_data_free(md);
    }
    MatchState(const MatchState&) = delete;
    MatchState& operator=(const MatchState&) = delete;
};

size_t utf8_len(uint8_t lead) { return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4; }

}  // namespace

// Work units per text: kFloorUnits plus, per byte, kUnitsPerByte and kUnitsPerByteRegex for
// each regex. A match is first tried with kFirstLimit units, then with four times as many each
// time PCRE2 stops it for its limit, and every try is charged its whole limit (PCRE2 does not
// say how much it used): a match costs at most 16/3 times its need. Real regexes need 2 to 32
// units per match (JIT: 2 to 16) and make at most two matches per byte and regex (every byte a
// piece of its own); a megabyte of spaces under \s+(?!\S) needs one unit per byte. A unit is
// 2 ns (JIT) to 15 ns (interpreted), so a catastrophic regex on 46 KB ends in about 0.1 s.
constexpr uint64_t kFloorUnits = uint64_t{1} << 22;
constexpr uint64_t kUnitsPerByte = 512;
constexpr uint64_t kUnitsPerByteRegex = 128;
constexpr uint64_t kFirstLimit = 32;

PreTokenizer::Budget PreTokenizer::budget_for(size_t bytes) const {
    return {kFloorUnits +
            static_cast<uint64_t>(bytes) * (kUnitsPerByte + kUnitsPerByteRegex * regexes_.size())};
}

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& out) const {
    Budget budget = budget_for(text.size());
    split(text, out, budget);
}

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& out,
                         Budget& budget) const {
    if (text.empty()) return;
    MatchState st;
    std::vector<std::string_view> cur{text}, next;
    for (size_t r = 0; r < regexes_.size(); ++r) {
        const pcre2_code* code = regexes_[r]->code;
        // pcre2_jit_match skips the checks of pcre2_match: the input is known valid UTF-8.
        const auto match = regexes_[r]->jit ? pcre2_jit_match : pcre2_match;
        // The last regex writes straight into out.
        std::vector<std::string_view>& dst = (r + 1 == regexes_.size()) ? out : next;
        auto fail = [&](const std::string& why) {
            throw Error("tokenizer: " + where_[r] + ": split regex /" +
                        std::string(spec_->patterns[r]).substr(0, 120) + "/ " + why);
        };
        for (std::string_view piece : cur) {
            // Each piece is its own subject: lookarounds never see past it.
            const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
            size_t pos = 0, emitted = 0;
            while (pos < piece.size()) {
                int rc = 0;
                for (uint64_t limit = kFirstLimit;; limit *= 4) {
                    if (budget.left == 0)
                        fail("ran out of its work budget on a text of " +
                             std::to_string(text.size()) +
                             " bytes: the regex backtracks without end on such text");
                    const uint64_t try_limit = std::min({limit, budget.left, uint64_t{UINT32_MAX}});
                    pcre2_set_match_limit(st.ctx, static_cast<uint32_t>(try_limit));
                    rc = match(code, subject, piece.size(), pos, PCRE2_NO_UTF_CHECK, st.md, st.ctx);
                    budget.left -= try_limit;
                    if (rc != PCRE2_ERROR_MATCHLIMIT) break;
                }
                if (rc == PCRE2_ERROR_NOMATCH) break;
                if (rc < 0) {
                    PCRE2_UCHAR msg[256];
                    pcre2_get_error_message(rc, msg, sizeof msg);
                    fail(std::string("failed: ") + reinterpret_cast<const char*>(msg));
                }
                const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.md);
                const size_t b = ov[0], e = ov[1];
                if (b < pos || e < b || e > piece.size()) fail("gave a match outside its text");
                if (e == b) {  // an empty match splits nothing; step one character on
                    if (b >= piece.size()) break;
                    pos = b + utf8_len(static_cast<uint8_t>(piece[b]));
                    continue;
                }
                if (b > emitted) dst.push_back(piece.substr(emitted, b - emitted));
                dst.push_back(piece.substr(b, e - b));
                emitted = pos = e;
            }
            if (emitted < piece.size()) dst.push_back(piece.substr(emitted));
        }
        if (r + 1 < regexes_.size()) {
            cur.swap(next);
            next.clear();
        }
    }
}

}  // namespace gb
