// The model library: the model files in the user's models folder (and the bundled demo models),
// each described as the library lists it: a readable name, architecture, size, quantisation,
// training context, whether it reasons and whether it routes, or what is wrong with it in plain
// words. Qt-free; the app scans off the UI thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "app/chat_types.h"

namespace gb::app {

struct LibraryEntry {
    std::string path;       // a .gguf file or a checkpoint folder
    std::string name;       // readable_model_name
    std::string full_name;  // general.name as the file gives it
    std::string arch;
    int64_t bytes = 0;  // on disk
    std::string quant;  // the main weight type, e.g. "Q4_K"
    int64_t n_ctx_train = 0;
    int64_t n_params = 0;
    bool reasons = false;
    int64_t n_expert = 0, n_expert_used = 0;  // 0: dense
    bool bundled = false;                     // one of our demo models, shipped with the app
    std::string error;                        // "" when it can be loaded
};

// A name a person would use: the file's own name without its quantisation tag
// ("SmolLM2-135M-Instruct.Q4_1.gguf" gives "SmolLM2 135M Instruct"), unless that is generic
// ("model.gguf", "ggml-model-f16.gguf"): then general.name.
std::string readable_model_name(const std::string& general_name, const std::string& file_name);

// Describes one model (a GGUF file or a checkpoint folder); never throws.
LibraryEntry describe_library_model(const std::filesystem::path& path);

// What a folder that looks like a checkpoint lacks, in words ("" when it has config.json and
// .safetensors weights).
std::string checkpoint_folder_problem(const std::filesystem::path& dir);

// Every model under the folders (GGUF files, and folders holding a config.json), at most three
// levels deep, sorted by name; models in `bundled` are marked so. Unreadable folders are
// skipped. A split GGUF's later parts (-00002-of-00003.gguf) are not listed on their own.
std::vector<LibraryEntry> scan_model_folders(const std::vector<std::filesystem::path>& folders,
                                             const std::filesystem::path& bundled = {});

}  // namespace gb::app
