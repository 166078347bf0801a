// RemoteEngine: the ChatEngine for a model served by an inference server (vLLM, SGLang,
// llama-server, Ollama, an OpenAI-compatible API) through app/remote. A reply streams into the
// same trace a local one does, with what the server gives: reasoning, log-probabilities and
// alternatives, routed experts where the server returns them, usage. What needs the model's
// insides (branching at a token, resampling, the logit lens, expert steering, step mode) is
// refused with a message that says so. Qt-free; EngineWorker runs it on its own thread.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "app/chat_engine.h"
#include "app/remote/remote_chat.h"

namespace gb::app {

class RemoteEngine : public ChatEngine {
public:
    RemoteEngine() = default;

    // settings.remote says where; the server is asked for its models (which checks the address
    // and the key) and its kind. Throws gb::Error naming what is wrong.
    ModelInfo load(const LoadSettings& settings) override;
    bool loaded() const override { return loaded_; }
    const ModelInfo& info() const override { return info_; }
    Trace generate(const std::vector<ChatTurn>& turns, const GenerationSettings& settings,
                   const TokenCallback& on_token, const RunControls& controls) override;
    Trace branch(const Trace& parent, int at, int32_t token, const GenerationSettings& settings,
                 const TokenCallback& on_token, const RunControls& controls) override;
    Trace continue_reply(const Trace& parent, const GenerationSettings& settings,
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

    const remote::RemoteServer& server() const { return server_; }

private:
    using Messages = std::vector<std::pair<std::string, std::string>>;
    // One reply to `messages` (ending with a user turn, or with the assistant's text so far when
    // `kept` is not empty: kept's records reach on_token first and start the trace). A stop of
    // the reasoning (the user's, or the thinking budget) ends the stream and carries on with the
    // reasoning closed.
    Trace run(Messages messages, Trace kept, const GenerationSettings& s,
              const TokenCallback& on_token, const RunControls& controls);
    void check_reply_of_this_model(const Trace& t) const;

    remote::RemoteServer server_;
    RemoteSettings remote_;
    ModelInfo info_;
    bool loaded_ = false;
    std::string notice_;
};

// The (role, content) messages a remote reply was asked with, as its trace keeps them
// (Trace::prompt_text). gb::Error when the text is not such a list.
std::vector<std::pair<std::string, std::string>> remote_messages(const Trace& t);

// The assistant text that carries `t` on: "<think>\n" + its reasoning (closed when the reasoning
// was) + its answer.
std::string remote_prefill(const Trace& t);

}  // namespace gb::app
