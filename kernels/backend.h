// The compute interface a forward pass is written against. Every backend (CPU, CUDA) implements
// this small op set; the CPU backend is the reference the others are tested against.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "kernels/error.h"
#include "kernels/tensor_type.h"

namespace gb {

// A row-major float32 matrix [rows x cols] in the backend's memory. A view: it owns nothing, and
// a contiguous Act can be re-viewed with other rows/cols (e.g. [tokens*heads x head_dim]).
struct Act {
    float* data = nullptr;
    int64_t rows = 0;
    int64_t cols = 0;
    int64_t size() const { return rows * cols; }
    Act view(int64_t r, int64_t c) const { return Act{data, r, c}; }
    Act row_range(int64_t first, int64_t count) const {
        return Act{data + first * cols, count, cols};
    }
};

// A weight matrix [rows x cols] (rows = output features, cols = input features, cols contiguous)
// in its stored type, in the backend's memory. 1-D weights (norms, biases) have rows == 1.
struct Weight {
    TensorType type = TensorType::F32;
    const void* data = nullptr;
    int64_t rows = 0;
    int64_t cols = 0;
    std::string_view name;  // the tensor's name, for error messages
    // Stacked matrices (the experts of a MoE layer: GGUF ne = {cols, rows, n_mat}); matrix e
    // starts e * rows rows after data. 1 for an ordinary weight.
    int64_t n_mat = 1;
    explicit operator bool() const { return data != nullptr; }
};

// How a mixture-of-experts router turns one token's logits (one per expert) into the selected
// experts and the weights that multiply their outputs. The families differ only in these facts:
//   qwen3moe  softmax, top-k, renormalised when norm_topk (norm_topk_prob)
//   mixtral   softmax, top-k, renormalised (the same as a softmax over the top-k logits)
//   olmoe     softmax, top-k, not renormalised
//   deepseek2 softmax (V2) or sigmoid (V3/R1) scores; a score-correction bias that only
//             steers the choice; top-k limited to the best n_group_used of n_group groups;
//             renormalised when norm_topk; times the routed scaling factor
enum class Gating : uint8_t { Softmax, Sigmoid };
// How a group is ranked for group-limited top-k: by its best expert (DeepSeek-V2) or by the sum
// of its best two (DeepSeek-V3, which pairs this with the correction bias).
enum class GroupScore : uint8_t { Max, Top2Sum };

struct RouterParams {
    int n_expert = 0;
    int n_used = 0;  // top-k
    Gating gating = Gating::Softmax;
    bool norm_topk = false;  // divide the selected weights by their sum
    float scale = 1.0f;      // routed scaling factor, applied last
    int n_group = 1;         // expert groups (n_expert is a multiple); 1: no group limit
    int n_group_used = 1;    // groups the top-k may choose from
    GroupScore group_score = GroupScore::Top2Sum;
};
// Empty when p is usable, else what is wrong with it (e.g. "... 9 must be within 1..8").
std::string router_params_error(const RouterParams& p);

// Rotary position embedding parameters (RoFormer), with the context-extension variants.
struct RopeParams {
    int n_dims = 0;  // dims rotated per head (== head_dim for the models we run)
    float freq_base = 10000.0f;
    float freq_scale = 1.0f;  // 1 / linear scaling factor
    bool neox = false;        // true: rotate (i, i + n_dims/2) pairs; false: (2i, 2i+1)
    // YaRN (arXiv 2309.00071): ext_factor > 0 enables the ramp between interpolation and
    // extrapolation.
    float ext_factor = 0.0f;
    float attn_factor = 1.0f;  // multiplies cos/sin (YaRN's magnitude scaling)
    float beta_fast = 32.0f;
    float beta_slow = 1.0f;
    int n_ctx_orig = 0;
    // llama3-style per-pair divisors (n_dims/2), or null; in the backend's memory (an uploaded
    // weight's data), though the CUDA backend also accepts a host pointer.
    const float* freq_factors = nullptr;
};

// The element types a KV cache can hold: F16 (the default), BF16, Q8_0 (blocks of 32 values
// with one fp16 scale: a row must be whole blocks) and F32 (exact; for tests and references).
bool kv_cache_type_supported(TensorType type);
// "f16", "bf16", "q8_0", "f32" (as llama.cpp's --cache-type-k spells them), or nullopt.
std::optional<TensorType> parse_kv_cache_type(std::string_view name);
std::string kv_cache_type_name(TensorType type);
// Empty when rows of `cols` values can be cached in `type`, else why not (names the type).
std::string kv_cache_type_error(TensorType type, int64_t cols);

// One cached tensor of a layer: [rows x cols] values of `type`, row after row, each row
// row_bytes() long, in the backend's memory. Written by kv_store, read by the attention ops.
struct KvTensor {
    TensorType type = TensorType::F32;
    void* data = nullptr;
    int64_t rows = 0;
    int64_t cols = 0;
    size_t row_bytes() const { return gb::row_bytes(type, cols); }
    size_t bytes() const { return static_cast<size_t>(rows) * row_bytes(); }
};

// One layer's KV cache: [n_ctx x n_head_kv*head_dim] rows for K and for V.
struct KvLayer {
    KvTensor k;
    KvTensor v;
};

// Shapes of multi-head latent attention (DeepSeek-V2/V3 MLA) over its compressed cache.
struct MlaShape {
    int n_head = 0;
    int n_nope = 0;   // qk_nope_head_dim: the part of each query head without position
    int n_rope = 0;   // qk_rope_head_dim: the rotated part, shared key k_pe
    int n_v = 0;      // v_head_dim
    int kv_lora = 0;  // kv_lora_rank: width of the cached latent c_kv
    int v_row0 = 0;   // first row of head h's W_vb within matrix h of v_b
};

// Thrown by end_step() (or an op inside a step) when the recorded step could not be run at all
// (e.g. a CUDA graph that failed to instantiate) and the backend has gone back to running ops
// one by one: nothing of the step ran, and running the same step again is safe and expected.
class StepNotRun : public Error {
public:
    using Error::Error;
};

class Backend {
public:
    virtual ~Backend() = default;
    virtual std::string name() const = 0;
    // True when Act and Weight data are plain host memory (the CPU backend): another backend can
    // then copy to and from them with its own to_device / to_host.
    virtual bool host_memory() const { return false; }
    // True after a fault that leaves the backend unable to run anything more (CUDA: a sticky
    // error such as an illegal address destroys the device context). Whoever owns it must then
    // destroy everything built on it and the backend itself, and make a new one.
    virtual bool lost() const { return false; }

