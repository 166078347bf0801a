// The HTTP transport against a scripted loopback server: a streamed body arrives in the pieces
// the server sends, whatever their size and pauses; errors say what happened (the server's own
// message from a JSON or HTML error body, a redirect not followed, a connection dropped
// mid-reply with the bytes so far kept, a server that never answers, a closed port); a cancel
// stops a stream at once.
#include "app/remote/http.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "app/remote/chat_stream.h"
#include "app/remote/sse.h"
#include "tests/app/remote/loopback_server.h"

using namespace gb;
using namespace gb::remote;
using test::LoopbackServer;

namespace {

const char* kSseHead =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    "Connection: close\r\n\r\n";

std::string answer_of(const std::string& stream) {
    SseDecoder d;
    ChatStreamReader r;
    std::vector<SseEvent> ev;
    d.feed(stream, ev);
    for (const SseEvent& e : ev)
        if (!r.event(e.data, 0)) break;
    r.finish();
    return r.answer();
}

TEST(Http, AStreamArrivesAsTheServerSendsIt) {
    const std::string stream =
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"
        ": keep-alive\n\n"
        "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n"
        "data: [DONE]\n\n";
    LoopbackServer server([&](LoopbackServer::Conn& c, const LoopbackServer::Request&) {
        c.send(kSseHead);
        // Split inside a field name, inside the JSON and between CR-less line breaks, with
        // pauses between the pieces.
        for (size_t at = 0; at < stream.size(); at += 7) {
            c.send(stream.substr(at, 7));
            c.pause_ms(2);
        }
    });
    HttpRequest req;
    req.method = "POST";
    req.url = server.url("/v1/chat/completions");
    req.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer sk-test"}};
    req.body = R"({"model":"m","stream":true})";
    std::string got;
    int pieces = 0;
    const HttpResponse r = http_request(req, [&](std::string_view b) {
        got.append(b);
        ++pieces;
        return true;
    });
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.content_type, "text/event-stream");
    EXPECT_EQ(got, stream);
    EXPECT_GT(pieces, 1);  // streamed, not buffered to the end
    EXPECT_EQ(answer_of(got), "Hello");
    const auto seen = server.requests();
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_NE(seen[0].head.find("POST /v1/chat/completions"), std::string::npos);
    EXPECT_NE(seen[0].head.find("Authorization: Bearer sk-test"), std::string::npos);
    EXPECT_EQ(seen[0].body, req.body);
}

TEST(Http, ErrorBodiesInWords) {
    std::string reply;
    LoopbackServer server(
        [&](LoopbackServer::Conn& c, const LoopbackServer::Request&) { c.send(reply); });
    auto status_text = [&](const std::string& raw) {
        reply = raw;
        HttpRequest req;
        req.url = server.url("/v1/models");
        const HttpResponse r = http_request(req, [](std::string_view) { return true; });
        return describe_http_error(r, req.url);
    };
    const std::string json_error = status_text(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
        R"({"object":"error","message":"max_tokens must be at least 1","type":"BadRequestError"})");
    EXPECT_NE(json_error.find("HTTP 400"), std::string::npos) << json_error;
    EXPECT_NE(json_error.find("max_tokens must be at least 1"), std::string::npos) << json_error;
    const std::string openai = status_text(
        "HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n"
        R"({"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}})");
    EXPECT_NE(openai.find("Incorrect API key provided"), std::string::npos) << openai;
    EXPECT_NE(openai.find("check the API key"), std::string::npos) << openai;
    const std::string html = status_text(
        "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n"
        "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1>"
        "<p>upstream   unreachable</p></body></html>");
    EXPECT_NE(html.find("HTTP 502"), std::string::npos) << html;
    EXPECT_NE(html.find("Bad Gateway"), std::string::npos) << html;
    EXPECT_NE(html.find("upstream unreachable"), std::string::npos) << html;
    EXPECT_EQ(html.find('<'), std::string::npos) << html;
    const std::string redirect = status_text(
        "HTTP/1.1 302 Found\r\nLocation: https://elsewhere.example/v1/models\r\n"
        "Content-Length: 0\r\nConnection: close\r\n\r\n");
    EXPECT_NE(redirect.find("https://elsewhere.example/v1/models"), std::string::npos) << redirect;
    EXPECT_NE(redirect.find("not followed"), std::string::npos) << redirect;
    EXPECT_EQ(server.requests().size(), 4u);  // the redirect was not followed anywhere
}

