// HF checkpoints (config.json + safetensors) as GGUF views: the tiny models saved by transformers
// give the golden logits (tools/gen_tiny_models.py), their view equals the GGUF the gguf package
// wrote for the same weights, `glassbox-cli convert` gives a GGUF that matches too; MoE layouts
// map to the GGUF names and stacked shapes; bad checkpoints are refused naming what is wrong.
#include "engine/model/hf_checkpoint.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "engine/model/model.h"
#include "engine/session/kv_cache.h"
#include "engine/tokenizer/tokenizer.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/half.h"
#include "kernels/error.h"
#include "tests/engine/safetensors/safetensors_bytes.h"
#include "tests/test_support.h"

namespace gb {
namespace {

#define EXPECT_HAS(msg, part) EXPECT_NE(std::string(msg).find(part), std::string::npos) << (msg)

const char* const kModels[] = {"tiny_llama",      "tiny_llama3_rope", "tiny_qwen2",
                               "tiny_qwen2_yarn", "tiny_qwen3",       "tiny_llama_bias"};

std::string hf_dir(const std::string& name) { return test::fixture("models/hf/" + name); }

// Worst |ours - ref| over a row, as a fraction of the reference's logit range.
double rel_error(const float* ours, const json::Value& ref) {
    const auto& r = ref.as_array();
    double lo = 1e300, hi = -1e300, worst = 0;
    for (size_t i = 0; i < r.size(); ++i) {
        lo = std::min(lo, r[i].as_number());
        hi = std::max(hi, r[i].as_number());
        worst = std::max(worst, std::fabs(ours[i] - r[i].as_number()));
    }
    return worst / (hi - lo);
}

// Runs the golden prompt and greedy path through `path` (a checkpoint or a GGUF) and returns the
// worst relative logit error; greedy tokens must agree when `tokens_must_agree`.
double run_golden(const std::string& path, const std::string& name, bool tokens_must_agree) {
    const json::Value ref = test::load_json(test::fixture("models/" + name + ".json"));
    cpu::CpuBackend be(1);
    RunSettings rs;
    rs.kv_type = TensorType::F32;  // the references compute in float32
    rs.n_ctx = 64;
    rs.n_threads = 1;
    rs.n_batch = 32;
    auto model = Model::load(path, be, rs);
    const int64_t nv = model->config().n_vocab;
    EXPECT_EQ(nv, 512);
    auto cache = model->new_cache();
    const std::vector<int32_t> prompt = test::json_ints(ref.at("prompt_ids"));
    std::vector<float> logits;
    model->forward(prompt, *cache, static_cast<int64_t>(prompt.size()), logits);
    double worst = 0;
    for (size_t i = 0; i < prompt.size(); ++i)
        worst = std::max(worst, rel_error(logits.data() + i * nv, ref.at("prompt_logits").at(i)));
    const std::vector<int32_t> gen = test::json_ints(ref.at("generated_ids"));
    std::vector<float> cur(logits.end() - nv, logits.end());
    for (size_t s = 0; s < gen.size(); ++s) {
        worst = std::max(worst, rel_error(cur.data(), ref.at("logits").at(s)));
        const auto ours =
            static_cast<int32_t>(std::max_element(cur.begin(), cur.end()) - cur.begin());
        if (tokens_must_agree) {
            EXPECT_EQ(ours, gen[s]) << name << " step " << s;
        }
        model->forward(std::span<const int32_t>(&gen[s], 1), *cache, 1, logits);
        cur = logits;
    }
    return worst;
}

class HfTiny : public ::testing::TestWithParam<const char*> {};

// Same tolerance as llama_family_test: 1e-4 of the reference's logit range.
TEST_P(HfTiny, CheckpointMatchesTransformers) {
    EXPECT_LE(run_golden(hf_dir(GetParam()), GetParam(), true), 1e-4);
}

// The view holds what the gguf package wrote for the same weights: same tensors, shapes, types
// and bytes (so q/k are permuted the way GGUF llama files are), and the same hyper-parameters.
TEST_P(HfTiny, ViewEqualsTheGgufFixture) {
    const std::string name = GetParam();
    const GgufFile view = open_hf_checkpoint(hf_dir(name));
    const GgufFile gguf = GgufFile::open(test::fixture("models/" + name + ".gguf"));
    ASSERT_EQ(view.tensors().size(), gguf.tensors().size());
    for (const auto& g : gguf.tensors()) {
        const GgufTensorInfo* v = view.find_tensor(g.name);
        ASSERT_NE(v, nullptr) << g.name;
        EXPECT_EQ(v->dims, g.dims) << g.name;
        ASSERT_EQ(v->type, g.type) << g.name;
        ASSERT_EQ(v->n_bytes, g.n_bytes) << g.name;
        const auto* a = reinterpret_cast<const float*>(view.tensor_data(*v));
        const auto* b = reinterpret_cast<const float*>(gguf.tensor_data(g));
        for (int64_t i = 0; i < g.n_elements; ++i)
            ASSERT_NEAR(a[i], b[i], 1e-6 * std::fabs(b[i])) << g.name << " element " << i;
    }
    for (const auto& kv : gguf.metadata()) {
        if (kv.key.rfind("tokenizer.", 0) == 0 || kv.key == "general.name" ||
            kv.key == "general.file_type")
            continue;
        const GgufValue* v = view.find(kv.key);
        ASSERT_NE(v, nullptr) << kv.key;
        if (kv.value.is_float())
            EXPECT_FLOAT_EQ(*view.get_float(kv.key), *gguf.get_float(kv.key)) << kv.key;
        else if (kv.value.is_int())
            EXPECT_EQ(*view.get_int(kv.key), *gguf.get_int(kv.key)) << kv.key;
        else
            EXPECT_EQ(view.get_string(kv.key), gguf.get_string(kv.key)) << kv.key;
    }
    EXPECT_EQ(view.get_string("general.name"), name);
}

// `glassbox-cli convert` writes a GGUF that gives the same logits (F32), and one whose matrices
// are Q8_0 while vectors stay F32.
TEST_P(HfTiny, ConvertedGgufMatchesTransformers) {
    const std::string name = GetParam();
    test::TempDir dir("hf_convert_" + name);
    const std::string out = (dir.path / "m.gguf").string();
    const std::string cmd = std::string(GB_CLI_PATH) + " convert " + hf_dir(name) + " " + out +
                            " --type f32 > /dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    EXPECT_LE(run_golden(out, name, true), 1e-4);

    const std::string q8 = (dir.path / "q8.gguf").string();
    const std::string cmd8 = std::string(GB_CLI_PATH) + " convert " + hf_dir(name) + " " + q8 +
                             " --type q8_0 > /dev/null";
    ASSERT_EQ(std::system(cmd8.c_str()), 0) << cmd8;
    const GgufFile g = GgufFile::open(q8);
    EXPECT_EQ(g.find_tensor("blk.0.attn_q.weight")->type, TensorType::Q8_0);
    EXPECT_EQ(g.find_tensor("blk.0.attn_norm.weight")->type, TensorType::F32);
    EXPECT_EQ(g.get_int("general.file_type"), 7);
    EXPECT_LE(run_golden(q8, name, false), 0.05);  // 8-bit weights: close, not exact
}

INSTANTIATE_TEST_SUITE_P(Transformers, HfTiny, ::testing::ValuesIn(kModels),
                         [](const auto& info) { return std::string(info.param); });

// The MoE fixtures of tools/gen_tiny_moe_models.py, from their safetensors form: the view's
// stacked experts and router give transformers' logits and greedy path.
class HfTinyMoe : public ::testing::TestWithParam<const char*> {};

TEST_P(HfTinyMoe, CheckpointMatchesTransformers) {
    EXPECT_LE(run_golden(hf_dir(GetParam()), GetParam(), true), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Transformers, HfTinyMoe,
                         ::testing::Values("tiny_qwen3moe", "tiny_mixtral", "tiny_olmoe"),
                         [](const auto& info) { return std::string(info.param); });

TEST(HfCheckpoint, OpensByConfigJsonPath) {
    EXPECT_TRUE(is_hf_checkpoint(hf_dir("tiny_qwen2")));
    EXPECT_TRUE(is_hf_checkpoint(hf_dir("tiny_qwen2") + "/config.json"));
    EXPECT_FALSE(is_hf_checkpoint(test::fixture("models/tiny_qwen2.gguf")));
    EXPECT_LE(run_golden(hf_dir("tiny_qwen2") + "/config.json", "tiny_qwen2", true), 1e-4);
}

// BF16: the weights are torch's rounding of the F32 ones (checked bit for bit, through the
// q/k permutation), and the logits stay close to the F32 reference.
TEST(HfCheckpoint, Bf16CheckpointHoldsRoundedWeights) {
    const GgufFile bf = open_hf_checkpoint(hf_dir("tiny_llama_bf16"));
    const GgufFile f32 = open_hf_checkpoint(hf_dir("tiny_llama"));
    for (const auto& t : f32.tensors()) {
        const GgufTensorInfo* b = bf.find_tensor(t.name);
        ASSERT_NE(b, nullptr) << t.name;
        const auto* x = reinterpret_cast<const float*>(f32.tensor_data(t));
        if (t.dims.size() == 1) {  // vectors are widened to F32, as GGUF files keep them
            ASSERT_EQ(b->type, TensorType::F32) << t.name;
            const auto* y = reinterpret_cast<const float*>(bf.tensor_data(*b));
            for (int64_t i = 0; i < t.n_elements; ++i)
                ASSERT_EQ(y[i], cpu::bf16_to_float(cpu::float_to_bf16(x[i]))) << t.name << " " << i;
            continue;
        }
        ASSERT_EQ(b->type, TensorType::BF16) << t.name;
        const auto* y = reinterpret_cast<const uint16_t*>(bf.tensor_data(*b));
        for (int64_t i = 0; i < t.n_elements; ++i)
            ASSERT_EQ(y[i], cpu::float_to_bf16(x[i])) << t.name << " element " << i;
    }
    EXPECT_LE(run_golden(hf_dir("tiny_llama_bf16"), "tiny_llama", false), 0.05);
}

// ---- MoE layouts and errors, on small synthetic checkpoints ----

struct Synth {
    std::string config;
    std::vector<test::StTensor> tensors;
};

// Values that identify the tensor and the element, so stacking and permutation can be checked.
test::StTensor tensor(const std::string& name, std::vector<int64_t> shape, float tag) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[i] = tag + 0.001f * static_cast<float>(i);
    return {name, std::move(shape), std::move(v)};
}

// A dense/MoE decoder's tensors in HF naming; `experts` per layer, `mixtral` naming.
Synth synth_moe(const std::string& arch, int n_expert, bool mixtral, bool olmoe = false) {
    const int E = 16, H = 2, KV = 1, D = 8, F = 8, V = 32, L = 2;
    Synth s;
    s.config =
        R"({"architectures":[")" + arch +
        R"("],"vocab_size":32,"hidden_size":16,)"
        R"("num_hidden_layers":2,"num_attention_heads":2,"num_key_value_heads":1,"head_dim":8,)"
        R"("intermediate_size":8,"moe_intermediate_size":8,"max_position_embeddings":64,)"
        R"("rms_norm_eps":1e-6,"rope_theta":10000.0,"num_experts_per_tok":2,"norm_topk_prob":true,)" +
        std::string(mixtral ? "\"num_local_experts\":" : "\"num_experts\":") +
        std::to_string(n_expert) + "}";
    float tag = 1;
    auto add = [&](const std::string& n, std::vector<int64_t> sh) {
        s.tensors.push_back(tensor(n, sh, tag++));
    };
    add("model.embed_tokens.weight", {V, E});
    add("model.norm.weight", {E});
    add("lm_head.weight", {V, E});
    for (int l = 0; l < L; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        add(p + "input_layernorm.weight", {E});
        add(p + "post_attention_layernorm.weight", {E});
        add(p + "self_attn.q_proj.weight", {H * D, E});
        add(p + "self_attn.k_proj.weight", {KV * D, E});
        add(p + "self_attn.v_proj.weight", {KV * D, E});
        add(p + "self_attn.o_proj.weight", {E, H * D});
        if (!mixtral) {
            add(p + "self_attn.q_norm.weight", {olmoe ? H * D : D});
            add(p + "self_attn.k_norm.weight", {olmoe ? KV * D : D});
        }
        const std::string m = p + (mixtral ? "block_sparse_moe." : "mlp.");
        add(m + "gate.weight", {n_expert, E});
        for (int e = 0; e < n_expert; ++e) {
            const std::string x = m + "experts." + std::to_string(e) + ".";
            add(x + (mixtral ? "w1" : "gate_proj") + ".weight", {F, E});
            add(x + (mixtral ? "w3" : "up_proj") + ".weight", {F, E});
            add(x + (mixtral ? "w2" : "down_proj") + ".weight", {E, F});
        }
    }
    return s;
}

