// Completion streams in the formats servers send them (hand-written from the OpenAI API
// reference and the servers' documented fields), read into a trace's pieces: reasoning from its
// own field or from tags, tokens with log-probabilities, ids and exact bytes where given, the
// finish reason and usage; an error object in the stream and malformed data are errors that say
// what the server sent. Every stream is also cut at every byte on its way through the
// event-stream decoder: the result must not change.
#include "app/remote/chat_stream.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "app/remote/sse.h"

using namespace gb;
using namespace gb::remote;

namespace {

std::string sse(const std::vector<std::string>& datas) {
    std::string s;
    for (const std::string& d : datas) s += "data: " + d + "\n\n";
    return s;
}

// Reads a whole event stream, cut into the given pieces.
ChatStreamReader read(const std::vector<std::string>& pieces, bool starts_in_reasoning = false) {
    ChatStreamReader r(starts_in_reasoning);
    SseDecoder d;
    std::vector<SseEvent> events;
    bool done = false;
    for (const std::string& p : pieces) {
        d.feed(p, events);
        for (const SseEvent& e : events)
            if (!done) done = !r.event(e.data, 1.0);
        events.clear();
    }
    r.finish();
    return r;
}

// The stream whole, cut at every byte, and byte by byte: the same reply.
ChatStreamReader read_any_split(const std::string& stream) {
    const ChatStreamReader whole = read({stream});
    for (size_t cut = 0; cut <= stream.size(); ++cut) {
        const ChatStreamReader r = read({stream.substr(0, cut), stream.substr(cut)});
        EXPECT_EQ(r.reasoning(), whole.reasoning()) << "cut at " << cut;
        EXPECT_EQ(r.answer(), whole.answer()) << "cut at " << cut;
        EXPECT_EQ(r.tokens().size(), whole.tokens().size()) << "cut at " << cut;
    }
    std::vector<std::string> bytes;
    for (char c : stream) bytes.emplace_back(1, c);
    const ChatStreamReader r = read(bytes);
    EXPECT_EQ(r.answer(), whole.answer());
    return whole;
}

const char* kRole =
    R"({"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]})";

TEST(ChatStream, ReasoningContentFieldWithLogprobs) {
    // vLLM / SGLang with a reasoning parser: the thought in delta.reasoning_content, then the
    // answer in delta.content; logprobs per chunk; usage in a last chunk (include_usage).
    const std::string stream = sse(
        {kRole,
         R"({"choices":[{"index":0,"delta":{"reasoning_content":"Two plus"},"logprobs":{"content":[{"token":"Two","logprob":-0.5,"bytes":[84,119,111],"top_logprobs":[{"token":"Two","logprob":-0.5},{"token":"So","logprob":-1.25}]},{"token":" plus","logprob":-0.125,"top_logprobs":[]}]},"finish_reason":null}]})",
         R"({"choices":[{"index":0,"delta":{"reasoning_content":" two."},"logprobs":{"content":[{"token":" two.","logprob":-0.0625,"top_logprobs":[]}]},"finish_reason":null}]})",
         R"({"choices":[{"index":0,"delta":{"content":"It is"},"logprobs":{"content":[{"token":"It","logprob":-0.25,"top_logprobs":[]},{"token":" is","logprob":-1.5,"top_logprobs":[]}]},"finish_reason":null}]})",
         R"({"choices":[{"index":0,"delta":{"content":" 4."},"logprobs":{"content":[{"token":" 4.","logprob":-0.75,"top_logprobs":[]}]},"finish_reason":"stop"}]})",
         R"({"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":6,"completion_tokens_details":{"reasoning_tokens":3}}})",
         "[DONE]"});
    const ChatStreamReader r = read_any_split(stream);
    EXPECT_EQ(r.reasoning(), "Two plus two.");
    EXPECT_EQ(r.answer(), "It is 4.");
    EXPECT_EQ(r.reasoning_source(), "reasoning_content");
    EXPECT_TRUE(r.reasoning_complete());
    ASSERT_EQ(r.tokens().size(), 6u);
    EXPECT_EQ(r.tokens()[0].text, "Two");
    EXPECT_EQ(r.tokens()[0].id, -1);  // the server gave no ids
    EXPECT_FLOAT_EQ(r.tokens()[0].logprob, -0.5f);
    ASSERT_EQ(r.tokens()[0].top.size(), 2u);
    EXPECT_EQ(r.tokens()[0].top[1].text, "So");
    EXPECT_FLOAT_EQ(r.tokens()[0].top[1].logprob, -1.25f);
    EXPECT_TRUE(std::isnan(r.tokens()[0].entropy));  // not guessed from a top-2 list
    for (int i = 0; i < 3; ++i) EXPECT_EQ(r.tokens()[i].phase, Phase::Think) << i;
    for (int i = 3; i < 6; ++i) EXPECT_EQ(r.tokens()[i].phase, Phase::Answer) << i;
    EXPECT_EQ(r.stop_reason(), StopReason::Eog);
    EXPECT_EQ(r.usage().prompt_tokens, 12);
    EXPECT_EQ(r.usage().completion_tokens, 6);
    EXPECT_EQ(r.usage().reasoning_tokens, 3);
    EXPECT_EQ(r.usage().cached_prompt_tokens, -1);  // not given: absent
}

