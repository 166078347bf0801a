// What every forward pass shares, apart from its equations: the call checks, the stages (the
// activations of the layers on one backend) and the walk over them across a CPU/GPU split, the
// GPU step, the feed-forward block (a SwiGLU MLP, or the MoE block), the output head with its
// logit summary, and the routing record the trace reads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "engine/model/model_config.h"
#include "engine/model/moe_block.h"
#include "engine/model/placement.h"
#include "engine/model/weight_binder.h"
#include "kernels/backend.h"
#include "kernels/error.h"

namespace gb {

class KvCache;

// The trace's facts about each returned logits row, computed by the backend where the logits
// are (Backend::logit_summary): per row {max, log Z, entropy} and the top_n logits with ids.
struct LogitSummary {
    int64_t rows = 0;  // 0: none (summaries off)
    int top_n = 0;
    std::vector<float> stats;   // [rows x kLogitStats]
    std::vector<int32_t> ids;   // [rows x top_n], best first
    std::vector<float> logits;  // [rows x top_n]
};

// Thrown by forward() when the backend's cancel flag (Backend::set_cancel) was raised during the
// step. The step is discarded: the cache's n_past is unchanged, its rows past n_past undefined.
class ForwardCancelled : public Error {
public:
    ForwardCancelled() : Error("cancelled") {}
};

// The activations of the layers that run on one backend: with layers split between the CPU and
// a GPU each side has its own. Here the residual stream x, the normed h, and the MoE block's
// buffers (MoE models); each architecture derives and adds its own buffers.
struct LayerStage {
    LayerStage(Backend& b, const ModelConfig& c, int64_t n_batch);
    virtual ~LayerStage();
    LayerStage(const LayerStage&) = delete;
    LayerStage& operator=(const LayerStage&) = delete;
    Backend* be;
    Act x, h;
    std::unique_ptr<MoeBlock> moe;
};

class LayerRunner {
public:
    using Head = DecoderHead;
    using Ffn = DecoderFfn;

    LayerRunner(const ModelConfig& c, const RunSettings& s, Placement& p) : c_(c), s_(s), p_(p) {}
    ~LayerRunner();
    LayerRunner(const LayerRunner&) = delete;
    LayerRunner& operator=(const LayerRunner&) = delete;

    // Expert steering (engine/model/expert_steering.h): its table goes to each MoE layer's
    // backend once, and every router then uses it (an empty table: none).
    void set_steering(const std::vector<std::vector<float>>& table);

    void set_routing_capture(bool enabled, bool full_probs) {
        capture_routing_ = enabled;
        capture_probs_ = enabled && full_probs;
    }
    bool routing_capture() const { return capture_routing_; }
    const ForwardRouting& routing() const { return routing_; }
    void set_logit_summary(int top_n) { summary_top_n_ = top_n; }
    const LogitSummary& summary() const { return summary_; }

    // Sizes the routing record for n tokens and returns the spans MoE layer mi (0-based among MoE
    // layers) writes its routing to; probs is empty unless full scores are being captured.
    struct RoutingSlot {
        std::span<int32_t> ids;
        std::span<float> weights;
        std::span<float> probs;
    };
    void begin_routing(int64_t n_tokens);
    RoutingSlot routing_slot(int64_t mi);
    void end_routing();  // forgets the record when capture is off

    // Logit lens: while count > 0, each forward copies rows first .. first+count-1 of the
    // residual stream after every layer to the host (lens_hidden(): [n_layer][count][n_embd]).
    // Each copy ends the GPU step and begins another: for reading on demand, never while
    // generating. lens_logits applies the final norm and the output head to layer l's copies
    // ([count x n_vocab] into out), as run_head does to the last layer's output.
    void set_lens_rows(int64_t first, int64_t count);
    void end_lens_capture() { lens_active_ = false; }  // the copies stay for lens_logits
    bool lens_on() const { return lens_active_; }
    const std::vector<float>& lens_hidden() const { return lens_hidden_; }
    class Step;
    void lens_capture(Backend& be, Act x, int64_t l, Step& step);
    void lens_logits(const DecoderHead& head, int64_t l, std::vector<float>& out);

