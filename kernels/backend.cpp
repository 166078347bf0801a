// The parts of the Backend interface every backend shares: KV cache types and the default
// KV cache allocation.
#include "kernels/backend.h"

#include <string>

namespace gb {

bool kv_cache_type_supported(TensorType type) {
    return type == TensorType::F16 || type == TensorType::BF16 || type == TensorType::Q8_0 ||
           type == TensorType::F32;
}

std::optional<TensorType> parse_kv_cache_type(std::string_view name) {
    for (TensorType t : {TensorType::F16, TensorType::BF16, TensorType::Q8_0, TensorType::F32})
        if (name == kv_cache_type_name(t)) return t;
    return std::nullopt;
}

std::string kv_cache_type_name(TensorType type) {
    switch (type) {
        case TensorType::F16: return "f16";
        case TensorType::BF16: return "bf16";
        case TensorType::Q8_0: return "q8_0";
        case TensorType::F32: return "f32";
        default: return std::string(type_name(type));
    }
}

std::string kv_cache_type_error(TensorType type, int64_t cols) {
    if (!kv_cache_type_supported(type))
        return "a KV cache cannot hold " + std::string(type_name(type)) +
               " values (f16, bf16, q8_0 or f32)";
    if (cols < 0) return "negative KV cache width";
    const int64_t block = type_info(type).block_size;
    if (cols % block != 0)
        return "a " + kv_cache_type_name(type) + " KV cache stores rows in blocks of " +
               std::to_string(block) + " values, and rows of " + std::to_string(cols) +
               " are not whole blocks; use --cache-type f16";
    return {};
}

KvTensor Backend::alloc_kv(int64_t rows, int64_t cols, TensorType type) {
    const std::string bad = kv_cache_type_error(type, cols);
    if (!bad.empty()) throw Error(name() + " backend: alloc_kv: " + bad);
    if (rows < 0) throw Error(name() + " backend: alloc_kv: negative size");
    const int64_t bytes = rows * static_cast<int64_t>(row_bytes(type, cols));
    Act a = alloc(1, (bytes + 3) / 4);
    return KvTensor{type, a.data, rows, cols};
}

void Backend::release_kv(KvTensor& t) {
    if (!t.data) return;
    Act a{static_cast<float*>(t.data), 1, 1};
    release(a);
    t = KvTensor{};
}

}  // namespace gb
