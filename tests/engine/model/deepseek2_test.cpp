// Tiny random-weight DeepSeek-V3-layout models against transformers (tools/gen_tiny_deepseek.py):
// MLA over the compressed cache with absorbed projections, YaRN, a leading dense layer, sigmoid
// routing with correction bias and group-limited top-k, shared experts. From the GGUF (both
// attention layouts), from the safetensors checkpoint and from glassbox-cli's conversion of it: a
// prompt and 32 greedy steps, logits within 1e-4 of the reference's logit range, the selected
// experts and their weights for every token and MoE layer. Also the KV size and load errors.
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

class TinyDeepseek : public ::testing::TestWithParam<std::tuple<const char*, const char*>> {};

TEST_P(TinyDeepseek, MatchesTransformersLogitsAndExperts) {
    const std::string name = std::get<0>(GetParam()), form = std::get<1>(GetParam());
    const json::Value ref = test::load_json(test::fixture("models/" + name + ".json"));
    const test::ModelForm model_form(name, form);
    const std::string& path = model_form.path();
    double worst = 0;
    for (int threads : {1, 2}) {
        SCOPED_TRACE(form + ", threads " + std::to_string(threads));
        cpu::CpuBackend be(threads);
        RunSettings rs;
        rs.kv_type = TensorType::F32;  // the references compute in float32
        rs.n_ctx = 64;
        rs.n_threads = threads;
        rs.n_batch = 32;
        auto model = Model::load(path, be, rs);
        ASSERT_EQ(model->config().arch, Arch::Deepseek2);
        ASSERT_TRUE(model->config().is_mla());
        model->set_routing_capture(true);
        // The cache holds the latent and the rotary key only.
        auto cache = model->new_cache();
        EXPECT_EQ(cache->layer(0).k.cols, model->config().mla.kv_lora);
        EXPECT_EQ(cache->layer(0).v.cols, model->config().mla.n_rope);
        ASSERT_EQ(test::json_ints(ref.at("generated_ids")).size(), 32u);
        worst = std::max(worst, test::expect_golden_run(*model, ref, name));
    }
    RecordProperty("worst_logit_error_of_range", std::to_string(worst));
    std::printf("%s (%s): worst |dlogit| / logit range %.2e\n", name.c_str(), form.c_str(), worst);
}

INSTANTIATE_TEST_SUITE_P(Transformers, TinyDeepseek,
                         ::testing::Combine(::testing::Values("tiny_deepseek_v3",
                                                              "tiny_deepseek_lite"),
                                            ::testing::Values("gguf", "hf", "converted")),
                         [](const auto& info) {
                             return std::string(std::get<0>(info.param)) + "_" +
                                    std::get<1>(info.param);
                         });

// The Generator records every token's routing in the trace, prompt chunks of 3 included.
TEST(TinyDeepseekTrace, GeneratorRecordsEveryTokensRouting) {
    const json::Value ref = test::load_json(test::fixture("models/tiny_deepseek_v3.json"));
    cpu::CpuBackend be(2);
    RunSettings rs;
    rs.kv_type = TensorType::F32;  // the references compute in float32
    rs.n_ctx = 64;
    rs.n_threads = 2;
    rs.n_batch = 3;
    auto model = Model::load(test::fixture("models/tiny_deepseek_v3.gguf"), be, rs);
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
    for (size_t i = 0; i < t.tokens.size(); ++i) {
        if (i >= req.prompt.size()) {
            ASSERT_EQ(t.tokens[i].id, gen[i - req.prompt.size()]) << i;
        }
        expect_routing(t.tokens[i].routing, ref.at("routing"), static_cast<int64_t>(i),
                       "trace token " + std::to_string(i));
    }
}

