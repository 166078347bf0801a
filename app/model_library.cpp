// The model library: names, descriptions and the folder scan.
#include "app/model_library.h"

#include <algorithm>
#include <cctype>
#include <regex>
#include <set>
#include <system_error>

#include "app/chat_engine.h"

namespace gb::app {

namespace fs = std::filesystem;

std::string readable_model_name(const std::string& general_name, const std::string& file_name) {
    std::string stem = file_name;
    if (stem.size() > 5 && stem.compare(stem.size() - 5, 5, ".gguf") == 0)
        stem.resize(stem.size() - 5);
    // A split file's part number, then the quantisation tag (Q4_K_M, IQ2_XS, F16, BF16, ...).
    static const std::regex part("-\\d{5}-of-\\d{5}$");
    static const std::regex quant("[._-](I?Q\\d[A-Za-z0-9_]*|[Ff]16|[Ff]32|[Bb][Ff]16|fp16|fp32)$",
                                  std::regex::icase);
    stem = std::regex_replace(stem, part, "");
    stem = std::regex_replace(stem, quant, "");
    static const std::regex generic("^(ggml-)?(model|models|consolidated|pytorch_model|weights)?$",
                                    std::regex::icase);
    if (std::regex_match(stem, generic)) return general_name.empty() ? file_name : general_name;
    // Hugging Face style names (capitals, dashes between words) read better with spaces; our
    // own all-lower-case names ("glassbox-demo-moe") are kept as they are.
    const bool capitals =
        std::any_of(stem.begin(), stem.end(), [](unsigned char c) { return std::isupper(c); });
    if (capitals) std::replace(stem.begin(), stem.end(), '-', ' ');
    std::replace(stem.begin(), stem.end(), '_', ' ');
    return stem;
}

std::string checkpoint_folder_problem(const fs::path& dir) {
    std::error_code ec;
    const bool config = fs::is_regular_file(dir / "config.json", ec);
    bool weights = false, gguf = false;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        const std::string ext = e.path().extension().string();
        if (ext == ".safetensors") weights = true;
        if (ext == ".gguf") gguf = true;
        if (ext == ".bin" && e.path().filename().string().rfind("pytorch_model", 0) == 0 &&
            !weights)
            return "this folder holds PyTorch .bin weights, which Glassbox does not read: convert "
                   "them to .safetensors (or use a GGUF file)";
    }
    if (!config && weights)
        return "this folder has .safetensors weights but no config.json (the model's settings)";
    if (config && !weights && !gguf)
        return "this folder has config.json but no .safetensors weights: the download is "
               "missing its weight files";
    if (!config && !weights) return "this folder holds no model (no .gguf file, no config.json)";
    return {};
}

LibraryEntry describe_library_model(const fs::path& path) {
    LibraryEntry e;
    e.path = path.string();
    std::error_code ec;
    const bool folder = fs::is_directory(path, ec);
    if (folder) {
        e.error = checkpoint_folder_problem(path);
        for (const auto& f : fs::recursive_directory_iterator(path, ec))
            if (f.is_regular_file(ec)) e.bytes += static_cast<int64_t>(f.file_size(ec));
    } else {
        e.bytes = static_cast<int64_t>(fs::file_size(path, ec));
    }
    const std::string file_name = path.filename().string();
    if (!e.error.empty()) {
        e.name = file_name;
        return e;
    }
    const ModelInfo info = inspect_model(e.path);
    e.full_name = info.name;
    e.name = readable_model_name(info.name == file_name ? "" : info.name, file_name);
    e.arch = info.arch;
    e.n_ctx_train = info.n_ctx_train;
    e.n_params = info.n_params;
    e.reasons = info.reasons;
    e.n_expert = info.n_expert;
    e.n_expert_used = info.n_expert_used;
    // The main weight type: the first of the mix ("Q4_K 71% · Q6_K 20%").
    e.quant = info.quant_mix.substr(0, info.quant_mix.find(' '));
    e.error = info.error;
    return e;
}

std::vector<LibraryEntry> scan_model_folders(const std::vector<fs::path>& folders,
                                             const fs::path& bundled) {
    std::vector<LibraryEntry> out;
    std::set<std::string> seen;
    static const std::regex later_part("-(\\d{5})-of-\\d{5}\\.gguf$");
    for (const fs::path& root : folders) {
        std::error_code ec;
        if (root.empty() || !fs::is_directory(root, ec)) continue;
        const std::string canon_root = fs::weakly_canonical(root, ec).string();
        if (!seen.insert("root:" + canon_root).second) continue;
        const bool is_bundled = !bundled.empty() && fs::weakly_canonical(bundled, ec) == canon_root;
        fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied,
                                            ec);
        for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
            const fs::path p = it->path();
            std::error_code e2;
            if (it.depth() > 2) {
                it.disable_recursion_pending();
                continue;
            }
            if (it->is_directory(e2)) {
                if (fs::is_regular_file(p / "config.json", e2)) {
                    it.disable_recursion_pending();  // a checkpoint: listed as one model
                    out.push_back(describe_library_model(p));
                    out.back().bundled = is_bundled;
                }
                continue;
            }
            if (p.extension() != ".gguf") continue;
            std::smatch m;
            const std::string name = p.filename().string();
            if (std::regex_search(name, m, later_part) && m[1] != "00001") continue;
            if (!seen.insert(fs::weakly_canonical(p, e2).string()).second) continue;
            out.push_back(describe_library_model(p));
            out.back().bundled = is_bundled;
        }
    }
    std::sort(out.begin(), out.end(), [](const LibraryEntry& a, const LibraryEntry& b) {
        if (a.bundled != b.bundled) return a.bundled;
        return a.name < b.name;
    });
    return out;
}

}  // namespace gb::app
