// Tokenizer::from_hf against HF tokenizers / transformers goldens on every real tokenizer.json we
// fetch (tools/gen_hf_tokenizer_fixtures.py), and its errors on small broken files.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "engine/core/utf8.h"
#include "engine/tokenizer/tokenizer.h"
#include "kernels/error.h"
#include "tests/test_support.h"

namespace gb {
namespace {

namespace fs = std::filesystem;

std::string from_hex(const std::string& hex) {
    std::string out;
    for (size_t i = 0; i + 1 < hex.size(); i += 2)
        out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    return out;
}

std::string case_bytes(const json::Value& c) {
    if (const json::Value* t = c.find("text")) return t->as_string();
    return from_hex(c.at("text_hex").as_string());
}

class HfTokenizer : public ::testing::TestWithParam<std::string> {};

TEST_P(HfTokenizer, MatchesReference) {
    const std::string name = GetParam();
    const fs::path dir = test::models_dir() / "tokenizers" / name;
    if (!fs::exists(dir / "tokenizer.json"))
        GTEST_SKIP() << dir << " not found; run tools/fetch_models.sh to fetch it";
    const Tokenizer tok = Tokenizer::from_hf(dir.string());
    const json::Value root = test::load_json(test::fixture("tokenizer/hf/" + name + ".json"));
    const std::vector<int32_t> prefix = test::json_ints(root.at("add_prefix"));
    const std::vector<int32_t> suffix = test::json_ints(root.at("add_suffix"));
    size_t n = 0;
    for (const json::Value& c : root.at("cases").as_array()) {
        const std::string text = case_bytes(c);
        const std::string label = name + ": " + text.substr(0, 60);
        const std::vector<int32_t> ids = test::json_ints(c.at("ids"));
        EXPECT_EQ(tok.encode(text, false, true), ids) << label;
        EXPECT_EQ(tok.encode(text, false, false), test::json_ints(c.at("plain"))) << label;
        std::vector<int32_t> with = prefix;
        with.insert(with.end(), ids.begin(), ids.end());
        with.insert(with.end(), suffix.begin(), suffix.end());
        EXPECT_EQ(tok.encode(text, true, true), with) << label;
        EXPECT_EQ(tok.decode(ids, true), c.at("decoded").as_string()) << label;
        EXPECT_EQ(tok.decode(ids, false), c.at("decoded_skip").as_string()) << label;
        // Round trip for valid text, except where the reference itself does not give it back:
        // NFC vocabularies (Qwen) normalise, and deepseek-llm's added tokens "ø", "ö"... are
        // byte symbols that decode to a lone byte (both checked against "decoded" above).
        bool lossy = tok.vocab().nfc;
        for (int32_t id : ids)
            lossy = lossy || tok.token_text(id) != tok.vocab().tokens[id] &&
                                 tok.vocab().types[id] == TokenType::UserDefined;
        if (utf8::is_valid(text) && !lossy) EXPECT_EQ(tok.decode(ids, true), text) << label;
        ++n;
    }
    EXPECT_GT(n, 40u);
}

INSTANTIATE_TEST_SUITE_P(Real, HfTokenizer,
                         ::testing::Values("qwen-2.5", "qwen-3", "qwq-32b", "deepseek-r1",
                                           "deepseek-v3", "deepseek-r1-distill-qwen-7b",
                                           "deepseek-r1-distill-llama-8b", "deepseek-llm-7b-base",
                                           "deepseek-r1-0528-qwen3-8b"),
                         [](const auto& info) {
                             std::string s = info.param;
                             for (char& ch : s)
                                 if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                             return s;
                         });

TEST(HfTokenizerInfo, ConfigAndTemplate) {
    const fs::path dir = test::models_dir() / "tokenizers" / "deepseek-r1-distill-qwen-7b";
    if (!fs::exists(dir / "tokenizer.json")) GTEST_SKIP() << dir << " not found";
    const Tokenizer tok = Tokenizer::from_hf((dir / "tokenizer.json").string());
    EXPECT_TRUE(tok.vocab().nfc);
    EXPECT_TRUE(tok.add_bos());
    EXPECT_EQ(tok.bos(), tok.find_token("<\xEF\xBD\x9C"
                                        "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"));
    EXPECT_NE(tok.chat_template().find("<\xEF\xBD\x9C"
                                       "Assistant\xEF\xBD\x9C>"),
              std::string::npos);
    EXPECT_TRUE(tok.is_eog(tok.eos()));
    EXPECT_EQ(tok.size(), 151665u);
}

// ---- errors, on small files written into a temporary directory ----

class HfErrors : public ::testing::Test {
protected:
    fs::path dir;
    void SetUp() override {
        dir = fs::temp_directory_path() /
              ("gb_hf_" +
               std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
        fs::remove_all(dir);
        fs::create_directories(dir);
    }
    void TearDown() override { fs::remove_all(dir); }
    void write(const std::string& name, const std::string& text) {
        std::ofstream(dir / name, std::ios::binary) << text;
    }
    // A minimal valid byte-level tokenizer.json with `model`, `added` and `pre` spliced in.
    static std::string doc(
        const std::string& model, const std::string& added = "[]",
        const std::string& pre =
            R"({"type":"ByteLevel","add_prefix_space":false,"use_regex":true})") {
        return R"({"version":"1.0","added_tokens":)" + added +
               R"(,"normalizer":null,"pre_tokenizer":)" + pre +
               R"(,"post_processor":null,"decoder":{"type":"ByteLevel"},"model":)" + model + "}";
    }
    static std::string bpe(const std::string& merges = R"(["a b"])") {
        return R"({"type":"BPE","dropout":null,"unk_token":null,"vocab":{"a":0,"b":1,"ab":2},"merges":)" +
               merges + "}";
    }
    std::string error_of() {
        try {
            Tokenizer::from_hf(dir.string());
        } catch (const Error& e) {
            return e.what();
        }
        return "(no error)";
    }
};

#define EXPECT_HAS(hay, needle) EXPECT_NE((hay).find(needle), std::string::npos) << (hay)

TEST_F(HfErrors, SmallValidFileWorks) {
    write("tokenizer.json", doc(bpe(), R"([{"id":3,"content":"<s>","special":true}])"));
    const Tokenizer tok = Tokenizer::from_hf(dir.string());
    EXPECT_EQ(tok.encode("ab<s>ba", false, true), (std::vector<int32_t>{2, 3, 1, 0}));
    EXPECT_EQ(tok.decode(std::vector<int32_t>{2, 3}, false), "ab");
    EXPECT_FALSE(tok.add_bos());  // no tokenizer_config.json, no template: nothing added
}

TEST_F(HfErrors, MissingFile) {
    EXPECT_HAS(error_of(), "cannot open: No such file");
    EXPECT_HAS(error_of(), "tokenizer.json");
}

TEST_F(HfErrors, TruncatedJson) {
    const std::string full = doc(bpe());
    write("tokenizer.json", full.substr(0, full.size() / 2));
    EXPECT_HAS(error_of(), "tokenizer.json: json:");
}

TEST_F(HfErrors, UnsupportedModelType) {
    write("tokenizer.json", doc(R"({"type":"Unigram","vocab":[]})"));
    EXPECT_HAS(error_of(), R"(model.type: "Unigram" is not supported)");
}

TEST_F(HfErrors, MergeNamingUnknownToken) {
    write("tokenizer.json", doc(bpe(R"(["a b", ["b", "zz"]])")));
    EXPECT_HAS(error_of(), "model.merges[1]");
    EXPECT_HAS(error_of(), R"("zz" is not in model.vocab)");
}

TEST_F(HfErrors, AddedTokenCollidesWithVocab) {
    write("tokenizer.json", doc(bpe(), R"([{"id":1,"content":"<s>","special":true}])"));
    EXPECT_HAS(error_of(), "added_tokens[0].id: id 1 is \"b\" in model.vocab, not \"<s>\"");
}

TEST_F(HfErrors, UnsupportedPieces) {
    write("tokenizer.json", doc(bpe(), "[]", R"({"type":"Metaspace"})"));
    EXPECT_HAS(error_of(), R"(pre_tokenizer.type: "Metaspace" is not supported)");
    write(
        "tokenizer.json",
        doc(bpe(), "[]",
            R"({"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"a"},"behavior":"Removed","invert":false},{"type":"ByteLevel","add_prefix_space":false,"use_regex":false}]})"));
    EXPECT_HAS(error_of(),
               R"(pre_tokenizer.pretokenizers[0].behavior: "Removed" is not supported)");
    write("tokenizer.json",
          doc(bpe(), R"([{"id":3,"content":"<s>","special":true,"lstrip":true}])"));
    EXPECT_HAS(error_of(), "added_tokens[0].lstrip: true is not supported");
    write("tokenizer.json", doc(bpe(), "[]", "null"));
    EXPECT_HAS(error_of(), "only byte-level BPE");
}

