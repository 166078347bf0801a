// A chat reply from an OpenAI-compatible server (vLLM, SGLang, llama-server, Ollama's /v1, a
// hosted API), streamed, as a Glassbox trace: the same callbacks and records a local reply
// gives, with as much as the server sends (log-probabilities and alternatives are asked for;
// reasoning comes from the server's field or the model's tags). Qt-free: `glassbox-cli run
// --remote` and the app's remote engine use it.
#pragma once

#include <atomic>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "app/remote/chat_stream.h"
#include "engine/sample/sampler.h"
#include "engine/session/generator.h"
#include "engine/trace/trace.h"

namespace gb::remote {

// What answers at a base URL, as far as a client can tell (probe_server). Generic: any other
// OpenAI-compatible API (a hosted one, llama-cpp-python's server).
enum class ServerKind { Generic, Vllm, Sglang, LlamaServer, Ollama };
// "OpenAI-compatible", "vLLM", "SGLang", "llama-server", "Ollama".
const char* server_kind_name(ServerKind k);
// The kind a name stands for (also "generic", "openai", lower case); Generic when unknown.
ServerKind server_kind_from_name(std::string_view name);

struct RemoteServer {
    std::string base_url;  // the API root, e.g. "http://127.0.0.1:8000/v1"
    std::string api_key;   // sent as a bearer token; never written to a trace or a message
    ServerKind kind = ServerKind::Generic;  // what the server supports beyond OpenAI's API
    double connect_timeout_s = 10;
    double idle_timeout_s = 300;  // a reasoning model may think a while between chunks
    // Send only OpenAI's own fields (a hosted API refuses others); otherwise top_k, min_p,
    // repetition_penalty, chat_template_kwargs and continue_final_message go too, as vLLM,
    // SGLang and llama-server take them.
    bool openai_fields_only = false;
};

struct RemoteChatRequest {
    std::string model;                                          // as the server names it
    std::vector<std::pair<std::string, std::string>> messages;  // role, content
    SamplerSettings sampling;
    int max_tokens = 1024;
    int top_logprobs = 5;  // 0: no log-probabilities asked for
    // The last message is the assistant's reply so far, to be carried on rather than answered
    // (continue_final_message; llama-server and Ollama continue a final assistant message
    // themselves). Its text is not in the reply's trace.
    bool continue_final = false;
    // Thinking on (1) or off (0) for templates that take enable_thinking (Qwen3; Ollama's
    // "think"); -1: the server's default.
    int thinking = -1;
    // Ask for the experts each token was routed to: SGLang's return_routed_experts (streamed at
    // the end); for vLLM the reply is then requested whole (it returns routing only with
    // non-streamed replies), and its tokens arrive at once when it is done.
    bool routed_experts = false;
    // The model's decoder layers (0: not known), which SGLang's raw routed experts need.
    int64_t n_layer = 0;
    // Non-empty: a raw text completion of this prompt (POST {base}/completions, no chat
    // template) instead of a chat reply to `messages`; a prompt that ends inside <think>
    // starts the reply in its reasoning.
    std::string prompt;
};

struct RemoteReply {
    // Generated records only (n_prompt 0: the server does not send the prompt's tokens);
    // backend "remote <host>", model as requested, prompt_text the messages as JSON.
    Trace trace;
    ServerUsage usage;
    std::string reasoning_source;  // ChatStreamReader::reasoning_source()
    // Routed experts: how many tokens got routing, and why none did when some were sent but
    // could not be read or placed (empty when none were sent or all went well).
    int routed_tokens = 0;
    std::string routing_problem;
    // Non-empty when the reply was cut short (a dropped connection, a timeout, an error inside
    // the stream): what arrived is in trace, which stops as Cancelled.
    std::string error;
};

// The models the server lists (GET {base}/models), by id. Throws RemoteError.
std::vector<std::string> list_models(const RemoteServer& server,
                                     const std::atomic<bool>* cancel = nullptr);

// What probe_server found.
struct ServerInfo {
    ServerKind kind = ServerKind::Generic;
    std::string version;  // when the server says
    struct Model {
        std::string id;
        int64_t n_ctx = 0;  // context length, when listed (vLLM max_model_len, llama-server)
    };
    std::vector<Model> models;
};

// Lists the models and tells the server's kind: from the model list's owner ("vllm",
// "sglang", "llamacpp"), else from the endpoints only one kind has (Ollama's /api/version,
// llama-server's /props, SGLang's /get_server_info, vLLM's /version). Throws RemoteError when
// the model list cannot be had (the server is down, the key is refused).
ServerInfo probe_server(const RemoteServer& server, const std::atomic<bool>* cancel = nullptr);

// The server's root: base_url without a trailing "/v1".
std::string server_root(const RemoteServer& server);

// Streams one reply; on_token gets each record as it arrives (return false to stop). Throws
// RemoteError when no reply could start (an HTTP error: its message in words; no connection);
// an error after the reply began is RemoteReply::error.
RemoteReply remote_chat(const RemoteServer& server, const RemoteChatRequest& request,
                        const TokenCallback& on_token = {},
                        const std::atomic<bool>* cancel = nullptr);

// A reply's texts from its records: Think text without the <think> markers, Answer text, both
// trimmed; the reasoning is closed when it has an end marker, a forced close, or an answer
// after it.
struct RecordTexts {
    std::string reasoning, answer;
    bool has_reasoning = false, reasoning_closed = false;
};
RecordTexts texts_of_records(const Trace& t);
// Sets t's reasoning_text, answer_text and reasoning_complete from texts_of_records.
void set_texts_from_records(Trace& t);

// Decodes the routed experts a reply carried (ChatStreamReader::routed_experts) and puts them
// on the reply's token records; sets the trace's expert counts, routed_tokens and
// routing_problem. Called by remote_chat.
void attach_routing(const RoutedExpertsPayload& payload, const RemoteChatRequest& request,
                    RemoteReply& reply);

// Messages as the request (and a remote trace's prompt_text) hold them: [{"role","content"}].
std::string messages_json(const std::vector<std::pair<std::string, std::string>>& messages);

// The JSON body remote_chat sends.
std::string chat_request_body(const RemoteServer& server, const RemoteChatRequest& request);

}  // namespace gb::remote
