// libFuzzer harness for the safetensors reader: any input must either parse or throw gb::Error;
// nothing else (crash, sanitizer report, other exception) is allowed.
#include <cstddef>
#include <cstdint>
#include <span>

#include "engine/gguf/safetensors_file.h"
#include "kernels/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        gb::SafetensorsFile f =
            gb::SafetensorsFile::parse(std::span<const uint8_t>(data, size), "fuzz.safetensors");
        // Touch what a caller would: the first and last byte of every tensor's data.
        volatile uint64_t sink = f.header_bytes() + f.metadata().size();
        for (const auto& t : f.tensors()) {
            sink = sink + t.data[0] + t.data[t.n_bytes - 1] + static_cast<uint64_t>(t.n_elements);
            if (f.find(t.name) != &t) __builtin_trap();
        }
        (void)sink;
    } catch (const gb::Error&) {
    }
    return 0;
}
