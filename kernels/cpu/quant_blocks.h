// Byte layouts of the GGUF block formats, shared by the reference and SIMD kernels.
// Field order and sizes follow the GGUF specification; the static_asserts pin them to the table.
#pragma once

#include <cstdint>

namespace gb::cpu {

constexpr int kQK = 32;    // elements per block of the legacy formats
constexpr int kQKK = 256;  // elements per super-block of the K formats

// Q4_0: x = d * (q - 8); element j in the low nibble of qs[j], element j+16 in the high nibble.
struct BlockQ4_0 {
    uint16_t d;
    uint8_t qs[kQK / 2];
};
// Q4_1: x = d * q + m.
struct BlockQ4_1 {
    uint16_t d, m;
    uint8_t qs[kQK / 2];
};
// Q5_0: x = d * (q - 16); bit j of qh (little-endian u32) is bit 4 of element j.
struct BlockQ5_0 {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[kQK / 2];
};
struct BlockQ5_1 {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[kQK / 2];
};
struct BlockQ8_0 {
    uint16_t d;
    int8_t qs[kQK];
};
// Q8_1: s = d * sum(qs), so dots with Q4_1/Q5_1 get the min term for free.
struct BlockQ8_1 {
    uint16_t d, s;
    int8_t qs[kQK];
};
// Q4_K: 8 sub-blocks of 32, x = d * sc[j] * q - dmin * m[j] with 6-bit sc/m packed in 12 bytes.
// qs holds 4 chunks of 32 bytes; chunk c has sub-block 2c in low nibbles, 2c+1 in high ones.
struct BlockQ4_K {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qs[kQKK / 2];
};
// Q5_K: as Q4_K plus bit 4 of element l of sub-block j at bit j of qh[l].
struct BlockQ5_K {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[kQKK / 8];
    uint8_t qs[kQKK / 2];
};
// Q6_K: 16 sub-blocks of 16, x = d * sc[j] * (q - 32), q = 4 low bits (ql) + 2 high bits (qh).
struct BlockQ6_K {
    uint8_t ql[kQKK / 2];
    uint8_t qh[kQKK / 4];
    int8_t scales[kQKK / 16];
    uint16_t d;
};
// Q8_K (activations only): float scale, and sums of each group of 16 quants.
struct BlockQ8_K {
    float d;
    int8_t qs[kQKK];
    int16_t bsums[kQKK / 16];
};

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22 && sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ4_K) == 144 && sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210 && sizeof(BlockQ8_K) == 292);

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block: j < 4 in the low 6 bits
// of bytes j and j+4; j >= 4 split into a low nibble in byte j+4 and 2 high bits on top of
// bytes j-4 (scale) and j (min).
inline void k4_scale_min(int j, const uint8_t* q, uint8_t& sc, uint8_t& m) {
    if (j < 4) {
        sc = q[j] & 63;
        m = q[j + 4] & 63;
    } else {
        sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
        m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

}  // namespace gb::cpu
