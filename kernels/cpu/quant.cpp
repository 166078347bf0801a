// Public entry points for dequantisation and quantisation: SIMD where it pays, else the
// scalar reference (which defines the exact rounding).
#include "kernels/cpu/quant.h"

#include "kernels/cpu/quant_ref.h"

namespace gb::cpu {

void dequantize_row(TensorType type, const void* src, float* dst, int64_t n) {
    ref::dequantize_row(type, src, dst, n);
}

void quantize_row(TensorType type, const float* src, void* dst, int64_t n) {
    ref::quantize_row(type, src, dst, n);
}

}  // namespace gb::cpu
