// ChatEngine: what the app needs from a model, behind one interface with several kinds: the
// local engine (local_engine.h), a synthetic one for tests and demos (synthetic_engine.h), and
// later a remote OpenAI-compatible server. Qt-free; EngineWorker runs it on its own thread.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "app/chat_types.h"
#include "engine/session/backends.h"
#include "engine/session/generator.h"
#include "engine/trace/trace.h"

namespace gb::app {

class ChatEngine {
public:
    virtual ~ChatEngine() = default;

    // Loads (replacing any model loaded before); throws gb::Error naming what is wrong.
    virtual ModelInfo load(const LoadSettings& settings) = 0;
    virtual bool loaded() const = 0;
    virtual const ModelInfo& info() const = 0;

    // One reply to `turns` (system/user/assistant, oldest first, ending with a user turn).
    // on_token as gb::Generator's; cancel is polled between tokens. Throws gb::Error.
    virtual Trace generate(const std::vector<ChatTurn>& turns, const GenerationSettings& settings,
                           const TokenCallback& on_token, const std::atomic<bool>* cancel) = 0;

    // What the prompt for `turns` would take of the context, by part.
    virtual ContextUse context_use(const std::vector<ChatTurn>& turns,
                                   const GenerationSettings& settings) = 0;

    // Something the user should know about the last reply (e.g. the model's chat template
    // failed and a built-in format was used); empty when nothing new. Each note is given once.
    virtual std::string take_notice() { return {}; }
};

// The backends of this build ("cpu", and "cuda" when it was built), as the engine says.
using gb::available_backends;

// Reads a model's metadata without binding its weights (the model manager's preview).
// Never throws: problems are in ModelInfo::error.
ModelInfo inspect_model(const std::string& path);

}  // namespace gb::app