TEST_F(HfErrors, ConfigNamesUnknownToken) {
    write("tokenizer.json", doc(bpe()));
    write("tokenizer_config.json",
          R"({"bos_token":"<nope>","tokenizer_class":"LlamaTokenizerFast"})");
    EXPECT_HAS(error_of(), "tokenizer_config.json: bos_token: \"<nope>\" is not a token");
}

TEST_F(HfErrors, ConfigFlagsAndTemplateList) {
    write(
        "tokenizer.json",
        doc(bpe(),
            R"([{"id":3,"content":"<s>","special":true},{"id":4,"content":"</s>","special":true}])"));
    write(
        "tokenizer_config.json",
        R"({"bos_token":{"content":"<s>"},"eos_token":"</s>","add_bos_token":true,"add_eos_token":true,)"
        R"("tokenizer_class":"LlamaTokenizerFast","chat_template":[{"name":"tool_use","template":"T"},{"name":"default","template":"D"}]})");
    const Tokenizer tok = Tokenizer::from_hf(dir.string());
    EXPECT_EQ(tok.encode("ab", true, true), (std::vector<int32_t>{3, 2, 4}));
    EXPECT_EQ(tok.chat_template(), "D");
}

// A byte the vocabulary cannot spell used to vanish from the prompt: now it is the unknown token,
// or without one an error naming the byte.
TEST_F(HfErrors, ByteWithoutATokenIsAnErrorNotADrop) {
    write("tokenizer.json", doc(bpe()));
    const Tokenizer tok = Tokenizer::from_hf(dir.string());
    EXPECT_EQ(tok.encode("ab", false, true), (std::vector<int32_t>{2}));
    try {
        tok.encode("abc", false, true);
        ADD_FAILURE() << "'c' has no token and vanished";
    } catch (const Error& e) {
        EXPECT_HAS(std::string(e.what()), "byte 0x63");
    }
    write(
        "tokenizer.json",
        doc(R"({"type":"BPE","dropout":null,"unk_token":"?","vocab":{"a":0,"b":1,"ab":2,"?":3},"merges":["a b"]})"));
    EXPECT_EQ(Tokenizer::from_hf(dir.string()).encode("abc", false, true),
              (std::vector<int32_t>{2, 3}));
}

