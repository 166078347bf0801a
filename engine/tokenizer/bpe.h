// Rank-based byte-pair merging of one pre-tokenized word, with a cache of recent words.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/tokenizer/tokenizer.h"

namespace gb {

class BpeModel {
public:
    // Builds the merge table from vocab.merges ("left right", rank = index). A malformed merge,
    // or one whose parts or result are not in the vocabulary, is a gb::Error naming it.
    explicit BpeModel(const Vocab& vocab, bool ignore_merges);

    // Appends the ids of `word` (raw bytes). Starts from one symbol per byte and repeatedly
    // merges the adjacent pair of lowest rank, leftmost first, until no pair has a rank. A byte
    // with no token becomes the unknown token, or (without one) a gb::Error naming the byte.
    void encode_word(std::string_view word, std::vector<int32_t>& out) const;

private:
    struct Merge {
        int32_t rank;
        int32_t result;
    };
    void merge_word(std::string_view word, std::vector<int32_t>& out) const;
    const Merge* find_merge(int32_t left, int32_t right) const {
        auto it = merges_.find((static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
                               static_cast<uint32_t>(right));
        return it == merges_.end() ? nullptr : &it->second;
    }

    std::array<int32_t, 256> byte_token_;             // id of each single-byte token, -1 if none
    std::unordered_map<uint64_t, Merge> merges_;      // (left id << 32 | right id) -> rank, result
    std::unordered_map<std::string, int32_t> whole_;  // raw bytes -> id, for ignore_merges
    int32_t unk_ = -1;
    bool ignore_merges_ = false;

    // Words recur (" the", " of"), so their ids are kept; cleared when it grows too big.
    // Looked up by string_view (transparent hash), so a hit allocates nothing.
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    mutable std::mutex cache_mu_;
    mutable std::unordered_map<std::string, std::vector<int32_t>, Hash, std::equal_to<>> cache_;
};

}  // namespace gb
