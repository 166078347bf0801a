// Chat prompts through the model's own template, and their encoding with one BOS.
#include "engine/session/chat_prompt.h"

#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/tokenizer.h"

namespace gb {

ChatFormat chat_format_of(const GgufFile& file, const Tokenizer& tok) {
    return choose_chat_format(file.get_string("general.architecture").value_or(""), tok.vocab().pre,
                              [&](std::string_view t) { return tok.find_token(t) >= 0; });
}

ChatPrompt render_model_prompt(const Tokenizer& tok, ChatFormat family,
                               const std::vector<ChatMessage>& messages,
                               const ChatPromptOptions& options) {
    ChatTemplateOptions opt;
    opt.add_generation_prompt = options.add_generation_prompt;
    if (tok.bos() >= 0) opt.bos_token = tok.token_text(tok.bos());
    if (tok.eos() >= 0) opt.eos_token = tok.token_text(tok.eos());
    if (!options.thinking) opt.extra["enable_thinking"] = json::Value::from_bool(false);
    return render_chat_prompt(tok.chat_template(), family, messages, opt);
}

std::vector<int32_t> encode_prompt(const Tokenizer& tok, const std::string& text) {
    const std::string bos = tok.bos() >= 0 ? tok.token_text(tok.bos()) : std::string();
    const bool has_bos = !bos.empty() && text.starts_with(bos);
    return tok.encode(text, /*add_special=*/!has_bos, /*parse_special=*/true);
}

}  // namespace gb
