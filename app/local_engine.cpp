// LocalEngine: model loading, metadata preview, prompt rendering with the reasoning policy,
// generation and context accounting on the CPU backend.
#include "app/local_engine.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <thread>

#include "engine/gguf/gguf_file.h"
#include "engine/model/hf_checkpoint.h"
#include "engine/model/model.h"
#include "engine/session/backends.h"
#include "engine/session/chat_prompt.h"
#include "engine/session/generator.h"
#include "engine/session/interventions.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/trace/reasoning_parser.h"
#include "kernels/error.h"
#ifdef GLASSBOX_HAVE_CUDA
#include "kernels/cuda/cuda_backend.h"
#endif

namespace gb::app {

namespace {

// A marker no template writes, to see whether reasoning_content survives rendering.
constexpr const char* kProbe = "GlassboxReasoningProbe7";

std::vector<ChatMessage> to_messages(const std::vector<ChatTurn>& turns,
                                     const GenerationSettings& s, bool keep_reasoning_in_content,
                                     bool pass_reasoning) {
    std::vector<ChatMessage> out;
    if (!s.system_prompt.empty()) out.emplace_back("system", s.system_prompt);
    for (const ChatTurn& t : turns) {
        ChatMessage m(t.role, t.content);
        if (t.role == "assistant" && !t.reasoning.empty()) {
            // Keep: the reasoning goes into the content as the model wrote it, so templates that
            // drop reasoning_content keep it anyway. Template: passed apart, the template decides.
            if (keep_reasoning_in_content)
                m.content = "<think>\n" + t.reasoning + "\n</think>\n\n" + t.content;
            else if (pass_reasoning)
                m.reasoning_content = t.reasoning;
        }
        out.push_back(std::move(m));
    }
    return out;
}

void fill_config(ModelInfo& info, const GgufFile& f) {
    const ModelConfig c = ModelConfig::from_gguf(f);
    info.n_ctx_train = c.n_ctx_train;
    info.n_layer = c.n_layer;
    info.n_embd = c.n_embd;
    info.n_expert = c.n_expert;
    info.n_expert_used = c.n_expert_used;
    info.n_moe_layers = c.n_moe_layers();
    info.kv_bytes_per_token = model_size(f, c).kv_bytes_per_token;
    info.anatomy = model_anatomy(c);
    for (TensorType t : {TensorType::F16, TensorType::BF16, TensorType::Q8_0, TensorType::F32})
        if (kv_cache_type_error(t, c.kv_k_width()).empty() &&
            kv_cache_type_error(t, c.kv_v_width()).empty())
            info.kv_bytes_by_type[kv_cache_type_name(t)] = model_size(f, c, t).kv_bytes_per_token;
}

}  // namespace

const char* policy_name(ReasoningPolicy p) {
    switch (p) {
        case ReasoningPolicy::Keep: return "keep";
        case ReasoningPolicy::Strip: return "strip";
        default: return "template";
    }
}

ReasoningPolicy policy_from_name(const std::string& s) {
    if (s == "keep") return ReasoningPolicy::Keep;
    if (s == "strip") return ReasoningPolicy::Strip;
    return ReasoningPolicy::Template;
}

ModelInfo inspect_model(const std::string& path) {
    ModelInfo info;
    info.path = path;
    info.name = std::filesystem::path(path).filename().string();
    try {
        const bool checkpoint = is_hf_checkpoint(path);
        std::optional<GgufFile> f;
        try {
            f.emplace(checkpoint ? open_hf_checkpoint(path) : GgufFile::open(path));
        } catch (const Error& e) {
            if (checkpoint) throw;
            f.emplace(GgufFile::open(path, GgufOpen::MetadataOnly));  // cut off: metadata only
            info.error = e.what();
        }
        info.format = checkpoint ? "HF checkpoint" : "GGUF v" + std::to_string(f->version());
        info.arch = f->get_string("general.architecture").value_or("?");
        if (auto n = f->get_string("general.name")) info.name = *n;
        const auto tmpl = f->get_string("tokenizer.chat_template");
        info.has_template = tmpl.has_value();
        info.reasons = tmpl && (tmpl->find("<think>") != std::string::npos ||
                                tmpl->find("</think>") != std::string::npos);
        if (!checkpoint) {
            uint64_t end = 0;
            for (const auto& t : f->tensors()) end = std::max(end, t.offset + t.n_bytes);
            info.file_bytes = static_cast<int64_t>(f->file_size());
            info.expected_bytes = static_cast<int64_t>(f->data_offset() + end);
            if (info.file_bytes < info.expected_bytes) {
                auto mb = [](int64_t b) {
                    char buf[32];
                    std::snprintf(buf, sizeof buf, b < 10000000 ? "%.1f" : "%.0f", b / 1e6);
                    return std::string(buf);
                };
                info.error = "incomplete download: " + mb(info.file_bytes) + " of " +
                             mb(info.expected_bytes) +
                             " MB (the file ends before its weights do: download it again, or "
                             "resume the download)";
            }
        }
        std::map<std::string, int64_t> mix;
        for (const auto& t : f->tensors()) {
            info.n_params += t.n_elements;
            info.weight_bytes += static_cast<int64_t>(t.n_bytes);
            mix[std::string(type_name(t.type))] += static_cast<int64_t>(t.n_bytes);
        }
        std::vector<std::pair<int64_t, std::string>> parts;
        for (const auto& [type, bytes] : mix) parts.emplace_back(bytes, type);
        std::sort(parts.rbegin(), parts.rend());
        for (const auto& [bytes, type] : parts) {
            char buf[64];
            const double pct = info.weight_bytes ? 100.0 * bytes / info.weight_bytes : 0.0;
            std::snprintf(buf, sizeof buf, "%s%s %.0f%%", info.quant_mix.empty() ? "" : " · ",
                          type.c_str(), pct);
            info.quant_mix += buf;
        }
        fill_config(info, *f);
    } catch (const std::exception& e) {
        if (info.error.empty()) info.error = e.what();
    }
    return info;
}

LocalEngine::LocalEngine(BackendFactory factory) : factory_(std::move(factory)) {}
LocalEngine::~LocalEngine() = default;

ModelInfo LocalEngine::load(const LoadSettings& ls) {
    const auto backends = available_backends();
    if (std::find(backends.begin(), backends.end(), ls.backend) == backends.end())
        throw Error("backend '" + ls.backend + "' is not available in this build; choose cpu");
    gen_.reset();
    model_.reset();
    tok_.reset();
    info_ = ModelInfo{};
    notice_.clear();
    last_warning_.clear();
    RunSettings rs;
    rs.n_ctx = ls.n_ctx;
    rs.n_threads = resolve_threads(ls.n_threads);
    rs.n_cpu_layers = ls.n_cpu_layers;
    const std::optional<TensorType> kv_type = parse_kv_cache_type(ls.cache_type);
    if (!kv_type)
        throw Error("KV cache type '" + ls.cache_type + "' is not one of f16, bf16, q8_0, f32");
    rs.kv_type = *kv_type;
    host_.reset();
    backend_.reset();
    Backends be = make_backends(ls.backend, rs.n_threads, ls.n_cpu_layers, factory_);
    backend_ = std::move(be.main);
    host_ = std::move(be.host);
    std::unique_ptr<Model> model = Model::load(ls.path, *backend_, rs, host_.get());
    auto tok = std::make_unique<Tokenizer>(Tokenizer::from_gguf(model->file()));
    ModelInfo info = inspect_model(ls.path);
    info.error.clear();
    info.backend = backend_->name();
    info.n_cpu_layers = model->settings().n_cpu_layers;
    const ChatFormat fmt = chat_format_of(model->file(), *tok);
    info.chat_format = std::string(chat_format_name(fmt));
    chat_format_ = static_cast<int>(fmt);
    model_ = std::move(model);
    tok_ = std::move(tok);
    loaded_settings_ = ls;
    // Does the template keep an earlier reply's reasoning_content? Render a probe and look.
    GenerationSettings probe_settings;
    probe_settings.reasoning = ReasoningPolicy::Template;
    const std::vector<ChatTurn> probe{
        {"user", "hi", ""}, {"assistant", "hello", kProbe}, {"user", "again", ""}};
    info.template_keeps_reasoning =
        render(probe, probe_settings, true).find(kProbe) != std::string::npos;
    info_ = info;
    return info_;
}

bool LocalEngine::keeps_reasoning(const GenerationSettings& s) const {
    if (s.reasoning == ReasoningPolicy::Keep) return true;
    if (s.reasoning == ReasoningPolicy::Strip) return false;
    return info_.template_keeps_reasoning;
}

std::string LocalEngine::render(const std::vector<ChatTurn>& turns, const GenerationSettings& s,
                                bool add_generation_prompt, std::string* warning) const {
    if (!tok_) throw Error("no model is loaded");
    ChatPromptOptions opt;
    opt.add_generation_prompt = add_generation_prompt;
    opt.thinking = s.thinking;
    const auto messages = to_messages(turns, s, s.reasoning == ReasoningPolicy::Keep,
                                      s.reasoning == ReasoningPolicy::Template);
    ChatPrompt p = render_model_prompt(*tok_, static_cast<ChatFormat>(chat_format_), messages, opt);
    if (warning) *warning = p.warning;
    return p.text;
}

int64_t LocalEngine::count(const std::string& text) const {
    return text.empty() ? 0 : static_cast<int64_t>(tok_->encode(text, false, false).size());
}

Trace LocalEngine::generate(const std::vector<ChatTurn>& turns, const GenerationSettings& s,
                            const TokenCallback& on_token, const RunControls& controls) {
    if (!model_) throw Error("no model is loaded: open one with Model > Open");
    validate(s.sampling);
    GenerateRequest req;
    std::string warning;
    req.prompt_text = render(turns, s, true, &warning);
    req.prompt = encode_prompt(*tok_, req.prompt_text);
    if (static_cast<int64_t>(req.prompt.size()) >= model_->settings().n_ctx)
        throw Error("the conversation (" + std::to_string(req.prompt.size()) +
                    " tokens) does not fit the context of " +
                    std::to_string(model_->settings().n_ctx) +
                    " tokens: start a new chat or raise the context size");
    req.starts_in_reasoning = prompt_opens_reasoning(req.prompt_text);
    req.max_tokens = s.max_tokens;
    req.stop_at_eog = s.stop_at_end;
    req.sampling = s.sampling;
    req.top_n = s.top_n;
    req.prompt_logprobs = true;  // the inspector shows prompt tokens too
    req.record_routing = s.record_routing;
    req.think_budget = s.think_budget;
    req.steering =
        parse_expert_steering(s.disable_experts, s.force_experts, model_->config()).describe();
    model_->set_precise(s.precise);
    Trace t = run(req, on_token, controls);
    // The same template problem on every turn is said once per model.
    if (!warning.empty() && warning != last_warning_) notice_ = warning;
    last_warning_ = warning;
    return t;
}

Trace LocalEngine::run(const GenerateRequest& request, const TokenCallback& on_token,
                       const RunControls& controls) {
    GenerateRequest req = request;
    req.stop_thinking = controls.stop_thinking;
    if (controls.choose) req.choose = controls.choose;
    Trace t;
    try {
        if (!gen_) gen_ = std::make_unique<Generator>(*model_, *tok_);
        t = gen_->generate(req, on_token, controls.cancel);
    } catch (const Error& e) {
        const std::string recovered = recover_lost_backend();
        if (recovered.empty()) throw;
        throw Error(std::string(e.what()) + "; " + recovered);
    }
    t.model = info_.name;
    if (t.backend.empty()) t.backend = backend_->name();
    return t;
}

namespace {

// A stored reply can be continued or re-run only by the model that made it.
void check_same_model(const Trace& t, const std::string& loaded) {
    if (!t.model.empty() && t.model != loaded)
        throw Error("this reply was made by \"" + t.model + "\", not by the loaded model \"" +
                    loaded + "\": load that model to continue or re-run it");
}

// A reply made from another (a branch, an edited thought, rollouts) runs in the precision mode
// its parent was made in; a trace that does not say (a remote reply, an older trace) leaves it
// to the conversation's setting.
bool precise_for(const Trace& parent, bool setting) {
    const std::string made = generated_precision(parent);
    return made.empty() ? setting : made == "precise";
}

}  // namespace

Trace LocalEngine::branch(const Trace& parent, int at, int32_t token, const GenerationSettings& s,
                          const TokenCallback& on_token, const RunControls& controls) {
    if (!model_) throw Error("no model is loaded: open one with Model > Open");
    check_same_model(parent, info_.name);
    GenerateRequest req = branch_request(parent, at, token, s.max_tokens, *tok_);
    req.think_budget = s.think_budget;
    req.stop_at_eog = req.stop_at_eog && s.stop_at_end;
    model_->set_precise(precise_for(parent, s.precise));
    return run(req, on_token, controls);
}

ChatEngine::Lens LocalEngine::lens(const std::vector<int32_t>& tokens, int position, int top_k,
                                   int span_first, int span_count) {
    if (!model_) throw Error("no model is loaded: open one with Model > Open");
    Lens out;
    out.at = logit_lens(*model_, *tok_, tokens, position, top_k);
    if (span_count > 0) out.span = logit_lens_span(*model_, tokens, span_first, span_count);
    return out;
}

Trace LocalEngine::continue_thought(const Trace& parent, const std::string& thought,
                                    const GenerationSettings& s, const TokenCallback& on_token,
                                    const RunControls& controls) {
    if (!model_) throw Error("no model is loaded: open one with Model > Open");
    check_same_model(parent, info_.name);
    GenerateRequest req = edit_thought_request(parent, thought, s.max_tokens, *tok_);
    req.think_budget = s.think_budget;
    model_->set_precise(precise_for(parent, s.precise));
    return run(req, on_token, controls);
}

Trace LocalEngine::reproduce(const Trace& recorded, const RunControls& controls) {
    if (!model_) throw Error("no model is loaded: open one with Model > Open");
    check_same_model(recorded, info_.name);
    // Traces from before the field were all made in fast mode.
    model_->set_precise(generated_precision(recorded) == "precise");
    return run(reproduce_request(recorded, *tok_), {}, controls);
}

Trace LocalEngine::rescore(const Trace& reply, bool precise, const RunControls& controls) {
    if (!model_) throw Error("no model is loaded: open one with Model > Open");
    check_same_model(reply, info_.name);
    const GenerateRequest req = rescore_request(reply, *tok_);
    if (static_cast<int64_t>(req.prompt.size()) >= model_->settings().n_ctx)
        throw Error("the reply (" + std::to_string(req.prompt.size()) +
                    " tokens) does not fit the context of " +
                    std::to_string(model_->settings().n_ctx) + " tokens");
    model_->set_precise(precise);
    const Trace scored = run(req, {}, controls);
    return rescored_trace(reply, scored);
}

ResampleResult LocalEngine::resample(const Trace& parent, int at, const ResampleOptions& opt,
                                     const std::function<void(int)>& progress,
                                     const RunControls& controls) {
    if (!model_) throw Error("no model is loaded: open one with Model > Open");
    check_same_model(parent, info_.name);
    model_->set_precise(generated_precision(parent) == "precise");
    try {
        if (!gen_) gen_ = std::make_unique<Generator>(*model_, *tok_);
        return resample_at(
            *gen_, parent, at, opt, *tok_,
            [&](int done, const Trace&) {
                if (progress) progress(done);
                return true;
            },
            controls.cancel);
    } catch (const Error& e) {
        const std::string recovered = recover_lost_backend();
        if (recovered.empty()) throw;
        throw Error(std::string(e.what()) + "; " + recovered);
    }
}

std::string LocalEngine::recover_lost_backend() {
    if (!backend_ || !backend_->lost()) return {};
    const LoadSettings ls = loaded_settings_;
    // Everything built on the backend goes before the backend, and the device context last.
    gen_.reset();
    model_.reset();
    tok_.reset();
    host_.reset();
    backend_.reset();
    info_ = ModelInfo{};
    std::string reset_error;
#ifdef GLASSBOX_HAVE_CUDA
    if (ls.backend == "cuda") {
        try {
            cuda::CudaBackend::reset_device(0);
        } catch (const Error& e) {
            reset_error = e.what();
        }
    }
#endif
    if (!reset_error.empty())
        return "the GPU could not be reset (" + reset_error +
               "): no model is loaded; restart Glassbox to use the GPU";
    try {
        load(ls);
    } catch (const Error& e) {
        return "the GPU was reset, but reloading the model failed (" + std::string(e.what()) +
               "): no model is loaded";
    }
    return "the GPU was reset and the model loaded again: send the message again";
}

ContextUse LocalEngine::context_use(const std::vector<ChatTurn>& turns,
                                    const GenerationSettings& s) {
    ContextUse u;
    if (!model_) return u;
    u.n_ctx = model_->settings().n_ctx;
    u.reasoning_kept = keeps_reasoning(s);
    u.system = count(s.system_prompt);
    for (const ChatTurn& t : turns) {
        if (t.role == "user") u.user += count(t.content);
        if (t.role == "assistant") {
            u.answers += count(t.content);
            (u.reasoning_kept ? u.reasoning : u.reasoning_dropped) += count(t.reasoning);
        }
    }
    try {
        const int64_t whole =
            static_cast<int64_t>(encode_prompt(*tok_, render(turns, s, true)).size());
        u.template_overhead =
            std::max<int64_t>(0, whole - (u.system + u.user + u.answers + u.reasoning));
    } catch (const std::exception&) {
    }
    return u;
}

}  // namespace gb::app