TEST(TinyDeepseekConfig, ReadsMlaAndRoutingAndSizesTheCompressedCache) {
    const GgufFile f = GgufFile::open(test::fixture("models/tiny_deepseek_v3.gguf"));
    const ModelConfig c = ModelConfig::from_gguf(f);
    EXPECT_EQ(c.mla.q_lora, 32);
    EXPECT_EQ(c.mla.kv_lora, 32);
    EXPECT_EQ(c.mla.n_nope, 16);
    EXPECT_EQ(c.mla.n_rope, 8);
    EXPECT_EQ(c.mla.n_v, 12);
    EXPECT_NEAR(c.mla.yarn_log_mul, 0.1, 1e-7);
    EXPECT_FALSE(c.rope.neox);
    EXPECT_EQ(c.n_layer_dense_lead, 1);
    EXPECT_EQ(c.n_expert_shared, 1);
    EXPECT_EQ(c.router.gating, Gating::Sigmoid);
    EXPECT_EQ(c.router.n_group, 4);
    EXPECT_EQ(c.router.n_group_used, 2);
    EXPECT_TRUE(c.expert_probs_bias);
    EXPECT_FLOAT_EQ(c.router.scale, 2.5f);
    // (kv_lora + rope) values per layer: 3 layers * 40 * 2 bytes in the default F16 cache.
    EXPECT_EQ(model_size(f, c).kv_bytes_per_token, 3 * 40 * 2);
    EXPECT_EQ(model_size(f, c, TensorType::F32).kv_bytes_per_token, 3 * 40 * 4);
    // DeepSeek-V3 / R1 shapes: 61 layers of (512 + 64) values, 70272 bytes (68.6 KiB) a token in
    // F16, where decompressed keys and values (128 heads of 192 + 128) would take 4.77 MiB; in
    // Q8_0 (34 bytes per 32 values) 61 * (544 + 68) bytes.
    ModelConfig v3 = c;
    v3.n_layer = 61;
    v3.mla.kv_lora = 512;
    v3.mla.n_rope = 64;
    EXPECT_EQ(model_size(f, v3).kv_bytes_per_token, 70272);
    EXPECT_EQ(model_size(f, v3, TensorType::F32).kv_bytes_per_token, 140544);
    EXPECT_EQ(model_size(f, v3, TensorType::Q8_0).kv_bytes_per_token, 61 * (544 + 68));
    const ModelConfig lite =
        ModelConfig::from_gguf(GgufFile::open(test::fixture("models/tiny_deepseek_lite.gguf")));
    EXPECT_EQ(lite.mla.q_lora, 0);
    EXPECT_EQ(lite.mla.n_nope, 16);
    EXPECT_EQ(lite.mla.n_v, 12);
}

// A tiny DeepSeek fixture rewritten with one defect by our GGUF writer.
test::TempPath rewrite(const std::string& file, const std::string& name,
                       const std::function<void(GgufWriter&)>& edit_kv,
                       const std::function<bool(const GgufTensorInfo&)>& keep) {
    return test::rewrite_fixture(
        file, name, edit_kv,
        [&](const GgufTensorInfo& t, std::vector<int64_t>&) { return keep(t); });
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

auto keep_all = [](const GgufTensorInfo&) { return true; };
auto no_edit = [](GgufWriter&) {};

TEST(Deepseek2Errors, MissingKvBIsNamed) {
    const std::string e =
        load_error(rewrite("tiny_deepseek_lite", "kvb", no_edit, [](const GgufTensorInfo& t) {
            return t.name != "blk.1.attn_kv_b.weight";
        }));
    EXPECT_NE(e.find("missing tensor 'blk.1.attn_kv_b.weight'"), std::string::npos) << e;
    const std::string e2 =
        load_error(rewrite("tiny_deepseek_v3", "vb", no_edit, [](const GgufTensorInfo& t) {
            return t.name != "blk.2.attn_v_b.weight";
        }));
    EXPECT_NE(e2.find("missing tensor 'blk.2.attn_v_b.weight'"), std::string::npos) << e2;
}

TEST(Deepseek2Errors, KvLoraRankInconsistentWithTensorsIsNamed) {
    const std::string e = load_error(rewrite(
        "tiny_deepseek_lite", "rank",
        [](GgufWriter& w) { w.set("deepseek2.attention.kv_lora_rank", GgufValue::u32(24)); },
        keep_all));
    EXPECT_NE(e.find("tensor 'blk.0.attn_kv_a_mqa.weight' has shape [64 x 40], expected [64 x 32]"),
              std::string::npos)
        << e;
    // In the current layout key_length must be kv_lora + rope.
    const std::string e2 = load_error(rewrite(
        "tiny_deepseek_v3", "rank2",
        [](GgufWriter& w) { w.set("deepseek2.attention.kv_lora_rank", GgufValue::u32(24)); },
        keep_all));
    EXPECT_NE(e2.find("do not match kv_lora_rank 24"), std::string::npos) << e2;
}

TEST(Deepseek2Errors, MoreGroupsUsedThanExistIsNamed) {
    const std::string e = load_error(rewrite(
        "tiny_deepseek_v3", "groups",
        [](GgufWriter& w) { w.set("deepseek2.expert_group_used_count", GgufValue::u32(5)); },
        keep_all));
    EXPECT_NE(e.find("'deepseek2.expert_group_used_count' = 5 is out of range (1..4)"),
              std::string::npos)
        << e;
}

TEST(Deepseek2Errors, MissingKvLoraRankIsNamed) {
    GgufFile src = GgufFile::open(test::fixture("models/tiny_deepseek_v3.gguf"));
    GgufWriter w;
    for (const auto& kv : src.metadata())
        if (kv.key != "deepseek2.attention.kv_lora_rank") w.set(kv.key, kv.value);
    for (const auto& t : src.tensors())
        w.add_tensor(t.name, t.type, t.dims, src.tensor_data(t), t.n_bytes);
    const test::TempPath path("ds_errors_lora.gguf");
    w.write(path);
    const std::string e = load_error(path);
    EXPECT_NE(e.find("deepseek2.attention.kv_lora_rank"), std::string::npos) << e;
}

}  // namespace
}  // namespace gb
