// Shared by the model tests: logits against a reference within a tolerance relative to the
// logit range, and fixture files rewritten with one defect for the error tests.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/core/json.h"
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/model/model.h"
#include "engine/session/kv_cache.h"
#include "engine/trace/trace.h"
#include "tests/test_support.h"

namespace gb::test {

// |ours - ref| <= rel * (max(ref) - min(ref)) for every logit of one position; returns the worst
// error relative to that range.
inline double expect_logits(const float* ours, const json::Value& ref, const std::string& where,
                            double rel = 1e-4) {
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
    EXPECT_LE(worst, tol) << where << ": logit " << worst_i << " differs by " << worst
                          << " (tolerance " << tol << ")";
    return hi > lo ? worst / (hi - lo) : worst;
}

// Token t's routing against a fixture's "routing" object ({layers, k, experts[t][layer][j],
// weights[t][layer][j], probs[t][layer][e]?}): the same experts in the same order (best first),
// weights within 1e-5 (relative above 1), router vectors too when both sides have them.
inline void expect_routing(const TokenRouting& ours, const json::Value& ref, int64_t t,
                           const std::string& where) {
    const auto& layers = ref.at("layers").as_array();
    const auto& experts = ref.at("experts").as_array()[t].as_array();
    const auto& weights = ref.at("weights").as_array()[t].as_array();
    const json::Value* probs = ref.find("probs");
    const int k = static_cast<int>(ref.at("k").as_int64());
    ASSERT_EQ(ours.n_layers(), layers.size()) << where;
    ASSERT_EQ(ours.k, k) << where;
    for (size_t li = 0; li < layers.size(); ++li) {
        const std::string at = where + " layer " + std::to_string(layers[li].as_int64());
        EXPECT_EQ(ours.layers[li], layers[li].as_int64()) << at;
        const auto e = ours.experts_of(li);
        const auto w = ours.weights_of(li);
        for (int j = 0; j < k; ++j) {
            EXPECT_EQ(e[j], experts[li].as_array()[j].as_int64()) << at << " choice " << j;
            const double rw = weights[li].as_array()[j].as_number();
            EXPECT_NEAR(w[j], rw, 1e-5 * std::max(1.0, std::fabs(rw))) << at << " choice " << j;
        }
        if (ours.probs.empty() || !probs) continue;
        const auto& p = probs->as_array()[t].as_array()[li].as_array();
        const size_t n_expert = p.size();
        ASSERT_EQ(ours.probs.size(), layers.size() * n_expert) << at;
        for (size_t i = 0; i < n_expert; ++i)
            EXPECT_NEAR(ours.probs[li * n_expert + i], p[i].as_number(), 1e-5)
                << at << " expert " << i;
    }
}

// Copies tests/fixtures/models/<fixture>.gguf, letting `edit_kv` change metadata and `keep` drop
// (return false) or reshape tensors, into a temporary file named after `tag`, removed when the
// returned path goes out of scope.
inline TempPath rewrite_fixture(
    const std::string& fixture, const std::string& tag,
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
    TempPath path(fixture + "_" + tag + ".gguf");
    w.write(path);
    return path;
}

// Runs a fixture's golden prompt and greedy path through `model` (routing capture already set by
// the caller): logits at every prompt position and step, the greedy tokens, and for MoE models
// each token's routing against the fixture's. Returns the worst logit error relative to the range.
inline double expect_golden_run(Model& model, const json::Value& ref, const std::string& name,
                                double rel = 1e-4) {
    const int64_t n_vocab = model.config().n_vocab;
    const json::Value* routing = model.config().is_moe() ? &ref.at("routing") : nullptr;
    auto cache = model.new_cache();
    const std::vector<int32_t> prompt = test::json_ints(ref.at("prompt_ids"));
    const int64_t n_prompt = static_cast<int64_t>(prompt.size());
    std::vector<float> logits;
    model.forward(prompt, *cache, n_prompt, logits);
    const auto& prompt_logits = ref.at("prompt_logits").as_array();
    if (routing) {
        EXPECT_EQ(model.last_routing().n_tokens, n_prompt);
    }
    double worst = 0;
    for (int64_t i = 0; i < n_prompt; ++i) {
        const std::string where = name + " prompt position " + std::to_string(i);
        worst = std::max(worst,
                         expect_logits(logits.data() + i * n_vocab, prompt_logits[i], where, rel));
        if (routing) expect_routing(model.last_routing().token(i), *routing, i, where);
    }
    const std::vector<int32_t> gen = test::json_ints(ref.at("generated_ids"));
    const auto& step_logits = ref.at("logits").as_array();
    std::vector<float> cur(logits.end() - n_vocab, logits.end());
    for (size_t s = 0; s < gen.size(); ++s) {
        const std::string where = name + " step " + std::to_string(s);
        worst = std::max(worst, expect_logits(cur.data(), step_logits[s], where, rel));
        const auto ours =
            static_cast<int32_t>(std::max_element(cur.begin(), cur.end()) - cur.begin());
        EXPECT_EQ(ours, gen[s]) << name << ": greedy token differs at step " << s;
        if (ours != gen[s]) break;  // the path no longer follows the reference
        model.forward(std::span<const int32_t>(&gen[s], 1), *cache, 1, logits);
        if (routing)
            expect_routing(model.last_routing().token(0), *routing,
                           n_prompt + static_cast<int64_t>(s), where);
        cur = logits;
    }
    return worst;
}

// A fixture model in one of its forms: "gguf" (tests/fixtures/models/NAME.gguf, written by the
// gguf package), "hf" (the transformers checkpoint under models/hf/NAME, read directly) or
// "converted" (that checkpoint through `glassbox-cli convert` into a temporary file, removed
// with this object). Throws when the conversion fails.
class ModelForm {
public:
    ModelForm(const std::string& name, const std::string& form) {
        const std::string hf = test::fixture("models/hf/" + name);
        if (form == "gguf") {
            path_ = test::fixture("models/" + name + ".gguf");
        } else if (form == "hf") {
            path_ = hf;
        } else if (form == "converted") {
            tmp_ = (std::filesystem::temp_directory_path() /
                    ("gb_form_" + name + "_" + std::to_string(::getpid()) + ".gguf"))
                       .string();
            const std::string cmd = std::string(GB_CLI_PATH) + " convert " + hf + " " + tmp_ +
                                    " --type f32 > /dev/null";
            if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
            path_ = tmp_;
        } else {
            throw std::runtime_error("unknown model form " + form);
        }
    }
    ~ModelForm() {
        if (!tmp_.empty()) std::filesystem::remove(tmp_);
    }
    ModelForm(const ModelForm&) = delete;
    ModelForm& operator=(const ModelForm&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string path_, tmp_;
};

}  // namespace gb::test
