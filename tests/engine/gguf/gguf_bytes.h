// Test helper: lays out GGUF bytes by hand, so that tests can build files no correct writer would.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace gb::test {

struct GgufBytes {
    std::vector<uint8_t> b;

    GgufBytes& raw(const void* p, size_t n) {
        const auto* c = static_cast<const uint8_t*>(p);
        b.insert(b.end(), c, c + n);
        return *this;
    }
    GgufBytes& u8(uint8_t x) { return raw(&x, 1); }
    GgufBytes& u32(uint32_t x) {
        for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(x >> (8 * i)));
        return *this;
    }
    GgufBytes& u64(uint64_t x) {
        for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(x >> (8 * i)));
        return *this;
    }
    GgufBytes& str(const std::string& s) { return u64(s.size()).raw(s.data(), s.size()); }

    GgufBytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
        return raw("GGUF", 4).u32(version).u64(n_tensors).u64(n_kv);
    }
    GgufBytes& kv_u32(const std::string& key, uint32_t v) { return str(key).u32(4).u32(v); }
    GgufBytes& kv_str(const std::string& key, const std::string& v) {
        return str(key).u32(8).str(v);
    }
    GgufBytes& tensor(const std::string& name, std::vector<uint64_t> dims, uint32_t type,
                      uint64_t offset) {
        str(name).u32(static_cast<uint32_t>(dims.size()));
        for (uint64_t d : dims) u64(d);
        return u32(type).u64(offset);
    }
    GgufBytes& pad(size_t alignment = 32) {
        while (b.size() % alignment) b.push_back(0);
        return *this;
    }
    GgufBytes& zeros(size_t n) {
        b.insert(b.end(), n, 0);
        return *this;
    }
    std::span<const uint8_t> span() const { return b; }
};

}  // namespace gb::test
