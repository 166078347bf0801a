// Scalar reference kernels for every block format: the readable statement of each formula and
// the oracle for the SIMD paths. Quantisers round exactly as the gguf Python package does.
#include "kernels/cpu/quant_ref.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/cpu/half.h"
#include "kernels/cpu/quant_blocks.h"
#include "kernels/error.h"

// The quantisers must round x * id + 0.5 exactly like the float32 numpy reference: a fused
// multiply-add would skip the intermediate rounding and change codes at ties.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#elif defined(__clang__)
#pragma clang fp contract(off)
#endif

namespace gb::cpu::ref {
namespace {

[[noreturn]] void unsupported(const char* op, TensorType type) {
    throw Error(std::string("cpu ") + op + ": tensor type " + std::string(type_name(type)) +
                " is not supported");
}

// ---- dequantisation --------------------------------------------------------------------------

void deq_q4_0(const BlockQ4_0* b, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += kQK) {
        const float d = fp16_to_float(b[i].d);
        for (int j = 0; j < kQK / 2; ++j) {
            y[j] = d * static_cast<float>((b[i].qs[j] & 0xf) - 8);
            y[j + kQK / 2] = d * static_cast<float>((b[i].qs[j] >> 4) - 8);
        }
    }
}

void deq_q4_1(const BlockQ4_1* b, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += kQK) {
        const float d = fp16_to_float(b[i].d), m = fp16_to_float(b[i].m);
        for (int j = 0; j < kQK / 2; ++j) {
            y[j] = d * static_cast<float>(b[i].qs[j] & 0xf) + m;
            y[j + kQK / 2] = d * static_cast<float>(b[i].qs[j] >> 4) + m;
        }
    }
}

uint32_t load_u32(const uint8_t* p) {
    return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

// The 5-bit codes of a Q5_0/Q5_1 block, 0..31.
void q5_codes(const uint8_t* qh4, const uint8_t* qs, int* q) {
    const uint32_t qh = load_u32(qh4);
    for (int j = 0; j < kQK / 2; ++j) {
        q[j] = (qs[j] & 0xf) | (((qh >> j) & 1) << 4);
        q[j + kQK / 2] = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
    }
}

void deq_q5_0(const BlockQ5_0* b, float* y, int64_t nb) {
    int q[kQK];
    for (int64_t i = 0; i < nb; ++i, y += kQK) {
        const float d = fp16_to_float(b[i].d);
        q5_codes(b[i].qh, b[i].qs, q);
        for (int j = 0; j < kQK; ++j) y[j] = d * static_cast<float>(q[j] - 16);
    }
}

void deq_q5_1(const BlockQ5_1* b, float* y, int64_t nb) {
    int q[kQK];
    for (int64_t i = 0; i < nb; ++i, y += kQK) {
        const float d = fp16_to_float(b[i].d), m = fp16_to_float(b[i].m);
        q5_codes(b[i].qh, b[i].qs, q);
        for (int j = 0; j < kQK; ++j) y[j] = d * static_cast<float>(q[j]) + m;
    }
}

void deq_q8_0(const BlockQ8_0* b, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += kQK) {
        const float d = fp16_to_float(b[i].d);
        for (int j = 0; j < kQK; ++j) y[j] = d * static_cast<float>(b[i].qs[j]);
    }
}

void deq_q8_1(const BlockQ8_1* b, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += kQK) {
        const float d = fp16_to_float(b[i].d);
        for (int j = 0; j < kQK; ++j) y[j] = d * static_cast<float>(b[i].qs[j]);
    }
}

// The 5-bit (Q5_K) or 4-bit (Q4_K, qh == nullptr) code of element l of sub-block j.
int k_code(const uint8_t* qs, const uint8_t* qh, int j, int l) {
    const uint8_t byte = qs[(j / 2) * 32 + l];
    int q = (j % 2 == 0) ? (byte & 0xf) : (byte >> 4);
    if (qh) q |= ((qh[l] >> j) & 1) << 4;
    return q;
}

