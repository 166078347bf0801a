// EngineSwitch: the app's one ChatEngine, which is a local model or a served one, whichever was
// loaded last (LoadSettings::remote set: a server). Switching kinds loads the new one first, so
// a failed load leaves the model that was there; a successful one releases it.
#pragma once

#include <functional>
#include <memory>

#include "app/chat_engine.h"

namespace gb::app {

class EngineSwitch : public ChatEngine {
public:
    using Maker = std::function<std::unique_ptr<ChatEngine>()>;
    // make_local: the engine for model files (LocalEngine, or the synthetic one in tests);
    // make_remote: the engine for servers (RemoteEngine).
    EngineSwitch(Maker make_local, Maker make_remote);

    ModelInfo load(const LoadSettings& settings) override;
    void unload() override { active_.reset(); }
    bool loaded() const override { return active_ && active_->loaded(); }
    const ModelInfo& info() const override;
    Trace generate(const std::vector<ChatTurn>& turns, const GenerationSettings& settings,
                   const TokenCallback& on_token, const RunControls& controls) override {
        return engine().generate(turns, settings, on_token, controls);
    }
    Trace branch(const Trace& parent, int at, int32_t token, const GenerationSettings& settings,
                 const TokenCallback& on_token, const RunControls& controls) override {
        return engine().branch(parent, at, token, settings, on_token, controls);
    }
    Trace continue_reply(const Trace& parent, const GenerationSettings& settings,
                         const TokenCallback& on_token, const RunControls& controls) override {
        return engine().continue_reply(parent, settings, on_token, controls);
    }
    Trace continue_thought(const Trace& parent, const std::string& thought,
                           const GenerationSettings& settings, const TokenCallback& on_token,
                           const RunControls& controls) override {
        return engine().continue_thought(parent, thought, settings, on_token, controls);
    }
    Trace rescore(const Trace& reply, bool precise, const RunControls& controls) override {
        return engine().rescore(reply, precise, controls);
    }
    Trace reproduce(const Trace& recorded, const RunControls& controls) override {
        return engine().reproduce(recorded, controls);
    }
    ResampleResult resample(const Trace& parent, int at, const ResampleOptions& opt,
                            const std::function<void(int done)>& progress,
                            const RunControls& controls) override {
        return engine().resample(parent, at, opt, progress, controls);
    }
    Lens lens(const std::vector<int32_t>& tokens, int position, int top_k, int span_first,
              int span_count) override {
        return engine().lens(tokens, position, top_k, span_first, span_count);
    }
    ContextUse context_use(const std::vector<ChatTurn>& turns,
                           const GenerationSettings& settings) override {
        return engine().context_use(turns, settings);
    }
    std::string take_notice() override { return active_ ? active_->take_notice() : std::string(); }

    bool remote() const { return active_is_remote_; }

private:
    ChatEngine& engine();

    Maker make_local_, make_remote_;
    std::unique_ptr<ChatEngine> active_;
    bool active_is_remote_ = false;
};

}  // namespace gb::app
