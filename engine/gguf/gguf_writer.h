// GGUF v3 writer, used by tests and tools to make model files.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/gguf/gguf_value.h"
#include "kernels/tensor_type.h"

namespace gb {

// Collects metadata and tensors, then writes them as one GGUF v3 file: header, metadata (in the
// order first set), tensor infos, padding to `alignment`, tensor data (each tensor starting at a
// multiple of `alignment`). Misuse throws gb::Error. Tensors are copied (add_tensor), referenced
// (add_tensor_ref) or produced while writing (add_tensor_fill), so that converting a model
// larger than memory holds one tensor at a time, not the whole file.
class GgufWriter {
public:
    // alignment: a nonzero power of two. When it is not the default 32 it is also written as
    // the general.alignment key (u32), as readers expect.
    explicit GgufWriter(uint64_t alignment = 32);

    void set(std::string key, GgufValue value);  // replaces an existing key (keeps its position)
    // dims: ne[0] first. data must hold row_bytes(type, dims[0]) * rows bytes; it is copied.
    void add_tensor(std::string name, TensorType type, std::vector<int64_t> dims, const void* data,
                    size_t bytes);
    // Not copied: data must stay valid until write() / to_bytes() returns (e.g. a mapped file).
    void add_tensor_ref(std::string name, TensorType type, std::vector<int64_t> dims,
                        const void* data, size_t bytes);
    // Produced when written: fill(dst) writes the tensor's bytes (the size the type and dims
    // give) into dst. It runs once per write() / to_bytes().
    using Fill = std::function<void(uint8_t* dst)>;
    void add_tensor_fill(std::string name, TensorType type, std::vector<int64_t> dims, Fill fill);

    std::vector<uint8_t> to_bytes() const;
    // Streams the file, one tensor in memory at a time, to PATH.tmp and renames it to PATH when
    // complete, so a failure (disk full, a fill that throws) never leaves a truncated PATH.
    // Throws gb::Error on I/O failure, naming the path.
    void write(const std::string& path) const;

private:
    struct Tensor {
        std::string name;
        TensorType type;
        std::vector<int64_t> dims;
        size_t n_bytes = 0;
        std::vector<uint8_t> data;  // add_tensor
        const void* ref = nullptr;  // add_tensor_ref
        Fill fill;                  // add_tensor_fill
    };
    // Checks name, dims and type; returns the byte size the tensor must have.
    size_t check_tensor(const std::string& name, TensorType type,
                        const std::vector<int64_t>& dims) const;
    std::vector<uint8_t> header_bytes() const;  // everything before the first tensor's data
    // The tensor's bytes: its own, the referenced ones, or produced into scratch.
    const uint8_t* tensor_bytes(const Tensor& t, std::vector<uint8_t>& scratch) const;
    uint64_t alignment_;
    std::vector<GgufKV> kv_;
    std::vector<Tensor> tensors_;
};

}  // namespace gb
