// Device-side decoding of the GGUF block formats: one template per type that turns 8 consecutive
// elements of a block into floats in registers. The matvec, get_rows and dequantise kernels are
// written once against this interface, so a format's layout lives in exactly one place.
// Layouts: kernels/cpu/quant_blocks.h (the CPU reference these must agree with).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "kernels/tensor_type.h"

// #pragma unroll for nvcc; nothing when a host compiler builds these decoders for the tests.
#ifdef __CUDACC__
#define GB_UNROLL _Pragma("unroll")
#else
#define GB_UNROLL
#endif

namespace gb::cuda {

// Every block of every quantised type is 2-byte aligned (all block sizes are even and device
// buffers are 256-byte aligned), so 16-bit loads are always legal; wider loads are not.
__device__ __forceinline__ uint16_t ld_u16(const uint8_t* p) {
    return *reinterpret_cast<const uint16_t*>(p);
}
__device__ __forceinline__ float ld_half(const uint8_t* p) {
    return __half2float(__ushort_as_half(ld_u16(p)));
}
// 8 bytes starting at a 2-byte aligned address, as two little-endian words (one 8-byte load when
// the address allows it, which the K formats' quants always do in a 16-byte aligned row).
__device__ __forceinline__ uint2 ld_8bytes(const uint8_t* p) {
    if ((reinterpret_cast<uintptr_t>(p) & 7) == 0) return *reinterpret_cast<const uint2*>(p);
    const auto* h = reinterpret_cast<const uint16_t*>(p);
    return make_uint2(h[0] | (static_cast<uint32_t>(h[1]) << 16),
                      h[2] | (static_cast<uint32_t>(h[3]) << 16));
}
__device__ __forceinline__ uint32_t ld_u32_2aligned(const uint8_t* p) {
    const auto* h = reinterpret_cast<const uint16_t*>(p);
    return h[0] | (static_cast<uint32_t>(h[1]) << 16);
}
__device__ __forceinline__ int byte_of(uint2 w, int i) {
    return static_cast<int>(((i < 4 ? w.x : w.y) >> (8 * (i & 3))) & 0xff);
}

// Quant<T>: kBlock elements in kBytes bytes; dequant8(blk, c, v) writes elements 8c .. 8c+7 of
// the block at blk into v (c < kBlock / 8). Plain float types are handled apart (kPlain).
template <TensorType T>
struct Quant;

template <>
struct Quant<TensorType::Q8_0> {
    static constexpr int kBlock = 32, kBytes = 34;
    __device__ static void dequant8(const uint8_t* b, int c, float* v) {
        const float d = ld_half(b);
        const uint2 q = ld_8bytes(b + 2 + 8 * c);
        GB_UNROLL
        for (int i = 0; i < 8; ++i)
            v[i] = d * static_cast<float>(static_cast<int8_t>(byte_of(q, i)));
    }
};

// Q4_0 / Q4_1: element j (< 16) in the low nibble of qs[j], element j + 16 in its high nibble.
template <>
struct Quant<TensorType::Q4_0> {
    static constexpr int kBlock = 32, kBytes = 18;
    __device__ static void dequant8(const uint8_t* b, int c, float* v) {
        const float d = ld_half(b);
        const uint2 q = ld_8bytes(b + 2 + 8 * (c & 1));
        const int shift = c >= 2 ? 4 : 0;
        GB_UNROLL
        for (int i = 0; i < 8; ++i)
            v[i] = d * static_cast<float>(((byte_of(q, i) >> shift) & 15) - 8);
    }
};

template <>
struct Quant<TensorType::Q4_1> {
    static constexpr int kBlock = 32, kBytes = 20;
    __device__ static void dequant8(const uint8_t* b, int c, float* v) {
        const float d = ld_half(b), m = ld_half(b + 2);
        const uint2 q = ld_8bytes(b + 4 + 8 * (c & 1));
        const int shift = c >= 2 ? 4 : 0;
        GB_UNROLL
        for (int i = 0; i < 8; ++i)
            v[i] = d * static_cast<float>((byte_of(q, i) >> shift) & 15) + m;
    }
};

// Q5_0 / Q5_1: as Q4 plus bit e of the 32-bit qh as bit 4 of element e.
template <>
struct Quant<TensorType::Q5_0> {
    static constexpr int kBlock = 32, kBytes = 22;
    __device__ static void dequant8(const uint8_t* b, int c, float* v) {
        const float d = ld_half(b);
        const uint32_t qh = ld_u32_2aligned(b + 2);
        const uint2 q = ld_8bytes(b + 6 + 8 * (c & 1));
        const int shift = c >= 2 ? 4 : 0;
        GB_UNROLL
        for (int i = 0; i < 8; ++i) {
            const int code = ((byte_of(q, i) >> shift) & 15) | (((qh >> (8 * c + i)) & 1) << 4);
            v[i] = d * static_cast<float>(code - 16);
        }
    }
};

template <>
struct Quant<TensorType::Q5_1> {
    static constexpr int kBlock = 32, kBytes = 24;
    __device__ static void dequant8(const uint8_t* b, int c, float* v) {
        const float d = ld_half(b), m = ld_half(b + 2);
        const uint32_t qh = ld_u32_2aligned(b + 4);
        const uint2 q = ld_8bytes(b + 8 + 8 * (c & 1));
        const int shift = c >= 2 ? 4 : 0;
        GB_UNROLL
        for (int i = 0; i < 8; ++i) {
            const int code = ((byte_of(q, i) >> shift) & 15) | (((qh >> (8 * c + i)) & 1) << 4);
            v[i] = d * static_cast<float>(code) + m;
        }
    }
};

// The 6-bit scale and min of sub-block j of a Q4_K/Q5_K block (same packing as the CPU's
// k4_scale_min).
__device__ __forceinline__ void k4_scale_min_dev(int j, const uint8_t* q, int& sc, int& m) {
    if (j < 4) {
        sc = q[j] & 63;
        m = q[j + 4] & 63;
    } else {
        sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
        m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// Q4_K: 8 sub-blocks of 32; element l of sub-block j is in qs[(j/2)*32 + l], low nibble for even
// j. Chunk c is sub-block j = c/4, elements l0 = (c%4)*8 .. l0+7.
template <>
struct Quant<TensorType::Q4_K> {
    static constexpr int kBlock = 256, kBytes = 144;
    __device__ static void dequant8(const uint8_t* b, int c, float* v) {
        const int j = c >> 2, l0 = (c & 3) * 8;
        int sc, m;
        k4_scale_min_dev(j, b + 4, sc, m);
        const float dl = ld_half(b) * static_cast<float>(sc);
        const float ml = ld_half(b + 2) * static_cast<float>(m);
        const uint2 q = ld_8bytes(b + 16 + (j >> 1) * 32 + l0);
        const int shift = (j & 1) * 4;
        GB_UNROLL
        for (int i = 0; i < 8; ++i)
            v[i] = dl * static_cast<float>((byte_of(q, i) >> shift) & 15) - ml;
    }
};

// Q5_K: Q4_K plus bit j of qh[l] as bit 4 of element l of sub-block j.
template <>
struct Quant<TensorType::Q5_K> {
    static constexpr int kBlock = 256, kBytes = 176;
    __device__ static void dequant8(const uint8_t* b, int c, float* v) {
        const int j = c >> 2, l0 = (c & 3) * 8;
        int sc, m;
        k4_scale_min_dev(j, b + 4, sc, m);
        const float dl = ld_half(b) * static_cast<float>(sc);
        const float ml = ld_half(b + 2) * static_cast<float>(m);
        const uint2 h = ld_8bytes(b + 16 + l0);
        const uint2 q = ld_8bytes(b + 48 + (j >> 1) * 32 + l0);
        const int shift = (j & 1) * 4;
        GB_UNROLL
        for (int i = 0; i < 8; ++i) {
            const int code = ((byte_of(q, i) >> shift) & 15) | (((byte_of(h, i) >> j) & 1) << 4);
            v[i] = dl * static_cast<float>(code) - ml;
        }
    }
};

// Q6_K: element e = half*128 + g*32 + l; low 4 bits in ql[half*64 + (g%2)*32 + l] (low nibble
// for g < 2), high 2 bits at 2g in qh[half*32 + l], scale scales[half*8 + 2g + l/16], d last.
template <>
struct Quant<TensorType::Q6_K> {
    static constexpr int kBlock = 256, kBytes = 210;
    __device__ static void dequant8(const uint8_t* b, int c, float* v) {
        const int half = c >> 4, g = (c >> 2) & 3, l0 = (c & 3) * 8;
        const float d =
            ld_half(b + 208) *
            static_cast<float>(static_cast<int8_t>(b[192 + half * 8 + 2 * g + l0 / 16]));
        const uint2 ql = ld_8bytes(b + half * 64 + (g & 1) * 32 + l0);
        const uint2 qh = ld_8bytes(b + 128 + half * 32 + l0);
        const int shift = g < 2 ? 0 : 4;
        GB_UNROLL
        for (int i = 0; i < 8; ++i) {
            const int code =
                ((byte_of(ql, i) >> shift) & 15) | (((byte_of(qh, i) >> (2 * g)) & 3) << 4);
            v[i] = d * static_cast<float>(code - 32);
        }
    }
};

// Plain types: element i of a row. Rows need not be a multiple of 8 long.
template <TensorType T>
__device__ __forceinline__ float plain_at(const uint8_t* row, int64_t i) {
    if constexpr (T == TensorType::F32) {
        return reinterpret_cast<const float*>(row)[i];
    } else if constexpr (T == TensorType::F16) {
        return __half2float(reinterpret_cast<const __half*>(row)[i]);
    } else {
        static_assert(T == TensorType::BF16);
        return __bfloat162float(reinterpret_cast<const __nv_bfloat16*>(row)[i]);
    }
}

template <TensorType T>
constexpr bool kPlain = T == TensorType::F32 || T == TensorType::F16 || T == TensorType::BF16;

// Calls f(std::integral_constant<TensorType, T>{}) for the runtime type t (one of the eleven
// weight types); returns false for any other type. Callers read T back as decltype(tag)::value.
template <TensorType T>
using TypeTag = std::integral_constant<TensorType, T>;

template <class F>
bool dispatch_type(TensorType t, F&& f) {
    switch (t) {
        case TensorType::F32: f(TypeTag<TensorType::F32>{}); return true;
        case TensorType::F16: f(TypeTag<TensorType::F16>{}); return true;
        case TensorType::BF16: f(TypeTag<TensorType::BF16>{}); return true;
        case TensorType::Q8_0: f(TypeTag<TensorType::Q8_0>{}); return true;
        case TensorType::Q4_0: f(TypeTag<TensorType::Q4_0>{}); return true;
        case TensorType::Q4_1: f(TypeTag<TensorType::Q4_1>{}); return true;
        case TensorType::Q5_0: f(TypeTag<TensorType::Q5_0>{}); return true;
        case TensorType::Q5_1: f(TypeTag<TensorType::Q5_1>{}); return true;
        case TensorType::Q4_K: f(TypeTag<TensorType::Q4_K>{}); return true;
        case TensorType::Q5_K: f(TypeTag<TensorType::Q5_K>{}); return true;
        case TensorType::Q6_K: f(TypeTag<TensorType::Q6_K>{}); return true;
        default: return false;
    }
}

}  // namespace gb::cuda