struct SynthDir {
    test::TempDir dir;
    explicit SynthDir(const Synth& s, const std::string& tag) : dir("hf_" + tag) {
        test::write_file(dir.path / "config.json", s.config);
        test::write_file(dir.path / "model.safetensors", test::st_file(s.tensors));
    }
};

std::string open_error(const Synth& s, const std::string& tag) {
    SynthDir d(s, tag);
    try {
        open_hf_checkpoint(d.dir.str());
    } catch (const Error& e) {
        return e.what();
    }
    ADD_FAILURE() << "opened a bad checkpoint";
    return "";
}

const test::StTensor& find(const Synth& s, const std::string& name) {
    for (const auto& t : s.tensors)
        if (t.name == name) return t;
    throw std::runtime_error("no " + name);
}

TEST(HfCheckpointMoe, Qwen3MoeStacksExpertsInOrder) {
    const Synth s = synth_moe("Qwen3MoeForCausalLM", 12, false);  // 12: "10" sorts before "2"
    SynthDir d(s, "qwen3moe");
    const GgufFile v = open_hf_checkpoint(d.dir.str());
    EXPECT_EQ(v.get_string("general.architecture"), "qwen3moe");
    EXPECT_EQ(v.get_int("qwen3moe.expert_count"), 12);
    EXPECT_EQ(v.get_int("qwen3moe.expert_used_count"), 2);
    EXPECT_EQ(v.get_int("qwen3moe.expert_feed_forward_length"), 8);
    EXPECT_EQ(v.get_bool("qwen3moe.expert_weights_norm"), true);
    const GgufTensorInfo* up = v.find_tensor("blk.1.ffn_up_exps.weight");
    ASSERT_NE(up, nullptr);
    EXPECT_EQ(up->dims, (std::vector<int64_t>{16, 8, 12}));
    EXPECT_EQ(v.find_tensor("blk.1.ffn_down_exps.weight")->dims, (std::vector<int64_t>{8, 16, 12}));
    EXPECT_EQ(v.find_tensor("blk.0.ffn_gate_inp.weight")->dims, (std::vector<int64_t>{16, 12}));
    const auto* data = reinterpret_cast<const float*>(v.tensor_data(*up));
    for (int e = 0; e < 12; ++e) {
        const auto& src =
            find(s, "model.layers.1.mlp.experts." + std::to_string(e) + ".up_proj.weight");
        ASSERT_TRUE(std::equal(src.values.begin(), src.values.end(), data + e * 128))
            << "expert " << e;
    }
    // Qwen3 rope is NEOX already: q is not permuted.
    const auto& q = find(s, "model.layers.0.self_attn.q_proj.weight");
    const auto* vq =
        reinterpret_cast<const float*>(v.tensor_data(*v.find_tensor("blk.0.attn_q.weight")));
    EXPECT_TRUE(std::equal(q.values.begin(), q.values.end(), vq));
}

