// IEEE fp16 and bfloat16 <-> float conversions for the CPU kernels (round to nearest even).
// Software versions are always available; F16C turns the fp16 ones into single instructions.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace gb::cpu {

inline uint32_t float_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

inline float bits_float(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

// fp16 -> float, exact (every fp16 value, subnormals, inf and NaN, is a float).
inline float fp16_to_float_soft(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1f;
    const uint32_t man = h & 0x3ff;
    if (exp == 0x1f) return bits_float(sign | 0x7f800000 | (man << 13));
    if (exp != 0) return bits_float(sign | ((exp + 112) << 23) | (man << 13));
    // Subnormal: man * 2^-24, exact in float.
    const float mag = static_cast<float>(man) * bits_float(0x33800000);
    return sign ? -mag : mag;
}

// float -> fp16 with round to nearest even; overflow gives inf, NaN stays NaN (quiet).
inline uint16_t float_to_fp16_soft(float f) {
    const uint32_t u = float_bits(f);
    const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000);
    const uint32_t a = u & 0x7fffffff;
    if (a > 0x7f800000) return sign | 0x7e00 | static_cast<uint16_t>((a >> 13) & 0x3ff);
    if (a >= 0x477ff000) return sign | 0x7c00;  // rounds to >= 65536: inf
    if (a < 0x38800000) {
        // Result is fp16-subnormal (or zero): scale so that the fp16 ulp 2^-24 becomes 1 and let
        // the float addition round to nearest even.
        const float mag = bits_float(a) + 0.5f;  // 0.5 = 2^-1: ulp of the sum is 2^-24
        return sign | static_cast<uint16_t>(float_bits(mag) - float_bits(0.5f));
    }
    // Normal: drop 13 mantissa bits with round to nearest even; carries propagate into the
    // exponent correctly.
    const uint32_t rounded = a + 0xfff + ((a >> 13) & 1);
    return sign | static_cast<uint16_t>((rounded - (112u << 23)) >> 13);
}

inline float fp16_to_float(uint16_t h) {
#if defined(__F16C__)
    // Through a zero-extending move, not _cvtsh_ss: that compiles to a vpinsrw merging into some
    // register, whose last writer (in a kernel loop, the previous block's work) then holds up
    // the conversion; one block's scale waited on the block before.
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(h))));
#else
    return fp16_to_float_soft(h);
#endif
}

inline uint16_t float_to_fp16(float f) {
#if defined(__F16C__)
    return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
#else
    return float_to_fp16_soft(f);
#endif
}

inline float bf16_to_float(uint16_t b) { return bits_float(static_cast<uint32_t>(b) << 16); }

// float -> bf16 with round to nearest even; NaNs are forced quiet (as the GGUF tools do).
inline uint16_t float_to_bf16(float f) {
    const uint32_t u = float_bits(f);
    if ((u & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((u >> 16) | 64);
    return static_cast<uint16_t>((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

}  // namespace gb::cpu