TEST(ChatStream, ReasoningFieldAndInlineTags) {
    const ChatStreamReader a = read_any_split(
        sse({R"({"choices":[{"delta":{"reasoning":"hmm"}}]})",
             R"({"choices":[{"delta":{"content":"Yes."},"finish_reason":"length"}]})", "[DONE]"}));
    EXPECT_EQ(a.reasoning(), "hmm");
    EXPECT_EQ(a.answer(), "Yes.");
    EXPECT_EQ(a.reasoning_source(), "reasoning");
    EXPECT_EQ(a.stop_reason(), StopReason::MaxTokens);
    // Without log-probabilities, a record per piece of text as sent: no id, no probability.
    ASSERT_EQ(a.tokens().size(), 2u);
    EXPECT_EQ(a.tokens()[0].text, "hmm");
    EXPECT_EQ(a.tokens()[0].phase, Phase::Think);
    EXPECT_EQ(a.tokens()[0].id, -1);
    EXPECT_TRUE(std::isnan(a.tokens()[0].logprob));
    EXPECT_EQ(a.tokens()[1].text, "Yes.");
    EXPECT_EQ(a.tokens()[1].phase, Phase::Answer);
    // A server that passes the model's text through: the tags split it, as for a local reply.
    const ChatStreamReader b = read_any_split(
        sse({R"({"choices":[{"delta":{"content":"<think>\nLet me"}}]})",
             R"({"choices":[{"delta":{"content":" see.\n</thi"}}]})",
             R"({"choices":[{"delta":{"content":"nk>\n\nFour."},"finish_reason":"stop"}]})",
             "[DONE]"}));
    EXPECT_EQ(b.reasoning(), "Let me see.");
    EXPECT_EQ(b.answer(), "Four.");
    EXPECT_EQ(b.reasoning_source(), "tags");
    EXPECT_TRUE(b.reasoning_complete());
    // Cut off inside the thought: not complete, no finish reason.
    const ChatStreamReader c =
        read({sse({R"({"choices":[{"delta":{"content":"<think>\nstill going"}}]})"})});
    EXPECT_FALSE(c.reasoning_complete());
    EXPECT_EQ(c.stop_reason(), StopReason::None);
    EXPECT_EQ(c.reasoning(), "still going");
}

TEST(ChatStream, TokenIdsAndExactBytes) {
    // vLLM's return_tokens_as_token_ids writes "token_id:N"; bytes carry a partial UTF-8
    // character exactly (the text shows U+FFFD).
    const ChatStreamReader r = read_any_split(sse(
        {R"({"choices":[{"delta":{"content":"\ufffd"},"logprobs":{"content":[{"token":"token_id:1234","logprob":-2.0,"bytes":[228,189],"top_logprobs":[{"token":"token_id:99","logprob":-0.5,"bytes":[65]}]}]}}]})",
         "[DONE]"}));
    ASSERT_EQ(r.tokens().size(), 1u);
    EXPECT_EQ(r.tokens()[0].id, 1234);
    EXPECT_EQ(r.tokens()[0].text, std::string("\xe4\xbd"));
    ASSERT_EQ(r.tokens()[0].top.size(), 1u);
    EXPECT_EQ(r.tokens()[0].top[0].id, 99);
    EXPECT_EQ(r.tokens()[0].top[0].text, "A");
}

TEST(ChatStream, CompletionsApiLogprobs) {
    const ChatStreamReader r = read_any_split(sse(
        {R"({"choices":[{"text":" Paris","logprobs":{"tokens":[" Paris"],"token_logprobs":[-0.25],"top_logprobs":[{" Paris":-0.25," Lyon":-2.5}]},"finish_reason":null}]})",
         R"({"choices":[{"text":".","logprobs":{"tokens":["."],"token_logprobs":[-0.5],"top_logprobs":[{".":-0.5}]},"finish_reason":"stop"}]})",
         "[DONE]"}));
    EXPECT_EQ(r.answer(), "Paris.");
    ASSERT_EQ(r.tokens().size(), 2u);
    EXPECT_EQ(r.tokens()[0].top[1].text, " Lyon");
    EXPECT_FLOAT_EQ(r.tokens()[0].top[1].logprob, -2.5f);
}

