// Tiny random-weight mixture-of-experts models (Qwen3-MoE, Mixtral, OLMoE) against transformers
// (tools/gen_tiny_moe_models.py), from GGUF, from the safetensors checkpoint and from the GGUF
// glassbox-cli converts it to: a prompt and 32 greedy steps, logits within 1e-4 of the
// reference's logit range, and for every token and MoE layer the experts transformers' router
// selected, their weights and the router's full probabilities. Also the Generator's trace, and
// the errors for broken expert tensors and counts.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <tuple>

#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/model/model.h"
#include "engine/session/generator.h"
#include "engine/session/kv_cache.h"
#include "engine/tokenizer/tokenizer.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/error.h"
#include "tests/engine/model/model_test_support.h"
#include "tests/test_support.h"

namespace gb {
namespace {

using test::expect_logits;
using test::expect_routing;

// The model in one of its forms: the GGUF the gguf package wrote, the transformers checkpoint
// (safetensors + config.json) read directly, or that checkpoint converted by glassbox-cli.
class TinyMoeForm : public ::testing::TestWithParam<std::tuple<const char*, const char*>> {};

TEST_P(TinyMoeForm, MatchesTransformersLogitsAndExperts) {
    const std::string name = std::get<0>(GetParam()), form = std::get<1>(GetParam());
    const json::Value ref = test::load_json(test::fixture("models/" + name + ".json"));
    const test::ModelForm model_form(name, form);
    const std::string& path = model_form.path();
    for (int threads : {1, 2}) {
        SCOPED_TRACE(form + ", threads " + std::to_string(threads));
        cpu::CpuBackend be(threads);
        RunSettings rs;
        rs.kv_type = TensorType::F32;  // the references compute in float32
        rs.n_ctx = 64;
        rs.n_threads = threads;
        rs.n_batch = 32;
        auto model = Model::load(path, be, rs);
        ASSERT_TRUE(model->config().is_moe());
        model->set_routing_capture(true, /*full_probs=*/true);
        ASSERT_EQ(test::json_ints(ref.at("generated_ids")).size(), 32u);
        test::expect_golden_run(*model, ref, name);
    }
}

INSTANTIATE_TEST_SUITE_P(Transformers, TinyMoeForm,
                         ::testing::Combine(::testing::Values("tiny_qwen3moe", "tiny_mixtral",
                                                              "tiny_olmoe"),
                                            ::testing::Values("gguf", "hf", "converted")),
                         [](const auto& info) {
                             return std::string(std::get<0>(info.param)) + "_" +
                                    std::get<1>(info.param);
                         });

class TinyMoe : public ::testing::TestWithParam<const char*> {};

// The Generator puts every token's routing (prompt and generated, the last one included) in the
// trace; prompt chunks of 3 tokens route as the whole prompt does.
TEST_P(TinyMoe, GeneratorTraceRecordsEveryTokensRouting) {
    const std::string name = GetParam();
    const json::Value ref = test::load_json(test::fixture("models/" + name + ".json"));
    cpu::CpuBackend be(2);
    RunSettings rs;
    rs.kv_type = TensorType::F32;  // the references compute in float32
    rs.n_ctx = 64;
    rs.n_threads = 2;
    rs.n_batch = 3;
    auto model = Model::load(test::fixture("models/" + name + ".gguf"), be, rs);
    Tokenizer tok = Tokenizer::from_gguf(model->file());
    Generator g(*model, tok);
    GenerateRequest req;
    req.prompt = test::json_ints(ref.at("prompt_ids"));
    req.max_tokens = 32;
    req.sampling.temperature = 0;
    req.stop_at_eog = false;
    Trace t = g.generate(req);
    const std::vector<int32_t> gen = test::json_ints(ref.at("generated_ids"));
    ASSERT_EQ(t.tokens.size(), req.prompt.size() + gen.size());
    EXPECT_EQ(t.n_expert, ref.at("routing").at("n_expert").as_int64());
    EXPECT_EQ(t.n_expert_used, ref.at("routing").at("k").as_int64());
    for (size_t i = 0; i < t.tokens.size(); ++i) {
        if (i >= req.prompt.size()) {
            ASSERT_EQ(t.tokens[i].id, gen[i - req.prompt.size()]) << i;
        }
        EXPECT_TRUE(t.tokens[i].routing.probs.empty());  // not asked for
        expect_routing(t.tokens[i].routing, ref.at("routing"), static_cast<int64_t>(i),
                       name + " trace token " + std::to_string(i));
    }

    req.record_routing = false;
    Trace off = g.generate(req);
    for (const auto& r : off.tokens) EXPECT_TRUE(r.routing.empty());
    EXPECT_EQ(model->last_routing().n_tokens, 0);
}

INSTANTIATE_TEST_SUITE_P(Transformers, TinyMoe,
                         ::testing::Values("tiny_qwen3moe", "tiny_mixtral", "tiny_olmoe"),
                         [](const auto& info) { return std::string(info.param); });

TEST(TinyMoeConfig, FamiliesReadTheirRoutingRules) {
    auto cfg = [](const char* name) {
        return ModelConfig::from_gguf(
            GgufFile::open(test::fixture(std::string("models/") + name + ".gguf")));
    };
    const ModelConfig q = cfg("tiny_qwen3moe"), m = cfg("tiny_mixtral"), o = cfg("tiny_olmoe");
    EXPECT_EQ(q.arch, Arch::Qwen3Moe);
    EXPECT_EQ(m.arch, Arch::Mixtral);
    EXPECT_EQ(m.arch_str, "llama");
    EXPECT_EQ(o.arch, Arch::Olmoe);
    EXPECT_TRUE(q.router.norm_topk);
    EXPECT_TRUE(m.router.norm_topk);
    EXPECT_FALSE(o.router.norm_topk);
    EXPECT_TRUE(o.qk_norm_full);
    EXPECT_FALSE(q.qk_norm_full);
    EXPECT_EQ(q.n_expert, 8);
    EXPECT_EQ(q.n_ff_exp, 32);
    EXPECT_EQ(o.n_expert_used, 3);
    EXPECT_FALSE(cfg("tiny_llama").is_moe());
}

// The tiny Qwen3-MoE fixture rewritten with one defect by our GGUF writer.
test::TempPath rewrite(
    const std::string& name, const std::function<void(GgufWriter&)>& edit_kv,
    const std::function<bool(const GgufTensorInfo&, std::vector<int64_t>&)>& keep) {
    return test::rewrite_fixture("tiny_qwen3moe", name, edit_kv, keep);
}

std::string load_error(const std::string& path) {
    cpu::CpuBackend be(1);
    RunSettings rs;
    rs.kv_type = TensorType::F32;  // the references compute in float32
    rs.n_ctx = 64;
    std::string msg;
    try {
        Model::load(path, be, rs);
    } catch (const Error& e) {
        msg = e.what();
    }
    return msg;
}

auto keep_all = [](const GgufTensorInfo&, std::vector<int64_t>&) { return true; };
auto no_edit = [](GgufWriter&) {};

TEST(MoeErrors, MissingExpertTensorIsNamed) {
    const std::string e =
        load_error(rewrite("missing", no_edit, [](const GgufTensorInfo& t, auto&) {
            return t.name != "blk.1.ffn_down_exps.weight";
        }));
    EXPECT_NE(e.find("missing tensor 'blk.1.ffn_down_exps.weight'"), std::string::npos) << e;
}

TEST(MoeErrors, MissingRouterIsNamed) {
    const std::string e = load_error(rewrite("router", no_edit, [](const GgufTensorInfo& t, auto&) {
        return t.name != "blk.0.ffn_gate_inp.weight";
    }));
    EXPECT_NE(e.find("missing tensor 'blk.0.ffn_gate_inp.weight'"), std::string::npos) << e;
}

TEST(MoeErrors, MisShapedExpertTensorIsNamedWithBothShapes) {
    // The same bytes as 4 experts of twice the width: disagrees with expert_count 8.
    const std::string e =
        load_error(rewrite("shape", no_edit, [](const GgufTensorInfo& t, auto& dims) {
            if (t.name == "blk.0.ffn_up_exps.weight") dims = {dims[0], dims[1] * 2, dims[2] / 2};
            return true;
        }));
    EXPECT_NE(e.find("tensor 'blk.0.ffn_up_exps.weight' has shape [64 x 64 x 4], expected "
                     "[64 x 32 x 8]"),
              std::string::npos)
        << e;
}

TEST(MoeErrors, TwoDimensionalExpertTensorIsRefused) {
    const std::string e =
        load_error(rewrite("flat", no_edit, [](const GgufTensorInfo& t, auto& dims) {
            if (t.name == "blk.1.ffn_gate_exps.weight") dims = {dims[0], dims[1] * dims[2]};
            return true;
        }));
    EXPECT_NE(e.find("blk.1.ffn_gate_exps.weight"), std::string::npos) << e;
    EXPECT_NE(e.find("expected [64 x 32 x 8]"), std::string::npos) << e;
}

TEST(MoeErrors, MoreExpertsUsedThanExistIsNamed) {
    const std::string e = load_error(rewrite(
        "used", [](GgufWriter& w) { w.set("qwen3moe.expert_used_count", GgufValue::u32(9)); },
        keep_all));
    EXPECT_NE(e.find("'qwen3moe.expert_used_count' = 9 exceeds 'qwen3moe.expert_count' = 8"),
              std::string::npos)
        << e;
}

TEST(MoeErrors, MissingExpertCountIsNamed) {
    GgufFile src = GgufFile::open(test::fixture("models/tiny_qwen3moe.gguf"));
    GgufWriter w;
    for (const auto& kv : src.metadata())
        if (kv.key != "qwen3moe.expert_count") w.set(kv.key, kv.value);
    for (const auto& t : src.tensors())
        w.add_tensor(t.name, t.type, t.dims, src.tensor_data(t), t.n_bytes);
    const test::TempPath path("moe_errors_count.gguf");
    w.write(path);
    const std::string e = load_error(path);
    EXPECT_NE(e.find("qwen3moe.expert_count"), std::string::npos) << e;
}

TEST(MoeErrors, BadGroupCountsAreNamed) {
    const std::string e = load_error(rewrite(
        "groups", [](GgufWriter& w) { w.set("qwen3moe.expert_group_count", GgufValue::u32(3)); },
        keep_all));
    EXPECT_NE(e.find("expert group count 3 must divide the expert count 8"), std::string::npos)
        << e;
}

}  // namespace
}  // namespace gb
