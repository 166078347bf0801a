// SHA-256 (FIPS 180-4), incremental, for checking downloaded files against the digest their
// host publishes. Small and dependency-free; tests hold it to the standard's vectors.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace gb::remote {

class Sha256 {
public:
    Sha256() { reset(); }
    void reset();
    void update(std::string_view bytes);
    void update(const void* data, size_t n);
    // The digest of everything given since the last reset; the object must be reset to reuse.
    std::array<uint8_t, 32> finish();
    // finish() as 64 lowercase hex digits.
    std::string finish_hex();

private:
    void block(const uint8_t* p);
    std::array<uint32_t, 8> h_;
    std::array<uint8_t, 64> buf_;
    size_t buf_len_ = 0;
    uint64_t total_ = 0;  // bytes
};

// The digest of `bytes` in hex.
std::string sha256_hex(std::string_view bytes);

}  // namespace gb::remote
