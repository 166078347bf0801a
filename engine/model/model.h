// A loaded model: its file and hyper-parameters, where its layers run (placement.h), its weights
// (weight_binder.h), what every forward pass shares (layer_runner.h), and the architecture's
// forward pass, which holds the equations.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/gguf/gguf_file.h"
#include "engine/model/expert_steering.h"
#include "engine/model/layer_runner.h"
#include "engine/model/model_config.h"
#include "engine/model/moe_block.h"
#include "engine/model/placement.h"
#include "engine/model/weight_binder.h"
#include "kernels/backend.h"
#include "kernels/error.h"

namespace gb {

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
    // Precise mode from the next forward on (RunSettings::precise): the backends' products and,
    // for caches made from now on (new_cache), an F32 KV cache. Caches made before hold keys and
    // values of the other mode: the generator makes a new one when the mode changes.
    void set_precise(bool on) {
        settings_.precise = on;
        backend_.set_precise(on);
        if (host_) host_->set_precise(on);
    }
    bool precise() const { return settings_.precise; }

    // A cache of the model's context length, or of n_ctx positions when that is less (a
    // rollout that needs fewer; 0: the model's).
    std::unique_ptr<KvCache> new_cache(int64_t n_ctx = 0) const;
    int64_t kv_width() const { return config_.n_head_kv * config_.head_dim; }

    // Runs tokens at positions cache.n_past() .. +n-1 (n <= settings().n_batch), appends them to
    // the cache, and writes logits [n_out x n_vocab] for the last n_out tokens (1 <= n_out <= n).
    // A step the GPU backend could not run as recorded (StepNotRun) runs once more, op by op.
    void forward(std::span<const int32_t> tokens, KvCache& cache, int64_t n_out,
                 std::vector<float>& logits) {
        KvCache* one[1] = {&cache};
        try {
            run_forward(tokens, one, n_out, logits);
        } catch (const StepNotRun&) {
            run_forward(tokens, one, n_out, logits);
        }
    }
    // Batched decoding of separate sequences (rollouts): tokens[i] runs at the next position of
    // caches[i] (each the model's, new_cache(), and distinct) and is appended there; logits
    // [n x n_vocab] come back, row i for tokens[i], and so do row i of last_routing() and
    // last_logit_summary(). The rows share every matrix product; each attends over its own
    // cache. n <= settings().n_batch.
    void forward_rows(std::span<const int32_t> tokens, std::span<KvCache* const> caches,
                      std::vector<float>& logits) {
        const auto n = static_cast<int64_t>(tokens.size());
        // Each row as it would be alone: a rollout decoded in a batch samples what it would
        // have sampled by itself.
        struct Invariant {
            Backend& main;
            Backend* host;
            Invariant(Backend& m, Backend* h) : main(m), host(h) {
                main.set_row_invariant(true);
                if (host) host->set_row_invariant(true);
            }
            ~Invariant() {
                main.set_row_invariant(false);
                if (host) host->set_row_invariant(false);
            }
        } invariant(backend_, host_);
        try {
            run_forward(tokens, caches, n, logits);
        } catch (const StepNotRun&) {
            run_forward(tokens, caches, n, logits);
        }
    }

    // Routing capture (MoE models): while enabled, each forward() leaves in last_routing() the
    // experts and final weights every MoE layer chose for each of its tokens, and the router's
    // full score vectors when full_probs. The ids and weights are computed anyway, so capture
    // costs a copy; full_probs adds n_expert floats per token per layer.
    void set_routing_capture(bool enabled, bool full_probs = false) {
        runner_.set_routing_capture(enabled, full_probs);
    }
    bool routing_capture() const { return runner_.routing_capture(); }
    // The routing of the last forward() (n_tokens == 0 when capture was off or the model is dense).
    const ForwardRouting& last_routing() const { return runner_.routing(); }

    // Logit summaries: with top_n >= 0 each forward() also leaves in last_logit_summary() the
    // summary of every logits row it returns (negative: off, the default).
    void set_logit_summary(int top_n) { runner_.set_logit_summary(top_n); }
    const LogitSummary& last_logit_summary() const { return runner_.summary(); }

    using Head = DecoderHead;
    using Ffn = DecoderFfn;

    // Expert steering for every forward from now on (an empty one: none); the KV cache made
    // under other steering no longer matches (the generator does not reuse it).
    void set_expert_steering(const ExpertSteering& s) {
        runner_.set_steering(s.table);
        steering_ = s.describe();
    }
    const std::string& expert_steering() const { return steering_; }

    // Logit lens (on demand, never while generating): forward() that also keeps, for its tokens
    // first .. first+count-1, the residual stream after every layer; lens_logits(l) then gives
    // what the final norm and the output head make of layer l's rows ([count x n_vocab]). The
    // last layer's rows are the model's own logits for those tokens.
    void forward_lens(std::span<const int32_t> tokens, KvCache& cache, int64_t first, int64_t count,
                      std::vector<float>& logits) {
        runner_.set_lens_rows(first, count);
        try {
            forward(tokens, cache, 1, logits);
        } catch (...) {
            runner_.set_lens_rows(0, 0);
            throw;
        }
        runner_.end_lens_capture();  // the rows stay; later forwards capture nothing
    }
    void lens_logits(int64_t layer, std::vector<float>& out) {
        runner_.lens_logits(output_head(), layer, out);
    }

protected:
    // The output head (final norm and projection) the architecture binds.
    virtual const Head& output_head() const = 0;
    // The architecture's forward pass (see forward() and forward_rows(): one cache for one
    // sequence, or one per row); n_past is advanced only on success.
    virtual void run_forward(std::span<const int32_t> tokens, std::span<KvCache* const> caches,
                             int64_t n_out, std::vector<float>& logits) = 0;

    Model(std::unique_ptr<GgufFile> file, ModelConfig config, Placement placement, RunSettings s)
        : file_(std::move(file)),
          config_(std::move(config)),
          placement_(std::move(placement)),
          backend_(placement_.main()),
          settings_(s),
          host_(placement_.host()),
          binder_(*file_, config_, backend_),
          runner_(config_, settings_, placement_) {}

    std::unique_ptr<GgufFile> file_;
    ModelConfig config_;
    Placement placement_;
    Backend& backend_;  // placement_.main(): runs the layers past the split and the head
    RunSettings settings_;
    Backend* host_ = nullptr;  // placement_.host(): runs the first settings_.n_cpu_layers layers
    WeightBinder binder_;      // binds the weights, layer by layer, on the layer's backend
    LayerRunner runner_;       // what every forward shares: checks, stages, FFN, head, routing
    std::string steering_;     // ExpertSteering::describe() of what is set
};

}  // namespace gb
