// libFuzzer harness for Tokenizer::from_hf: the input is a tokenizer.json (written to a private
// temporary folder, as the reader takes a path); a tokenizer that loads then encodes and decodes
// a short text. Any input must load or throw gb::Error; nothing else is allowed.
// fuzz-options: -max_len=16384
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/tokenizer/tokenizer.h"
#include "kernels/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::filesystem::path dir = [] {
        const auto base = std::filesystem::exists("/dev/shm")
                              ? std::filesystem::path("/dev/shm")
                              : std::filesystem::temp_directory_path();
        auto d = base / ("gb_tokenizer_fuzz_" + std::to_string(::getpid()));
        std::filesystem::create_directories(d);
        return d;
    }();
    {
        std::ofstream out(dir / "tokenizer.json", std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    }
    try {
        const gb::Tokenizer tok = gb::Tokenizer::from_hf(dir.string());
        const std::vector<int32_t> ids =
            tok.encode("Hello, world! 123 <|end|> ab ab\n\tzürich 🙂", true, true);
        (void)tok.decode(ids, true);
    } catch (const gb::Error&) {
    }
    return 0;
}
