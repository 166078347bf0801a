// Minimal command-line flag parsing for glassbox-cli: every flag is checked, unknown ones refused.
#pragma once

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
    long long integer(const std::string& k, long long def) const {
        auto it = values_.find(k);
        if (it == values_.end()) return def;
        char* end = nullptr;
        long long v = std::strtoll(it->second.c_str(), &end, 10);
        if (end == it->second.c_str() || *end != '\0')
            throw Error("option " + k + " expects an integer, got '" + it->second + "'");
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
    const long long n = std::strtoll(value.c_str(), &end, 10);
    if (end == value.c_str() || *end != '\0' || n < 0)
        throw Error("--cpu-layers must be a number of layers >= 0, or auto; got '" + value + "'");
    return n;
}

}  // namespace gb::cli
