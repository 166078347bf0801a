// `glassbox-cli run`: load a model, generate a streamed reply, optionally write its trace.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <thread>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/cli/model_loading.h"
#include "app/remote/remote_chat.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/model.h"
#include "engine/session/backends.h"
#include "engine/session/chat_prompt.h"
#include "engine/session/generator.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/trace/expert_load.h"
#include "engine/trace/reasoning_parser.h"
#include "engine/trace/trace.h"
#include "engine/trace/trace_binary.h"

namespace gb::cli {

namespace {

// Per MoE layer, the experts that took the most tokens of the reply, reasoning and answer apart:
// a quick look at routing without the app.
void print_routing_summary(const Trace& t) {
    if (t.n_expert == 0) {
        std::fprintf(stderr, "[routing: the model is dense, it has no experts]\n");
        return;
    }
    const ExpertLoad load = count_expert_load(t);
    std::fprintf(stderr,
                 "[routing: top-%d of %d experts in %zu MoE layers; most used experts (tokens)]\n",
                 t.n_expert_used, t.n_expert, load.layers.size());
    auto top = [&](Phase phase, size_t row) {
        std::vector<int> idx(static_cast<size_t>(load.n_expert));
        std::iota(idx.begin(), idx.end(), 0);
        auto n = [&](int e) { return load.count(phase, row, e); };
        std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return n(a) > n(b); });
        std::string s;
        for (size_t i = 0; i < std::min<size_t>(4, idx.size()) && n(idx[i]) > 0; ++i)
            s += (s.empty() ? "" : " ") + ("e" + std::to_string(idx[i])) + "(" +
                 std::to_string(n(idx[i])) + ")";
        return s.empty() ? std::string("-") : s;
    };
    for (size_t i = 0; i < load.layers.size(); ++i)
        std::fprintf(stderr, "  layer %3u  reasoning: %-36s answer: %s\n", load.layers[i],
                     top(Phase::Think, i).c_str(), top(Phase::Answer, i).c_str());
}

// Writes the whole file, checking the open, every write and the close (where a full disk often
// shows first): a failure names the file and the reason, and the partial file is removed (a
// device such as /dev/full is left alone), so no truncated trace is left looking whole.
void write_file_checked(const std::string& path, std::string_view bytes) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) throw Error("cannot write trace file '" + path + "': " + std::strerror(errno));
    const bool written = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
    int err = written ? 0 : errno;
    if (std::fflush(f) != 0 && err == 0) err = errno;
    if (std::fclose(f) != 0 && err == 0) err = errno;
    if (!written && err == 0) err = EIO;
    if (err == 0) return;
    std::error_code ec;
    if (std::filesystem::is_regular_file(path, ec)) std::filesystem::remove(path, ec);
    throw Error("writing trace file '" + path + "' failed: " + std::strerror(err) +
                " (the partial file was removed)");
}

// Standard output, checked: a reply written to a full disk or a closed pipe must not end with
// exit status 0. The first failure is kept; the caller stops generating and reports it.
class CheckedStdout {
public:
    bool write(std::string_view s) {
        if (err_ == 0 && std::fwrite(s.data(), 1, s.size(), stdout) != s.size())
            err_ = errno ? errno : EIO;
        return err_ == 0;
    }
    bool flush() {
        if (err_ == 0 && std::fflush(stdout) != 0) err_ = errno ? errno : EIO;
        return err_ == 0;
    }
    void check() {
        flush();
        if (err_ == 0 && std::ferror(stdout)) err_ = EIO;
        if (err_ != 0)
            throw Error(std::string("writing the reply to standard output failed: ") +
                        std::strerror(err_));
    }

private:
    int err_ = 0;
};

