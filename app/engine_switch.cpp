#include "app/engine_switch.h"

#include "kernels/error.h"

namespace gb::app {

EngineSwitch::EngineSwitch(Maker make_local, Maker make_remote)
    : make_local_(std::move(make_local)), make_remote_(std::move(make_remote)) {}

ModelInfo EngineSwitch::load(const LoadSettings& settings) {
    const bool remote = !settings.remote.base_url.empty();
    if (active_ && remote == active_is_remote_) return active_->load(settings);
    std::unique_ptr<ChatEngine> next = remote ? make_remote_() : make_local_();
    if (!next) throw Error(remote ? "this build cannot talk to servers" : "no local engine");
    ModelInfo info = next->load(settings);  // throws: the engine before stays
    active_ = std::move(next);
    active_is_remote_ = remote;
    return info;
}

void ChatEngine::unload() { throw Error("this engine cannot unload its model"); }

const ModelInfo& EngineSwitch::info() const {
    static const ModelInfo none;
    return active_ ? active_->info() : none;
}

ChatEngine& EngineSwitch::engine() {
    if (!active_) throw Error("no model is loaded: open one with Model > Open");
    return *active_;
}

}  // namespace gb::app
