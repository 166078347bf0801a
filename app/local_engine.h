// LocalEngine: the ChatEngine that runs a model in this process with our own engine (CPU
// backend), rendering each conversation through the model's chat template.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "app/chat_engine.h"
#include "engine/session/backends.h"

namespace gb {
class Backend;
class Generator;
class Model;
class Tokenizer;
}  // namespace gb

namespace gb::app {

class LocalEngine : public ChatEngine {
public:
    // Makes the backend a LoadSettings names ("cpu", "cuda"), given the thread count; tests pass
    // their own to inject faults. Empty: the real backends.
    using BackendFactory = BackendMaker;
    explicit LocalEngine(BackendFactory factory = {});
    ~LocalEngine() override;

    ModelInfo load(const LoadSettings& settings) override;
    bool loaded() const override { return model_ != nullptr; }
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
    std::string take_notice() override { return std::exchange(notice_, {}); }

    // The prompt text for `turns` (exposed for tests); warning set when the template failed.
    std::string render(const std::vector<ChatTurn>& turns, const GenerationSettings& settings,
                       bool add_generation_prompt, std::string* warning = nullptr) const;

private:
    bool keeps_reasoning(const GenerationSettings& s) const;
    int64_t count(const std::string& text) const;
    // After a generation failed: when the backend is lost (a sticky GPU error), tears the model
    // and backend down, resets the device and loads the same model again, so that the app goes
    // on. Returns what to tell the user about it, or an empty string when the backend is fine.
    std::string recover_lost_backend();
    // Runs req on the engine's generator (made on first use; its KV cache outlives a reply, so
    // that a branch finds its parent's prefix there), recovering a lost backend as generate does.
    Trace run(const GenerateRequest& req, const TokenCallback& on_token,
              const RunControls& controls);

    BackendFactory factory_;
    LoadSettings loaded_settings_;
    std::unique_ptr<Backend> backend_;
    std::unique_ptr<Backend> host_;  // the CPU layers' backend when layers are split
    std::unique_ptr<Model> model_;
    std::unique_ptr<Tokenizer> tok_;
    std::unique_ptr<Generator> gen_;  // after model_ and tok_: goes first
    ModelInfo info_;
    int chat_format_ = 0;  // gb::ChatFormat
    std::string notice_, last_warning_;
};

}  // namespace gb::app