void deq_q4_k(const BlockQ4_K* b, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        const float d = fp16_to_float(b[i].d), dmin = fp16_to_float(b[i].dmin);
        for (int j = 0; j < 8; ++j) {
            uint8_t sc, m;
            k4_scale_min(j, b[i].scales, sc, m);
            const float dl = d * sc, ml = dmin * m;
            for (int l = 0; l < 32; ++l)
                *y++ = dl * static_cast<float>(k_code(b[i].qs, nullptr, j, l)) - ml;
        }
    }
}

void deq_q5_k(const BlockQ5_K* b, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        const float d = fp16_to_float(b[i].d), dmin = fp16_to_float(b[i].dmin);
        for (int j = 0; j < 8; ++j) {
            uint8_t sc, m;
            k4_scale_min(j, b[i].scales, sc, m);
            const float dl = d * sc, ml = dmin * m;
            for (int l = 0; l < 32; ++l)
                *y++ = dl * static_cast<float>(k_code(b[i].qs, b[i].qh, j, l)) - ml;
        }
    }
}

// The signed 6-bit value (q - 32) of element e (0..255) of a Q6_K block. Each 128-element half
// uses 64 ql bytes (elements 0..63 in low nibbles, 64..127 in high) and 32 qh bytes (element
// group g of 32 in bits 2g..2g+1).
int q6_value(const BlockQ6_K& b, int e) {
    const int half = e / 128, r = e % 128, g = r / 32, l = r % 32;
    const uint8_t ql = b.ql[half * 64 + (g % 2) * 32 + l];
    const int lo = (g < 2) ? (ql & 0xf) : (ql >> 4);
    const int hi = (b.qh[half * 32 + l] >> (2 * g)) & 3;
    return (lo | (hi << 4)) - 32;
}

// Walks the Q6_K layout directly (one ql/qh byte pair feeds four outputs); q6_value states the
// same mapping element by element and is what the dot reference uses.
void deq_q6_k(const BlockQ6_K* b, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += kQKK) {
        const float d = fp16_to_float(b[i].d);
        for (int half = 0; half < 2; ++half) {
            const uint8_t* ql = b[i].ql + 64 * half;
            const uint8_t* qh = b[i].qh + 32 * half;
            const int8_t* sc = b[i].scales + 8 * half;
            float* out = y + 128 * half;
            for (int l = 0; l < 32; ++l) {
                const int g = l / 16;
                out[l] = d * sc[g] * static_cast<float>(((ql[l] & 0xf) | ((qh[l] & 3) << 4)) - 32);
                out[l + 32] =
                    d * sc[g + 2] *
                    static_cast<float>(((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32);
                out[l + 64] = d * sc[g + 4] *
                              static_cast<float>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                out[l + 96] =
                    d * sc[g + 6] *
                    static_cast<float>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
        }
    }
}

void deq_q8_k(const BlockQ8_K* b, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += kQKK)
        for (int e = 0; e < kQKK; ++e) y[e] = b[i].d * static_cast<float>(b[i].qs[e]);
}

// ---- quantisation ----------------------------------------------------------------------------

// The element of largest magnitude (the first one on ties), with its sign.
float signed_absmax(const float* x, int n) {
    float best = 0, amax = 0;
    for (int j = 0; j < n; ++j) {
        if (std::fabs(x[j]) > amax) {
            amax = std::fabs(x[j]);
            best = x[j];
        }
    }
    return best;
}

float inverse_or_zero(float d) { return d == 0 ? 0.0f : 1.0f / d; }

// Truncating conversion clamped to [0, hi]: the codes of the offset formats.
int trunc_code(float v, int hi) {
    const float t = std::trunc(v);
    return t <= 0 ? 0 : (t >= hi ? hi : static_cast<int>(t));
}

void quant_q4_0(const float* x, BlockQ4_0* b, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK) {
        const float d = signed_absmax(x, kQK) / -8;
        const float id = inverse_or_zero(d);
        b[i].d = float_to_fp16(d);
        for (int j = 0; j < kQK / 2; ++j) {
            const float s0 = x[j] * id, s1 = x[j + kQK / 2] * id;
            const int q0 = trunc_code(s0 + 8.5f, 15), q1 = trunc_code(s1 + 8.5f, 15);
            b[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
        }
    }
}

// Min/max codes of one Q4_1/Q5_1 block: d = (max - min) / levels, codes of (x - min) / d.
template <typename Block>
void quant_minmax(const float* x, Block& b, int levels, int* q) {
    float lo = x[0], hi = x[0];
    for (int j = 1; j < kQK; ++j) {
        lo = std::min(lo, x[j]);
        hi = std::max(hi, x[j]);
    }
    const float d = (hi - lo) / static_cast<float>(levels);
    const float id = inverse_or_zero(d);
    b.d = float_to_fp16(d);
    b.m = float_to_fp16(lo);
    for (int j = 0; j < kQK; ++j) {
        const float s = (x[j] - lo) * id;
        q[j] = trunc_code(s + 0.5f, levels);
    }
}

void pack_q5(const int* q, uint8_t* qh4, uint8_t* qs) {
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
        qs[j] = static_cast<uint8_t>((q[j] & 0xf) | ((q[j + kQK / 2] & 0xf) << 4));
        qh |= static_cast<uint32_t>(q[j] >> 4) << j;
        qh |= static_cast<uint32_t>(q[j + kQK / 2] >> 4) << (j + 16);
    }
    for (int k = 0; k < 4; ++k) qh4[k] = static_cast<uint8_t>(qh >> (8 * k));
}

