// The table is GPT-2's: printable Latin-1 bytes stand for themselves, the other 68 bytes
// (controls, space, DEL, NBSP, soft hyphen...) take U+0100 onwards in byte order.
#include "engine/tokenizer/byte_level.h"

#include <array>

#include "engine/core/utf8.h"

namespace gb::byte_level {
namespace {

struct Table {
    std::array<std::string, 256> symbol;
    std::array<int16_t, 512> byte_of;  // every symbol is below U+0200

    Table() {
        byte_of.fill(-1);
        uint32_t next_extra = 256;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
            const uint32_t cp = printable ? static_cast<uint32_t>(b) : next_extra++;
            utf8::append(symbol[b], cp);
            byte_of[cp] = static_cast<int16_t>(b);
        }
    }
};

const Table& table() {
    static const Table t;
    return t;
}

}  // namespace

const std::string& symbol(uint8_t b) { return table().symbol[b]; }

int byte_of(uint32_t cp) { return cp < 512 ? table().byte_of[cp] : -1; }

bool to_bytes(std::string_view symbols, std::string& out) {
    for (size_t i = 0; i < symbols.size();) {
        const utf8::Seq q = utf8::next(symbols, i);
        if (q.kind != utf8::Seq::Valid) return false;
        const int b = byte_of(q.cp);
        if (b < 0) return false;
        out += static_cast<char>(b);
        i += q.len;
    }
    return true;
}

}  // namespace gb::byte_level
