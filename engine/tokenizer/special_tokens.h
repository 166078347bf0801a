// Finding special tokens (control, user-defined, unknown) in text before pre-tokenization: a
// byte trie walked from each position, so the cost per position is the length of the longest
// token text matching there, not the number of special tokens (200 000 added tokens that all
// start with '<' took 80 s on 46 KB of '<' when each position tried them all).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gb {

class SpecialTokens {
public:
    // `control`: matched only when parse_special (control and unknown tokens); the others
    // (user-defined) always. Of equal texts the first added wins, as for ids.
    void add(std::string_view text, int32_t id, bool control);
    bool empty() const { return nodes_.size() <= 1; }

    struct Match {
        int32_t id = -1;
        size_t len = 0;
    };
    // The longest special token starting at text[pos] (id -1 when none). Each byte of trie
    // walked is charged to `work`; past zero it throws gb::Error (a vocabulary whose special
    // tokens repeat the text's own bytes for hundreds of bytes).
    Match longest_at(std::string_view text, size_t pos, bool parse_special, uint64_t& work) const;

    // Trie steps one text of `bytes` bytes may take: 1 Mi plus 64 per byte (real vocabularies
    // walk a step or two per byte; a megabyte of spaces under 31-space tokens walks 31).
    static uint64_t budget_for(size_t bytes) { return (uint64_t{1} << 20) + 64 * uint64_t(bytes); }

private:
    struct Node {
        int32_t any = -1;   // first token of this text
        int32_t user = -1;  // first non-control token of this text
    };
    std::vector<Node> nodes_{Node{}};
    std::array<int32_t, 256> root_{};              // children of the root by byte (0: none)
    std::unordered_map<uint64_t, int32_t> edges_;  // (node << 8 | byte) -> child, below the root
};

}  // namespace gb