    // Memory. alloc returns zeroed memory owned by the backend until release() or destruction.
    virtual Act alloc(int64_t rows, int64_t cols) = 0;
    virtual void release(Act& a) = 0;
    // A zeroed KV cache tensor, owned like alloc's memory until release_kv(). Throws gb::Error
    // for a type that cannot cache rows of `cols` values (kv_cache_type_error). The default
    // takes the bytes from alloc().
    virtual KvTensor alloc_kv(int64_t rows, int64_t cols, TensorType type);
    virtual void release_kv(KvTensor& t);
    // Makes a weight usable by this backend (CPU: the mapped bytes as they are; GPU: uploaded
    // once).
    virtual Weight upload(const Weight& host) = 0;
    // host may be reused as soon as to_device returns (the copy may still be in flight: CUDA
    // stages a pageable source before returning).
    virtual void to_device(const float* host, Act dst) = 0;
    virtual void to_host(Act src, float* host) = 0;
    virtual void synchronize() {}

    // One forward step's ops as a unit. Between begin_step() and end_step() a backend may record
    // the ops instead of running each at once (CUDA: a stream capture launched as one graph) and
    // run them at end_step() at the latest. Host-visible results of ops in between (moe_route's
    // ids, weights and probs) are filled in by end_step(); to_host, synchronize, alloc and
    // release are not called in between. abort_step() drops a step that threw half-way (its
    // outputs are undefined). The CPU backend runs every op at once and ignores all three.
    virtual void begin_step(int64_t n_tokens) {}
    virtual void end_step() {}
    virtual void abort_step() {}

