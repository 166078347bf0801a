// libFuzzer harness for what a remote server streams: the bytes go through the event-stream
// decoder in pieces whose sizes the first byte chooses, and each event's data through the
// completion-chunk reader. Any input must end in a reply or a clear error (gb::Error or
// RemoteError), never a crash; the reader's texts must stay readable after an error.
// fuzz-options: -max_len=16384
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "app/remote/chat_stream.h"
#include "app/remote/sse.h"
#include "kernels/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const size_t step = 1 + data[0] % 64;
    const std::string_view all(reinterpret_cast<const char*>(data + 1), size - 1);
    gb::remote::SseDecoder dec(4096);
    gb::remote::ChatStreamReader reader(data[0] & 0x80);
    std::vector<gb::remote::SseEvent> events;
    try {
        for (size_t at = 0; at < all.size(); at += step) {
            dec.feed(all.substr(at, step), events);
            for (const auto& e : events) {
                gb::remote::StreamDelta delta;
                if (!reader.event(e.data, 1.0, &delta)) break;
            }
            events.clear();
        }
    } catch (const gb::Error&) {
    } catch (const gb::remote::RemoteError&) {
    }
    reader.finish();
    volatile size_t n = reader.reasoning().size() + reader.answer().size() + reader.tokens().size();
    (void)n;
    return 0;
}
