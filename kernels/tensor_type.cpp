// Table of tensor types: block sizes and bytes per block, per the GGUF specification.
#include "kernels/tensor_type.h"

#include <array>
#include <cassert>

namespace gb {
namespace {

constexpr uint32_t QK_K = 256;

constexpr std::array kTypes = {
    TypeInfo{TensorType::F32, "F32", 1, 4, true},
    TypeInfo{TensorType::F16, "F16", 1, 2, true},
    TypeInfo{TensorType::Q4_0, "Q4_0", 32, 2 + 16, true},
    TypeInfo{TensorType::Q4_1, "Q4_1", 32, 2 + 2 + 16, true},
    TypeInfo{TensorType::Q5_0, "Q5_0", 32, 2 + 4 + 16, true},
    TypeInfo{TensorType::Q5_1, "Q5_1", 32, 2 + 2 + 4 + 16, true},
    TypeInfo{TensorType::Q8_0, "Q8_0", 32, 2 + 32, true},
    TypeInfo{TensorType::Q8_1, "Q8_1", 32, 2 + 2 + 32, false},
    TypeInfo{TensorType::Q2_K, "Q2_K", QK_K, QK_K / 16 + QK_K / 4 + 2 + 2, false},
    TypeInfo{TensorType::Q3_K, "Q3_K", QK_K, QK_K / 8 + QK_K / 4 + 12 + 2, false},
    TypeInfo{TensorType::Q4_K, "Q4_K", QK_K, 2 + 2 + 12 + QK_K / 2, true},
    TypeInfo{TensorType::Q5_K, "Q5_K", QK_K, 2 + 2 + 12 + QK_K / 8 + QK_K / 2, true},
    TypeInfo{TensorType::Q6_K, "Q6_K", QK_K, QK_K / 2 + QK_K / 4 + QK_K / 16 + 2, true},
    TypeInfo{TensorType::Q8_K, "Q8_K", QK_K, 4 + QK_K + QK_K / 16 * 2, false},
    TypeInfo{TensorType::IQ4_XS, "IQ4_XS", QK_K, 2 + 2 + QK_K / 64 + QK_K / 2, false},
    TypeInfo{TensorType::I8, "I8", 1, 1, false},
    TypeInfo{TensorType::I16, "I16", 1, 2, false},
    TypeInfo{TensorType::I32, "I32", 1, 4, false},
    TypeInfo{TensorType::I64, "I64", 1, 8, false},
    TypeInfo{TensorType::F64, "F64", 1, 8, false},
    TypeInfo{TensorType::BF16, "BF16", 1, 2, true},
};

}  // namespace

std::optional<TypeInfo> type_info(uint32_t raw_type) {
    for (const auto& t : kTypes)
        if (static_cast<uint32_t>(t.type) == raw_type) return t;
    return std::nullopt;
}

const TypeInfo& type_info(TensorType type) {
    for (const auto& t : kTypes)
        if (t.type == type) return t;
    assert(false && "TensorType missing from the table");
    return kTypes[0];
}

std::string_view type_name(TensorType type) { return type_info(type).name; }

size_t row_bytes(TensorType type, int64_t n) {
    const TypeInfo& t = type_info(type);
    assert(n % t.block_size == 0);
    return static_cast<size_t>(n / t.block_size) * t.block_bytes;
}

}  // namespace gb
