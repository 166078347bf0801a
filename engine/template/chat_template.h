// Chat templates: turns a conversation into the prompt text a model was trained on, by running
// the model's own Jinja chat template (from GGUF metadata) the way HF transformers renders it.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/core/json.h"
#include "engine/template/jinja_render.h"

namespace gb {

struct ChatMessage {
    ChatMessage() = default;
    ChatMessage(std::string r, std::string c) : role(std::move(r)), content(std::move(c)) {}

    std::string role, content;
    std::string reasoning_content;  // passed to the template only when non-empty
    std::vector<json::Value>
        tool_calls;                  // passed only when non-empty, e.g. {"type": "function", ...}
    std::string tool_call_id, name;  // passed only when non-empty (tool results)
};

struct ChatTemplateOptions {
    bool add_generation_prompt = true;
    std::string bos_token, eos_token;
    // Further template variables, e.g. {"enable_thinking", false} or {"tools", [...]}. `tools` and
    // `documents` are none unless given here, as HF transformers passes them.
    std::map<std::string, json::Value> extra;
    // What strftime_now() formats; the current local time when unset (tests pin it).
    std::optional<std::chrono::system_clock::time_point> now;
    jinja::RenderLimits limits;
    // When set, receives what the render used of its step and memory budgets.
    jinja::BudgetUse* usage = nullptr;
};

class ChatTemplate {
public:
    // Throws gb::Error "template:LINE:COL: ..." on syntax errors.
    static ChatTemplate parse(std::string_view source);

    // Throws gb::Error on render errors (with the template position), on raise_exception()
    // (with the template's message) and when a sandbox limit is hit.
    std::string render(const std::vector<ChatMessage>& messages,
                       const ChatTemplateOptions& options) const;
    // Same with messages given as JSON objects (any keys the template wants).
    std::string render_json(const json::Value& messages, const ChatTemplateOptions& options) const;

private:
    std::string render_values(jinja::Value messages, const ChatTemplateOptions& options) const;
    std::shared_ptr<const jinja::Body> body_;
};

}  // namespace gb