TEST(HfCheckpointMoe, MixtralIsLlamaWithExpertsAndPermutedQk) {
    const Synth s = synth_moe("MixtralForCausalLM", 3, true);
    SynthDir d(s, "mixtral");
    const GgufFile v = open_hf_checkpoint(d.dir.str());
    EXPECT_EQ(v.get_string("general.architecture"), "llama");
    EXPECT_EQ(v.get_int("llama.expert_count"), 3);
    EXPECT_EQ(v.find_tensor("blk.0.ffn_gate_exps.weight")->dims, (std::vector<int64_t>{16, 8, 3}));
    // w1 is the gate, w3 the up projection.
    const auto& w3 = find(s, "model.layers.0.block_sparse_moe.experts.2.w3.weight");
    const auto* up =
        reinterpret_cast<const float*>(v.tensor_data(*v.find_tensor("blk.0.ffn_up_exps.weight")));
    EXPECT_TRUE(std::equal(w3.values.begin(), w3.values.end(), up + 2 * 128));
    // Row 2j+p of each head comes from row p*d/2+j (d = 8): row 1 of the view is row 4.
    const auto& k = find(s, "model.layers.0.self_attn.k_proj.weight");
    const auto* vk =
        reinterpret_cast<const float*>(v.tensor_data(*v.find_tensor("blk.0.attn_k.weight")));
    for (int c = 0; c < 16; ++c) {
        EXPECT_EQ(vk[1 * 16 + c], k.values[4 * 16 + c]);
        EXPECT_EQ(vk[6 * 16 + c], k.values[3 * 16 + c]);
    }
}

