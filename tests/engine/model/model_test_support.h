// Shared by the model tests: logits against a reference within a tolerance relative to the
// logit range, and fixture files rewritten with one defect for the error tests.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "engine/core/json.h"
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_writer.h"
#include "tests/test_support.h"

namespace gb::test {

// |ours - ref| <= rel * (max(ref) - min(ref)) for every logit of one position.
inline void expect_logits(const float* ours, const json::Value& ref, const std::string& where, double rel = 1e-4) {
    const auto& r = ref.as_array();
    double lo = 1e300, hi = -1e300;
    for (const auto& x : r) {
        lo = std::min(lo, x.as_number());
        hi = std::max(hi, x.as_number());
    }
    const double tol = rel * (hi - lo);
    double worst = 0;
    size_t worst_i = 0;
    for (size_t i = 0; i < r.size(); ++i) {
        const double d = std::fabs(ours[i] - r[i].as_number());
        if (d > worst) worst = d, worst_i = i;
    }
    EXPECT_LE(worst, tol) << where << ": logit " << worst_i << " differs by " << worst << " (tolerance " << tol
                          << ")";
}

// Copies tests/fixtures/models/<fixture>.gguf, letting `edit_kv` change metadata and `keep` drop
// (return false) or reshape tensors, into a temporary file named after `tag`; returns its path.
inline std::string rewrite_fixture(const std::string& fixture, const std::string& tag,
                                   const std::function<void(GgufWriter&)>& edit_kv,
                                   const std::function<bool(const GgufTensorInfo&, std::vector<int64_t>&)>& keep) {
    GgufFile src = GgufFile::open(test::fixture("models/" + fixture + ".gguf"));
    GgufWriter w;
    for (const auto& kv : src.metadata()) w.set(kv.key, kv.value);
    edit_kv(w);
    for (const auto& t : src.tensors()) {
        std::vector<int64_t> dims = t.dims;
        if (!keep(t, dims)) continue;
        w.add_tensor(t.name, t.type, dims, src.tensor_data(t), t.n_bytes);
    }
    const auto path = (std::filesystem::temp_directory_path() /
                       ("gb_" + fixture + "_" + tag + "_" + std::to_string(::getpid()) + ".gguf"))
                          .string();
    w.write(path);
    return path;
}

}  // namespace gb::test
