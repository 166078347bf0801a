// The special-token trie: the root's children in an array (most text bytes start no special
// token, and that test must cost one load), deeper edges in one hash map.
#include "engine/tokenizer/special_tokens.h"

#include "kernels/error.h"

namespace gb {

void SpecialTokens::add(std::string_view text, int32_t id, bool control) {
    if (text.empty()) return;
    int32_t node = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        const auto b = static_cast<uint8_t>(text[i]);
        int32_t* child = nullptr;
        if (i == 0) {
            child = &root_[b];
        } else {
            auto [it, fresh] = edges_.try_emplace((static_cast<uint64_t>(node) << 8) | b, 0);
            child = &it->second;
        }
        if (*child == 0) {
            *child = static_cast<int32_t>(nodes_.size());
            nodes_.emplace_back();
        }
        node = *child;
    }
    Node& n = nodes_[node];
    if (n.any < 0) n.any = id;
    if (!control && n.user < 0) n.user = id;
}

SpecialTokens::Match SpecialTokens::longest_at(std::string_view text, size_t pos,
                                               bool parse_special, uint64_t& work) const {
    Match best;
    int32_t node = root_[static_cast<uint8_t>(text[pos])];
    for (size_t i = pos; node != 0;) {
        const Node& n = nodes_[node];
        const int32_t id = parse_special ? n.any : n.user;
        if (id >= 0) best = {id, i + 1 - pos};
        if (++i >= text.size()) break;
        if (work == 0)
            throw Error(
                "tokenizer: matching the vocabulary's special tokens ran out of its work budget on "
                "a text of " +
                std::to_string(text.size()) +
                " bytes: its added or control tokens repeat the text for hundreds of bytes");
        --work;
        auto it = edges_.find((static_cast<uint64_t>(node) << 8) | static_cast<uint8_t>(text[i]));
        node = it == edges_.end() ? 0 : it->second;
    }
    return best;
}

}  // namespace gb
