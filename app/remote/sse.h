// Server-sent events (the text/event-stream format OpenAI-compatible servers stream replies
// in), decoded incrementally: bytes go in as the network delivers them, split anywhere (inside
// a line, between the CR and LF of a line break, inside a UTF-8 character), and each event
// comes out when the blank line that ends it arrives. Follows the WHATWG HTML standard's
// "event stream interpretation": lines end with CRLF, LF or CR; a leading byte-order mark is
// skipped; "field: value" (one space after the colon dropped); data lines join with "\n"; a
// line starting with ":" is a comment (servers send them as keep-alives); an event without
// data is not dispatched. Qt-free: the CLI and the app share it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gb::remote {

struct SseEvent {
    std::string event;  // the "event:" field; empty means "message"
    std::string data;   // the data lines, joined with "\n"
    std::string id;     // the last "id:" seen in the stream (it carries over events)
};

class SseDecoder {
public:
    // A line longer than this is refused (gb::Error): a server that never sends a line break
    // must not grow memory without bound.
    explicit SseDecoder(size_t max_line_bytes = size_t{16} << 20) : max_line_(max_line_bytes) {}

    // Appends to `out` every event that `bytes` completes. gb::Error for a line over the
    // limit (the decoder is then unusable).
    void feed(std::string_view bytes, std::vector<SseEvent>& out);

    // Comment lines seen (keep-alives).
    int64_t comments() const { return comments_; }
    // True when bytes of an event that has not ended (no blank line yet) are held: at the end
    // of a stream, a reply cut off mid-event.
    bool pending() const { return !line_.empty() || !data_.empty() || has_data_; }
    // The reconnection time a "retry:" field asked for (ms), -1 when none.
    int64_t retry_ms() const { return retry_ms_; }

private:
    void line(std::string_view l, std::vector<SseEvent>& out);

    size_t max_line_;
    std::string line_;       // the line being read
    bool after_cr_ = false;  // the last byte was a CR: an LF right after it ends nothing
    bool started_ = false;   // the first bytes have been seen (for the byte-order mark)
    std::string bom_;        // the first bytes while they may still be a byte-order mark
    std::string event_, data_, id_;
    bool has_data_ = false;
    int64_t comments_ = 0;
    int64_t retry_ms_ = -1;
};

}  // namespace gb::remote