// Prints a streamed reply: reasoning apart from the answer (dimmed on a terminal, or left out
// with --hide-reasoning, a rule where the answer starts), or with --stream-jsonl one JSON
// object per generated token on stdout (the object a trace file holds in "tokens", routing
// included), each flushed as soon as the token is out, so another program can follow the reply
// live. A failed write stops the reply.
struct ReplyPrinter {
    explicit ReplyPrinter(const Args& args)
        : quiet(args.has("--quiet")),
          jsonl(args.has("--stream-jsonl")),
          hide_reasoning(args.has("--hide-reasoning")),
          tty(isatty(fileno(stdout)) != 0) {}
    bool operator()(const TokenRecord* rec, const std::string& text) {
        if (jsonl) {
            if (!rec) return true;
            return out.write(token_json_line(*rec) + "\n") && out.flush();
        }
        if (quiet) return true;
        const Phase phase = rec ? rec->phase : shown;
        if (phase == Phase::Think && shown != Phase::Think) {
            any_reasoning = true;
            if (tty && !hide_reasoning) out.write("\x1b[2m");
        } else if (phase == Phase::Answer && shown == Phase::Think) {
            if (tty && !hide_reasoning) out.write("\x1b[0m");
            out.write(hide_reasoning ? "" : "\n");
            out.write(tty ? "\x1b[1m--- answer ---\x1b[0m\n" : "--- answer ---\n");
        }
        shown = phase;
        std::string_view piece = text;
        // After the rule the answer starts at its first visible character: the newlines
        // that follow "</think>" are layout.
        if (phase == Phase::Answer && any_reasoning && !answer_started) {
            piece.remove_prefix(std::min(piece.size(), piece.find_first_not_of(" \t\r\n")));
            answer_started = !piece.empty();
        }
        if (!(hide_reasoning && phase == Phase::Think)) out.write(piece);
        return out.flush();
    }
    void end() {
        if (!quiet && !jsonl) {
            if (tty && shown == Phase::Think) out.write("\x1b[0m");
            out.write("\n");
        }
        out.check();
    }
    const bool quiet, jsonl, hide_reasoning, tty;
    Phase shown = Phase::Answer;
    bool any_reasoning = false;
    bool answer_started = false;
    CheckedStdout out;
};

// --trace FILE: FILE.gbtrace the compact binary form (TRACE_FORMAT.md), anything else JSON.
void write_trace_arg(const Args& args, const Trace& trace) {
    if (!args.has("--trace")) return;
    const std::string file = args.str("--trace");
    if (file.ends_with(".gbtrace")) {
        write_file_checked(file, write_binary(trace));
    } else {
        std::ostringstream json;
        write_json(trace, json);
        write_file_checked(file, json.str());
    }
}

