// GPT-2's byte <-> symbol table: byte-level BPE vocabularies spell every byte as a printable
// Unicode character (space is 'Ġ', newline 'Ċ'), so token strings are text even for raw bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace gb::byte_level {

// UTF-8 of the symbol that stands for byte b.
const std::string& symbol(uint8_t b);
// The byte a symbol stands for; -1 when cp is not one of the 256 symbols.
int byte_of(uint32_t cp);
// Maps symbol text back to raw bytes, appending to out; false (out partly written) when some
// character is not a byte symbol or the text is not valid UTF-8.
bool to_bytes(std::string_view symbols, std::string& out);

}  // namespace gb::byte_level
