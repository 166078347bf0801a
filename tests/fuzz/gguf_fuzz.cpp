// libFuzzer harness for the GGUF reader: any input must either parse or throw gb::Error; nothing
// else (crash, sanitizer report, other exception) is allowed.
#include <cstddef>
#include <cstdint>
#include <span>

#include "engine/gguf/gguf_file.h"
#include "kernels/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        gb::GgufFile f = gb::GgufFile::parse(std::span<const uint8_t>(data, size), "fuzz.gguf");
        // Touch what a caller would: every key through the typed getters (wrong types throw
        // gb::Error, which is fine), and the first and last byte of every tensor's data.
        volatile uint64_t sink = f.version() + f.alignment() + f.data_offset();
        for (const auto& kv : f.metadata()) {
            try {
                sink = sink + static_cast<uint64_t>(f.get_int(kv.key).value_or(0));
            } catch (const gb::Error&) {
            }
            try {
                sink = sink + (f.get_float(kv.key).value_or(0) > 0);
            } catch (const gb::Error&) {
            }
            try {
                sink = sink + f.get_string(kv.key).value_or("").size();
            } catch (const gb::Error&) {
            }
            try {
                sink = sink + f.get_bool(kv.key).value_or(false);
            } catch (const gb::Error&) {
            }
            try {
                if (const gb::GgufArray* a = f.get_array(kv.key)) sink = sink + a->size();
            } catch (const gb::Error&) {
            }
        }
        for (const auto& t : f.tensors()) {
            const uint8_t* p = f.tensor_data(t);
            sink = sink + p[0] + p[t.n_bytes - 1] + static_cast<uint64_t>(t.rows() * t.cols());
            if (f.find_tensor(t.name) != &t) __builtin_trap();
        }
        (void)sink;
    } catch (const gb::Error&) {
    }
    return 0;
}
