// SentencePiece-style BPE: a linked list of symbols and a max-heap of candidate merges, so a
// long stretch of text costs O(n log n).
#include "engine/tokenizer/spm.h"

#include <queue>

#include "kernels/error.h"

namespace gb {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, how pieces spell ' '

// Length of the UTF-8 character a lead byte starts; continuation or invalid bytes count as one
// (the text is repaired before it gets here, so they do not occur).
size_t char_len(uint8_t lead) {
    if (lead < 0xC0) return 1;
    if (lead < 0xE0) return 2;
    if (lead < 0xF0) return 3;
    return lead < 0xF8 ? 4 : 1;
}

struct Symbol {
    size_t start;
    size_t len;  // 0 once merged into its left neighbour
    int prev, next;
};

struct Candidate {
    float score;
    int left, right;
    size_t len;  // joined length when queued; stale if a side has changed since
};

struct Lower {
    // The heap's top is the highest score, and among equal scores the leftmost pair.
    bool operator()(const Candidate& a, const Candidate& b) const {
        if (a.score != b.score) return a.score < b.score;
        return a.left > b.left;
    }
};

}  // namespace

SpmModel::SpmModel(const Vocab& vocab) : scores_(&vocab.scores), unk_(vocab.unk) {
    byte_piece_.fill(-1);
    by_text_.reserve(vocab.tokens.size());
    for (size_t i = 0; i < vocab.tokens.size(); ++i) {
        const auto id = static_cast<int32_t>(i);
        const std::string& piece = vocab.tokens[i];
        // Every piece may be the result of a merge whatever its type; on duplicate spellings
        // the later id wins, as llama.cpp's GGUF loader has it.
        by_text_[piece] = id;
        const TokenType t = vocab.types.empty() ? TokenType::Normal : vocab.types[i];
        if (t == TokenType::Byte) {
            const int b = byte_of(piece);
            if (b >= 0 && byte_piece_[b] < 0) byte_piece_[b] = id;
        }
    }
}

int SpmModel::byte_of(std::string_view p) {
    auto hex = [](char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    if (p.size() != 6 || p.substr(0, 3) != "<0x" || p[5] != '>') return -1;
    const int hi = hex(p[3]), lo = hex(p[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

std::string SpmModel::decode_piece(std::string_view piece, TokenType type) {
    if (type == TokenType::Byte) {
        const int b = byte_of(piece);
        if (b >= 0) return std::string(1, static_cast<char>(b));
        return std::string(piece);
    }
    std::string out;
    out.reserve(piece.size());
    for (size_t i = 0; i < piece.size();) {
        if (piece.compare(i, kSpace.size(), kSpace) == 0) {
            out += ' ';
            i += kSpace.size();
        } else {
            out += piece[i++];
        }
    }
    return out;
}

void SpmModel::encode(std::string_view raw, bool space_prefix, std::vector<int32_t>& out) const {
    if (raw.empty()) return;
    std::string text;
    text.reserve(raw.size() + raw.size() / 2 + 3);
    if (space_prefix) text += kSpace;
    for (char c : raw) {
        if (c == ' ')
            text += kSpace;
        else
            text += c;
    }

    std::vector<Symbol> sym;
    sym.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
        const size_t len = std::min(char_len(static_cast<uint8_t>(text[i])), text.size() - i);
        const int idx = static_cast<int>(sym.size());
        sym.push_back({i, len, idx - 1, i + len == text.size() ? -1 : idx + 1});
        i += len;
    }

    std::priority_queue<Candidate, std::vector<Candidate>, Lower> heap;
    auto consider = [&](int left, int right) {
        if (left < 0 || right < 0) return;
        const size_t len = sym[left].len + sym[right].len;
        auto it = by_text_.find(std::string_view(text).substr(sym[left].start, len));
        if (it == by_text_.end()) return;
        const float score = scores_->empty() ? 0.0f : (*scores_)[it->second];
        heap.push({score, left, right, len});
    };
    for (int i = 1; i < static_cast<int>(sym.size()); ++i) consider(i - 1, i);
    while (!heap.empty()) {
        const Candidate c = heap.top();
        heap.pop();
        Symbol& l = sym[c.left];
        Symbol& r = sym[c.right];
        // Skip pairs one of whose sides has been merged into something else since.
        if (l.len == 0 || r.len == 0 || l.len + r.len != c.len || l.next != c.right) continue;
        l.len += r.len;
        r.len = 0;
        l.next = r.next;
        if (r.next >= 0) sym[r.next].prev = c.left;
        consider(l.prev, c.left);
        consider(c.left, l.next);
    }

    for (int i = sym.empty() ? -1 : 0; i >= 0; i = sym[i].next) {
        const std::string_view piece = std::string_view(text).substr(sym[i].start, sym[i].len);
        auto it = by_text_.find(piece);
        if (it != by_text_.end()) {
            out.push_back(it->second);
            continue;
        }
        // Not a piece (a character the vocabulary lacks): its bytes, one piece each.
        for (char ch : piece) {
            const int32_t b = byte_piece_[static_cast<uint8_t>(ch)];
            if (b >= 0) {
                out.push_back(b);
            } else if (unk_ >= 0) {
                out.push_back(unk_);
                break;  // one unk for the whole character
            } else {
                throw Error("tokenizer: the vocabulary has neither a piece for '" +
                            std::string(piece) + "' nor byte pieces nor an unknown token");
            }
        }
    }
}

}  // namespace gb
