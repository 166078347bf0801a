// SyntheticEngine: a ChatEngine that needs no model. It streams a fixed reasoning + answer at a
// chosen rate, with plausible probabilities, alternatives and MoE routing, so tests (the UI
// stall test), demos and screenshots can drive every view.
#pragma once

#include "app/chat_engine.h"

namespace gb::app {

struct SyntheticOptions {
    double tokens_per_second = 200;
    int n_reasoning_tokens = 40;
    int n_answer_tokens = 40;
    int n_layers = 8;  // MoE layers; 0 makes it a dense model
    int n_expert = 16;
    int n_expert_used = 2;
};

class SyntheticEngine : public ChatEngine {
public:
    explicit SyntheticEngine(SyntheticOptions options = {});

    ModelInfo load(const LoadSettings& settings) override;
    bool loaded() const override { return loaded_; }
    const ModelInfo& info() const override { return info_; }
    Trace generate(const std::vector<ChatTurn>& turns, const GenerationSettings& settings,
                   const TokenCallback& on_token, const RunControls& controls) override;
    Trace branch(const Trace& parent, int at, int32_t token, const GenerationSettings& settings,
                 const TokenCallback& on_token, const RunControls& controls) override;
    Trace reproduce(const Trace& recorded, const RunControls& controls) override;
    Trace rescore(const Trace& reply, bool precise, const RunControls& controls) override;
    ResampleResult resample(const Trace& parent, int at, const ResampleOptions& opt,
                            const std::function<void(int done)>& progress,
                            const RunControls& controls) override;
    Trace continue_thought(const Trace& parent, const std::string& thought,
                           const GenerationSettings& settings, const TokenCallback& on_token,
                           const RunControls& controls) override;
    Lens lens(const std::vector<int32_t>& tokens, int position, int top_k, int span_first,
              int span_count) override;
    ContextUse context_use(const std::vector<ChatTurn>& turns,
                           const GenerationSettings& settings) override;

    SyntheticOptions& options() { return opt_; }

private:
    Trace prompt_trace(const std::string& prompt, const GenerationSettings& s) const;
    // The scripted reply after t's prompt: `start` handed out first, then the script from that
    // position (reasoning first when thinking), with the thinking controls acting as the real
    // generator's; close_at >= 0 closes the reasoning there (a recorded stop, re-run).
    Trace script(Trace t, std::vector<TokenRecord> start, bool thinking, int max_tokens,
                 const GenerationSettings& s, const TokenCallback& on_token,
                 const RunControls& controls, int close_at);
    SyntheticOptions opt_;
    ModelInfo info_;
    bool loaded_ = false;
};

}  // namespace gb::app