TEST(Http, ADroppedConnectionKeepsWhatArrived) {
    LoopbackServer server([&](LoopbackServer::Conn& c, const LoopbackServer::Request&) {
        // A declared length the body never reaches: the connection closes mid-reply.
        c.send(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 5000\r\n\r\n"
            "data: {\"choices\":[{\"delta\":{\"content\":\"partial\"}}]}\n\n");
    });
    HttpRequest req;
    req.url = server.url("/");
    std::string got;
    try {
        http_request(req, [&](std::string_view b) {
            got.append(b);
            return true;
        });
        ADD_FAILURE() << "no error";
    } catch (const RemoteError& e) {
        EXPECT_EQ(e.kind(), RemoteError::Kind::Network);
        EXPECT_NE(std::string(e.what()).find("dropped mid-reply"), std::string::npos) << e.what();
    }
    EXPECT_EQ(answer_of(got), "partial");
}

TEST(Http, AServerThatNeverAnswersTimesOut) {
    LoopbackServer server(
        [&](LoopbackServer::Conn& c, const LoopbackServer::Request&) { c.wait_close_ms(5000); });
    HttpRequest req;
    req.url = server.url("/");
    req.idle_timeout_s = 1;
    const auto t0 = std::chrono::steady_clock::now();
    try {
        http_request(req, [](std::string_view) { return true; });
        ADD_FAILURE() << "no error";
    } catch (const RemoteError& e) {
        EXPECT_EQ(e.kind(), RemoteError::Kind::Timeout);
        EXPECT_NE(std::string(e.what()).find("no answer"), std::string::npos) << e.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(4));
}

TEST(Http, NoServerAndBadUrls) {
    int port = 0;
    {
        LoopbackServer gone([](LoopbackServer::Conn&, const LoopbackServer::Request&) {});
        port = std::stoi(gone.url().substr(gone.url().rfind(':') + 1));
    }  // closed: nothing listens there now
    HttpRequest req;
    req.url = "http://127.0.0.1:" + std::to_string(port) + "/v1/models";
    try {
        http_request(req, {});
        ADD_FAILURE() << "no error";
    } catch (const RemoteError& e) {
        EXPECT_EQ(e.kind(), RemoteError::Kind::Network);
        EXPECT_NE(std::string(e.what()).find("could not connect"), std::string::npos) << e.what();
    }
    req.url = "file:///etc/passwd";
    EXPECT_THROW(http_request(req, {}), RemoteError);
    req.url = "ftp://127.0.0.1/";
    EXPECT_THROW(http_request(req, {}), RemoteError);
}

TEST(Http, CancelStopsAStreamAtOnce) {
    LoopbackServer server([&](LoopbackServer::Conn& c, const LoopbackServer::Request&) {
        c.send(kSseHead);
        for (int i = 0; i < 200 && c.send(": tick\n\n"); ++i) c.pause_ms(20);
    });
    HttpRequest req;
    req.url = server.url("/");
    std::atomic<bool> cancel{false};
    std::thread stopper([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        cancel = true;
    });
    const auto t0 = std::chrono::steady_clock::now();
    const HttpResponse r = http_request(
        req, [](std::string_view) { return true; }, &cancel);
    const auto took = std::chrono::steady_clock::now() - t0;
    stopper.join();
    EXPECT_TRUE(r.cancelled);
    EXPECT_LT(took, std::chrono::milliseconds(1500));
    // The callback may stop it too.
    int calls = 0;
    const HttpResponse r2 = http_request(req, [&](std::string_view) { return ++calls < 3; });
    EXPECT_TRUE(r2.cancelled);
    EXPECT_EQ(calls, 3);
}

}  // namespace
