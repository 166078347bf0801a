// libFuzzer harness for the chat-template engine: the input is parsed as a template and rendered
// over a small conversation, under the render budgets. Any input must either render or throw
// gb::Error; a crash, sanitizer report, other exception, or a render that runs past the fuzzer's
// time or memory limit is a finding.
// fuzz-options: -max_len=8192 -timeout=3 -rss_limit_mb=1024
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/template/chat_template.h"
#include "kernels/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view source(reinterpret_cast<const char*>(data), size);
    static const std::vector<gb::ChatMessage> messages = [] {
        std::vector<gb::ChatMessage> m{{"system", "Be brief."},
                                       {"user", "What is 2+2?"},
                                       {"assistant", "<think>\nadd\n</think>\n\n4"},
                                       {"user", "And 3+3?"}};
        m[2].reasoning_content = "add";
        m[2].tool_calls.push_back(gb::json::parse(
            R"({"type": "function", "function": {"name": "add", "arguments": {"a": 2}}})"));
        m.push_back({"tool", "4"});
        m.back().tool_call_id = "call_1";
        return m;
    }();
    gb::ChatTemplateOptions o;
    o.bos_token = "<s>";
    o.eos_token = "</s>";
    o.extra["tools"] = gb::json::parse(
        R"([{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}])");
    o.extra["enable_thinking"] = gb::json::Value::from_bool(true);
    o.now = std::chrono::system_clock::time_point(std::chrono::seconds(1773489600));
    // Smaller totals than the app's, so that each input ends in milliseconds.
    o.limits.budget.max_steps = 200'000;
    o.limits.budget.max_bytes = 16 << 20;
    o.limits.max_output_bytes = 1 << 20;
    try {
        const gb::ChatTemplate t = gb::ChatTemplate::parse(source);
        (void)t.render(messages, o);
    } catch (const gb::Error&) {
    }
    return 0;
}
