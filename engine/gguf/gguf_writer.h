// GGUF v3 writer, used by tests and tools to make model files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/gguf/gguf_value.h"
#include "kernels/tensor_type.h"

namespace gb {

// Collects metadata and tensors in memory, then writes them as one GGUF v3 file: header,
// metadata (in the order first set), tensor infos, padding to `alignment`, tensor data (each
// tensor starting at a multiple of `alignment`). Misuse throws gb::Error.
class GgufWriter {
public:
    // alignment: a nonzero power of two. When it is not the default 32 it is also written as
    // the general.alignment key (u32), as readers expect.
    explicit GgufWriter(uint64_t alignment = 32);

    void set(std::string key, GgufValue value);  // replaces an existing key (keeps its position)
    // dims: ne[0] first. data must hold row_bytes(type, dims[0]) * rows bytes; it is copied.
    void add_tensor(std::string name, TensorType type, std::vector<int64_t> dims, const void* data,
                    size_t bytes);

    std::vector<uint8_t> to_bytes() const;
    void write(const std::string& path) const;  // throws gb::Error on I/O failure

private:
    struct Tensor {
        std::string name;
        TensorType type;
        std::vector<int64_t> dims;
        std::vector<uint8_t> data;
    };
    uint64_t alignment_;
    std::vector<GgufKV> kv_;
    std::vector<Tensor> tensors_;
};

}  // namespace gb
