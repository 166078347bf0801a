// Plain value types shared by the app layer and the views: what a model is, how to load it, one
// chat turn, per-conversation generation settings. Qt-free so the engines can use them too.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/model/model_anatomy.h"
#include "engine/sample/sampler.h"

namespace gb::app {

// What the model manager shows before (and after) a model is loaded.
struct ModelInfo {
    std::string path;
    std::string name;    // general.name, else the file name
    std::string arch;    // general.architecture
    std::string format;  // "GGUF v3" or "HF checkpoint"
    int64_t n_params = 0;
    int64_t weight_bytes = 0;
    std::string quant_mix;  // e.g. "Q4_K 71% · Q6_K 20% · F32 1%"
    int64_t n_ctx_train = 0;
    int64_t n_layer = 0;
    int64_t n_embd = 0;
    int64_t n_expert = 0;  // 0: dense
    int64_t n_expert_used = 0;
    int64_t n_moe_layers = 0;
    int64_t kv_bytes_per_token = 0;  // in the default f16 cache
    // KV cache bytes per token for each cache type the model's widths allow ("f16", "bf16",
    // "q8_0", "f32").
    std::map<std::string, int64_t> kv_bytes_by_type;
    std::string chat_format;  // the built-in family used when the model's template fails
    bool has_template = false;
    bool template_keeps_reasoning = false;  // earlier turns' reasoning stays in the prompt
    std::string backend;                    // where it runs once loaded ("cpu", "cuda")
    int64_t n_cpu_layers = 0;               // with a GPU backend: the first layers run on the CPU
    std::string error;                      // metadata could not be read completely
    int64_t file_bytes = 0;                 // the file's size on disk (a checkpoint: 0)
    int64_t expected_bytes = 0;             // what its header says it should be (0: not known)
    bool reasons = false;     // writes a chain of thought (<think> in its template or vocabulary)
    bool remote = false;      // served by an inference server
    std::string server;       // remote: e.g. "vLLM 0.11.0 at 10.0.0.5:8000"
    std::string server_kind;  // remote: "vLLM", "SGLang", "llama-server", ...
    ModelAnatomy anatomy;     // parameters per part (total 0: not known)

    bool is_moe() const { return n_expert > 0; }
    // KV cache bytes per token in cache_type (the f16 figure for a type not listed).
    int64_t kv_bytes(const std::string& cache_type) const {
        const auto it = kv_bytes_by_type.find(cache_type);
        return it != kv_bytes_by_type.end() ? it->second : kv_bytes_per_token;
    }
    // Weights plus the KV cache of n_ctx positions (what loading will need, roughly).
    int64_t memory_needed(int64_t n_ctx, const std::string& cache_type = "f16") const {
        return weight_bytes + kv_bytes(cache_type) * n_ctx;
    }
};

// A model served by an inference server (app/remote): where, which model, how to talk to it.
struct RemoteSettings {
    std::string base_url;  // the API root, e.g. "http://10.0.0.5:8000/v1"
    std::string model;     // as the server lists it; empty: the only one it lists
    std::string api_key;   // never stored with a conversation, exported or logged
    std::string kind;      // "" (ask the server), "vllm", "sglang", "llama-server", "ollama",
                           // "openai"
    bool openai_fields_only = false;  // a hosted API that refuses other fields
    bool routed_experts = false;      // ask for routed experts (see RemoteChatRequest)
    int64_t n_layer = 0;              // decoder layers, for SGLang's routed experts; 0: unknown
    int64_t n_expert = 0;             // experts per MoE layer when known; 0: unknown
    double idle_timeout_s = 300;
};

struct LoadSettings {
    std::string path;
    std::string backend = "cpu";  // "cpu"; "cuda" where built
    int n_threads = 0;            // 0: all cores
    int64_t n_ctx = 4096;
    // With a GPU backend: the first layers run on the CPU; -1 (the default): as few as let the
    // rest fit in GPU memory (none when it all fits).
    int64_t n_cpu_layers = -1;
    // What the KV cache holds: "f16" (the default), "bf16", "q8_0" or "f32".
    std::string cache_type = "f16";
    RemoteSettings remote;  // base_url set: a served model, not a file
};

// Earlier replies' reasoning in the prompt: as the model's template decides, or forced.
enum class ReasoningPolicy { Template, Keep, Strip };
const char* policy_name(ReasoningPolicy p);              // "template", "keep", "strip"
ReasoningPolicy policy_from_name(const std::string& s);  // Template for anything unknown

struct ChatTurn {
    std::string role;       // "system", "user", "assistant"
    std::string content;    // user / system text, or an assistant's answer
    std::string reasoning;  // assistant only
};

// A conversation's settings, kept with it (as JSON, see settings_json.cpp).
struct GenerationSettings {
    SamplerSettings sampling;
    int max_tokens = 1024;
    bool thinking = true;  // enable_thinking for templates that have it
    // >= 0: after this many reasoning tokens the reasoning is closed with the model's
    // end-of-thinking marker and the answer follows; -1: no limit.
    int think_budget = -1;
    // Expert steering (MoE models): experts switched off / forced on, as
    // `glassbox-cli run --disable-experts / --force-experts` take them ("3:5,7", "*:12"); empty:
    // none. An engine that cannot steer refuses a reply with them set.
    std::string disable_experts, force_experts;
    std::string system_prompt;
    ReasoningPolicy reasoning = ReasoningPolicy::Template;
    int top_n = 8;
    bool record_routing = true;
    // Precise mode (RunSettings::precise) for this conversation's replies on a local model:
    // unrounded activations, F32 KV cache, probabilities within about 1e-5 of the exact ones,
    // slower decode. A server computes as it does; the trace says which mode made a reply.
    bool precise = false;
    // false: write on past the model's end-of-generation token, to max_tokens (fixed-length
    // speed runs, tests/ui/app_stream_bench.cpp). Not stored with the conversation.
    bool stop_at_end = true;
};
std::string to_json(const GenerationSettings& s);
GenerationSettings settings_from_json(const std::string& text);  // defaults for what is missing

// How the context is spent by the prompt the next reply would get (context accounting).
struct ContextUse {
    int64_t n_ctx = 0;
    int64_t system = 0, user = 0, answers = 0, reasoning = 0, template_overhead = 0;
    int64_t reasoning_dropped = 0;  // earlier reasoning tokens the template leaves out
    bool reasoning_kept = false;    // earlier reasoning is in the prompt
    int64_t total() const { return system + user + answers + reasoning + template_overhead; }
};

}  // namespace gb::app