TEST(ChatStream, ErrorsSayWhatTheServerSent) {
    auto kind_and_message = [](const std::string& data) {
        ChatStreamReader r;
        try {
            r.event(data, 0);
        } catch (const RemoteError& e) {
            return std::make_pair(e.kind(), std::string(e.what()));
        }
        return std::make_pair(RemoteError::Kind::Refused, std::string("no error"));
    };
    auto [k1, m1] = kind_and_message(
        R"({"error":{"message":"CUDA out of memory","type":"InternalServerError","code":500}})");
    EXPECT_EQ(k1, RemoteError::Kind::Server);
    EXPECT_NE(m1.find("CUDA out of memory"), std::string::npos) << m1;
    auto [k2, m2] = kind_and_message(R"({"error":"model not loaded"})");
    EXPECT_EQ(k2, RemoteError::Kind::Server);
    EXPECT_NE(m2.find("model not loaded"), std::string::npos) << m2;
    auto [k3, m3] = kind_and_message(R"({"choices":[{"delta":{"content":"x"}})");
    EXPECT_EQ(k3, RemoteError::Kind::Malformed);
    EXPECT_NE(m3.find("not JSON"), std::string::npos) << m3;
    auto [k4, m4] = kind_and_message(R"([1,2])");
    EXPECT_EQ(k4, RemoteError::Kind::Malformed);
    auto [k5, m5] = kind_and_message(
        R"({"choices":[{"delta":{"content":"x"},"logprobs":{"content":[{"token":"x","bytes":[300]}]}}]})");
    EXPECT_EQ(k5, RemoteError::Kind::Malformed);
    EXPECT_NE(m5.find("300"), std::string::npos) << m5;
    // What was read before an error is kept.
    ChatStreamReader r;
    r.event(R"({"choices":[{"delta":{"content":"partial"}}]})", 0);
    EXPECT_THROW(r.event(R"({"error":"lost"})", 1), RemoteError);
    r.finish();
    EXPECT_EQ(r.answer(), "partial");
}

TEST(ChatStream, DeltasAddUpToTheTexts) {
    ChatStreamReader r;
    std::string reasoning, answer;
    for (const char* d : {R"({"choices":[{"delta":{"reasoning_content":"a "}}]})",
                          R"({"choices":[{"delta":{"reasoning_content":"b"}}]})",
                          R"({"choices":[{"delta":{"content":"c"}}]})",
                          R"({"choices":[{"delta":{"content":" d"}}]})"}) {
        StreamDelta delta;
        r.event(d, 0, &delta);
        reasoning += delta.reasoning;
        answer += delta.answer;
    }
    r.finish();
    EXPECT_EQ(reasoning, "a b");
    EXPECT_EQ(answer, "c d");
    EXPECT_EQ(r.reasoning(), "a b");
    EXPECT_EQ(r.answer(), "c d");
}

// Ollama's native /api/chat lines: reasoning in message.thinking, log-probabilities as a
// top-level list (no ids), the finish and nanosecond durations on the last line.
TEST(ChatStream, OllamaNativeLinesAreRead) {
    ChatStreamReader r;
    for (
        const char* d :
        {R"({"model":"qwen3","message":{"role":"assistant","content":"","thinking":"Add them."},"done":false,"logprobs":[{"token":"Add","logprob":-0.2,"bytes":[65,100,100],"top_logprobs":[{"token":"Add","logprob":-0.2},{"token":"Sum","logprob":-1.9}]},{"token":" them.","logprob":-0.1}]})",
         R"({"model":"qwen3","message":{"role":"assistant","content":"42"},"done":false,"logprobs":[{"token":"42","logprob":-0.01}]})",
         R"({"model":"qwen3","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":12,"prompt_eval_duration":25000000,"eval_count":3,"eval_duration":60000000})"})
        EXPECT_TRUE(r.event(d, 1));
    r.finish();
    EXPECT_EQ(r.reasoning_source(), "thinking");
    EXPECT_EQ(r.reasoning(), "Add them.");
    EXPECT_EQ(r.answer(), "42");
    ASSERT_EQ(r.tokens().size(), 3u);
    EXPECT_EQ(r.tokens()[0].phase, Phase::Think);
    EXPECT_EQ(r.tokens()[0].top[1].text, "Sum");
    EXPECT_EQ(r.tokens()[0].id, -1);
    EXPECT_EQ(r.tokens()[2].phase, Phase::Answer);
    EXPECT_EQ(r.stop_reason(), StopReason::Eog);
    EXPECT_EQ(r.usage().prompt_tokens, 12);
    EXPECT_EQ(r.usage().completion_tokens, 3);
    EXPECT_DOUBLE_EQ(r.usage().prompt_ms, 25.0);
    EXPECT_DOUBLE_EQ(r.usage().generate_ms, 60.0);
}

// A whole (non-streamed) reply reads as one event: message in place of delta.
TEST(ChatStream, AWholeReplyReadsAsOneEvent) {
    ChatStreamReader r;
    r.event(
        R"({"object":"chat.completion","choices":[{"message":{"role":"assistant","reasoning":"Think.","content":"Done."},"logprobs":{"content":[{"token":"Done","logprob":-0.5,"top_logprobs":[]},{"token":".","logprob":-0.1,"top_logprobs":[]}]},"finish_reason":"length"}],"usage":{"prompt_tokens":4,"completion_tokens":2}})",
        3);
    r.finish();
    EXPECT_EQ(r.reasoning(), "Think.");
    EXPECT_EQ(r.answer(), "Done.");
    EXPECT_EQ(r.stop_reason(), StopReason::MaxTokens);
    EXPECT_EQ(r.usage().prompt_tokens, 4);
}

}  // namespace
