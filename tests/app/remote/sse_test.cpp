// The event-stream decoder against hand-worked cases of the WHATWG rules, fed whole, split at
// every byte position and one byte at a time (the network splits anywhere).
#include "app/remote/sse.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernels/error.h"

using gb::remote::SseDecoder;
using gb::remote::SseEvent;

namespace {

std::vector<SseEvent> decode(const std::vector<std::string>& pieces, SseDecoder* dec = nullptr) {
    SseDecoder local;
    SseDecoder& d = dec ? *dec : local;
    std::vector<SseEvent> out;
    for (const std::string& p : pieces) d.feed(p, out);
    return out;
}

// Every way of cutting `stream` in two, and byte by byte, gives `want`.
void expect_any_split(const std::string& stream, const std::vector<SseEvent>& want) {
    auto same = [&](const std::vector<SseEvent>& got, const std::string& how) {
        ASSERT_EQ(got.size(), want.size()) << how;
        for (size_t i = 0; i < got.size(); ++i) {
            EXPECT_EQ(got[i].data, want[i].data) << how << " event " << i;
            EXPECT_EQ(got[i].event, want[i].event) << how << " event " << i;
            EXPECT_EQ(got[i].id, want[i].id) << how << " event " << i;
        }
    };
    same(decode({stream}), "whole");
    for (size_t cut = 0; cut <= stream.size(); ++cut)
        same(decode({stream.substr(0, cut), stream.substr(cut)}), "cut at " + std::to_string(cut));
    std::vector<std::string> bytes;
    for (char c : stream) bytes.emplace_back(1, c);
    same(decode(bytes), "byte by byte");
}

SseEvent ev(std::string data, std::string event = "", std::string id = "") {
    return SseEvent{std::move(event), std::move(data), std::move(id)};
}

TEST(Sse, ChatCompletionChunksAndDone) {
    const std::string stream =
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n"
        ": keep-alive\n\n"
        "data: {\"choices\":[{\"delta\":{\"content\":\" there\\u00e9\"}}]}\n\n"
        "data: [DONE]\n\n";
    expect_any_split(
        stream, {ev("{\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}"),
                 ev("{\"choices\":[{\"delta\":{\"content\":\" there\\u00e9\"}}]}"), ev("[DONE]")});
    SseDecoder d;
    decode({stream}, &d);
    EXPECT_EQ(d.comments(), 1);
    EXPECT_FALSE(d.pending());
}

TEST(Sse, EveryLineBreakKind) {
    // CRLF, CR alone and LF alone end lines; a CR at the end of one piece and the LF at the start
    // of the next are one break, not an empty line between them.
    expect_any_split("data: a\r\n\r\ndata: b\r\rdata: c\n\ndata: d\r\n\n",
                     {ev("a"), ev("b"), ev("c"), ev("d")});
}

TEST(Sse, FieldsAsTheStandardReadsThem) {
    expect_any_split(
        "data:no space\n\n"              // the space after the colon is optional
        "data:  two spaces\n\n"          // only one is dropped
        "data\n\n"                       // a field without a colon has an empty value
        "data: first\ndata: second\n\n"  // data lines join with a line feed
        "event: error\ndata: {}\n\n"     // the event type applies to this event only
        "data: x\n\n"
        "id: 7\ndata: y\n\n"  // the id carries over to later events
        "data: z\n\n"
        "event: ping\n\n"  // no data: nothing is dispatched, the type is dropped
        "data: after ping\n\n"
        "unknown: field\nretry: 1500\ndata: w\n\n",
        {ev("no space"), ev(" two spaces"), ev(""), ev("first\nsecond"), ev("{}", "error"), ev("x"),
         ev("y", "", "7"), ev("z", "", "7"), ev("after ping", "", "7"), ev("w", "", "7")});
    SseDecoder d;
    decode({"retry: 1500\ndata: w\n\n"}, &d);
    EXPECT_EQ(d.retry_ms(), 1500);
    SseDecoder bad;
    decode({"retry: 15x\n\n"}, &bad);
    EXPECT_EQ(bad.retry_ms(), -1);
}

TEST(Sse, AByteOrderMarkAtTheStartIsSkipped) {
    expect_any_split(
        "\xEF\xBB\xBF"
        "data: a\n\n",
        {ev("a")});
    // Only at the start, and only the whole mark: a lone 0xEF starts the first line.
    expect_any_split(
        "\xEF"
        "data: a\n\ndata: \xEF\xBB\xBF"
        "b\n\n",
        {ev("\xEF\xBB\xBF"
            "b")});
}

TEST(Sse, AStreamCutMidEventIsPending) {
    SseDecoder d;
    const auto got = decode({"data: whole\n\n", "data: {\"half\":"}, &d);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_TRUE(d.pending());
    SseDecoder e;
    decode({"data: whole\n\ndata: line ended\n"}, &e);
    EXPECT_TRUE(e.pending());  // the blank line that ends the event never came
}

TEST(Sse, ALineWithoutEndIsRefusedPastTheLimit) {
    SseDecoder d(64);
    std::vector<SseEvent> out;
    EXPECT_NO_THROW(d.feed("data: " + std::string(50, 'x'), out));
    try {
        d.feed(std::string(20, 'x'), out);
        ADD_FAILURE() << "no error";
    } catch (const gb::Error& e) {
        EXPECT_NE(std::string(e.what()).find("without a line break"), std::string::npos);
    }
}

}  // namespace
