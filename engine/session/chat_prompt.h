// The prompt of a chat as a model takes it: rendered through the model's own chat template (the
// built-in format of its family when the template is missing or fails), then encoded with one
// BOS. One place for glassbox-cli and the app.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/template/builtin_templates.h"
#include "engine/template/chat_template.h"

namespace gb {

class GgufFile;
class Tokenizer;

// The built-in format the model's file implies (its architecture, pre-tokenizer and special
// tokens): the fallback when its own template is missing or fails.
ChatFormat chat_format_of(const GgufFile& file, const Tokenizer& tok);

struct ChatPromptOptions {
    bool add_generation_prompt = true;
    // false: the template is asked for a reply without reasoning (enable_thinking=false, which
    // Qwen3's and our demo models' templates honour by pre-filling an empty reasoning block).
    bool thinking = true;
};

// The text of the prompt; warning says what failed when the family format stood in.
ChatPrompt render_model_prompt(const Tokenizer& tok, ChatFormat family,
                               const std::vector<ChatMessage>& messages,
                               const ChatPromptOptions& options = {});

// Token ids of a rendered prompt, special tokens parsed; BOS added only when the model wants one
// and the text does not start with it already (templates that write BOS themselves).
std::vector<int32_t> encode_prompt(const Tokenizer& tok, const std::string& text);

}  // namespace gb
