// A loaded model: its file, hyper-parameters, bound weights, and its forward pass.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/gguf/gguf_file.h"
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

class Model {
public:
    virtual ~Model() = default;

    // Opens and validates the file, checks every tensor's presence, type and shape, and binds the
    // weights to the backend. Throws gb::Error naming the file and the tensor or key at fault.
    // With settings.n_cpu_layers > 0 the first layers run on `host` (a backend computing in host
    // memory, the CPU) and the rest, with the output head, on `backend` (a GPU); with
    // RunSettings::kAutoCpuLayers as few as fit, and settings() tells how many that was.
    static std::unique_ptr<Model> load(const std::string& path, Backend& backend,
                                       const RunSettings& settings, Backend* host = nullptr);

    const ModelConfig& config() const { return config_; }
    const GgufFile& file() const { return *file_; }
    Backend& backend() const { return backend_; }
    // Where the layers run (engine/model/placement.h).
    const Placement& placement() const { return placement_; }
    // The backend layer l runs on: the host backend for the first settings().n_cpu_layers.
    Backend& layer_backend(int64_t l) const { return placement_.layer_backend(l); }
    // Raises (or, with null, clears) the cancel flag on every backend the model runs on.
    void set_cancel(const std::atomic<bool>* flag) {
        backend_.set_cancel(flag);
        if (host_) host_->set_cancel(flag);
    }
    const RunSettings& settings() const { return settings_; }

    std::unique_ptr<KvCache> new_cache() const;
    int64_t kv_width() const { return config_.n_head_kv * config_.head_dim; }

    // Runs tokens at positions cache.n_past() .. +n-1 (n <= settings().n_batch), appends them to
    // the cache, and writes logits [n_out x n_vocab] for the last n_out tokens (1 <= n_out <= n).
    // A step the GPU backend could not run as recorded (StepNotRun) runs once more, op by op.
    void forward(std::span<const int32_t> tokens, KvCache& cache, int64_t n_out,
                 std::vector<float>& logits) {
        try {
            run_forward(tokens, cache, n_out, logits);
        } catch (const StepNotRun&) {
            run_forward(tokens, cache, n_out, logits);
        }
    }

    // Routing capture (MoE models): while enabled, each forward() leaves in last_routing() the
    // experts and final weights every MoE layer chose for each of its tokens, and the router's
    // full score vectors when full_probs. The ids and weights are computed anyway, so capture
    // costs a copy; full_probs adds n_expert floats per token per layer.
    void set_routing_capture(bool enabled, bool full_probs = false) {
        capture_routing_ = enabled;
        capture_probs_ = enabled && full_probs;
    }
    bool routing_capture() const { return capture_routing_; }
    // The routing of the last forward() (n_tokens == 0 when capture was off or the model is dense).
    const ForwardRouting& last_routing() const { return routing_; }

    // Logit summaries: with top_n >= 0 each forward() also leaves in last_logit_summary() the
    // summary of every logits row it returns (negative: off, the default).
    void set_logit_summary(int top_n) { summary_top_n_ = top_n; }
    const LogitSummary& last_logit_summary() const { return summary_; }

    using Head = DecoderHead;
    using Ffn = DecoderFfn;

protected:
    // The architecture's forward pass (see forward()); n_past is advanced only on success.
    virtual void run_forward(std::span<const int32_t> tokens, KvCache& cache, int64_t n_out,
                             std::vector<float>& logits) = 0;

    Model(std::unique_ptr<GgufFile> file, ModelConfig config, Placement placement, RunSettings s)
        : file_(std::move(file)),
          config_(std::move(config)),
          placement_(std::move(placement)),
          backend_(placement_.main()),
          settings_(s),
          host_(placement_.host()),
          binder_(*file_, config_, backend_) {}

    // Sizes routing_ for n tokens and returns the spans MoE layer mi (0-based among MoE layers)
    // writes its routing to; probs is empty unless full scores are being captured.
    struct RoutingSlot {
        std::span<int32_t> ids;
        std::span<float> weights;
        std::span<float> probs;
    };
    void begin_routing(int64_t n_tokens);
    RoutingSlot routing_slot(int64_t mi);
    void end_routing();  // forgets the record when capture is off

    // Throws ForwardCancelled when the backend's cancel flag is up; forwards call it after each
    // layer, so a stop lands within one layer's time (ops also stop early inside).
    void check_cancel() const {
        if (backend_.cancelled() || (host_ && host_->cancelled())) throw ForwardCancelled();
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
    // Checks a forward() call (batch size, context room, n_out) and returns its tokens' positions.
    std::vector<int32_t> check_forward(std::span<const int32_t> tokens, const KvCache& cache,
                                       int64_t n_out) const;
    // x += FFN(RMSNorm(x)) on backend be; h, gate, up are scratch ([n x n_embd], [n x n_ff]);
    // MoE layers use `moe` and record their routing in the next routing slot (moe_layer counts
    // them).
    void run_ffn(Backend& be, const Ffn& f, Act x, Act h, Act gate, Act up, MoeBlock* moe,
                 int64_t& moe_layer);
    // Logits of x's last n_out rows on backend(): RMSNorm, the output projection, the step
    // ended, copied to the host. h and out are scratch of at least n_out rows.
    void run_head(const Head& head, Act x, Act h, Act out, int64_t n_out, Step& step,
                  std::vector<float>& logits);

    std::unique_ptr<GgufFile> file_;
    ModelConfig config_;
    Placement placement_;
    Backend& backend_;  // placement_.main(): runs the layers past the split and the head
    RunSettings settings_;
    Backend* host_ = nullptr;  // placement_.host(): runs the first settings_.n_cpu_layers layers
    WeightBinder binder_;      // binds the weights, layer by layer, on the layer's backend
    int summary_top_n_ = -1;
    LogitSummary summary_;
    ForwardRouting routing_;
    bool capture_routing_ = false;
    bool capture_probs_ = false;
};

}  // namespace gb
