// Built-in chat formats (our own minimal Jinja, rendered by the same engine as model templates)
// and the family chooser used when a model's template is missing or fails.
#include "engine/template/builtin_templates.h"

#include <array>
#include <memory>

#include "kernels/error.h"

namespace gb {

namespace {

// Plain ChatML: every message as <|im_start|>role\ncontent<|im_end|>\n.
constexpr std::string_view kChatML = R"JINJA(
{%- for m in messages %}
    {{- '<|im_start|>' + m.role + '\n' + (m.content if m.content is string else '') + '<|im_end|>\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
)JINJA";

// Llama 3.x instruct: a system header with the knowledge-cutoff lines, trimmed turns, tool
// results as ipython turns holding JSON.
constexpr std::string_view kLlama3 = R"JINJA(
{{- bos_token }}
{%- set body = messages %}
{%- set system = '' %}
{%- if messages and messages[0].role == 'system' %}
    {%- set system = messages[0].content|trim %}
    {%- set body = messages[1:] %}
{%- endif %}
{{- '<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n' + system + '<|eot_id|>' }}
{%- for m in body %}
    {%- set content = m.content if m.content is string else '' %}
    {%- if m.role == 'tool' or m.role == 'ipython' %}
        {{- '<|start_header_id|>ipython<|end_header_id|>\n\n' + content|tojson + '<|eot_id|>' }}
    {%- else %}
        {{- '<|start_header_id|>' + m.role + '<|end_header_id|>\n\n' + content|trim + '<|eot_id|>' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
)JINJA";

// DeepSeek-R1 and its distills: the system prompt right after BOS, earlier reasoning dropped
// from assistant turns, and the reply opened with <think>\n.
constexpr std::string_view kDeepSeekR1 = R"JINJA(
{%- set ns = namespace(system='') %}
{%- for m in messages if m.role == 'system' %}
    {%- set ns.system = m.content %}
{%- endfor %}
{{- bos_token + ns.system }}
{%- for m in messages %}
    {%- set content = m.content if m.content is string else '' %}
    {%- if m.role == 'user' %}
        {{- '<｜User｜>' + content }}
    {%- elif m.role == 'assistant' %}
        {{- '<｜Assistant｜>' + content.split('</think>')[-1] + '<｜end▁of▁sentence｜>' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<｜Assistant｜><think>\n' }}
{%- endif %}
)JINJA";

// Gemma: user/model turns; Gemma has no system role, so system text leads the next turn.
constexpr std::string_view kGemma = R"JINJA(
{{- bos_token }}
{%- set ns = namespace(prefix='') %}
{%- for m in messages %}
    {%- set content = m.content if m.content is string else '' %}
    {%- if m.role == 'system' %}
        {%- set ns.prefix = ns.prefix + content + '\n\n' %}
    {%- else %}
        {%- set role = 'model' if m.role == 'assistant' else m.role %}
        {{- '<start_of_turn>' + role + '\n' + ns.prefix + content|trim + '<end_of_turn>\n' }}
        {%- set ns.prefix = '' %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<start_of_turn>model\n' }}
{%- endif %}
)JINJA";

// Mistral (Nemo style): [INST] user [/INST] answer</s>; the system prompt goes into the user
// turn that ends the conversation.
constexpr std::string_view kMistral = R"JINJA(
{%- set body = messages %}
{%- if messages and messages[0].role == 'system' %}
    {%- set system = messages[0].content %}
    {%- set body = messages[1:] %}
{%- endif %}
{{- bos_token }}
{%- for m in body %}
    {%- set content = m.content if m.content is string else '' %}
    {%- if m.role == 'user' %}
        {{- '[INST]' }}
        {%- if loop.last and system is defined %}
            {{- system + '\n\n' }}
        {%- endif %}
        {{- content + '[/INST]' }}
    {%- elif m.role == 'assistant' %}
        {{- content + eos_token }}
    {%- endif %}
{%- endfor %}
)JINJA";

// Qwen3: ChatML whose assistant turns after the last user query keep their reasoning in a
// <think> block; enable_thinking=false pre-fills an empty one.
constexpr std::string_view kQwen3 = R"JINJA(
{%- set ns = namespace(last_query=messages|length - 1, found=false) %}
{%- for m in messages[::-1] %}
    {%- set wrapped = m.content is string and m.content.startswith('<tool_response>') and m.content.endswith('</tool_response>') %}
    {%- if not ns.found and m.role == 'user' and not wrapped %}
        {%- set ns.last_query = messages|length - 1 - loop.index0 %}
        {%- set ns.found = true %}
    {%- endif %}
{%- endfor %}
{%- for m in messages %}
    {%- set content = m.content if m.content is string else '' %}
    {%- if m.role == 'user' or m.role == 'system' %}
        {{- '<|im_start|>' + m.role + '\n' + content + '<|im_end|>\n' }}
    {%- elif m.role == 'assistant' %}
        {%- set reasoning = m.reasoning_content if m.reasoning_content is string else '' %}
        {%- if m.reasoning_content is not string and '</think>' in content %}
            {%- set reasoning = content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') %}
            {%- set content = content.split('</think>')[-1].lstrip('\n') %}
        {%- endif %}
        {%- if loop.index0 > ns.last_query and (loop.last or reasoning) %}
            {{- '<|im_start|>assistant\n<think>\n' + reasoning.strip('\n') + '\n</think>\n\n' + content.lstrip('\n') }}
        {%- else %}
            {{- '<|im_start|>assistant\n' + content }}
        {%- endif %}
        {{- '<|im_end|>\n' }}
    {%- elif m.role == 'tool' %}
        {%- if loop.first or messages[loop.index0 - 1].role != 'tool' %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' + content + '\n</tool_response>' }}
        {%- if loop.last or messages[loop.index0 + 1].role != 'tool' %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\n\n</think>\n\n' }}
    {%- endif %}
{%- endif %}
)JINJA";

struct FormatInfo {
    ChatFormat format;
    std::string_view name, source;
};

constexpr std::array<FormatInfo, 6> kFormats = {{
    {ChatFormat::ChatML, "ChatML", kChatML},
    {ChatFormat::Llama3, "Llama 3", kLlama3},
    {ChatFormat::DeepSeekR1, "DeepSeek-R1", kDeepSeekR1},
    {ChatFormat::Gemma, "Gemma", kGemma},
    {ChatFormat::Mistral, "Mistral", kMistral},
    {ChatFormat::Qwen3, "Qwen3", kQwen3},
}};

const FormatInfo& info(ChatFormat f) { return kFormats[static_cast<size_t>(f)]; }

bool starts_with_any(std::string_view s, std::initializer_list<std::string_view> prefixes) {
    for (auto p : prefixes)
        if (s.starts_with(p)) return true;
    return false;
}

}  // namespace

std::string_view chat_format_name(ChatFormat format) { return info(format).name; }

std::string_view builtin_template_source(ChatFormat format) { return info(format).source; }

const ChatTemplate& builtin_template(ChatFormat format) {
    // Parsed on first use; the sources are constants, so a parse error is a bug caught by tests.
    static const std::array<ChatTemplate, kFormats.size()> parsed = [] {
        std::array<ChatTemplate, kFormats.size()> out;
        for (size_t i = 0; i < kFormats.size(); ++i)
            out[i] = ChatTemplate::parse(kFormats[i].source);
        return out;
    }();
    return parsed[static_cast<size_t>(format)];
}

ChatFormat choose_chat_format(std::string_view architecture, std::string_view pre,
                              const std::function<bool(std::string_view)>& has_token) {
    // The turn markers a vocabulary reserves are the surest sign of the format it was tuned on.
    if (has_token("<｜User｜>") || has_token("<｜Assistant｜>")) return ChatFormat::DeepSeekR1;
    if (has_token("<|start_header_id|>")) return ChatFormat::Llama3;
    if (has_token("<start_of_turn>")) return ChatFormat::Gemma;
    if (has_token("[INST]")) return ChatFormat::Mistral;
    if (has_token("<|im_start|>"))
        return has_token("<think>") ? ChatFormat::Qwen3 : ChatFormat::ChatML;
    // No marker tokens: the architecture or pre-tokenizer names the family.
    if (architecture == "qwen3" || architecture == "qwen3moe") return ChatFormat::Qwen3;
    if (starts_with_any(architecture, {"gemma"})) return ChatFormat::Gemma;
    if (starts_with_any(pre, {"deepseek"}) || starts_with_any(architecture, {"deepseek"}))
        return ChatFormat::DeepSeekR1;
    if (pre == "llama-bpe") return ChatFormat::Llama3;
    if (pre == "tekken") return ChatFormat::Mistral;
    return ChatFormat::ChatML;
}

ChatPrompt render_chat_prompt(std::string_view model_template, ChatFormat fallback,
                              const std::vector<ChatMessage>& messages,
                              const ChatTemplateOptions& options) {
    std::string problem;
    if (model_template.empty()) {
        problem = "the model file has no chat template";
    } else {
        try {
            return {ChatTemplate::parse(model_template).render(messages, options), ""};
        } catch (const std::exception& e) {
            problem = std::string("the model's chat template failed: ") + e.what();
        }
    }
    ChatPrompt p;
    p.text = builtin_template(fallback).render(messages, options);
    p.warning = problem + "; using the built-in " + std::string(chat_format_name(fallback)) +
                " format instead";
    return p;
}

}  // namespace gb
