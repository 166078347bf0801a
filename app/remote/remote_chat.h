// A chat reply from an OpenAI-compatible server (vLLM, SGLang, llama-server, Ollama's /v1, a
// hosted API), streamed, as a Glassbox trace: the same callbacks and records a local reply
// gives, with as much as the server sends (log-probabilities and alternatives are asked for;
// reasoning comes from the server's field or the model's tags). Qt-free: `glassbox-cli run
// --remote` and the app's remote engine use it.
#pragma once

#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include "app/remote/chat_stream.h"
#include "engine/sample/sampler.h"
#include "engine/session/generator.h"
#include "engine/trace/trace.h"

namespace gb::remote {

struct RemoteServer {
    std::string base_url;  // the API root, e.g. "http://127.0.0.1:8000/v1"
    std::string api_key;   // sent as a bearer token; never written to a trace or a message
    double connect_timeout_s = 10;
    double idle_timeout_s = 300;  // a reasoning model may think a while between chunks
    // Send only OpenAI's own sampling fields (a hosted API refuses others); otherwise top_k,
    // min_p and repetition_penalty go too, as vLLM, SGLang and llama-server take them.
    bool openai_fields_only = false;
};

struct RemoteChatRequest {
    std::string model;                                          // as the server names it
    std::vector<std::pair<std::string, std::string>> messages;  // role, content
    SamplerSettings sampling;
    int max_tokens = 1024;
    int top_logprobs = 5;  // 0: no log-probabilities asked for
};

struct RemoteReply {
    // Generated records only (n_prompt 0: the server does not send the prompt's tokens);
    // backend "remote <host>", model as requested, prompt_text the messages as JSON.
    Trace trace;
    ServerUsage usage;
    std::string reasoning_source;  // ChatStreamReader::reasoning_source()
    // Non-empty when the reply was cut short (a dropped connection, a timeout, an error inside
    // the stream): what arrived is in trace, which stops as Cancelled.
    std::string error;
};

// The models the server lists (GET {base}/models), by id. Throws RemoteError.
std::vector<std::string> list_models(const RemoteServer& server,
                                     const std::atomic<bool>* cancel = nullptr);

// Streams one reply; on_token gets each record as it arrives (return false to stop). Throws
// RemoteError when no reply could start (an HTTP error: its message in words; no connection);
// an error after the reply began is RemoteReply::error.
RemoteReply remote_chat(const RemoteServer& server, const RemoteChatRequest& request,
                        const TokenCallback& on_token = {},
                        const std::atomic<bool>* cancel = nullptr);

// The JSON body remote_chat sends.
std::string chat_request_body(const RemoteServer& server, const RemoteChatRequest& request);

}  // namespace gb::remote
