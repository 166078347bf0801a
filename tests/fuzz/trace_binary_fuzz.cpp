// libFuzzer harness for the binary trace reader: any input must either read or throw gb::Error,
// within the reader's allocation budget. An input whose first byte is odd gets a valid CRC-32C
// appended, so that mutations reach the parser instead of stopping at the checksum. A trace it
// accepts must write and read back.
// fuzz-options: -max_len=65536
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "engine/trace/trace_binary.h"
#include "kernels/error.h"

namespace {

uint32_t crc32c(const std::string& s) {
    uint32_t c = 0xFFFFFFFFu;
    for (unsigned char ch : s) {
        c ^= ch;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? 0x82F63B78u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0 || size > 65536) return 0;
    std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (data[0] & 1) {
        const uint32_t c = crc32c(bytes);
        bytes.append(reinterpret_cast<const char*>(&c), 4);
    }
    gb::Trace t;
    try {
        t = gb::read_binary(bytes);
    } catch (const gb::Error&) {
        return 0;
    }
    const gb::Trace again = gb::read_binary(gb::write_binary(t));
    if (again.tokens.size() != t.tokens.size()) std::abort();
    return 0;
}