// tokenizer_config.json flags are checked whatever the tokenizer class ("yes" was taken as the
// default), and errors about tokenizer.json speak its language, not GGUF's key names.
TEST_F(HfErrors, ConfigFlagsMustBeBooleansAndErrorsNameNoGgufKeys) {
    write("tokenizer.json", doc(bpe()));
    write("tokenizer_config.json", R"({"add_bos_token":"yes"})");
    EXPECT_HAS(error_of(), "tokenizer_config.json: (top level).add_bos_token: expected a bool");
    write("tokenizer_config.json", R"({"add_eos_token":1})");
    EXPECT_HAS(error_of(), "add_eos_token: expected a bool");
    fs::remove(dir / "tokenizer_config.json");
    write(
        "tokenizer.json",
        doc(R"({"type":"BPE","dropout":null,"unk_token":null,"vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]})",
            R"([{"id":9,"content":"<s>","special":true}])"));
    const std::string ok = error_of();
    EXPECT_EQ(ok.find("tokenizer.ggml"), std::string::npos) << ok;
}

// A split regex that backtracks catastrophically in every match, each match under PCRE2's own
// per-call limit, took about two minutes on 46 KB: the whole text now has a work budget (PCRE2
// match-limit units shared by all its matches), and running out of it is an error naming the
// regex and where it came from, well within a second.
TEST_F(HfErrors, CatastrophicSplitRegexRunsOutOfItsWorkBudget) {
    write(
        "tokenizer.json",
        doc(bpe(), "[]",
            R"({"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"(a+)+c|."},"behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"use_regex":false}]})"));
    const Tokenizer tok = Tokenizer::from_hf(dir.string());
    EXPECT_EQ(tok.encode("ab", false, true), (std::vector<int32_t>{0, 1}));
    // Every match tries (a+)+c over the run of a's ahead (2^20 ways) and then takes one
    // character: each call stays under PCRE2's limit, all of them together take minutes.
    std::string text;
    while (text.size() < 46000) text += std::string(20, 'a') + "b";
    const auto t0 = std::chrono::steady_clock::now();
    try {
        tok.encode(text, false, true);
        ADD_FAILURE() << "the catastrophic regex finished";
    } catch (const Error& e) {
        EXPECT_HAS(std::string(e.what()), "ran out of its work budget");
        EXPECT_HAS(std::string(e.what()), "(a+)+c|.");
        EXPECT_HAS(std::string(e.what()), "pre_tokenizer.pretokenizers[0].pattern.Regex");
    }
    // Not a timed assertion of speed: a hang guard (the budget is about 20 ms of matching).
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
    // The same regex on text where it does not backtrack still works, over a megabyte.
    EXPECT_EQ(tok.encode(std::string(1 << 20, 'b'), false, true).size(), size_t(1) << 20);
}