TEST(HfCheckpointMoe, OlmoeNormsCoverTheWholeProjection) {
    const Synth s = synth_moe("OlmoeForCausalLM", 4, false, true);
    SynthDir d(s, "olmoe");
    const GgufFile v = open_hf_checkpoint(d.dir.str());
    EXPECT_EQ(v.get_string("general.architecture"), "olmoe");
    EXPECT_EQ(v.find_tensor("blk.0.attn_q_norm.weight")->dims, (std::vector<int64_t>{16}));
    EXPECT_EQ(v.find_tensor("blk.0.attn_k_norm.weight")->dims, (std::vector<int64_t>{8}));
}

TEST(HfCheckpointMoe, DeepseekV3MapsMlaSharedExpertsAndRouting) {
    const int E = 16, H = 2, N = 4, F = 8, V = 32;
    Synth s;
    s.config =
        R"({"architectures":["DeepseekV3ForCausalLM"],"vocab_size":32,"hidden_size":16,)"
        R"("num_hidden_layers":2,"num_attention_heads":2,"num_key_value_heads":2,)"
        R"("intermediate_size":24,"moe_intermediate_size":8,"max_position_embeddings":64,)"
        R"("rms_norm_eps":1e-6,"num_experts_per_tok":2,"n_routed_experts":4,"n_shared_experts":1,)"
        R"("first_k_dense_replace":1,"q_lora_rank":12,"kv_lora_rank":8,"qk_rope_head_dim":4,)"
        R"("qk_nope_head_dim":8,"v_head_dim":8,"n_group":2,"topk_group":1,"norm_topk_prob":true,)"
        R"("routed_scaling_factor":2.5,"num_nextn_predict_layers":1,)"
        R"("rope_scaling":{"type":"yarn","factor":40,"original_max_position_embeddings":16,)"
        R"("mscale":1.0,"mscale_all_dim":1.0,"beta_fast":32,"beta_slow":1},"rope_theta":10000})";
    float tag = 1;
    auto add = [&](const std::string& n, std::vector<int64_t> sh) {
        s.tensors.push_back(tensor(n, sh, tag++));
    };
    add("model.embed_tokens.weight", {V, E});
    add("model.norm.weight", {E});
    add("lm_head.weight", {V, E});
    for (int l = 0; l < 3; ++l) {  // layer 2 is the multi-token-prediction layer: ignored
        const std::string p = "model.layers." + std::to_string(l) + ".", a = p + "self_attn.";
        add(p + "input_layernorm.weight", {E});
        add(p + "post_attention_layernorm.weight", {E});
        add(a + "q_a_proj.weight", {12, E});
        add(a + "q_a_layernorm.weight", {12});
        add(a + "q_b_proj.weight", {H * 12, 12});
        add(a + "kv_a_proj_with_mqa.weight", {8 + 4, E});
        add(a + "kv_a_layernorm.weight", {8});
        add(a + "kv_b_proj.weight", {H * (8 + 8), 8});
        add(a + "o_proj.weight", {E, H * 8});
        if (l == 0) {
            add(p + "mlp.gate_proj.weight", {24, E});
            add(p + "mlp.up_proj.weight", {24, E});
            add(p + "mlp.down_proj.weight", {E, 24});
            continue;
        }
        add(p + "mlp.gate.weight", {N, E});
        add(p + "mlp.gate.e_score_correction_bias", {N});
        for (int e = 0; e < N; ++e) {
            const std::string x = p + "mlp.experts." + std::to_string(e) + ".";
            add(x + "gate_proj.weight", {F, E});
            add(x + "up_proj.weight", {F, E});
            add(x + "down_proj.weight", {E, F});
        }
        add(p + "mlp.shared_experts.gate_proj.weight", {F, E});
        add(p + "mlp.shared_experts.up_proj.weight", {F, E});
        add(p + "mlp.shared_experts.down_proj.weight", {E, F});
    }
    SynthDir d(s, "dsv3");
    const GgufFile v = open_hf_checkpoint(d.dir.str());
    const std::string a = "deepseek2.";
    EXPECT_EQ(v.get_string("general.architecture"), "deepseek2");
    EXPECT_EQ(v.get_int(a + "block_count"), 2);
    EXPECT_EQ(v.get_int(a + "leading_dense_block_count"), 1);
    EXPECT_EQ(v.get_int(a + "attention.q_lora_rank"), 12);
    EXPECT_EQ(v.get_int(a + "attention.kv_lora_rank"), 8);
    EXPECT_EQ(v.get_int(a + "attention.key_length"), 12);
    EXPECT_EQ(v.get_int(a + "attention.value_length"), 8);
    EXPECT_EQ(v.get_int(a + "rope.dimension_count"), 4);
    EXPECT_EQ(v.get_int(a + "expert_count"), 4);
    EXPECT_EQ(v.get_int(a + "expert_shared_count"), 1);
    EXPECT_EQ(v.get_int(a + "expert_gating_func"), 2);  // sigmoid
    EXPECT_EQ(v.get_int(a + "expert_group_count"), 2);
    EXPECT_EQ(v.get_int(a + "expert_group_used_count"), 1);
    EXPECT_FLOAT_EQ(*v.get_float(a + "expert_weights_scale"), 2.5f);
    EXPECT_EQ(v.get_bool(a + "expert_weights_norm"), true);
    EXPECT_EQ(v.get_string(a + "rope.scaling.type"), "yarn");
    EXPECT_FLOAT_EQ(*v.get_float(a + "rope.scaling.factor"), 40.0f);
    EXPECT_EQ(v.get_int(a + "rope.scaling.original_context_length"), 16);
    EXPECT_FLOAT_EQ(*v.get_float(a + "rope.scaling.yarn_log_multiplier"), 0.1f);
    for (const char* n :
         {"blk.0.ffn_gate.weight", "blk.1.attn_q_a.weight", "blk.1.attn_q_a_norm.weight",
          "blk.1.attn_q_b.weight", "blk.1.attn_kv_a_mqa.weight", "blk.1.attn_kv_a_norm.weight",
          "blk.1.attn_kv_b.weight", "blk.1.exp_probs_b.bias", "blk.1.ffn_gate_shexp.weight",
          "blk.1.ffn_down_shexp.weight", "blk.1.ffn_gate_exps.weight"})
        EXPECT_NE(v.find_tensor(n), nullptr) << n;
    EXPECT_EQ(v.find_tensor("blk.2.attn_norm.weight"), nullptr);
    EXPECT_EQ(v.find_tensor("blk.1.attn_kv_a_mqa.weight")->dims, (std::vector<int64_t>{16, 12}));

    // Inconsistent expert counts: config says 4 routed experts, the checkpoint holds 3.
    Synth missing = s;
    std::erase_if(missing.tensors, [](const auto& t) {
        return t.name.find("layers.1.mlp.experts.3.") != std::string::npos;
    });
    const std::string e = open_error(missing, "dsv3_missing");
    EXPECT_HAS(e, "missing tensor 'model.layers.1.mlp.experts.3.gate_proj.weight'");
    EXPECT_HAS(e, "with 4 experts");
}

