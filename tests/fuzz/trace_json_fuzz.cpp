// libFuzzer harness for the JSON trace reader: any input must either read or throw gb::Error.
// A trace it accepts must also be storable: the binary form reads it back, and so does JSON
// (an accepted trace that the history store then cannot reopen is a silent acceptance).
// fuzz-options: -max_len=65536
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string_view>

#include "engine/trace/trace.h"
#include "engine/trace/trace_binary.h"
#include "kernels/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > 65536) return 0;
    gb::Trace t;
    try {
        t = gb::read_json(std::string_view(reinterpret_cast<const char*>(data), size));
    } catch (const gb::Error&) {
        return 0;
    }
    // Accepted: every later step must succeed.
    const gb::Trace b = gb::read_binary(gb::write_binary(t));
    std::ostringstream out;
    gb::write_json(t, out);
    const gb::Trace j = gb::read_json(out.str());
    if (b.tokens.size() != t.tokens.size() || j.tokens.size() != t.tokens.size()) std::abort();
    return 0;
}
