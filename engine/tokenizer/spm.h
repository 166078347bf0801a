// SentencePiece-style BPE over the pieces and scores of a GGUF "llama" vocabulary: spaces
// spelled U+2581, highest-score merges of adjacent pieces, <0xXX> byte pieces as fallback.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/tokenizer/tokenizer.h"

namespace gb {

class SpmModel {
public:
    // Keeps string_views into vocab.tokens: the vocabulary must outlive the model.
    explicit SpmModel(const Vocab& vocab);

    // Appends the ids of one stretch of text between special tokens. Spaces become U+2581 and,
    // when `space_prefix`, one more U+2581 is put in front. The text is split into UTF-8
    // characters; the adjacent pair whose concatenation is a piece of the highest score (ties:
    // leftmost) is merged until no pair is a piece; what is left and not a piece comes out as
    // its byte pieces (or unk when the vocabulary has none).
    void encode(std::string_view text, bool space_prefix, std::vector<int32_t>& out) const;

    // What a piece decodes to: U+2581 -> ' ' for normal pieces; the byte of "<0xXX>" pieces.
    static std::string decode_piece(std::string_view piece, TokenType type);
    // The byte of a "<0xXX>" piece, or -1 when the piece is not spelled so.
    static int byte_of(std::string_view piece);

private:
    std::unordered_map<std::string_view, int32_t> by_text_;  // piece -> id, any type
    std::array<int32_t, 256> byte_piece_;                    // <0xXX> ids, -1 when absent
    const std::vector<float>* scores_;
    int32_t unk_ = -1;
};

}  // namespace gb