TEST(HfCheckpointErrors, NameWhatIsWrong) {
    const Synth good = synth_moe("Qwen3MoeForCausalLM", 3, false);
    {
        SynthDir d(good, "good");
        EXPECT_NO_THROW(open_hf_checkpoint(d.dir.str()));
    }
    Synth s = good;
    s.config.replace(s.config.find("Qwen3MoeForCausalLM"), 19, "GPTNeoXForCausalLM");
    const std::string arch = open_error(s, "arch");
    EXPECT_HAS(arch, "config.json: unsupported architecture 'GPTNeoXForCausalLM'");
    EXPECT_HAS(arch, "Qwen3MoeForCausalLM");

    s = good;  // an expert more than config.json says
    s.tensors.push_back(tensor("model.layers.0.mlp.experts.3.up_proj.weight", {8, 16}, 0));
    EXPECT_HAS(open_error(s, "extra"),
               "tensor 'model.layers.0.mlp.experts.3.up_proj.weight' has no place in "
               "Qwen3MoeForCausalLM as config.json describes it (2 layers, 3 experts)");

    s = good;
    s.tensors[5].shape = {8, 32};  // q_proj, same element count
    const std::string shape = open_error(s, "shape");
    EXPECT_HAS(
        shape,
        "model.safetensors: tensor 'model.layers.0.self_attn.q_proj.weight' has shape [8, 32], "
        "expected [16, 16]");

    s = good;
    std::erase_if(s.tensors,
                  [](const auto& t) { return t.name == "model.layers.1.self_attn.k_norm.weight"; });
    EXPECT_HAS(
        open_error(s, "missing"),
        "missing tensor 'model.layers.1.self_attn.k_norm.weight' (GGUF blk.1.attn_k_norm.weight)");

    s = good;
    s.config.replace(s.config.find("\"num_experts_per_tok\":2"), 23, "\"num_experts_per_tok\":5");
    EXPECT_HAS(open_error(s, "used"), "'num_experts_per_tok' = 5 exceeds the 3 experts");

    s = good;
    s.config.replace(s.config.find("\"hidden_size\":16,"), 17, "");
    EXPECT_HAS(open_error(s, "key"), "config.json: 'hidden_size' is missing");

    s = good;
    s.config.replace(s.config.find("\"hidden_size\":16"), 16, "\"hidden_size\":\"16\"");
    EXPECT_HAS(open_error(s, "type"), "'hidden_size' is a string, expected an integer");

    s = good;
    s.config = "{\"architectures\":";
    EXPECT_HAS(open_error(s, "json"), "config.json: json");

    s = good;
    s.config.insert(s.config.size() - 1, R"(,"rope_scaling":{"type":"dynamic","factor":2})");
    EXPECT_HAS(open_error(s, "rope"), "'dynamic' is not supported");

    // An unknown rope type is named even without a factor (it asked for the factor first).
    s = good;
    s.config.insert(s.config.size() - 1, R"(,"rope_scaling":{"type":"evil"})");
    EXPECT_HAS(open_error(s, "rope_nofactor"), "'evil' is not supported");
}

