// Byte-pair merging with a min-heap of candidate pairs over a linked list of symbols:
// O(n log n) per word, so a pathological 100 kB "word" costs milliseconds, not minutes.
#include "engine/tokenizer/bpe.h"

#include <cstdio>
#include <queue>

#include "engine/tokenizer/byte_level.h"
#include "kernels/error.h"

namespace gb {
namespace {

constexpr size_t kMaxCachedWordBytes = 64;
constexpr size_t kMaxCacheEntries = 1 << 16;

}  // namespace

BpeModel::BpeModel(const Vocab& vocab, bool ignore_merges)
    : unk_(vocab.unk), ignore_merges_(ignore_merges) {
    const size_t n = vocab.tokens.size();
    auto type_of = [&](size_t id) {
        return vocab.types.empty() ? TokenType::Normal : vocab.types[id];
    };
    // Token text -> id for the tokens BPE may produce (not control or user-defined ones,
    // which are matched in the text before BPE runs).
    std::unordered_map<std::string_view, int32_t> by_text;
    by_text.reserve(n);
    for (size_t id = 0; id < n; ++id) {
        const TokenType t = type_of(id);
        if (t != TokenType::Normal && t != TokenType::Byte && t != TokenType::Undefined) continue;
        by_text.emplace(vocab.tokens[id], static_cast<int32_t>(id));  // first id wins on duplicates
    }
    for (int b = 0; b < 256; ++b) {
        auto it = by_text.find(byte_level::symbol(static_cast<uint8_t>(b)));
        byte_token_[b] = it == by_text.end() ? -1 : it->second;
    }
    merges_.reserve(vocab.merges.size());
    std::string joined;
    const char* key = vocab.from_gguf ? "tokenizer.ggml.merges" : "model.merges";
    auto bad = [&](size_t rank, const std::string& m, const std::string& why) {
        throw Error("tokenizer: " + std::string(key) + "[" + std::to_string(rank) + "] = '" +
                    m.substr(0, 80) + "': " + why);
    };
    for (size_t rank = 0; rank < vocab.merges.size(); ++rank) {
        const std::string& m = vocab.merges[rank];
        // Parts never hold a space (byte-level spells it 'Ġ'); search from 1 all the same so
        // that a left part of " " still splits right.
        const size_t sp = m.find(' ', 1);
        if (sp == std::string::npos || sp + 1 >= m.size() ||
            m.find(' ', sp + 1) != std::string::npos)
            bad(rank, m, "not two tokens separated by one space");
        const std::string_view left(m.data(), sp), right(m.data() + sp + 1, m.size() - sp - 1);
        joined.assign(left).append(right);
        auto l = by_text.find(left), r = by_text.find(right), res = by_text.find(joined);
        // A merge of tokens the vocabulary does not have (or that makes one it does not have)
        // means the file is damaged: the model was trained with merges that all apply.
        if (l == by_text.end() || r == by_text.end() || res == by_text.end()) {
            bad(rank, m,
                "'" +
                    std::string(l == by_text.end()   ? left
                                : r == by_text.end() ? right
                                                     : std::string_view(joined)) +
                    "' is not a token of the vocabulary");
        }
        const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(l->second)) << 32) |
                             static_cast<uint32_t>(r->second);
        merges_.emplace(key, Merge{static_cast<int32_t>(rank), res->second});  // lowest rank wins
    }
    if (ignore_merges_) {
        std::string bytes;
        for (auto [text, id] : by_text) {
            bytes.clear();
            if (byte_level::to_bytes(text, bytes)) whole_.emplace(bytes, id);
        }
    }
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
    if (word.empty()) return;
    if (ignore_merges_) {
        if (auto it = whole_.find(std::string(word)); it != whole_.end()) {
            out.push_back(it->second);
            return;
        }
    }
    if (word.size() > kMaxCachedWordBytes) {
        merge_word(word, out);
        return;
    }
    {
        std::lock_guard lock(cache_mu_);
        if (auto it = cache_.find(word); it != cache_.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    const size_t start = out.size();
    merge_word(word, out);
    std::lock_guard lock(cache_mu_);
    if (cache_.size() >= kMaxCacheEntries) cache_.clear();
    cache_.emplace(std::string(word), std::vector<int32_t>(out.begin() + start, out.end()));
}

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>& out) const {
    // Symbols form a doubly linked list over positions; a merge folds the right symbol into
    // the left one. Heap entries remember the ids they saw, so stale ones are recognised.
    struct Sym {
        int32_t id, prev, next;
    };
    struct Cand {
        int32_t rank, left, left_id, right_id, result;
        bool operator>(const Cand& o) const {
            return rank != o.rank ? rank > o.rank : left > o.left;
        }
    };
    constexpr int32_t kDead = -2;
    const int32_t n = static_cast<int32_t>(word.size());
    std::vector<Sym> sym(n);
    for (int32_t i = 0; i < n; ++i)
        sym[i] = {byte_token_[static_cast<uint8_t>(word[i])], i - 1, i + 1 < n ? i + 1 : -1};

    std::priority_queue<Cand, std::vector<Cand>, std::greater<>> heap;
    auto consider = [&](int32_t left) {
        if (left < 0) return;
        const int32_t right = sym[left].next;
        if (right < 0) return;
        if (const Merge* m = find_merge(sym[left].id, sym[right].id))
            heap.push({m->rank, left, sym[left].id, sym[right].id, m->result});
    };
    for (int32_t i = 0; i + 1 < n; ++i) consider(i);

    while (!heap.empty()) {
        const Cand c = heap.top();
        heap.pop();
        Sym& l = sym[c.left];
        if (l.id != c.left_id || l.next < 0 || sym[l.next].id != c.right_id) continue;  // stale
        Sym& r = sym[l.next];
        l.id = c.result;
        l.next = r.next;
        if (r.next >= 0) sym[r.next].prev = c.left;
        r.id = kDead;
        consider(l.prev);
        consider(c.left);
    }
    for (int32_t i = 0; i >= 0 && i < n; i = sym[i].next) {
        if (sym[i].id >= 0) {
            out.push_back(sym[i].id);
        } else if (unk_ >= 0) {
            out.push_back(unk_);  // a byte the vocabulary cannot spell
        } else {
            // Dropping it would make that part of the prompt vanish without a word.
            char hex[8];
            std::snprintf(hex, sizeof hex, "0x%02X", static_cast<uint8_t>(word[i]));
            throw Error(std::string("tokenizer: the text holds byte ") + hex +
                        ", which this byte-level vocabulary has no token for (and it has no "
                        "unknown token): the text cannot be encoded");
        }
    }
}

}  // namespace gb
