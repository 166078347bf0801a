// Random weight rows of any tensor type for kernel tests: random codes with small, valid fp16
// scales (random bits could make inf/NaN scales), and normal values for the plain float types.
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/half.h"
#include "kernels/tensor_type.h"

namespace gb::test {

inline std::vector<uint8_t> random_weights(TensorType t, int64_t rows, int64_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<uint8_t> raw(row_bytes(t, n) * rows);
    const TypeInfo& ti = type_info(t);
    if (ti.block_size == 1) {
        std::normal_distribution<float> nd;
        for (int64_t i = 0; i < n * rows; ++i) {
            const float v = nd(rng);
            if (t == TensorType::F32) {
                std::memcpy(raw.data() + 4 * i, &v, 4);
            } else {
                const uint16_t h =
                    t == TensorType::F16 ? cpu::float_to_fp16(v) : cpu::float_to_bf16(v);
                std::memcpy(raw.data() + 2 * i, &h, 2);
            }
        }
        return raw;
    }
    for (auto& b : raw) b = static_cast<uint8_t>(rng());
    std::uniform_real_distribution<float> ud(-0.05f, 0.05f);
    auto put_f16 = [&](size_t off) {
        const uint16_t h = cpu::float_to_fp16(ud(rng));
        std::memcpy(raw.data() + off, &h, 2);
    };
    const bool has_min = t == TensorType::Q4_1 || t == TensorType::Q5_1 || t == TensorType::Q4_K ||
                         t == TensorType::Q5_K;
    for (size_t off = 0; off < raw.size(); off += ti.block_bytes) {
        if (t == TensorType::Q6_K) {
            put_f16(off + ti.block_bytes - 2);  // Q6_K keeps its scale at the end of the block
        } else {
            put_f16(off);
            if (has_min) put_f16(off + 2);
        }
    }
    return raw;
}

}  // namespace gb::test