void quant_q4_1(const float* x, BlockQ4_1* b, int64_t nb) {
    int q[kQK];
    for (int64_t i = 0; i < nb; ++i) {
        quant_minmax(x + i * kQK, b[i], 15, q);
        for (int j = 0; j < kQK / 2; ++j)
            b[i].qs[j] = static_cast<uint8_t>(q[j] | (q[j + 16] << 4));
    }
}

void quant_q5_0(const float* x, BlockQ5_0* b, int64_t nb) {
    int q[kQK];
    for (int64_t i = 0; i < nb; ++i, x += kQK) {
        const float d = signed_absmax(x, kQK) / -16;
        const float id = inverse_or_zero(d);
        b[i].d = float_to_fp16(d);
        for (int j = 0; j < kQK; ++j) {
            const float s = x[j] * id;
            q[j] = trunc_code(s + 16.5f, 31);
        }
        pack_q5(q, b[i].qh, b[i].qs);
    }
}

void quant_q5_1(const float* x, BlockQ5_1* b, int64_t nb) {
    int q[kQK];
    for (int64_t i = 0; i < nb; ++i) {
        quant_minmax(x + i * kQK, b[i], 31, q);
        pack_q5(q, b[i].qh, b[i].qs);
    }
}

// Symmetric 8-bit codes, d = absmax / 127, round half away from zero. Returns the code sum.
// A block so small (|x| < 4e-37) that 1 / d overflows gets zero codes (its F16 scale is 0
// anyway), where x * inf would leave the codes undefined.
int quant_8bit(const float* x, uint16_t& d16, int8_t* qs, float& d_out) {
    float amax = 0;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127;
    const float id = std::isfinite(inverse_or_zero(d)) ? inverse_or_zero(d) : 0.0f;
    d16 = float_to_fp16(d);
    d_out = d;
    int sum = 0;
    for (int j = 0; j < kQK; ++j) {
        qs[j] = static_cast<int8_t>(std::round(x[j] * id));
        sum += qs[j];
    }
    return sum;
}

void quant_q8_0(const float* x, BlockQ8_0* b, int64_t nb) {
    float d;
    for (int64_t i = 0; i < nb; ++i) quant_8bit(x + i * kQK, b[i].d, b[i].qs, d);
}

