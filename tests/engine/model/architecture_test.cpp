// The architecture and tensor tables: every row is found by its GGUF name and its Hugging Face
// classes, the tensor table describes every fixture file exactly, and
// the GGUF binder and the HF checkpoint mapping land on the same row for every fixture model
// (the HF checkpoint as transformers saved it, the GGUF as the gguf package wrote it).
#include "engine/model/architecture.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "engine/core/json.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/hf_checkpoint.h"
#include "engine/model/model_config.h"
#include "engine/model/tensor_table.h"
#include "tests/test_support.h"

namespace gb {
namespace {

TEST(Architecture, EveryRowIsFoundByItsNames) {
    size_t hf_classes = 0;
    for (const ArchInfo& a : architectures()) {
        EXPECT_EQ(&arch_info(a.arch), &a) << a.name;
        EXPECT_EQ(arch_from_gguf(a.gguf, a.moe), &a) << a.name;
        for (const char* c : a.hf) {
            if (!c) continue;
            ++hf_classes;
            EXPECT_EQ(arch_from_hf(c), &a) << c;
            EXPECT_NE(supported_hf_architectures().find(c), std::string::npos) << c;
        }
        EXPECT_NE(supported_gguf_architectures().find(a.gguf), std::string::npos) << a.name;
    }
    EXPECT_EQ(hf_classes, 8u);
    // "llama" is Mixtral exactly when the file has experts.
    EXPECT_EQ(arch_from_gguf("llama", false)->arch, Arch::Llama);
    EXPECT_EQ(arch_from_gguf("llama", true)->arch, Arch::Mixtral);
    EXPECT_EQ(arch_from_gguf("mamba", false), nullptr);
    EXPECT_EQ(arch_from_gguf("", false), nullptr);
    EXPECT_EQ(arch_from_hf("GPTNeoXForCausalLM"), nullptr);
    EXPECT_EQ(arch_from_hf("llama"), nullptr);  // a GGUF name is not a class name
}

std::string hf_class_of(const std::filesystem::path& dir) {
    std::ifstream in(dir / "config.json");
    std::stringstream ss;
    ss << in.rdbuf();
    return json::parse(ss.str()).at("architectures").at(size_t{0}).as_string();
}

TEST(Architecture, GgufAndHfPathsAgreeOnEveryFixture) {
    const std::filesystem::path hf_dir = test::fixture("models/hf");
    int checked = 0;
    for (const auto& entry : std::filesystem::directory_iterator(hf_dir)) {
        const std::string name = entry.path().filename().string();
        const std::string gguf_path = test::fixture("models/" + name + ".gguf");
        if (!std::filesystem::exists(gguf_path)) continue;  // e.g. the bf16 copy of tiny_llama
        const ArchInfo* by_class = arch_from_hf(hf_class_of(entry.path()));
        ASSERT_NE(by_class, nullptr) << name;
        const ModelConfig from_gguf = ModelConfig::from_gguf(GgufFile::open(gguf_path));
        const ModelConfig from_hf = ModelConfig::from_gguf(open_hf_checkpoint(entry.path()));
        EXPECT_EQ(from_gguf.arch, by_class->arch) << name;
        EXPECT_EQ(from_hf.arch, by_class->arch) << name;
        EXPECT_EQ(from_gguf.arch_str, by_class->gguf) << name;
        EXPECT_EQ(from_gguf.is_moe(), by_class->moe) << name;
        EXPECT_EQ(from_gguf.rope.neox, by_class->rope_neox) << name;
        EXPECT_EQ(from_gguf.qk_norm, by_class->qk_norm != QkNorm::None) << name;
        EXPECT_EQ(from_gguf.is_mla(), by_class->forward == Forward::LatentAttention) << name;
        ++checked;
    }
    EXPECT_EQ(checked, 11);
}

}  // namespace
}  // namespace gb

namespace gb {
namespace {

// The tensor table against GGUF files written by the gguf package (the fixtures) and by our own
// writer (the demo models): the same tensors, with the table's shapes (GGUF lists dims innermost
// first, the table outermost first), and nothing the table does not know but llama3's
// rope_freqs.
TEST(TensorTable, MatchesEveryFixtureFile) {
    std::vector<std::string> files;
    for (const auto& e : std::filesystem::directory_iterator(test::fixture("models")))
        if (e.path().extension() == ".gguf") files.push_back(e.path().string());
    files.push_back(std::string(GB_RESOURCES_DIR) + "/models/glassbox-demo-moe.gguf");
    files.push_back(std::string(GB_RESOURCES_DIR) + "/models/glassbox-demo-dense.gguf");
    ASSERT_GE(files.size(), 12u);
    for (const std::string& path : files) {
        SCOPED_TRACE(path);
        const GgufFile f = GgufFile::open(path);
        const ModelConfig c = ModelConfig::from_gguf(f);
        std::map<std::string, std::vector<int64_t>> in_file;
        for (const auto& t : f.tensors())
            if (t.name != "rope_freqs.weight")
                in_file[t.name] = std::vector<int64_t>(t.dims.rbegin(), t.dims.rend());
        std::map<std::string, std::vector<int64_t>> in_table;
        for (const TensorSpec& t : tensor_table(tensor_dims(c, f))) {
            std::vector<int64_t> shape = t.shape;
            if (t.n_mat > 0) shape.insert(shape.begin(), t.n_mat);
            if (t.required || in_file.count(t.gguf)) in_table[t.gguf] = shape;
        }
        EXPECT_EQ(in_file, in_table);
    }
}

}  // namespace
}  // namespace gb