// run --remote URL: the reply of an OpenAI-compatible server (vLLM, SGLang, llama-server,
// Ollama's /v1, a hosted API), streamed and kept as a local run's is.
int run_remote(const Args& args, const std::string& model_name, const std::string& user,
               const SamplerSettings& sampling, int max_tokens, int top_n) {
    for (const char* local_only :
         {"--think-budget", "--disable-experts", "--force-experts", "--prompt-logprobs",
          "--router-probs", "--ignore-eos", "--backend", "--gpu-layers", "--precise"})
        if (args.has(local_only))
            throw Error(std::string(local_only) +
                        " is not available with --remote: the server runs the model");
    remote::RemoteServer server;
    server.base_url = args.str("--remote");
    if (args.has("--api-key-env")) {
        const std::string var = args.str("--api-key-env");
        const char* key = std::getenv(var.c_str());
        if (!key || !*key)
            throw Error("--api-key-env " + var + ": the environment variable is not set");
        server.api_key = key;
    }
    server.openai_fields_only = args.has("--openai-fields-only");
    if (args.has("--server-kind")) {
        const std::string kind = args.str("--server-kind");
        server.kind = remote::server_kind_from_name(kind);
        if (server.kind == remote::ServerKind::Generic && kind != "openai" && kind != "generic")
            throw Error("--server-kind " + kind +
                        ": expected vllm, sglang, llama-server, ollama or openai");
    }
    remote::RemoteChatRequest req;
    req.model = model_name;
    if (args.has("--completion")) {
        if (args.has("--system")) throw Error("--system is for chats, not --completion");
        req.prompt = user;  // the text as it is: no chat template
    } else {
        if (!args.str("--system").empty())
            req.messages.emplace_back("system", args.str("--system"));
        req.messages.emplace_back("user", user);
    }
    if (args.has("--no-thinking")) req.thinking = 0;
    req.routed_experts = args.has("--routed-experts");
    req.n_layer = args.integer("--model-layers", 0, 1, 65535);
    req.sampling = sampling;
    req.max_tokens = max_tokens;
    req.top_logprobs = top_n;
    ReplyPrinter print(args);
    remote::RemoteReply reply;
    try {
        reply = remote::remote_chat(
            server, req,
            [&](const TokenRecord* rec, const std::string& text) { return print(rec, text); });
    } catch (const remote::RemoteError& e) {
        throw Error(e.what());
    }
    print.end();
    const Trace& t = reply.trace;
    const remote::ServerUsage& u = reply.usage;
    std::string usage;
    if (u.prompt_tokens >= 0) usage += ", " + std::to_string(u.prompt_tokens) + " prompt tokens";
    if (u.completion_tokens >= 0)
        usage += ", " + std::to_string(u.completion_tokens) + " completion tokens";
    if (u.reasoning_tokens >= 0) usage += " (" + std::to_string(u.reasoning_tokens) + " reasoning)";
    std::fprintf(stderr, "[%s, %s: %d records%s, %.1f s, stop: %s%s%s]\n", t.backend.c_str(),
                 t.model.c_str(), t.n_gen, usage.c_str(), t.decode_ms / 1000.0,
                 stop_reason_name(t.stop_reason),
                 reply.reasoning_source.empty() ? "" : ", reasoning from ",
                 reply.reasoning_source.c_str());
    if (reply.routed_tokens > 0)
        std::fprintf(stderr, "[routed experts: %d tokens, %d experts of %d seen]\n",
                     reply.routed_tokens, t.n_expert_used, t.n_expert);
    if (!reply.routing_problem.empty())
        std::fprintf(stderr, "[routed experts: %s]\n", reply.routing_problem.c_str());
    if (!reply.error.empty())
        std::fprintf(stderr, "[the reply was cut short: %s; what arrived is kept]\n",
                     reply.error.c_str());
    write_trace_arg(args, t);
    return reply.error.empty() ? 0 : 1;
}

}  // namespace