    // Cancellation inside a step: while *flag is true, long ops may stop early and leave their
    // outputs undefined (the CPU backend checks between blocks of rows). Whoever set the flag
    // must then discard the step: Model::forward throws ForwardCancelled after the op. Null
    // (the default) turns this off.
    void set_cancel(const std::atomic<bool>* flag) { cancel_ = flag; }
    // Row-invariant products: while on, each row of a matmul or an MoE product is computed as it
    // would be alone (no multi-row tiles that sum in another order), so a sequence decoded in a
    // batch of rows gives the same numbers, and samples the same tokens, as decoded by itself.
    // Batched decoding (Model::forward_rows) turns it on; prompts leave it off for speed.
    virtual void set_row_invariant(bool on) { row_invariant_ = on; }
    bool row_invariant() const { return row_invariant_; }
    // Precise mode: while on, weight products take their activations unrounded (no 8-bit or
    // 16-bit dot format, no bf16 GEMM): in F32, or on the CPU split exactly into three 8-bit
    // levels that keep all but 2^-21 of each group of 32 (kernels/cpu/quant.h); the weights are
    // dequantised on the fly and sums run in F32 or wider, so that results differ from an exact
    // computation of the same weights by about F32 rounding. Slower; Model::set_precise turns it
    // on with an F32 KV cache.
    virtual void set_precise(bool on) { precise_ = on; }
    bool precise() const { return precise_; }
    bool cancelled() const { return cancel_ && cancel_->load(std::memory_order_relaxed); }
    // Bytes this backend can still allocate in its own memory, or nullopt when it computes in
    // host memory (CPU). Model::load refuses a model whose weights, KV cache, activations and
    // scratch_bytes() exceed it, before uploading anything.
    virtual std::optional<int64_t> free_memory_bytes() { return std::nullopt; }
    // Working memory the backend allocates on its own for a model whose largest weight tensor
    // has largest_weight_elements elements, run in batches of n_batch tokens over activation rows
    // at most max_width floats wide (e.g. CUDA's bf16 copies for the prefill GEMM).
    virtual int64_t scratch_bytes(int64_t largest_weight_elements, int64_t n_batch,
                                  int64_t max_width) const {
        return 0;
    }

    // out[i] = row ids[i] of table, dequantised to float.
    virtual void get_rows(const Weight& table, std::span<const int32_t> ids, Act out) = 0;
    // out = x / rms(x) * w per row of x (w has x.cols elements). out may alias x.
    virtual void rmsnorm(Act x, const Weight& w, float eps, Act out) = 0;
    // out[r][o] = sum_c x[r][c] * w[o][c]; x.cols == w.cols, out is [x.rows x w.rows].
    virtual void matmul(const Weight& w, Act x, Act out) = 0;
    // x[r][c] += b[c]
    virtual void add_bias(Act x, const Weight& b) = 0;
    // x += y, same shape.
    virtual void add(Act x, Act y) = 0;
    // out = silu(gate) * up, elementwise; out may alias gate.
    virtual void swiglu(Act gate, Act up, Act out) = 0;
    // Rotates each head of x ([tokens x n_heads*head_dim]) by its token's position.
    virtual void rope(Act x, int n_heads, int head_dim, std::span<const int32_t> positions,
                      const RopeParams& p) = 0;
    // Stores k, v ([tokens x n_head_kv*head_dim]) into the cache rows pos0 .. pos0+tokens-1,
    // converted to the cache's type (rounded to nearest even; Q8_0 as quantize_row makes it).
    virtual void kv_store(KvLayer& cache, Act k, Act v, int64_t pos0) = 0;
    // Copies cache rows 0 .. rows-1 of src into dst, byte for byte (same types and widths): a
    // sequence that starts from another's prefix (batched rollouts) gets its keys and values
    // without running them again.
    virtual void kv_copy(const KvLayer& src, KvLayer& dst, int64_t rows) = 0;
    // Causal attention of q ([tokens x n_head*head_dim], token t at position pos0+t) over cache
    // rows 0 .. pos0+t; grouped-query heads share kv head h / (n_head / n_head_kv). The cache's
    // values are used as stored (a Q8_0 row is its scale times its integers); scores, softmax and
    // sums are computed in float.
    virtual void attention(Act q, const KvLayer& cache, int n_head, int n_head_kv, int head_dim,
                           int64_t pos0, float scale, Act out) = 0;