void quant_q8_1(const float* x, BlockQ8_1* b, int64_t nb) {
    float d;
    for (int64_t i = 0; i < nb; ++i) {
        const int sum = quant_8bit(x + i * kQK, b[i].d, b[i].qs, d);
        b[i].s = float_to_fp16(d * static_cast<float>(sum));
    }
}

// Q8_K: the element of largest magnitude maps to -128 (so the full int8 range is used), the
// rest round to nearest (ties to even) and clamp at 127.
void quant_q8_k(const float* x, BlockQ8_K* b, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQKK) {
        const float max = signed_absmax(x, kQKK);
        // All zero, or so small (|x| < 4e-37) that -128 / max overflows: zero codes and scale.
        if (max == 0 || !std::isfinite(-128.0f / max)) {
            b[i] = BlockQ8_K{};
            continue;
        }
        const float iscale = -128.0f / max;
        for (int e = 0; e < kQKK; ++e) {
            const float v = std::nearbyint(iscale * x[e]);
            b[i].qs[e] = static_cast<int8_t>(std::min(127.0f, v));
        }
        for (int g = 0; g < kQKK / 16; ++g) {
            int s = 0;
            for (int k = 0; k < 16; ++k) s += b[i].qs[g * 16 + k];
            b[i].bsums[g] = static_cast<int16_t>(s);
        }
        b[i].d = 1.0f / iscale;
    }
}

// ---- dot products ----------------------------------------------------------------------------
// Integer sums inside a block, one float multiply-add per block, as the SIMD kernels do.

float dot_q4_0(const BlockQ4_0* w, const BlockQ8_0* x, int64_t nb) {
    float acc = 0;
    for (int64_t i = 0; i < nb; ++i) {
        int s = 0;
        for (int j = 0; j < kQK / 2; ++j) {
            s += ((w[i].qs[j] & 0xf) - 8) * x[i].qs[j];
            s += ((w[i].qs[j] >> 4) - 8) * x[i].qs[j + kQK / 2];
        }
        acc += fp16_to_float(w[i].d) * fp16_to_float(x[i].d) * static_cast<float>(s);
    }
    return acc;
}

float dot_q4_1(const BlockQ4_1* w, const BlockQ8_1* x, int64_t nb) {
    float acc = 0;
    for (int64_t i = 0; i < nb; ++i) {
        int s = 0;
        for (int j = 0; j < kQK / 2; ++j)
            s += (w[i].qs[j] & 0xf) * x[i].qs[j] + (w[i].qs[j] >> 4) * x[i].qs[j + kQK / 2];
        acc += fp16_to_float(w[i].d) * fp16_to_float(x[i].d) * static_cast<float>(s) +
               fp16_to_float(w[i].m) * fp16_to_float(x[i].s);
    }
    return acc;
}

float dot_q5_0(const BlockQ5_0* w, const BlockQ8_0* x, int64_t nb) {
    float acc = 0;
    int q[kQK];
    for (int64_t i = 0; i < nb; ++i) {
        q5_codes(w[i].qh, w[i].qs, q);
        int s = 0;
        for (int j = 0; j < kQK; ++j) s += (q[j] - 16) * x[i].qs[j];
        acc += fp16_to_float(w[i].d) * fp16_to_float(x[i].d) * static_cast<float>(s);
    }
    return acc;
}

float dot_q5_1(const BlockQ5_1* w, const BlockQ8_1* x, int64_t nb) {
    float acc = 0;
    int q[kQK];
    for (int64_t i = 0; i < nb; ++i) {
        q5_codes(w[i].qh, w[i].qs, q);
        int s = 0;
        for (int j = 0; j < kQK; ++j) s += q[j] * x[i].qs[j];
        acc += fp16_to_float(w[i].d) * fp16_to_float(x[i].d) * static_cast<float>(s) +
               fp16_to_float(w[i].m) * fp16_to_float(x[i].s);
    }
    return acc;
}

