// ChatEngine: what the app needs from a model, behind one interface with several kinds: the
// local engine (local_engine.h), a synthetic one for tests and demos (synthetic_engine.h), and
// later a remote OpenAI-compatible server. Qt-free; EngineWorker runs it on its own thread.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "app/chat_types.h"
#include "engine/session/backends.h"
#include "engine/session/generator.h"
#include "engine/session/interventions.h"
#include "engine/session/logit_lens.h"
#include "engine/trace/trace.h"
#include "kernels/error.h"

namespace gb::app {

// What may stop or steer a reply while it runs, raised from any thread: cancel ends it at the
// next token; stop_thinking closes an open reasoning block with the model's end-of-thinking
// marker, and the answer follows.
// choose (step mode, may be empty): GenerateRequest::choose, asked for every sampled token.
struct RunControls {
    const std::atomic<bool>* cancel = nullptr;
    const std::atomic<bool>* stop_thinking = nullptr;
    std::function<int32_t(int position, const std::vector<Alternative>& top, int32_t sampled)>
        choose;
};

class ChatEngine {
public:
    virtual ~ChatEngine() = default;

    // Loads (replacing any model loaded before); throws gb::Error naming what is wrong.
    virtual ModelInfo load(const LoadSettings& settings) = 0;
    virtual bool loaded() const = 0;
    virtual const ModelInfo& info() const = 0;

    // One reply to `turns` (system/user/assistant, oldest first, ending with a user turn).
    // on_token as gb::Generator's; the controls are polled between tokens. Throws gb::Error.
    virtual Trace generate(const std::vector<ChatTurn>& turns, const GenerationSettings& settings,
                           const TokenCallback& on_token, const RunControls& controls) = 0;

    // A branch of a stored reply (its trace, made by the loaded model): its first `at`
    // generated tokens kept, `token` put at position `at`, then up to settings.max_tokens more
    // (gb::branch_request: the parent's prompt, sampling and seed). The kept tokens reach
    // on_token first, with their records. An engine whose cache still holds the parent's prefix
    // does not run it again. Throws gb::Error (another model's reply, a position or token out
    // of range).
    virtual Trace branch(const Trace& parent, int at, int32_t token,
                         const GenerationSettings& settings, const TokenCallback& on_token,
                         const RunControls& controls) = 0;

    // A reply that was cut short (a cancel, a dropped connection) carried on from where it
    // stopped: its tokens kept (they reach on_token first), then up to settings.max_tokens more.
    // By default the reply's last token is branched on as itself (branch above).
    virtual Trace continue_reply(const Trace& parent, const GenerationSettings& settings,
                                 const TokenCallback& on_token, const RunControls& controls) {
        if (parent.n_gen <= 0 || parent.tokens.empty())
            throw Error("this reply has no tokens to continue from: regenerate it instead");
        return branch(parent, parent.n_gen - 1, parent.tokens.back().id, settings, on_token,
                      controls);
    }

    // The prompt of a stored reply again, its reasoning starting with `thought` (written or
    // edited by the user; gb::edit_thought_request); the model thinks on from there and
    // answers, up to settings.max_tokens more.
    virtual Trace continue_thought(const Trace& parent, const std::string& thought,
                                   const GenerationSettings& settings,
                                   const TokenCallback& on_token, const RunControls& controls) = 0;

    // The reply of `recorded` again, from its recorded prompt tokens, settings, seed and
    // interventions (gb::reproduce_request); the caller compares the tokens.
    virtual Trace reproduce(const Trace& recorded, const RunControls& controls) = 0;

    // The same reply's probabilities from the given precision mode (gb::rescore_request and
    // gb::rescored_trace): its tokens, made by the loaded model, run again as one prompt with
    // every position scored; the result has the reply's tokens and the new numbers. An engine
    // that cannot (a remote server) throws gb::Error saying so.
    virtual Trace rescore(const Trace& reply, bool precise, const RunControls& controls) = 0;

    // Forking paths: opt.k rollouts of a stored reply (made by the loaded model) from its
    // generated position `at`, one after another (gb::resample_at): progress(done) after each;
    // controls.cancel ends it at the next token, and the result then holds the rollouts done.
    // An engine that cannot sample a stored reply's continuation (the synthetic one) throws
    // gb::Error saying so.
    virtual ResampleResult resample(const Trace& parent, int at, const ResampleOptions& opt,
                                    const std::function<void(int done)>& progress,
                                    const RunControls& controls) = 0;

    // Logit lens (gb::logit_lens, gb::logit_lens_span) over a token sequence of the loaded
    // model. An engine that cannot read its layers (the synthetic one, a remote server) throws
    // gb::Error saying so.
    struct Lens {
        LogitLens at;   // the position asked for
        LensSpan span;  // the positions around it (empty prob when none)
    };
    virtual Lens lens(const std::vector<int32_t>& tokens, int position, int top_k, int span_first,
                      int span_count) = 0;

    // What the prompt for `turns` would take of the context, by part.
    virtual ContextUse context_use(const std::vector<ChatTurn>& turns,
                                   const GenerationSettings& settings) = 0;

    // Something the user should know about the last reply (e.g. the model's chat template
    // failed and a built-in format was used); empty when nothing new. Each note is given once.
    virtual std::string take_notice() { return {}; }

    // Frees the model (its weights, cache and any connection): loaded() is false afterwards.
    // An engine that cannot (a single fixed engine) says so by throwing gb::Error.
    virtual void unload();
};

// The backends of this build ("cpu", and "cuda" when it was built), as the engine says.
using gb::available_backends;

// Reads a model's metadata without binding its weights (the model manager's preview).
// Never throws: problems are in ModelInfo::error.
ModelInfo inspect_model(const std::string& path);

}  // namespace gb::app