    // Multi-head latent attention with absorbed projections (DeepSeek-V2 sec. 2.1): the cache
    // holds per position only c_kv (cache.k, [n_ctx x kv_lora], after kv_a_norm) and k_pe
    // (cache.v, [n_ctx x n_rope], after RoPE). q is [tokens x n_head*(n_nope+n_rope)], each head
    // its nope part then its (rotated) rope part, token t at position pos0+t. Per head h:
    // q_abs = W_kb_h^T q_nope (k_b: n_head stacked [kv_lora x n_nope] matrices, W_kb_h^T),
    // score_j = (q_abs . c_kv_j + q_pe . k_pe_j) * scale over positions 0 .. pos0+t,
    // out_h = W_vb_h sum_j softmax_j c_kv_j (v_b: n_head stacked matrices of kv_lora columns,
    // W_vb_h their rows v_row0 .. v_row0+n_v). out is [tokens x n_head*n_v].
    virtual void mla_attention(Act q, const Weight& k_b, const Weight& v_b, const KvLayer& cache,
                               const MlaShape& s, int64_t pos0, float scale, Act out) = 0;

    // Mixture of experts. The routing comes back to the host: it is a few numbers per token,
    // the forward pass needs it to pick expert weights, and the trace records it.
    //
    // For each row t of logits ([tokens x n_expert], the router's raw outputs), picks p.n_used
    // experts: ids[t*n_used + k] in descending order of selection score, weights[...] what
    // multiplies each one's output. bias (n_expert F32 values, or empty) is the score-correction
    // bias. probs, when not empty ([tokens x n_expert]), receives the full score vector
    // (softmax probabilities or sigmoid scores, before bias).
    // steer (n_expert F32 values in this backend's memory, or empty) switches experts off (< 0)
    // or forces them on (> 0), SteerMoE-style: such an expert's router logit is set 1 below the
    // token's lowest (off) or 1 above its highest (on) before gating, and it is ranked below
    // (off) or above (on) every other expert in the selection, groups included; it is then never
    // (off) or always (on) selected while the other experts allow it.
    virtual void moe_route(Act logits, const Weight& bias, const RouterParams& p,
                           std::span<int32_t> ids, std::span<float> weights, std::span<float> probs,
                           const Weight& steer = Weight{}) = 0;
    // out[s] = W[ids[s]] x_s for every slot s = t*n_used + k of ids (w.n_mat stacked matrices of
    // [w.rows x w.cols]); x_s is row t of x when x has ids.size()/n_used rows (the token's input,
    // shared by its experts) or row s when x has ids.size() rows (one input per slot).
    // out is [ids.size() x w.rows]. Reads only the selected experts' matrices.
    virtual void moe_matmul(const Weight& w, Act x, std::span<const int32_t> ids, int n_used,
                            Act out) = 0;
    // out[t] = sum_k weights[t*n_used + k] * y[t*n_used + k]: the experts' outputs combined.
    virtual void moe_combine(Act y, std::span<const float> weights, int n_used, Act out) = 0;

    // What the trace needs from each row r of logits ([rows x n_vocab]) without a pass over the
    // vocabulary on the host: stats[r*kLogitStats ..] = {max, log Z, entropy} and the top_n
    // largest logits (top_ids / top_logits[r*top_n ..]), best first, ties to the lower id;
    // kernels/logit_summary.h is the reference and says what NaN and -inf rows give. A GPU
    // computes them where the logits are; this default copies the rows to the host first (a
    // backend that records steps must override it). Inside a step its results, like
    // moe_route's, are filled in by end_step().
    virtual void logit_summary(Act logits, int top_n, std::span<float> stats,
                               std::span<int32_t> top_ids, std::span<float> top_logits);

protected:
    const std::atomic<bool>* cancel_ = nullptr;
    bool row_invariant_ = false;
    bool precise_ = false;
};

}  // namespace gb
