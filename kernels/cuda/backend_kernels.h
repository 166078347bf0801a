// Launchers of the CUDA backend's kernels (implemented in the .cu files of this folder), called
// by CudaBackend (cuda_backend.cpp) with device pointers and already validated shapes. Each
// queues its kernels on `s` and checks the launch; none synchronises.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/backend.h"

namespace gb::cuda {

// ---- matvec.cu: y = W x with the weights dequantised in registers -------------------------
// One launch computes out rows for n_slot "slots". Slot s multiplies matrix m(s) (ids[s] when
// ids is not null, else s % m_mod) of the stack at w (mat_bytes apart; its rows row0 ..
// row0+rows, each row_bytes long) with the vector x + (s / x_div) * x_stride, and writes `rows`
// floats at out + s * out_stride. With ids == null and m_mod == 1 every slot uses one matrix and
// up to 8 slots share each weight read (the small-batch path of matmul).
struct MatvecArgs {
    TensorType type = TensorType::F32;
    const void* w = nullptr;
    int64_t row_bytes = 0, mat_bytes = 0, row0 = 0, rows = 0, cols = 0;
    const int32_t* ids = nullptr;
    int64_t m_mod = 1;
    const float* x = nullptr;  // 16-byte aligned, x_stride a multiple of 4, for quantised types
    int64_t x_stride = 0, x_div = 1;
    float* out = nullptr;
    int64_t out_stride = 0;
    int64_t n_slot = 0;
    int64_t slot0 = 0;  // set by launch_matvec when it splits the slots over several launches
};
void launch_matvec(const MatvecArgs& a, cudaStream_t s);

// ---- logit_summary.cu: Backend::logit_summary, one block per row (all pointers on the device)
void launch_logit_summary(const float* logits, int64_t rows, int64_t cols, int top_n, float* stats,
                          int32_t* top_ids, float* top_logits, cudaStream_t s);

// ---- dequant.cu ------------------------------------------------------------------------------
// out[i] = row ids[i] of the table as floats (n ids, ids on the device, already range-checked).
void launch_get_rows(TensorType type, const void* table, int64_t row_bytes, int64_t cols,
                     const int32_t* ids, int64_t n, float* out, cudaStream_t s);
// Matrices mats[0..n_mat) (device list; null: matrix 0 only) of a stack, rows row0 .. row0+rows
// each, dequantised to bf16 into out ([n_mat x rows x cols], dense).
void launch_dequant_bf16(TensorType type, const void* w, int64_t row_bytes, int64_t mat_bytes,
                         int64_t row0, int64_t rows, int64_t cols, const int32_t* mats,
                         int64_t n_mat, void* out, cudaStream_t s);
// bf16 copies of n floats; rows of x (row stride x_stride floats) to dense [rows x cols] bf16,
// row r taken from x + index(r) * x_stride where index = src_rows ? src_rows[r] : r.
void launch_to_bf16(const float* x, int64_t x_stride, const int32_t* src_rows, int64_t rows,
                    int64_t cols, void* out, cudaStream_t s);

// ---- elementwise.cu --------------------------------------------------------------------------
void launch_add(float* x, const float* y, int64_t n, cudaStream_t s);
void launch_add_bias(float* x, const float* b, int64_t rows, int64_t cols, cudaStream_t s);
void launch_swiglu(const float* gate, const float* up, float* out, int64_t n, cudaStream_t s);
// RoPE over rows of x (row stride x_stride floats): positions and freq_factors on the device.
void launch_rope(float* x, int64_t rows, int64_t x_stride, int n_heads, int head_dim,
                 const int32_t* positions, const RopeParams& p, const float* freq_factors,
                 cudaStream_t s);
// out[t] = sum_k w[t*n_used+k] * y[t*n_used+k] (weights on the device).
void launch_moe_combine(const float* y, const float* w, int n_used, int64_t rows, int64_t cols,
                        float* out, cudaStream_t s);
// dst row order[j] += / = src row j: out rows scattered back to slot order (dst[order[j]] =
// src[j]).
void launch_scatter_rows(const float* src, const int32_t* order, int64_t rows, int64_t cols,
                         float* dst, cudaStream_t s);

// ---- moe_route.cu ----------------------------------------------------------------------------
// Routing of n_tok tokens (logits [n_tok x n_expert], row stride n_expert) into ids/weights
// ([n_tok x n_used]) and, when probs is not null, the score vectors. bias: n_expert floats or
// null. Same rules and tie order as the CPU's route_token.
constexpr int kMaxRouteExperts = 512;
// steer: n_expert device floats (< 0 off, > 0 on; Backend::moe_route), or null.
void launch_moe_route(const float* logits, const float* bias, const RouterParams& p, int64_t n_tok,
                      int32_t* ids, float* weights, float* probs, cudaStream_t s,
                      const float* steer = nullptr);

// ---- attention.cu ----------------------------------------------------------------------------
// Causal attention with keys made of two parts (A, and optionally B) and values V, all read from
// the cache by position. For token t (position pos0 + t) and head h: score_j = scale * (qa . ka_j
// + qb . kb_j) over positions j <= pos0 + t, out = softmax(score) . v. Head h reads query
// qa + t*q_stride + h*q_head (and qb likewise), and cache columns (h / group) * kv_head of ka/kb/v
// (row strides ka_stride...). Standard attention: da = dv = head_dim, db = 0, ka = K, v = V.
// MLA (latent): qa = q_abs, ka = v = c_kv (da = dv = kv_lora), qb = q_pe, kb = k_pe, group =
// n_head.
struct AttnArgs {
    const float* qa = nullptr;
    const float* qb = nullptr;
    int64_t q_stride = 0, q_head = 0, qb_stride = 0, qb_head = 0;
    // The cache (ka, kb, v) holds kv_type values; strides count values, not bytes (a Q8_0 row of
    // stride values is stride / 32 blocks of 34 bytes).
    TensorType kv_type = TensorType::F32;
    const void* ka = nullptr;
    const void* kb = nullptr;
    const void* v = nullptr;
    int64_t ka_stride = 0, kb_stride = 0, v_stride = 0;
    int64_t kv_head = 0;  // column offset of kv head g in ka and v (head_dim; 0 for MLA)
    int64_t kb_head = 0;  // column offset of kv head g in kb
    int da = 0, db = 0, dv = 0;
    int n_head = 0, group = 1;
    int64_t n_tok = 0, pos0 = 0;
    float scale = 1.0f;
    float* out = nullptr;
    int64_t out_stride = 0, out_head = 0;
};
// Stores rows [rows x cols] of float src as cache rows (of cols values of `type`, row after row
// from dst): F16/BF16 rounded to nearest even, Q8_0 as the CPU reference quantises it.
void launch_kv_store(const float* src, int64_t rows, int64_t cols, void* dst, TensorType type,
                     cudaStream_t s);
// Scratch floats launch_attention needs for these arguments.
int64_t attention_scratch_floats(const AttnArgs& a);
void launch_attention(const AttnArgs& a, float* scratch, cudaStream_t s);

}  // namespace gb::cuda