// One id of 15 999 999 made a table of 16 M empty tokens: a gigabyte and four seconds.
TEST_F(HfErrors, SparseIdsAreRefused) {
    write(
        "tokenizer.json",
        doc(R"({"type":"BPE","dropout":null,"unk_token":null,"vocab":{"a":0,"b":1,"ab":2,"zz":15999999},"merges":["a b"]})"));
    const std::string e = error_of();
    EXPECT_HAS(e, "model.vocab: ids run up to 15999999 but only 4 are named");
    EXPECT_EQ(e.find("tokenizer.ggml"), std::string::npos) << e;
    // A few holes (ids nobody names) are fine.
    write(
        "tokenizer.json",
        doc(R"({"type":"BPE","dropout":null,"unk_token":null,"vocab":{"a":0,"b":1,"ab":2,"zz":900},"merges":["a b"]})"));
    EXPECT_EQ(Tokenizer::from_hf(dir.string()).size(), 901u);
}

// 5000 split steps made each text 5000 passes (18 s on 46 KB); more than 32 is refused.
TEST_F(HfErrors, TooManySplitStepsAreRefused) {
    std::string steps;
    for (int i = 0; i < 33; ++i)
        steps +=
            R"({"type":"Split","pattern":{"String":"x"},"behavior":"Isolated","invert":false},)";
    write("tokenizer.json",
          doc(bpe(), "[]",
              R"({"type":"Sequence","pretokenizers":[)" + steps +
                  R"({"type":"ByteLevel","add_prefix_space":false,"use_regex":false}]})"));
    EXPECT_HAS(error_of(), "33 split regexes; at most 32 are supported");
    EXPECT_HAS(error_of(), "pre_tokenizer.pretokenizers[32].pattern.String");
}

// Special tokens are found through a trie: 200 000 added tokens that all start with '<' took
// 80 s on 46 KB of '<' when every position tried each of them.
TEST_F(HfErrors, ManyAddedTokensMatchInLinearTime) {
    std::string added = "[";
    for (int i = 0; i < 200000; ++i)
        added += (i ? "," : "") + std::string(R"({"id":)") + std::to_string(4 + i) +
                 R"(,"content":"<x)" + std::to_string(i) + R"(>","special":false})";
    added += "]";
    write(
        "tokenizer.json",
        doc(R"({"type":"BPE","dropout":null,"unk_token":null,"vocab":{"a":0,"b":1,"ab":2,"<":3},"merges":["a b"]})",
            added));
    const Tokenizer tok = Tokenizer::from_hf(dir.string());
    EXPECT_EQ(tok.encode("a<x7><x199999><", false, false),
              (std::vector<int32_t>{0, 11, 200003, 3}));
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<int32_t> ids = tok.encode(std::string(46000, '<'), false, false);
    EXPECT_EQ(ids.size(), 46000u);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));  // hang guard
}

// Added tokens that repeat the text for a thousand bytes without matching it cost a thousand
// steps per byte: the matching has a work budget per text, and running out is an error.
TEST_F(HfErrors, SpecialTokensThatRepeatTheTextRunOutOfTheirBudget) {
    std::string added = "[";
    for (int i = 0; i < 10; ++i)
        added += (i ? "," : "") + std::string(R"({"id":)") + std::to_string(4 + i) +
                 R"(,"content":")" + std::string(1000 + i, '<') + R"(x","special":false})";
    added += "]";
    write(
        "tokenizer.json",
        doc(R"({"type":"BPE","dropout":null,"unk_token":null,"vocab":{"a":0,"b":1,"ab":2,"<":3},"merges":["a b"]})",
            added));
    const Tokenizer tok = Tokenizer::from_hf(dir.string());
    EXPECT_EQ(tok.encode(std::string(1003, '<') + "x<", false, false),
              (std::vector<int32_t>{7, 3}));
    try {
        tok.encode(std::string(46000, '<'), false, false);
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_HAS(std::string(e.what()), "special tokens ran out of its work budget");
    }
}

// The parsed form of a JSON file takes about 80 bytes per value: 120 MB of "{}," in
// tokenizer_config.json took 3.2 GB and 17 s. Values are counted before parsing.
TEST_F(HfErrors, FilesOfTooManyJsonValuesAreRefusedBeforeParsing) {
    write("tokenizer.json", doc(bpe()));
    std::string many = "[";
    for (int i = 0; i < (1 << 20) + 1; ++i) many += "{},";
    many += "{}]";
    write("tokenizer_config.json", many);
    const std::string e = error_of();
    EXPECT_HAS(e, "tokenizer_config.json: about 2097157 JSON values, more than the 1048576");
    write("tokenizer_config.json", "{}");
    write("chat_template.jinja", std::string((16 << 20) + 1, 'x'));
    EXPECT_HAS(error_of(), "chat_template.jinja");
}

}  // namespace
}  // namespace gb
