// Validated, memory-mapped reader for GGUF v2/v3 files. Everything is checked before use;
// a bad file is refused with a gb::Error naming what is wrong and where (offset, key, tensor).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/gguf/gguf_value.h"
#include "kernels/tensor_type.h"

namespace gb {

struct GgufTensorInfo {
    std::string name;
    std::vector<int64_t> dims;  // ne[0] first: ne[0] is the contiguous (row) dimension; 1..4 dims,
                                // each >= 1, dims[0] a multiple of the type's block size
    TensorType type = TensorType::F32;
    uint64_t offset = 0;     // from the start of the data section; a multiple of the alignment
    int64_t n_elements = 0;  // product of dims (checked not to overflow)
    size_t n_bytes = 0;      // bytes of data; [offset, offset + n_bytes) lies inside the file
    int64_t rows() const;    // product of dims[1..]
    int64_t cols() const { return dims.empty() ? 1 : dims[0]; }
};

// How much of a file must be present. MetadataOnly reads the header, metadata and tensor table
// and checks them as strictly, but does not need the tensor data: enough for a vocabulary or a
// chat template, e.g. from the first part of a model split over several downloads.
enum class GgufOpen { Full, MetadataOnly };

// One tensor of a GgufFile built from parts (see GgufFile::from_parts): name, type, dims (ne[0]
// first, as in GgufTensorInfo) and where its bytes are.
struct GgufTensorPart {
    std::string name;
    TensorType type = TensorType::F32;
    std::vector<int64_t> dims;
    const uint8_t* data = nullptr;
};

class GgufFile {
public:
    // Maps and validates the file; throws gb::Error.
    static GgufFile open(const std::string& path, GgufOpen mode = GgufOpen::Full);
    // Parses a buffer the caller keeps alive (fuzzing, tests); throws gb::Error. `name` stands
    // for the file in error messages; tensor_data() points into `bytes`.
    static GgufFile parse(std::span<const uint8_t> bytes, std::string name = "<memory>");
    // A GGUF *view* of a model stored another way (an HF checkpoint: engine/model/
    // hf_checkpoint.cpp): metadata and tensors made by the caller, each tensor's bytes at its
    // given pointer, all kept alive by `owner` for as long as this object lives. Checked as a
    // parsed file is (unique keys and names, name length, dims, block sizes, general.alignment);
    // throws gb::Error naming `name` (which path() returns). version() is 3, offsets are where
    // each tensor would lie in a file written with the default alignment, file_size() the size
    // of that file's data section plus data_offset() (0).
    static GgufFile from_parts(std::string name, std::vector<GgufKV> metadata,
                               std::vector<GgufTensorPart> tensors,
                               std::shared_ptr<const void> owner);

    GgufFile(GgufFile&&) noexcept;
    GgufFile& operator=(GgufFile&&) noexcept;
    ~GgufFile();

    const std::string& path() const;
    uint32_t version() const;
    uint64_t alignment() const;
    size_t file_size() const;
    size_t data_offset() const;  // absolute offset of the tensor data section
    // False when opened MetadataOnly and some tensor's data lies past the end of the file.
    bool has_tensor_data() const;

    const std::vector<GgufKV>& metadata() const;
    const GgufValue* find(std::string_view key) const;

    // Typed getters: nullopt when the key is missing; gb::Error naming the key when its type is
    // wrong (integers convert between widths when the value fits; floats accept integers).
    std::optional<int64_t> get_int(std::string_view key) const;
    std::optional<double> get_float(std::string_view key) const;
    std::optional<bool> get_bool(std::string_view key) const;
    std::optional<std::string> get_string(std::string_view key) const;
    const GgufArray* get_array(std::string_view key) const;  // nullptr when missing
    // The require_ forms throw gb::Error "missing required key '...'" instead of nullopt.
    int64_t require_int(std::string_view key) const;
    double require_float(std::string_view key) const;
    std::string require_string(std::string_view key) const;

    const std::vector<GgufTensorInfo>& tensors() const;
    const GgufTensorInfo* find_tensor(std::string_view name) const;
    // Pointer to the tensor's bytes inside the mapping (valid while this object lives). Not aligned
    // beyond what the file's alignment and the mapping give (mmap: page + alignment). Throws
    // gb::Error when the data is not in the file (MetadataOnly).
    const uint8_t* tensor_data(const GgufTensorInfo& t) const;

private:
    struct Impl;
    explicit GgufFile(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace gb