int run_command(const std::vector<std::string>& argv) {
    Args args(argv,
              with_model_flags({"-p",
                                "--prompt",
                                "-n",
                                "--max-tokens",
                                "--system",
                                "--temp",
                                "--top-k",
                                "--top-p",
                                "--min-p",
                                "--seed",
                                "--repeat-penalty",
                                "--repeat-last-n",
                                "--frequency-penalty",
                                "--presence-penalty",
                                "--top-n",
                                "--trace",
                                "--think-budget",
                                "--disable-experts",
                                "--force-experts",
                                "--remote",
                                "--api-key-env",
                                "--server-kind",
                                "--model-layers"}),
              {"--chat", "--prompt-logprobs", "--quiet", "--precise", "--hide-reasoning",
               "--no-thinking", "--routing", "--router-probs", "--no-routing", "--stream-jsonl",
               "--ignore-eos", "--openai-fields-only", "--completion", "--routed-experts"});
    const std::string path = args.has("-m") ? args.str("-m") : args.str("--model");
    if (path.empty())
        throw Error(args.has("--remote") ? "run --remote needs the served model's name: -m NAME"
                                         : "run needs a model: -m FILE");
    if (!args.has("-p") && !args.has("--prompt")) throw Error("run needs a prompt: -p TEXT");
    const std::string user = args.has("-p") ? args.str("-p") : args.str("--prompt");

    GenerateRequest req;
    // The app's default too (GenerationSettings::max_tokens): a reasoning model's working fits
    // (the demo models' longest multiplications take about 400 tokens; 256 cut them off).
    constexpr int kDefaultMaxTokens = 1024;
    req.max_tokens = static_cast<int>(
        args.integer(args.has("-n") ? "-n" : "--max-tokens", kDefaultMaxTokens, 0, INT_MAX));
    SamplerSettings& s = req.sampling;
    s.temperature = static_cast<float>(args.num("--temp", s.temperature));
    s.top_k = static_cast<int>(args.integer("--top-k", s.top_k, 0, INT_MAX));
    s.top_p = static_cast<float>(args.num("--top-p", s.top_p));
    s.min_p = static_cast<float>(args.num("--min-p", s.min_p));
    s.seed = args.unsigned_integer("--seed", s.seed);
    s.repeat_penalty = static_cast<float>(args.num("--repeat-penalty", s.repeat_penalty));
    s.repeat_last_n =
        static_cast<int>(args.integer("--repeat-last-n", s.repeat_last_n, -1, INT_MAX));
    s.frequency_penalty = static_cast<float>(args.num("--frequency-penalty", s.frequency_penalty));
    s.presence_penalty = static_cast<float>(args.num("--presence-penalty", s.presence_penalty));
    validate(s);
    req.top_n = static_cast<int>(args.integer("--top-n", 5, 0, 100));
    req.prompt_logprobs = args.has("--prompt-logprobs");
    // Long runs at a fixed length (speed at depth): the end-of-generation token does not stop.
    req.stop_at_eog = !args.has("--ignore-eos");
    // MoE models record every token's experts unless told not to; --router-probs adds the
    // router's whole distribution per token and layer (large: n_expert floats each).
    req.record_routing = !args.has("--no-routing");
    req.routing_probs = args.has("--router-probs");
    req.think_budget = static_cast<int>(args.integer("--think-budget", -1, 0, INT_MAX));
    if (req.routing_probs && !req.record_routing)
        throw Error("--router-probs needs routing: drop --no-routing");

    if (args.has("--remote"))
        return run_remote(args, path, user, req.sampling, req.max_tokens, req.top_n);

    LoadedModel loaded = load_model(args);
    Model* model = loaded.model.get();
    const Tokenizer& tok = *loaded.tok;
    req.prompt_text = user;
    if (args.has("--chat")) {
        // One user turn (after an optional system prompt) through the model's own template, as
        // transformers would; a missing or failing template falls back visibly to the format of
        // the model's family.
        std::vector<ChatMessage> messages;
        if (!args.str("--system").empty()) messages.emplace_back("system", args.str("--system"));
        messages.emplace_back("user", user);
        ChatPromptOptions opt;
        opt.thinking = !args.has("--no-thinking");
        const ChatPrompt p =
            render_model_prompt(tok, chat_format_of(model->file(), tok), messages, opt);
        if (!p.warning.empty()) std::fprintf(stderr, "warning: %s\n", p.warning.c_str());
        req.prompt_text = p.text;
    }
    req.prompt = encode_prompt(tok, req.prompt_text);
    // Steered experts: checked against the model here, so a bad spec fails before generating.
    req.steering = parse_expert_steering(args.str("--disable-experts"), args.str("--force-experts"),
                                         model->config())
                       .describe();
    req.starts_in_reasoning = prompt_opens_reasoning(req.prompt_text);

    Generator gen(*model, tok);
    ReplyPrinter print(args);
    Trace trace = gen.generate(
        req, [&](const TokenRecord* rec, const std::string& text) { return print(rec, text); });
    print.end();
    const bool any_reasoning = print.any_reasoning;
    if (any_reasoning && !trace.reasoning_complete)
        std::fprintf(stderr, "[the reply stopped inside the reasoning; raise -n for an answer]\n");
    const double pp = trace.prefill_ms > 0 ? 1000.0 * trace.n_prompt / trace.prefill_ms : 0;
    const double tg = trace.decode_ms > 0 ? 1000.0 * trace.n_gen / trace.decode_ms : 0;
    std::fprintf(stderr, "[%d prompt tokens %.1f tok/s, %d generated %.1f tok/s, stop: %s]\n",
                 trace.n_prompt, pp, trace.n_gen, tg, stop_reason_name(trace.stop_reason));

    if (args.has("--routing")) print_routing_summary(trace);
    write_trace_arg(args, trace);
    return 0;
}

}  // namespace gb::cli
