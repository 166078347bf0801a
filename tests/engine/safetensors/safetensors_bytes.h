// Test helper: safetensors files by hand (header JSON + data), including ones no correct writer
// would make, and small checkpoints of named F32 tensors.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace gb::test {

// 8-byte little-endian header length, the header text as given, then `data`.
inline std::vector<uint8_t> st_bytes(const std::string& header, const std::vector<uint8_t>& data,
                                     uint64_t len_override = UINT64_MAX) {
    std::vector<uint8_t> b;
    const uint64_t n = len_override == UINT64_MAX ? header.size() : len_override;
    for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(n >> (8 * i)));
    b.insert(b.end(), header.begin(), header.end());
    b.insert(b.end(), data.begin(), data.end());
    return b;
}

struct StTensor {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float> values;  // F32, row-major
};

// A valid F32 safetensors file of the given tensors, laid out in order.
inline std::vector<uint8_t> st_file(const std::vector<StTensor>& ts) {
    std::string h = "{";
    std::vector<uint8_t> data;
    for (size_t i = 0; i < ts.size(); ++i) {
        const auto& t = ts[i];
        std::string shape;
        for (size_t d = 0; d < t.shape.size(); ++d)
            shape += (d ? "," : "") + std::to_string(t.shape[d]);
        const size_t begin = data.size();
        data.resize(begin + t.values.size() * 4);
        std::memcpy(data.data() + begin, t.values.data(), t.values.size() * 4);
        h += (i ? ",\"" : "\"") + t.name + "\":{\"dtype\":\"F32\",\"shape\":[" + shape +
             "],\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(data.size()) +
             "]}";
    }
    h += "}";
    while ((8 + h.size()) % 8) h += ' ';  // as writers do: data starts 8-aligned
    return st_bytes(h, data);
}

inline void write_file(const std::filesystem::path& p, const std::vector<uint8_t>& b) {
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}
inline void write_file(const std::filesystem::path& p, const std::string& s) {
    std::ofstream out(p, std::ios::binary);
    out << s;
}

// A fresh, empty directory under the system temp dir, removed when the object dies.
struct TempDir {
    std::filesystem::path path;
    explicit TempDir(const std::string& tag) {
        path = std::filesystem::temp_directory_path() /
               ("gb_" + tag + "_" + std::to_string(::getpid()));
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string str() const { return path.string(); }
};

}  // namespace gb::test
