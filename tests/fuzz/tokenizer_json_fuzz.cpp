// libFuzzer harness for Tokenizer::from_hf: the input is a tokenizer.json, optionally followed
// by a NUL and a tokenizer_config.json, and another NUL and a text (written to a private
// temporary folder, as the reader takes a path). A tokenizer that loads then encodes and decodes
// the text (or a fixed one) with and without special tokens, under the encoder's work budgets.
// Any input must load or throw gb::Error; nothing else is allowed. Seeds:
// tests/fuzz/make_tokenizer_corpus.py.
// fuzz-options: -max_len=16384
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "engine/tokenizer/tokenizer.h"
#include "kernels/error.h"

namespace {

void write_file(const std::filesystem::path& p, std::string_view bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::filesystem::path dir = [] {
        const auto base = std::filesystem::exists("/dev/shm")
                              ? std::filesystem::path("/dev/shm")
                              : std::filesystem::temp_directory_path();
        auto d = base / ("gb_tokenizer_fuzz_" + std::to_string(::getpid()));
        std::filesystem::create_directories(d);
        return d;
    }();
    std::string_view in(reinterpret_cast<const char*>(data), size);
    const size_t nul1 = in.find('\0');
    write_file(dir / "tokenizer.json", in.substr(0, nul1));
    std::string_view config,
        text = "Hello, world! 123 <|end|> ab ab\n\tz\xC3\xBCrich \xF0\x9F\x99\x82";
    if (nul1 != std::string_view::npos) {
        const std::string_view rest = in.substr(nul1 + 1);
        const size_t nul2 = rest.find('\0');
        config = rest.substr(0, nul2);
        if (nul2 != std::string_view::npos) text = rest.substr(nul2 + 1);
        write_file(dir / "tokenizer_config.json", config);
    } else {
        std::filesystem::remove(dir / "tokenizer_config.json");
    }
    try {
        const gb::Tokenizer tok = gb::Tokenizer::from_hf(dir.string());
        for (bool special : {true, false}) {
            const std::vector<int32_t> ids = tok.encode(text, special, special);
            for (int32_t id : ids)
                if (id < 0 || static_cast<size_t>(id) >= tok.size()) __builtin_trap();
            (void)tok.decode(ids, special);
        }
    } catch (const gb::Error&) {
    }
    return 0;
}
