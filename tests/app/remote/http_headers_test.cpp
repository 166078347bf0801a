// What the HTTP transport adds for file downloads: the answer's headers (any case, the last of a
// repeated name, an interim 100 answer's dropped), HEAD without a body, and on_head seeing the
// status and headers before the first body byte (and able to stop the transfer there).
#include <gtest/gtest.h>

#include <string>

#include "app/remote/http.h"
#include "tests/app/remote/loopback_server.h"

using namespace gb::remote;
using gb::test::LoopbackServer;

TEST(HttpHeaders, CollectedAndFoundInAnyCase) {
    LoopbackServer server([](LoopbackServer::Conn& c, const LoopbackServer::Request&) {
        c.send(
            "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 5-9/10\r\n"
            "X-Linked-Etag:   \"abc\"  \r\nx-twice: one\r\nX-Twice: two\r\n"
            "Content-Length: 5\r\nConnection: close\r\n\r\n56789");
    });
    HttpRequest req;
    req.url = server.url("/f");
    req.headers = {{"Range", "bytes=5-"}};
    std::string body;
    long status_at_head = 0;
    std::string range_at_head;
    size_t body_at_head = 99;
    const HttpResponse r = http_request(
        req,
        [&](std::string_view b) {
            body.append(b);
            return true;
        },
        nullptr,
        [&](const HttpResponse& h) {
            status_at_head = h.status;
            range_at_head = h.header("content-range") ? *h.header("content-range") : "";
            body_at_head = body.size();
            return true;
        });
    EXPECT_EQ(r.status, 206);
    EXPECT_EQ(body, "56789");
    EXPECT_EQ(status_at_head, 206);
    EXPECT_EQ(range_at_head, "bytes 5-9/10");
    EXPECT_EQ(body_at_head, 0u);
    ASSERT_NE(r.header("X-LINKED-ETAG"), nullptr);
    EXPECT_EQ(*r.header("X-LINKED-ETAG"), "\"abc\"");
    ASSERT_NE(r.header("X-Twice"), nullptr);
    EXPECT_EQ(*r.header("X-Twice"), "two");
    EXPECT_EQ(r.header("X-Interim"), nullptr);
    EXPECT_EQ(r.header("Missing"), nullptr);
    EXPECT_NE(server.requests().at(0).head.find("Range: bytes=5-"), std::string::npos);
}

TEST(HttpHeaders, HeadReadsNoBody) {
    LoopbackServer server([](LoopbackServer::Conn& c, const LoopbackServer::Request&) {
        c.send(
            "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/cdn/x\r\n"
            "X-Linked-Size: 123456\r\nContent-Length: 40\r\nConnection: close\r\n\r\n");
    });
    HttpRequest req;
    req.method = "HEAD";
    req.url = server.url("/r/resolve/main/f");
    const HttpResponse r = http_request(req, {});
    EXPECT_EQ(r.status, 302);
    EXPECT_EQ(r.location, "http://127.0.0.1:1/cdn/x");
    EXPECT_EQ(r.bytes, 0);
    ASSERT_NE(r.header("x-linked-size"), nullptr);
    EXPECT_EQ(*r.header("x-linked-size"), "123456");
    EXPECT_EQ(server.requests().at(0).head.rfind("HEAD /r/resolve/main/f ", 0), 0u);
}

TEST(HttpHeaders, OnHeadCanStopBeforeTheBody) {
    LoopbackServer server([](LoopbackServer::Conn& c, const LoopbackServer::Request&) {
        c.send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789");
    });
    HttpRequest req;
    req.url = server.url("/f");
    int pieces = 0;
    const HttpResponse r = http_request(
        req,
        [&](std::string_view) {
            ++pieces;
            return true;
        },
        nullptr, [](const HttpResponse&) { return false; });
    EXPECT_TRUE(r.cancelled);
    EXPECT_EQ(pieces, 0);
}