// tokenizer.json -> tokenizer.ggml.*: the view's vocabulary tokenizes as tokenizer.json does
// (the pre-tokenizer found by name), is padded to vocab_size, and carries the chat template.
class HfTokenizer : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(HfTokenizer, ViewVocabularyTokenizesLikeTokenizerJson) {
    const std::string name = GetParam().first;
    GB_REQUIRE_MODEL(tok_json, "tokenizers/" + name + "/tokenizer.json");
    const std::string tok_dir = std::filesystem::path(tok_json).parent_path().string();
    const Tokenizer ref = Tokenizer::from_hf(tok_dir);
    const int64_t V = static_cast<int64_t>(ref.size()) + 3, E = 8;
    Synth s;
    s.config = R"({"architectures":["Qwen2ForCausalLM"],"vocab_size":)" + std::to_string(V) +
               R"(,"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,)"
               R"("num_key_value_heads":1,"intermediate_size":8,"max_position_embeddings":64,)"
               R"("rms_norm_eps":1e-6,"tie_word_embeddings":true})";
    s.tensors.push_back({"model.embed_tokens.weight", {V, E}, std::vector<float>(V * E, 0.5f)});
    s.tensors.push_back(tensor("model.norm.weight", {E}, 1));
    const std::string p = "model.layers.0.";
    for (const char* n : {"input_layernorm.weight", "post_attention_layernorm.weight"})
        s.tensors.push_back(tensor(p + n, {E}, 1));
    s.tensors.push_back(tensor(p + "self_attn.q_proj.weight", {8, E}, 1));
    s.tensors.push_back(tensor(p + "self_attn.q_proj.bias", {8}, 1));
    for (const char* x : {"k", "v"}) {
        s.tensors.push_back(tensor(p + "self_attn." + x + "_proj.weight", {4, E}, 1));
        s.tensors.push_back(tensor(p + "self_attn." + x + "_proj.bias", {4}, 1));
    }
    s.tensors.push_back(tensor(p + "self_attn.o_proj.weight", {E, 8}, 1));
    for (const char* n : {"gate_proj", "up_proj"})
        s.tensors.push_back(tensor(p + "mlp." + n + ".weight", {8, E}, 1));
    s.tensors.push_back(tensor(p + "mlp.down_proj.weight", {E, 8}, 1));
    SynthDir d(s, "tok_" + name);
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
        std::filesystem::copy_file(std::filesystem::path(tok_dir) / f, d.dir.path / f);

    const GgufFile v = open_hf_checkpoint(d.dir.str());
    EXPECT_EQ(v.get_string("tokenizer.ggml.pre"), GetParam().second);
    EXPECT_EQ(v.get_array("tokenizer.ggml.tokens")->size(), static_cast<size_t>(V));
    EXPECT_EQ(v.get_string("tokenizer.chat_template").value_or(""), ref.chat_template());
    const Tokenizer ours = Tokenizer::from_gguf(v);
    for (const char* text :
         {"The quick brown fox, 2024-06-01: naïve café — 你好世界 ... x=42;\n\n  end",
          "<think>\nI'm sure we'll see 1234567 numbers.</think> Réponse: 3.5%"}) {
        EXPECT_EQ(ours.encode(text, true, true), ref.encode(text, true, true)) << text;
    }
}

INSTANTIATE_TEST_SUITE_P(RealTokenizers, HfTokenizer,
                         ::testing::Values(std::make_pair("qwen-2.5", "qwen2"),
                                           std::make_pair("deepseek-r1-distill-llama-8b",
                                                          "llama-bpe"),
                                           std::make_pair("deepseek-v3", "deepseek-v3")),
                         [](const auto& info) {
                             std::string n = info.param.first;
                             for (char& c : n)
                                 if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                             return n;
                         });

}  // namespace
}  // namespace gb
