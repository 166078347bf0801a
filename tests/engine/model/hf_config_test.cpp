// config.json -> hyper-parameters (hf::read_hparams) on hostile values: every float that becomes
// an F32 GGUF value is range-checked before the narrowing (1e39 was an undefined cast to float),
// and values that the rope formulas divide by or that flip their sign are refused by name.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/core/json.h"
#include "engine/model/hf_checkpoint.h"
#include "engine/model/hf_checkpoint_plan.h"
#include "kernels/error.h"
#include "tests/test_support.h"

namespace gb {
namespace {

json::Value fixture_config(const std::string& name) {
    return test::load_json(test::fixture("models/hf/" + name + "/config.json"));
}

// The fixture's config with `key` (in `section`, a member object such as rope_parameters, or
// the top level when empty) set to the JSON literal `value`.
json::Value with(const std::string& name, const std::string& section, const std::string& key,
                 const std::string& value) {
    json::Value::Object root = fixture_config(name).as_object();
    json::Value::Object* obj = &root;
    json::Value::Object sub;
    if (!section.empty()) {
        for (auto& [k, v] : root)
            if (k == section) sub = v.as_object();
        obj = &sub;
    }
    bool replaced = false;
    for (auto& [k, v] : *obj)
        if (k == key) v = json::parse(value), replaced = true;
    if (!replaced) obj->emplace_back(key, json::parse(value));
    if (!section.empty())
        for (auto& [k, v] : root)
            if (k == section) v = json::Value::from_object(sub);
    return json::Value::from_object(std::move(root));
}

std::string error_of(const json::Value& cfg) {
    std::vector<GgufKV> kv;
    try {
        hf::read_hparams(cfg, "config.json", kv);
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(HfConfig, EveryFixtureReads) {
    for (const char* name :
         {"tiny_deepseek_lite", "tiny_deepseek_v3", "tiny_llama", "tiny_llama3_rope",
          "tiny_llama_bf16", "tiny_llama_bias", "tiny_mixtral", "tiny_olmoe", "tiny_qwen2",
          "tiny_qwen2_yarn", "tiny_qwen3", "tiny_qwen3moe"})
        EXPECT_EQ(error_of(fixture_config(name)), "(no error)") << name;
}

struct Bad {
    const char* fixture;
    const char* section;
    const char* key;
    const char* value;
    const char* expect;  // in the message, beside the key
};

TEST(HfConfig, HostileFloatsAreRefusedByName) {
    const Bad cases[] = {
        // Past float range: the F32 GGUF value was an undefined narrowing.
        {"tiny_llama3_rope", "rope_parameters", "rope_theta", "1e39", "out of range"},
        {"tiny_qwen2_yarn", "rope_parameters", "rope_theta", "1e300", "out of range"},
        {"tiny_qwen2_yarn", "rope_parameters", "beta_fast", "1e300", "out of range"},
        {"tiny_qwen2_yarn", "rope_parameters", "beta_slow", "-1e300", "out of range"},
        {"tiny_qwen2_yarn", "rope_parameters", "attention_factor", "1e39", "out of range"},
        {"tiny_deepseek_v3", "rope_parameters", "mscale_all_dim", "1e39", "out of range"},
        {"tiny_deepseek_v3", "", "routed_scaling_factor", "1e39", "out of range"},
        {"tiny_olmoe", "", "clip_qkv", "1e300", "out of range"},
        // Wrong sign or zero: a silently wrong model, or a division by zero.
        {"tiny_qwen2_yarn", "rope_parameters", "attention_factor", "-1", "out of range"},
        {"tiny_qwen2_yarn", "rope_parameters", "beta_fast", "0", "out of range"},
        {"tiny_qwen2_yarn", "rope_parameters", "rope_theta", "1e13", "out of range"},
        {"tiny_qwen2_yarn", "rope_parameters", "beta_slow", "64", "not below beta_fast"},
        {"tiny_deepseek_v3", "rope_parameters", "mscale", "-50", "out of range"},
        {"tiny_deepseek_v3", "", "routed_scaling_factor", "-2", "out of range"},
        {"tiny_deepseek_v3", "", "routed_scaling_factor", "0", "out of range"},
        {"tiny_olmoe", "", "clip_qkv", "-8", "out of range"},
        {"tiny_llama3_rope", "rope_parameters", "low_freq_factor", "0", "out of range"},
        {"tiny_llama3_rope", "rope_parameters", "high_freq_factor", "1.0",
         "not above low_freq_factor"},
        {"tiny_llama3_rope", "rope_parameters", "original_max_position_embeddings", "0",
         "out of range"},
        {"tiny_llama3_rope", "rope_parameters", "original_max_position_embeddings", "1e30",
         "out of range"},
        {"tiny_qwen3", "", "partial_rotary_factor", "1e300", "out of range"},
        {"tiny_qwen3", "", "partial_rotary_factor", "-1", "out of range"},
        {"tiny_qwen3", "", "partial_rotary_factor", "0", "out of range"},
        // Wrong kinds.
        {"tiny_qwen2_yarn", "rope_parameters", "beta_fast", "\"32\"", "expected a number"},
        {"tiny_deepseek_v3", "", "routed_scaling_factor", "[2.5]", "expected a number"},
    };
    for (const Bad& c : cases) {
        const std::string e = error_of(with(c.fixture, c.section, c.key, c.value));
        EXPECT_NE(e.find(std::string("'") + c.key + "'"), std::string::npos)
            << c.fixture << " " << c.key << " = " << c.value << ": " << e;
        EXPECT_NE(e.find(c.expect), std::string::npos)
            << c.fixture << " " << c.key << " = " << c.value << ": " << e;
    }
}

// Values at the edges of what real checkpoints use still read.
TEST(HfConfig, RealisticExtremesRead) {
    EXPECT_EQ(error_of(with("tiny_qwen2_yarn", "rope_parameters", "rope_theta", "1e8")),
              "(no error)");
    EXPECT_EQ(error_of(with("tiny_qwen3", "", "partial_rotary_factor", "0.5")), "(no error)");
    EXPECT_EQ(error_of(with("tiny_deepseek_v3", "rope_parameters", "mscale", "0.707")),
              "(no error)");
    EXPECT_EQ(error_of(with("tiny_olmoe", "", "clip_qkv", "8")), "(no error)");
}

// config.json is a few KiB; 16 MiB of "[]," used to be read and parsed into 412 MB. Past 4 MiB
// the file is refused before it is read.
TEST(HfConfig, OversizedConfigIsRefusedBeforeParsing) {
    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("gb_hf_config_big_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::string text = "{\"junk\": [";
    while (text.size() < (size_t(5) << 20)) text += "[],";
    text += "[]]}";
    std::ofstream(dir / "config.json", std::ios::binary) << text;
    try {
        open_hf_checkpoint(dir.string());
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("config.json is 6 MiB, more than the 4 MiB"), std::string::npos)
            << what;
        EXPECT_EQ(what.find("config.json: " + (dir / "config.json").string()), std::string::npos)
            << "the path twice: " << what;
    }
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gb