float dot_q8_0(const BlockQ8_0* w, const BlockQ8_0* x, int64_t nb) {
    float acc = 0;
    for (int64_t i = 0; i < nb; ++i) {
        int s = 0;
        for (int j = 0; j < kQK; ++j) s += w[i].qs[j] * x[i].qs[j];
        acc += fp16_to_float(w[i].d) * fp16_to_float(x[i].d) * static_cast<float>(s);
    }
    return acc;
}

// Q4_K/Q5_K: sum_j d*sc_j*dot_j - dmin * sum_j m_j * (sum of x codes in sub-block j).
template <typename Block>
float dot_q45_k(const Block* w, const BlockQ8_K* x, int64_t nb) {
    float acc = 0;
    for (int64_t i = 0; i < nb; ++i) {
        const uint8_t* qh = nullptr;
        if constexpr (sizeof(Block) == sizeof(BlockQ5_K)) qh = w[i].qh;
        int sum_q = 0, sum_m = 0;
        for (int j = 0; j < 8; ++j) {
            uint8_t sc, m;
            k4_scale_min(j, w[i].scales, sc, m);
            int s = 0;
            for (int l = 0; l < 32; ++l) s += k_code(w[i].qs, qh, j, l) * x[i].qs[j * 32 + l];
            sum_q += sc * s;
            sum_m += m * (x[i].bsums[2 * j] + x[i].bsums[2 * j + 1]);
        }
        acc += x[i].d * (fp16_to_float(w[i].d) * static_cast<float>(sum_q) -
                         fp16_to_float(w[i].dmin) * static_cast<float>(sum_m));
    }
    return acc;
}

float dot_q6_k(const BlockQ6_K* w, const BlockQ8_K* x, int64_t nb) {
    float acc = 0;
    for (int64_t i = 0; i < nb; ++i) {
        int sum = 0;
        for (int g = 0; g < kQKK / 16; ++g) {
            int s = 0;
            for (int k = 0; k < 16; ++k) s += q6_value(w[i], g * 16 + k) * x[i].qs[g * 16 + k];
            sum += w[i].scales[g] * s;
        }
        acc += x[i].d * fp16_to_float(w[i].d) * static_cast<float>(sum);
    }
    return acc;
}

template <typename T, typename Conv>
float dot_plain(const T* w, const T* x, int64_t n, Conv conv) {
    double acc = 0;
    for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(conv(w[i])) * conv(x[i]);
    return static_cast<float>(acc);
}

}  // namespace

void dequantize_row(TensorType type, const void* src, float* dst, int64_t n) {
    const int64_t nb = n / type_info(type).block_size;
    switch (type) {
        case TensorType::F32: std::copy_n(static_cast<const float*>(src), n, dst); return;
        case TensorType::F16:
            for (int64_t i = 0; i < n; ++i)
                dst[i] = fp16_to_float(static_cast<const uint16_t*>(src)[i]);
            return;
        case TensorType::BF16:
            for (int64_t i = 0; i < n; ++i)
                dst[i] = bf16_to_float(static_cast<const uint16_t*>(src)[i]);
            return;
        case TensorType::Q4_0: return deq_q4_0(static_cast<const BlockQ4_0*>(src), dst, nb);
        case TensorType::Q4_1: return deq_q4_1(static_cast<const BlockQ4_1*>(src), dst, nb);
        case TensorType::Q5_0: return deq_q5_0(static_cast<const BlockQ5_0*>(src), dst, nb);
        case TensorType::Q5_1: return deq_q5_1(static_cast<const BlockQ5_1*>(src), dst, nb);
        case TensorType::Q8_0: return deq_q8_0(static_cast<const BlockQ8_0*>(src), dst, nb);
        case TensorType::Q8_1: return deq_q8_1(static_cast<const BlockQ8_1*>(src), dst, nb);
        case TensorType::Q4_K: return deq_q4_k(static_cast<const BlockQ4_K*>(src), dst, nb);
        case TensorType::Q5_K: return deq_q5_k(static_cast<const BlockQ5_K*>(src), dst, nb);
        case TensorType::Q6_K: return deq_q6_k(static_cast<const BlockQ6_K*>(src), dst, nb);
        case TensorType::Q8_K: return deq_q8_k(static_cast<const BlockQ8_K*>(src), dst, nb);
        default: unsupported("dequantize_row", type);
    }
}

