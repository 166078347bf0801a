// A remote chat reply end to end against the scripted loopback server: the request the server
// receives, the records the callback gets and the trace; every fault of a stream (an HTTP error
// with its message, a connection dropped mid-reply, an error object inside the stream, a body
// that is not an event stream, a stream that just stops, a cancel) keeps what arrived and says
// what happened; the model list; the API key never in the trace.
#include "app/remote/remote_chat.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <sstream>
#include <string>
#include <thread>

#include "engine/core/json.h"
#include "engine/trace/trace_binary.h"
#include "tests/app/remote/loopback_server.h"

using namespace gb;
using namespace gb::remote;
using test::LoopbackServer;

namespace {

const std::string kHead =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";

std::string chunk(const std::string& json) { return "data: " + json + "\n\n"; }

const std::string kThink =
    R"({"choices":[{"delta":{"reasoning_content":"6 times 7"},"logprobs":{"content":[{"token":"6","logprob":-0.1,"top_logprobs":[{"token":"6","logprob":-0.1},{"token":"Six","logprob":-2.5}]},{"token":" times 7","logprob":-0.2,"top_logprobs":[]}]}}]})";
const std::string kAnswer =
    R"({"choices":[{"delta":{"content":"42"},"logprobs":{"content":[{"token":"42","logprob":-0.05,"top_logprobs":[{"token":"42","logprob":-0.05},{"token":"24","logprob":-3.0}]}]},"finish_reason":"stop"}]})";
const std::string kUsage =
    R"({"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"completion_tokens_details":{"reasoning_tokens":2}}})";

RemoteChatRequest request() {
    RemoteChatRequest r;
    r.model = "deepseek-r1";
    r.messages = {{"system", "Be brief."}, {"user", "6*7?"}};
    r.sampling.temperature = 0.6f;
    r.sampling.seed = 11;
    r.max_tokens = 64;
    return r;
}

TEST(RemoteChat, AWholeReplyBecomesATrace) {
    LoopbackServer server([&](LoopbackServer::Conn& c, const LoopbackServer::Request&) {
        c.send(kHead + chunk(kThink));
        c.pause_ms(5);
        c.send(": keep-alive\n\n" + chunk(kAnswer) + chunk(kUsage) + "data: [DONE]\n\n");
    });
    RemoteServer s;
    s.base_url = server.url("/v1/");
    s.api_key = "sk-secret-123";
    std::vector<TokenRecord> seen;
    std::string streamed;
    const RemoteReply r =
        remote_chat(s, request(), [&](const TokenRecord* rec, const std::string& text) {
            if (rec) seen.push_back(*rec);
            streamed += text;
            return true;
        });
    EXPECT_TRUE(r.error.empty()) << r.error;
    const Trace& t = r.trace;
    EXPECT_EQ(t.model, "deepseek-r1");
    EXPECT_EQ(t.backend.rfind("remote 127.0.0.1:", 0), 0u) << t.backend;
    EXPECT_EQ(t.reasoning_text, "6 times 7");
    EXPECT_EQ(t.answer_text, "42");
    EXPECT_EQ(t.stop_reason, StopReason::Eog);
    ASSERT_EQ(t.n_gen, 3);
    EXPECT_EQ(t.n_prompt, 0);
    EXPECT_EQ(t.tokens[0].phase, Phase::Think);
    EXPECT_EQ(t.tokens[2].phase, Phase::Answer);
    EXPECT_FLOAT_EQ(t.tokens[2].top[1].logprob, -3.0f);
    EXPECT_EQ(seen.size(), 3u);
    EXPECT_EQ(streamed, "6 times 742");
    EXPECT_EQ(r.usage.prompt_tokens, 9);
    EXPECT_EQ(r.usage.reasoning_tokens, 2);
    EXPECT_EQ(r.reasoning_source, "reasoning_content");
    // What the server was asked.
    const auto reqs = server.requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_NE(reqs[0].head.find("POST /v1/chat/completions"), std::string::npos) << reqs[0].head;
    EXPECT_NE(reqs[0].head.find("Authorization: Bearer sk-secret-123"), std::string::npos);
    const json::Value body = json::parse(reqs[0].body);
    EXPECT_EQ(body.at("model").as_string(), "deepseek-r1");
    EXPECT_TRUE(body.at("stream").as_bool());
    EXPECT_TRUE(body.at("logprobs").as_bool());
    EXPECT_EQ(body.at("top_logprobs").as_int64(), 5);
    EXPECT_EQ(body.at("max_tokens").as_int64(), 64);
    EXPECT_EQ(body.at("seed").as_uint64(), 11u);
    EXPECT_FLOAT_EQ(body.at("temperature").as_float(), 0.6f);
    EXPECT_EQ(body.at("messages").at(size_t{1}).at("content").as_string(), "6*7?");
    // Ids the server did not give are -1, in both stored forms.
    const Trace back = read_binary(write_binary(t));
    EXPECT_EQ(back.tokens[0].id, -1);
    EXPECT_EQ(back.tokens[0].top[1].id, -1);
    EXPECT_EQ(back.answer_text, "42");
    // The key is in no part of the trace.
    std::ostringstream js;
    write_json(t, js);
    EXPECT_EQ(js.str().find("sk-secret"), std::string::npos);
    // A hosted API gets OpenAI's fields only.
    s.openai_fields_only = true;
    EXPECT_EQ(chat_request_body(s, request()).find("top_k"), std::string::npos);
    s.openai_fields_only = false;
    EXPECT_NE(chat_request_body(s, request()).find("top_k"), std::string::npos);
}