    // Throws ForwardCancelled when the backend's cancel flag is up; forwards call it after each
    // layer, so a stop lands within one layer's time (ops also stop early inside).
    void check_cancel() const {
        if (p_.main().cancelled() || (p_.host() && p_.host()->cancelled()))
            throw ForwardCancelled();
    }
    // A forward's step on the GPU backend (Backend::begin_step): begun when the forward reaches
    // its first op there, ended before the logits are copied back, aborted if the forward throws.
    class Step {
    public:
        explicit Step(Backend& be) : be_(be) {}
        ~Step() {
            if (open_) be_.abort_step();
        }
        Step(const Step&) = delete;
        Step& operator=(const Step&) = delete;
        void begin(int64_t n_tokens) {
            if (open_) return;
            be_.begin_step(n_tokens);
            open_ = true;
        }
        void end() {
            if (!open_) return;
            open_ = false;
            be_.end_step();
        }

    private:
        Backend& be_;
        bool open_ = false;
    };

    // Walking the layers over the stages (first: the CPU's when layers are split, else the
    // only one; last: the GPU's, which also runs the output head). begin_layers looks up the
    // tokens' embeddings in first (beginning the GPU step there if first is the GPU's) and
    // begins the routing record; layer_stage gives the stage layer l runs on, carrying x across
    // (and beginning the GPU step) where the split is; end_layers brings x to last.
    LayerStage* begin_layers(LayerStage& first, const Head& head, std::span<const int32_t> tokens,
                             Step& step);
    LayerStage* layer_stage(int64_t l, LayerStage* cur, LayerStage& last, int64_t n, Step& step);
    void end_layers(LayerStage* cur, LayerStage& last, int64_t n);
    // Checks a forward: one sequence (one cache: the tokens at its next positions) or one row
    // per sequence (a cache per token, each distinct: token i at caches[i]'s next position, and
    // every row's logits returned); batch size, context room, n_out. Returns the positions.
    std::vector<int32_t> check_forward(std::span<const int32_t> tokens,
                                       std::span<KvCache* const> caches, int64_t n_out) const;
    // Stores layer l's k and v rows in their caches and runs attend(layer, first, count, pos0)
    // over the rows that share a cache: all of them for one sequence, each row alone for rows
    // of separate sequences.
    void store_and_attend(Backend& be, std::span<KvCache* const> caches, int64_t l, Act k, Act v,
                          const std::function<void(const KvLayer&, int64_t first, int64_t count,
                                                   int64_t pos0)>& attend) const;
    // After a forward: each cache holds its new positions.
    static void advance(std::span<KvCache* const> caches, int64_t n_tokens);
    // x += FFN(RMSNorm(x)) on backend be; h, gate, up are scratch ([n x n_embd], [n x n_ff]);
    // MoE layers use `moe` and record their routing in the next routing slot (moe_layer counts
    // them).
    void run_ffn(Backend& be, const Ffn& f, Act x, Act h, Act gate, Act up, MoeBlock* moe,
                 int64_t& moe_layer);
    // Logits of x's last n_out rows on backend(): RMSNorm, the output projection, the step
    // ended, copied to the host. h and out are scratch of at least n_out rows.
    void run_head(const Head& head, Act x, Act h, Act out, int64_t n_out, Step& step,
                  std::vector<float>& logits);

private:
    const ModelConfig& c_;
    const RunSettings& s_;
    Placement& p_;
    int summary_top_n_ = -1;
    LogitSummary summary_;
    ForwardRouting routing_;
    bool capture_routing_ = false;
    bool capture_probs_ = false;
    std::vector<Act> steer_;  // per MoE layer, on its layer's backend; empty: none
    std::vector<Backend*> steer_be_;
    void release_steering();
    int64_t lens_first_ = 0, lens_count_ = 0;
    bool lens_active_ = false;
    std::vector<float> lens_hidden_;
};

}  // namespace gb
