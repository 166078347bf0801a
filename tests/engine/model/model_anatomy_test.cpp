// Model anatomy: the parameter count from the equations equals the tensors of every fixture
// model and of the shipped demo models (each architecture we run), and DeepSeek-V3's published
// shapes give its published totals (671B parameters, 37B activated per token; DeepSeek-V3
// technical report, arXiv:2412.19437).
#include "engine/model/model_anatomy.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "engine/gguf/gguf_file.h"
#include "tests/test_support.h"

namespace gb {
namespace {

TEST(ModelAnatomy, PartsAddUpToEveryModelFilesTensors) {
    std::vector<std::string> files;
    for (const auto& e : std::filesystem::directory_iterator(test::fixture("models")))
        if (e.path().extension() == ".gguf") files.push_back(e.path().string());
    for (const char* demo : {"glassbox-demo-dense.gguf", "glassbox-demo-moe.gguf"})
        files.push_back(std::string(GB_RESOURCES_DIR) + "/models/" + demo);
    ASSERT_GE(files.size(), 12u);
    for (const std::string& path : files) {
        SCOPED_TRACE(path);
        const GgufFile f = GgufFile::open(path);
        const ModelConfig c = ModelConfig::from_gguf(f);
        int64_t in_file = 0;
        for (const auto& t : f.tensors())
            if (t.name != "rope_freqs.weight") in_file += t.n_elements;  // llama 3 rope factors
        const ModelAnatomy a = model_anatomy(c);
        EXPECT_EQ(a.total, in_file);
        int64_t sum = 0;
        for (const AnatomyPart& p : a.parts) {
            EXPECT_LE(p.active, p.params) << p.what;
            sum += p.params;
        }
        EXPECT_EQ(sum, a.total);
        if (c.is_moe()) {
            EXPECT_LT(a.active, a.total);
        } else {
            EXPECT_EQ(a.active, a.total);
        }
    }
}

TEST(ModelAnatomy, DeepSeekV3IsSixHundredSeventyOneBillionWithThirtySevenActive) {
    const ModelAnatomy a = model_anatomy(deepseek_v3_config());
    EXPECT_NEAR(static_cast<double>(a.total) / 1e9, 671, 1);
    EXPECT_NEAR(static_cast<double>(a.active) / 1e9, 37, 1);
    EXPECT_EQ(a.attention, "MLA");
    EXPECT_EQ(a.n_dense_layers, 3);
    EXPECT_EQ(a.n_moe_layers, 58);
    // MLA keeps a 512-wide latent and a 64-wide rope key per layer; per-head keys (192) and
    // values (128) for 128 heads would be 71 times as many.
    EXPECT_EQ(a.kv_values_per_token, (512 + 64) * 61);
    EXPECT_EQ(a.full_kv_values_per_token, 128 * (192 + 128) * 61);
}

}  // namespace
}  // namespace gb
