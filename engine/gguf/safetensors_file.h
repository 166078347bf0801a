// Validated, memory-mapped reader for *.safetensors files and sharded checkpoints
// (model.safetensors.index.json). Every error names the file and, where there is one, the tensor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kernels/tensor_type.h"

namespace gb {

struct SafetensorsTensor {
    std::string name;
    std::string file;                   // the file it lives in (for error messages)
    TensorType type = TensorType::F32;  // F32, F16 or BF16: the dtypes the engine reads
    std::vector<int64_t> shape;         // as written: outermost first (row-major); [] for a scalar
    int64_t n_elements = 1;             // product of shape, every dimension >= 1
    size_t n_bytes = 0;                 // n_elements * element size == end - begin of data_offsets
    uint64_t begin = 0;                 // data_offsets[0], from the start of the data section
    const uint8_t* data = nullptr;      // inside the mapping; valid while the file object lives
};

class SafetensorsFile {
public:
    // Maps and validates the file; throws gb::Error.
    static SafetensorsFile open(const std::string& path);
    // Parses a buffer the caller keeps alive (tests, fuzzing); `name` stands for the file.
    static SafetensorsFile parse(std::span<const uint8_t> bytes, std::string name = "<memory>");

    SafetensorsFile(SafetensorsFile&&) noexcept;
    SafetensorsFile& operator=(SafetensorsFile&&) noexcept;
    ~SafetensorsFile();

    const std::string& path() const;
    size_t header_bytes() const;  // length of the JSON header (the data section starts 8 later)
    // In file order (data_offsets ascending).
    const std::vector<SafetensorsTensor>& tensors() const;
    const SafetensorsTensor* find(std::string_view name) const;
    // The optional "__metadata__" string map, in file order.
    const std::vector<std::pair<std::string, std::string>>& metadata() const;

private:
    struct Impl;
    explicit SafetensorsFile(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// All the weights of a checkpoint: one model.safetensors, or the shards that
// model.safetensors.index.json lists. The index is checked against the shards: every file it
// names exists and holds the tensors it is said to hold, and no tensor is in two shards or in
// a shard without being listed.
class SafetensorsSet {
public:
    // `path`: a checkpoint directory (model.safetensors.index.json, else model.safetensors),
    // an index .json file, or a single .safetensors file. Throws gb::Error.
    static SafetensorsSet open(const std::string& path);

    const std::string& path() const { return path_; }  // what was opened
    const SafetensorsTensor* find(std::string_view name) const;
    // Every tensor of every shard, shard by shard.
    std::vector<const SafetensorsTensor*> tensors() const;
    const std::vector<SafetensorsFile>& files() const { return files_; }

private:
    void build_index();
    std::string path_;
    std::vector<SafetensorsFile> files_;
    std::map<std::string, const SafetensorsTensor*, std::less<>> index_;
};

}  // namespace gb
