// Bad model files are refused with an error that names the problem: unknown architecture,
// missing tensor, mis-shaped tensor, inconsistent hyper-parameters. Each case is the tiny llama
// fixture rewritten with one defect by our GGUF writer.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <string>

#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/model/model.h"
#include "engine/session/kv_cache.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/error.h"
#include "tests/engine/model/model_test_support.h"
#include "tests/test_support.h"

namespace gb {
namespace {

// The tiny llama fixture with one defect (metadata edited, tensors dropped or reshaped).
std::string rewrite(const std::string& name, const std::function<void(GgufWriter&)>& edit_kv,
                    const std::function<bool(const GgufTensorInfo&, std::vector<int64_t>&)>& keep) {
    return test::rewrite_fixture("tiny_llama", name, edit_kv, keep);
}

std::string load_error(const std::string& path) {
    cpu::CpuBackend be(1);
    RunSettings rs;
    rs.n_ctx = 64;
    try {
        Model::load(path, be, rs);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

auto keep_all = [](const GgufTensorInfo&, std::vector<int64_t>&) { return true; };
auto no_edit = [](GgufWriter&) {};

TEST(ModelErrors, UnknownArchitectureIsNamed) {
    auto p = rewrite(
        "arch", [](GgufWriter& w) { w.set("general.architecture", GgufValue::str("mamba9")); },
        keep_all);
    const std::string e = load_error(p);
    EXPECT_NE(e.find("unsupported architecture 'mamba9'"), std::string::npos) << e;
}

TEST(ModelErrors, MissingTensorIsNamed) {
    auto p = rewrite("missing", no_edit, [](const GgufTensorInfo& t, std::vector<int64_t>&) {
        return t.name != "blk.1.ffn_up.weight";
    });
    const std::string e = load_error(p);
    EXPECT_NE(e.find("missing tensor 'blk.1.ffn_up.weight'"), std::string::npos) << e;
}

TEST(ModelErrors, MisShapedTensorIsNamedWithBothShapes) {
    auto p = rewrite("shape", no_edit, [](const GgufTensorInfo& t, std::vector<int64_t>& dims) {
        if (t.name == "blk.0.attn_k.weight") std::swap(dims[0], dims[1]);  // same bytes, transposed
        return true;
    });
    const std::string e = load_error(p);
    EXPECT_NE(e.find("blk.0.attn_k.weight"), std::string::npos) << e;
    EXPECT_NE(e.find("expected"), std::string::npos) << e;
}

TEST(ModelErrors, InconsistentHeadCountsAreNamed) {
    auto p = rewrite(
        "heads", [](GgufWriter& w) { w.set("llama.attention.head_count_kv", GgufValue::u32(3)); },
        keep_all);
    const std::string e = load_error(p);
    EXPECT_NE(e.find("head_count_kv"), std::string::npos) << e;
}

TEST(ModelErrors, MissingHyperParameterIsNamed) {
    GgufFile src = GgufFile::open(test::fixture("models/tiny_llama.gguf"));
    GgufWriter w;
    for (const auto& kv : src.metadata())
        if (kv.key != "llama.block_count") w.set(kv.key, kv.value);
    for (const auto& t : src.tensors())
        w.add_tensor(t.name, t.type, t.dims, src.tensor_data(t), t.n_bytes);
    const auto path = (std::filesystem::temp_directory_path() / "gb_model_errors_hp.gguf").string();
    w.write(path);
    const std::string e = load_error(path);
    EXPECT_NE(e.find("llama.block_count"), std::string::npos) << e;
}

// A file whose hyper-parameters need more memory than the machine has is refused before any
// allocation, with the sizes in the message (here: 4096 layers of KV cache for 1M tokens).
TEST(ModelErrors, ModelLargerThanMemoryIsRefusedWithSizes) {
    auto p = rewrite(
        "memory", [](GgufWriter& w) { w.set("llama.block_count", GgufValue::u32(4096)); },
        keep_all);
    cpu::CpuBackend be(1);
    RunSettings rs;
    rs.n_ctx = int64_t(1) << 20;
    try {
        Model::load(p, be, rs);
        FAIL() << "a model needing terabytes was accepted";
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("GiB"), std::string::npos) << msg;
        EXPECT_NE(msg.find("this machine has"), std::string::npos) << msg;
    }
}

TEST(ModelErrors, SettingsOutOfRangeAreNamed) {
    cpu::CpuBackend be(1);
    RunSettings rs;
    rs.n_ctx = 8;
    try {
        Model::load(test::fixture("models/tiny_llama.gguf"), be, rs);
        FAIL() << "a context of 8 was accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("context length"), std::string::npos) << e.what();
    }
    rs.n_ctx = 64;
    rs.n_batch = 0;
    EXPECT_THROW(Model::load(test::fixture("models/tiny_llama.gguf"), be, rs), Error);
}

TEST(ModelErrors, ContextFullIsAnError) {
    cpu::CpuBackend be(1);
    RunSettings rs;
    rs.n_ctx = 16;
    rs.n_batch = 32;
    auto model = Model::load(test::fixture("models/tiny_llama.gguf"), be, rs);
    auto cache = model->new_cache();
    std::vector<int32_t> prompt(17, 5);
    std::vector<float> logits;
    try {
        model->forward(prompt, *cache, 1, logits);
        FAIL() << "17 tokens went into a context of 16";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("context full"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace gb
