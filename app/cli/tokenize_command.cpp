// `glassbox-cli tokenize`: a model's token ids for a text or file, and tokenizer speed.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "engine/core/file_read.h"
#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/tokenizer.h"

namespace gb::cli {

int tokenize_command(const std::vector<std::string>& argv) {
    Args args(argv, {"-m", "--model", "-p", "--prompt", "-f", "--file", "--bench"},
              {"--no-special", "--add-bos"});
    const std::string path = args.has("-m") ? args.str("-m") : args.str("--model");
    if (path.empty())
        throw Error("tokenize needs a model: -m FILE.gguf, or -m DIR / DIR/tokenizer.json (HF)");
    std::string text;
    if (args.has("-f") || args.has("--file")) {
        const std::string file = args.has("-f") ? args.str("-f") : args.str("--file");
        text = read_regular_file(file, size_t(1) << 30, "the text to tokenize");
    } else if (args.has("-p") || args.has("--prompt")) {
        text = args.has("-p") ? args.str("-p") : args.str("--prompt");
    } else {
        throw Error("tokenize needs a text: -p TEXT or -f FILE");
    }
    // A Hugging Face checkpoint directory or its tokenizer.json; anything else is a GGUF file.
    const bool hf = std::filesystem::is_directory(path) ||
                    (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0);
    std::optional<GgufFile> file;
    // The vocabulary is metadata: a file cut off inside its tensor data still tokenizes.
    if (!hf) file.emplace(GgufFile::open(path, GgufOpen::MetadataOnly));
    auto load = [&] { return hf ? Tokenizer::from_hf(path) : Tokenizer::from_gguf(*file); };
    const Tokenizer tok = load();
    const bool special = !args.has("--no-special");
    const bool bos = args.has("--add-bos");

    const long long reps = args.integer("--bench", 0, 0, 1000000);
    if (reps == 0) {
        const std::vector<int32_t> ids = tok.encode(text, bos, special);
        for (size_t i = 0; i < ids.size(); ++i) std::printf(i ? " %d" : "%d", ids[i]);
        std::printf("\n");
        return 0;
    }
    // Best of `reps` single-threaded encodes of the whole text. Each run loads a fresh tokenizer
    // (not timed), so its word cache starts empty: a warm cache would flatter the number.
    double best = 1e300;
    size_t n_tokens = 0;
    for (long long r = 0; r < reps; ++r) {
        const Tokenizer fresh = load();
        const auto t0 = std::chrono::steady_clock::now();
        n_tokens = fresh.encode(text, bos, special).size();
        best = std::min(
            best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::printf("bytes: %zu\ntokens: %zu\nseconds: %.4f\nMB/s: %.2f\n", text.size(), n_tokens, best,
                static_cast<double>(text.size()) / 1e6 / best);
    return 0;
}

}  // namespace gb::cli
