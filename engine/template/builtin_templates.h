// Built-in chat formats of the model families we run, used when a model's own template is
// missing or fails, and the rules that pick the family from a GGUF file's vocabulary.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/template/chat_template.h"

namespace gb {

// SmolLM2, Qwen2.5 and Hermes use ChatML; DeepSeek-R1 covers its Qwen and Llama distills.
enum class ChatFormat { ChatML, Llama3, DeepSeekR1, Gemma, Mistral, Qwen3 };

std::string_view chat_format_name(ChatFormat format);  // "ChatML", "Llama 3", ...
// Our own minimal Jinja source for the format: system, user and assistant turns (earlier
// reasoning dropped as the family's template does), tool results where the family has them,
// add_generation_prompt, and enable_thinking for Qwen3. Tool calls and tool lists are not
// rendered.
std::string_view builtin_template_source(ChatFormat format);
const ChatTemplate& builtin_template(ChatFormat format);  // parsed once

// The family from what a GGUF file says about itself. The vocabulary's special tokens decide
// first (<｜User｜> DeepSeek-R1, <|start_header_id|> Llama 3, <start_of_turn> Gemma, [INST]
// Mistral, <|im_start|> ChatML, or Qwen3 when <think> exists too), then general.architecture
// and tokenizer.ggml.pre; ChatML when nothing is known.
ChatFormat choose_chat_format(std::string_view architecture, std::string_view pre,
                              const std::function<bool(std::string_view)>& has_token);

// The prompt for `messages`: the model's own template when it renders, otherwise `fallback`
// with a warning that names the error and the format used (empty warning when none was needed).
struct ChatPrompt {
    std::string text;
    std::string warning;
};
ChatPrompt render_chat_prompt(std::string_view model_template, ChatFormat fallback,
                              const std::vector<ChatMessage>& messages,
                              const ChatTemplateOptions& options);

}  // namespace gb
