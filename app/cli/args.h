// Minimal command-line flag parsing for glassbox-cli: every flag is checked, unknown ones refused.
#pragma once

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "engine/model/model_config.h"
#include "kernels/error.h"

namespace gb::cli {

class Args {
public:
    // flags: names that take a value; switches: names that do not. Both include the dashes.
    Args(const std::vector<std::string>& argv, const std::vector<std::string>& flags,
         const std::vector<std::string>& switches) {
        for (size_t i = 0; i < argv.size(); ++i) {
            const std::string& a = argv[i];
            if (is_in(a, switches)) {
                values_[a] = "1";
            } else if (is_in(a, flags)) {
                if (i + 1 >= argv.size()) throw Error("option " + a + " needs a value");
                values_[a] = argv[++i];
            } else if (a.size() > 1 && a[0] == '-') {
                throw Error("unknown option " + a);
            } else {
                positional_.push_back(a);
            }
        }
    }
    bool has(const std::string& k) const { return values_.count(k) != 0; }
    std::string str(const std::string& k, const std::string& def = "") const {
        auto it = values_.find(k);
        return it == values_.end() ? def : it->second;
    }
    double num(const std::string& k, double def) const {
        auto it = values_.find(k);
        if (it == values_.end()) return def;
        char* end = nullptr;
        double v = std::strtod(it->second.c_str(), &end);
        if (end == it->second.c_str() || *end != '\0')
            throw Error("option " + k + " expects a number, got '" + it->second + "'");
        return v;
    }
    // An integer option within [lo, hi]: anything else (text, a value past 64 bits, a value out
    // of range) is an error naming the option and the range, checked before any narrowing so that
    // e.g. -n 4294967296 cannot wrap to 0.
    long long integer(const std::string& k, long long def, long long lo, long long hi) const {
        auto it = values_.find(k);
        if (it == values_.end()) return def;
        const std::string& text = it->second;
        char* end = nullptr;
        errno = 0;
        const long long v = std::strtoll(text.c_str(), &end, 10);
        if (end == text.c_str() || *end != '\0')
            throw Error("option " + k + " expects an integer, got '" + text + "'");
        if (errno == ERANGE || v < lo || v > hi)
            throw Error("option " + k + " must be in " + std::to_string(lo) + ".." +
                        std::to_string(hi) + ", got " + text);
        return v;
    }
    // A 64-bit unsigned option (a seed): decimal digits only, at most 2^64-1.
    uint64_t unsigned_integer(const std::string& k, uint64_t def) const {
        auto it = values_.find(k);
        if (it == values_.end()) return def;
        const std::string& text = it->second;
        char* end = nullptr;
        errno = 0;
        const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
        if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0])) || *end != '\0')
            throw Error("option " + k + " expects a non-negative integer, got '" + text + "'");
        if (errno == ERANGE)
            throw Error("option " + k + " must be at most 18446744073709551615, got " + text);
        return v;
    }
    const std::vector<std::string>& positional() const { return positional_; }

private:
    static bool is_in(const std::string& a, const std::vector<std::string>& v) {
        for (const auto& s : v)
            if (s == a) return true;
        return false;
    }
    std::map<std::string, std::string> values_;
    std::vector<std::string> positional_;
};

// The value of --cpu-layers: a count, or "auto" (RunSettings::kAutoCpuLayers), also when absent.
inline int64_t cpu_layers_arg(const std::string& value) {
    if (value.empty() || value == "auto") return RunSettings::kAutoCpuLayers;
    char* end = nullptr;
    errno = 0;
    const long long n = std::strtoll(value.c_str(), &end, 10);
    if (end == value.c_str() || *end != '\0' || n < 0 || errno == ERANGE)
        throw Error("--cpu-layers must be a number of layers >= 0, or auto; got '" + value + "'");
    return n;
}

// The value of --cache-type: what the KV cache holds (f16 when absent).
inline TensorType cache_type_arg(const std::string& value) {
    if (value.empty()) return TensorType::F16;
    if (const auto t = parse_kv_cache_type(value)) return *t;
    throw Error("--cache-type must be f16, bf16, q8_0 or f32; got '" + value + "'");
}

// The --precise switch (RunSettings::precise). It keeps the KV cache in F32, so another
// --cache-type with it is a contradiction, refused by name.
inline bool precise_arg(const Args& args) {
    if (!args.has("--precise")) return false;
    const std::string cache = args.str("--cache-type", "");
    if (!cache.empty() && cache != "f32")
        throw Error("--precise keeps the KV cache in f32; --cache-type " + cache +
                    " contradicts it (leave it out, or run without --precise)");
    return true;
}

}  // namespace gb::cli
