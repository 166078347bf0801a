// Tensor element types and their block formats (ids and layouts as in the GGUF format).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace gb {

// Values are the GGUF on-disk type ids; do not renumber.
enum class TensorType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    BF16 = 30,
};

struct TypeInfo {
    TensorType type;
    std::string_view name;  // "Q4_K", as llama.cpp and the gguf package spell it
    uint32_t block_size;    // elements per block (1 for plain types)
    uint32_t block_bytes;   // bytes per block
    bool computable;        // the CPU backend can dequantise it and use it as a weight
};

// nullopt for an id that is not a known GGUF type.
std::optional<TypeInfo> type_info(uint32_t raw_type);
const TypeInfo& type_info(TensorType type);
std::string_view type_name(TensorType type);

// Bytes of n elements of `type`; n must be a multiple of the block size (checked by callers
// that read untrusted data; here it is asserted).
size_t row_bytes(TensorType type, int64_t n);

}  // namespace gb