// Each fault: what the server does after the head, and what the reply must say and keep.
struct Fault {
    const char* name;
    std::string after_head;
    const char* error;  // expected in RemoteReply::error
    int kept;           // records kept
};

TEST(RemoteChat, EveryStreamFaultKeepsWhatArrived) {
    const std::vector<Fault> faults = {
        {"error object mid-stream",
         chunk(kThink) +
             chunk(
                 R"({"error":{"message":"CUDA error: out of memory","type":"InternalServerError"}})"),
         "CUDA error: out of memory", 2},
        {"malformed JSON", chunk(kThink) + "data: {\"choices\":[{\"delta\":\n\n", "not JSON", 2},
        {"ends without a finish", chunk(kThink), "ended without a finish reason", 2},
    };
    for (const Fault& f : faults) {
        LoopbackServer server([&](LoopbackServer::Conn& c, const LoopbackServer::Request&) {
            c.send(kHead + f.after_head);
        });
        RemoteServer s;
        s.base_url = server.url("/v1");
        const RemoteReply r = remote_chat(s, request());
        EXPECT_NE(r.error.find(f.error), std::string::npos) << f.name << ": " << r.error;
        EXPECT_EQ(r.trace.n_gen, f.kept) << f.name;
        EXPECT_EQ(r.trace.stop_reason, StopReason::Error) << f.name;
        EXPECT_EQ(r.trace.reasoning_text, "6 times 7") << f.name;
    }
    // A connection dropped mid-reply (the declared length never arrives).
    LoopbackServer dropped([&](LoopbackServer::Conn& c, const LoopbackServer::Request&) {
        c.send(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 9999\r\n\r\n" +
            chunk(kThink));
    });
    RemoteServer s;
    s.base_url = dropped.url("/v1");
    const RemoteReply r = remote_chat(s, request());
    EXPECT_NE(r.error.find("dropped mid-reply"), std::string::npos) << r.error;
    EXPECT_EQ(r.trace.n_gen, 2);
}

TEST(RemoteChat, NoReplyAtAllIsAnError) {
    std::string reply;
    LoopbackServer server(
        [&](LoopbackServer::Conn& c, const LoopbackServer::Request&) { c.send(reply); });
    RemoteServer s;
    s.base_url = server.url("/v1");
    auto message = [&](const std::string& raw) {
        reply = raw;
        try {
            remote_chat(s, request());
        } catch (const RemoteError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    const std::string http = message(
        "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
        R"({"object":"error","message":"The model `deepseek-r1` does not exist.","code":404})");
    EXPECT_NE(http.find("does not exist"), std::string::npos) << http;
    EXPECT_NE(http.find("HTTP 404"), std::string::npos) << http;
    const std::string html = message(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: "
        "close\r\n\r\n<html>login</html>");
    EXPECT_NE(html.find("no event stream"), std::string::npos) << html;
    EXPECT_NE(html.find("text/html"), std::string::npos) << html;
}

TEST(RemoteChat, CancelStopsTheReply) {
    LoopbackServer server([&](LoopbackServer::Conn& c, const LoopbackServer::Request&) {
        c.send(kHead + chunk(kThink));
        for (int i = 0; i < 100 && c.send(": tick\n\n"); ++i) c.pause_ms(20);
    });
    RemoteServer s;
    s.base_url = server.url("/v1");
    std::atomic<bool> cancel{false};
    std::thread stop([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(150));
        cancel = true;
    });
    const auto t0 = std::chrono::steady_clock::now();
    const RemoteReply r = remote_chat(s, request(), {}, &cancel);
    stop.join();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1500));
    EXPECT_EQ(r.trace.stop_reason, StopReason::Cancelled);
    EXPECT_EQ(r.trace.n_gen, 2);
    // The token callback may stop it too.
    const RemoteReply r2 =
        remote_chat(s, request(), [](const TokenRecord*, const std::string&) { return false; });
    EXPECT_EQ(r2.trace.stop_reason, StopReason::Stopped);
}

TEST(RemoteChat, ModelList) {
    std::string reply;
    LoopbackServer server(
        [&](LoopbackServer::Conn& c, const LoopbackServer::Request&) { c.send(reply); });
    RemoteServer s;
    s.base_url = server.url("/v1");
    reply =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
        R"({"object":"list","data":[{"id":"deepseek-ai/DeepSeek-R1","object":"model"},{"id":"qwen3-moe","object":"model"}]})";
    EXPECT_EQ(list_models(s), (std::vector<std::string>{"deepseek-ai/DeepSeek-R1", "qwen3-moe"}));
    EXPECT_NE(server.requests().back().head.find("GET /v1/models"), std::string::npos);
    reply =
        "HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n"
        R"({"error":{"message":"invalid key"}})";
    try {
        list_models(s);
        ADD_FAILURE() << "no error";
    } catch (const RemoteError& e) {
        EXPECT_EQ(e.kind(), RemoteError::Kind::Http);
        EXPECT_NE(std::string(e.what()).find("check the API key"), std::string::npos) << e.what();
    }
    reply = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nnot json";
    EXPECT_THROW(list_models(s), RemoteError);
}

}  // namespace
