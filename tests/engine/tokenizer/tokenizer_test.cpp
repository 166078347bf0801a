// The tokenizer on small hand-made vocabularies: merge order, special tokens, BOS/EOS, decoding,
// the streaming detokeniser and the errors. (Real-model ids: tokenizer_smollm2_test.cpp.)
#include "engine/tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <thread>

#include "engine/tokenizer/byte_level.h"
#include "kernels/error.h"

namespace gb {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

// Ids 0..255 are the byte tokens in byte order, so the id of a single byte is the byte.
Vocab byte_vocab(std::vector<std::string> extra_tokens, std::vector<std::string> merges) {
    Vocab v;
    v.pre = "gpt2";
    for (int b = 0; b < 256; ++b) v.tokens.push_back(byte_level::symbol(static_cast<uint8_t>(b)));
    for (auto& t : extra_tokens) v.tokens.push_back(std::move(t));
    v.types.assign(v.tokens.size(), TokenType::Normal);
    v.merges = std::move(merges);
    return v;
}

int32_t add_token(Vocab& v, std::string text, TokenType type) {
    v.tokens.push_back(std::move(text));
    v.types.push_back(type);
    return static_cast<int32_t>(v.tokens.size() - 1);
}

using Ids = std::vector<int32_t>;

TEST(Tokenizer, LowerRankMergesFirst) {
    // ab=256, bc=257, abc=258.
    Tokenizer bc_first(byte_vocab({"ab", "bc", "abc"}, {"b c", "a b", "ab c"}));
    EXPECT_EQ(bc_first.encode("abc", false, false), (Ids{'a', 257}));
    Tokenizer ab_first(byte_vocab({"ab", "bc", "abc"}, {"a b", "b c", "ab c"}));
    EXPECT_EQ(ab_first.encode("abc", false, false), (Ids{258}));
}

TEST(Tokenizer, EqualRanksMergeLeftmostFirst) {
    Tokenizer t(byte_vocab({"aa"}, {"a a"}));
    EXPECT_EQ(t.encode("aaa", false, false), (Ids{256, 'a'}));
    EXPECT_EQ(t.encode("aaaa", false, false), (Ids{256, 256}));
}

TEST(Tokenizer, LongWordIsMergedInReasonableTime) {
    // 200k letters: every "a a" merge (rank 0) goes first, then "aa aa".
    Tokenizer t(byte_vocab({"aa", "aaaa"}, {"a a", "aa aa"}));
    const Ids ids = t.encode(std::string(200000, 'a'), false, false);
    ASSERT_EQ(ids.size(), 50000u);
    for (int32_t id : ids) ASSERT_EQ(id, 257);
}

TEST(Tokenizer, SpacesJoinTheFollowingWordAsByteSymbols) {
    const std::string g_b = byte_level::symbol(' ') + "b";  // "Ġb"
    Tokenizer t(byte_vocab({g_b}, {byte_level::symbol(' ') + " b"}));
    EXPECT_EQ(t.encode("a b", false, false), (Ids{'a', 256}));
    EXPECT_EQ(t.decode(Ids{'a', 256}, false), "a b");
    EXPECT_EQ(t.token_text(256), " b");
    EXPECT_EQ(t.token_text(' '), " ");
    EXPECT_EQ(t.token_text(0xE4), "\xE4");  // one byte of a UTF-8 character
}

TEST(Tokenizer, ControlTokensOnlyWhenParsingSpecialUserDefinedAlways) {
    Vocab v = byte_vocab({}, {});
    const int32_t start = add_token(v, "<|im_start|>", TokenType::Control);
    const int32_t think = add_token(v, "<think>", TokenType::UserDefined);
    Tokenizer t(std::move(v));
    EXPECT_EQ(t.encode("x<|im_start|>y", false, true), (Ids{'x', start, 'y'}));
    const Ids plain = t.encode("x<|im_start|>y", false, false);
    EXPECT_EQ(plain.size(), 14u);  // no merges: one token per byte
    EXPECT_EQ(t.decode(plain, false), "x<|im_start|>y");
    EXPECT_EQ(t.encode("<think>hm", false, false), (Ids{think, 'h', 'm'}));
    EXPECT_EQ(t.encode("<think>hm", false, true), (Ids{think, 'h', 'm'}));
}

TEST(Tokenizer, LongestSpecialTokenWins) {
    Vocab v = byte_vocab({}, {});
    const int32_t short_id = add_token(v, "<t>", TokenType::Control);
    const int32_t long_id = add_token(v, "<t>x", TokenType::Control);
    Tokenizer t(std::move(v));
    EXPECT_EQ(t.encode("<t>x<t>y", false, true), (Ids{long_id, short_id, 'y'}));
}

// The trie keeps the rules of the list it replaced: without parse_special a longer control token
// is passed over for the longest user-defined one under it; of equal texts the first id wins,
// the first user-defined one when control tokens are not parsed.
TEST(Tokenizer, SpecialTokenMatchingSkipsControlTokensByLength) {
    Vocab v = byte_vocab({}, {});
    const int32_t user = add_token(v, "<a", TokenType::UserDefined);
    const int32_t ctrl = add_token(v, "<ab>", TokenType::Control);
    const int32_t twin_ctrl = add_token(v, "<z>", TokenType::Control);
    const int32_t twin_user = add_token(v, "<z>", TokenType::UserDefined);
    const int32_t unk = add_token(v, "<unk>", TokenType::Unknown);
    Tokenizer t(std::move(v));
    EXPECT_EQ(t.encode("<ab>", false, true), (Ids{ctrl}));
    EXPECT_EQ(t.encode("<ab>", false, false), (Ids{user, 'b', '>'}));
    EXPECT_EQ(t.encode("<z><", false, true), (Ids{twin_ctrl, '<'}));
    EXPECT_EQ(t.encode("<z><", false, false), (Ids{twin_user, '<'}));
    EXPECT_EQ(t.encode("<unk>", false, true), (Ids{unk}));
    EXPECT_EQ(t.encode("<un", false, true), (Ids{'<', 'u', 'n'}));
}

TEST(Tokenizer, SpecialTokensAreNeverMergedIntoWords) {
    Vocab v = byte_vocab({"a<", "a<|"}, {"a <", "a< |"});
    const int32_t end = add_token(v, "<|e|>", TokenType::Control);
    Tokenizer t(std::move(v));
    EXPECT_EQ(t.encode("a<|e|>", false, true), (Ids{'a', end}));
}

TEST(Tokenizer, BosAndEosFollowTheVocabulary) {
    Vocab v = byte_vocab({}, {});
    v.bos = add_token(v, "<s>", TokenType::Control);
    v.eos = add_token(v, "</s>", TokenType::Control);
    {
        Vocab w = v;  // gpt2 pre-tokenizer: no BOS unless the file asks
        Tokenizer t(std::move(w));
        EXPECT_FALSE(t.add_bos());
        EXPECT_EQ(t.encode("a", true, false), (Ids{'a'}));
    }
    {
        Vocab w = v;  // llama-bpe adds BOS by default
        w.pre = "llama-bpe";
        Tokenizer t(std::move(w));
        EXPECT_TRUE(t.add_bos());
        EXPECT_EQ(t.encode("a", true, false), (Ids{t.bos(), 'a'}));
        EXPECT_EQ(t.encode("a", false, false), (Ids{'a'}));
    }
    {
        Vocab w = v;
        w.add_bos = false;
        w.add_eos = true;
        w.pre = "llama-bpe";
        Tokenizer t(std::move(w));
        EXPECT_EQ(t.encode("a", true, false), (Ids{'a', t.eos()}));
    }
}

TEST(Tokenizer, IgnoreMergesTakesWholeVocabularyWords) {
    // "abc" is in the vocabulary but no merge builds it: Llama 3 takes it whole, GPT-2 does not.
    Vocab v = byte_vocab({"abc"}, {});
    Vocab w = v;
    w.pre = "llama-bpe";
    EXPECT_EQ(Tokenizer(std::move(v)).encode("abc", false, false), (Ids{'a', 'b', 'c'}));
    EXPECT_EQ(Tokenizer(std::move(w)).encode("abc", false, false), (Ids{256}));
}

TEST(Tokenizer, EndOfGenerationTokens) {
    Vocab v = byte_vocab({}, {});
    v.eos = add_token(v, "<|endoftext|>", TokenType::Control);
    const int32_t im_end = add_token(v, "<|im_end|>", TokenType::Control);
    const int32_t im_start = add_token(v, "<|im_start|>", TokenType::Control);
    Tokenizer t(std::move(v));
    EXPECT_TRUE(t.is_eog(t.eos()));
    EXPECT_TRUE(t.is_eog(im_end));
    EXPECT_EQ(t.eot(), im_end);  // found by its text when the file names no eot
    EXPECT_FALSE(t.is_eog(im_start));
    EXPECT_FALSE(t.is_eog('a'));
    EXPECT_FALSE(t.is_eog(-1));
    EXPECT_FALSE(t.is_eog(1 << 30));
    EXPECT_EQ(t.decode(Ids{'a', im_end, 'b'}, false), "ab");
    EXPECT_EQ(t.decode(Ids{'a', im_end, 'b'}, true), "a<|im_end|>b");
    EXPECT_EQ(t.find_token("<|im_start|>"), im_start);
    EXPECT_EQ(t.find_token("nope"), -1);
}

TEST(Tokenizer, InvalidUtf8InputIsEncodedAsReplacementCharacter) {
    Tokenizer t(byte_vocab({}, {}));
    EXPECT_EQ(t.encode("a\xFF"
                       "b",
                       false, false),
              (Ids{'a', 0xEF, 0xBF, 0xBD, 'b'}));
    EXPECT_EQ(t.decode(Ids{'a', 0xFF, 'b'}, false), "a" + kFffd + "b");
}

TEST(Tokenizer, EncodeIsSafeFromSeveralThreads) {
    Tokenizer t(byte_vocab({"ab", "abab"}, {"a b", "ab ab"}));
    std::string text;
    for (int i = 0; i < 2000; ++i) text += "abab ab a" + std::to_string(i) + " ";
    const Ids want = t.encode(text, false, false);
    std::vector<Ids> got(4);
    std::vector<std::thread> threads;
    for (int k = 0; k < 4; ++k)
        threads.emplace_back([&, k] { got[k] = t.encode(text, false, false); });
    for (auto& th : threads) th.join();
    for (const Ids& g : got) EXPECT_EQ(g, want);
}

TEST(StreamDecoder, HoldsAnUnfinishedCharacterBack) {
    Tokenizer t(byte_vocab({}, {}));
    StreamDecoder d(t);
    EXPECT_EQ(d.push('a'), "a");
    EXPECT_EQ(d.push(0xE4), "");  // U+4F60 is E4 BD A0
    EXPECT_EQ(d.push(0xBD), "");
    EXPECT_EQ(d.push(0xA0), "\xE4\xBD\xA0");
    EXPECT_EQ(d.flush(), "");
}

TEST(StreamDecoder, InvalidBytesComeOutAsReplacementCharacter) {
    Tokenizer t(byte_vocab({}, {}));
    StreamDecoder d(t);
    EXPECT_EQ(d.push(0xFF), kFffd);
    EXPECT_EQ(d.push(0xE4), "");
    EXPECT_EQ(d.push('x'), kFffd + "x");  // the character never finished
    EXPECT_EQ(d.push(0xF0), "");
    EXPECT_EQ(d.push(0x9F), "");
    EXPECT_EQ(d.flush(), kFffd);
    EXPECT_EQ(d.flush(), "");
}

TEST(StreamDecoder, ControlTokensHiddenUnlessAsked) {
    Vocab v = byte_vocab({}, {});
    const int32_t ctl = add_token(v, "<|im_end|>", TokenType::Control);
    const int32_t think = add_token(v, "<think>", TokenType::UserDefined);
    Tokenizer t(std::move(v));
    StreamDecoder hide(t), show(t, true);
    EXPECT_EQ(hide.push(ctl), "");
    EXPECT_EQ(hide.push(think), "<think>");
    EXPECT_EQ(show.push(ctl), "<|im_end|>");
}

template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(Tokenizer, RefusesWhatItCannotRun) {
    Vocab sp = byte_vocab({}, {});
    sp.model = "rwkv";
    EXPECT_NE(error_of([&] { Tokenizer t(sp); }).find("'rwkv'"), std::string::npos);
    Vocab pre = byte_vocab({}, {});
    pre.pre = "mystery-pre";
    EXPECT_NE(error_of([&] { Tokenizer t(pre); }).find("mystery-pre"), std::string::npos);
    Vocab bad_id = byte_vocab({}, {});
    bad_id.eos = 100000;
    EXPECT_NE(error_of([&] { Tokenizer t(bad_id); }).find("eos_token_id"), std::string::npos);
    Vocab bad_types = byte_vocab({}, {});
    bad_types.types.pop_back();
    EXPECT_NE(error_of([&] { Tokenizer t(bad_types); }).find("token_type"), std::string::npos);
    EXPECT_NE(error_of([&] { Tokenizer t(Vocab{}); }).find("empty"), std::string::npos);
}

}  // namespace
}  // namespace gb