void quantize_row(TensorType type, const float* src, void* dst, int64_t n) {
    const int64_t nb = n / type_info(type).block_size;
    switch (type) {
        case TensorType::F32: std::copy_n(src, n, static_cast<float*>(dst)); return;
        case TensorType::F16:
            for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(dst)[i] = float_to_fp16(src[i]);
            return;
        case TensorType::BF16:
            for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(dst)[i] = float_to_bf16(src[i]);
            return;
        case TensorType::Q4_0: return quant_q4_0(src, static_cast<BlockQ4_0*>(dst), nb);
        case TensorType::Q4_1: return quant_q4_1(src, static_cast<BlockQ4_1*>(dst), nb);
        case TensorType::Q5_0: return quant_q5_0(src, static_cast<BlockQ5_0*>(dst), nb);
        case TensorType::Q5_1: return quant_q5_1(src, static_cast<BlockQ5_1*>(dst), nb);
        case TensorType::Q8_0: return quant_q8_0(src, static_cast<BlockQ8_0*>(dst), nb);
        case TensorType::Q8_1: return quant_q8_1(src, static_cast<BlockQ8_1*>(dst), nb);
        case TensorType::Q8_K: return quant_q8_k(src, static_cast<BlockQ8_K*>(dst), nb);
        default: unsupported("quantize_row", type);
    }
}

float vec_dot(TensorType type, int64_t n, const void* w, const void* x) {
    const int64_t nb = n / type_info(type).block_size;
    switch (type) {
        case TensorType::F32:
            return dot_plain(static_cast<const float*>(w), static_cast<const float*>(x), n,
                             [](float v) { return v; });
        case TensorType::F16:
            return dot_plain(static_cast<const uint16_t*>(w), static_cast<const uint16_t*>(x), n,
                             fp16_to_float);
        case TensorType::BF16:
            return dot_plain(static_cast<const uint16_t*>(w), static_cast<const uint16_t*>(x), n,
                             bf16_to_float);
        case TensorType::Q4_0:
            return dot_q4_0(static_cast<const BlockQ4_0*>(w), static_cast<const BlockQ8_0*>(x), nb);
        case TensorType::Q4_1:
            return dot_q4_1(static_cast<const BlockQ4_1*>(w), static_cast<const BlockQ8_1*>(x), nb);
        case TensorType::Q5_0:
            return dot_q5_0(static_cast<const BlockQ5_0*>(w), static_cast<const BlockQ8_0*>(x), nb);
        case TensorType::Q5_1:
            return dot_q5_1(static_cast<const BlockQ5_1*>(w), static_cast<const BlockQ8_1*>(x), nb);
        case TensorType::Q8_0:
            return dot_q8_0(static_cast<const BlockQ8_0*>(w), static_cast<const BlockQ8_0*>(x), nb);
        case TensorType::Q4_K:
            return dot_q45_k(static_cast<const BlockQ4_K*>(w), static_cast<const BlockQ8_K*>(x),
                             nb);
        case TensorType::Q5_K:
            return dot_q45_k(static_cast<const BlockQ5_K*>(w), static_cast<const BlockQ8_K*>(x),
                             nb);
        case TensorType::Q6_K:
            return dot_q6_k(static_cast<const BlockQ6_K*>(w), static_cast<const BlockQ8_K*>(x), nb);
        default: unsupported("vec_dot", type);
    }
}

}  // namespace gb::cpu::ref
