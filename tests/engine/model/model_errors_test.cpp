// Bad model files are refused with an error that names the problem: unknown architecture,
// missing tensor, mis-shaped tensor, inconsistent hyper-parameters. Each case is the tiny llama
// fixture rewritten with one defect by our GGUF writer.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <string>

#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/model/model.h"
#include "engine/session/kv_cache.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/error.h"
#include "tests/engine/model/model_test_support.h"
#include "tests/forwarding_backend.h"
#include "tests/test_support.h"

namespace gb {
namespace {

// The tiny llama fixture with one defect (metadata edited, tensors dropped or reshaped).
test::TempPath rewrite(
    const std::string& name, const std::function<void(GgufWriter&)>& edit_kv,
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
    const test::TempPath path("model_errors_hp.gguf");
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

// Hostile hyper-parameters that used to be accepted: each is refused with the key named. Every
// case is a real fixture with one metadata edit; before the checks, each of these loaded (layers
// dropped, or rope angles of inf/NaN) and produced a wrong model without a word.
TEST(ModelErrors, HostileHyperParametersAreRefused) {
    const double inf = std::numeric_limits<double>::infinity();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    struct Case {
        std::string fixture, tag;
        std::function<void(GgufWriter&)> edit;
        std::string expect;
    } cases[] = {
        {"tiny_llama", "blocks",
         [](GgufWriter& w) { w.set("llama.block_count", GgufValue::u32(2)); }, "tensor 'blk.2."},
        {"tiny_llama", "base_inf",
         [&](GgufWriter& w) { w.set("llama.rope.freq_base", GgufValue::f32(float(inf))); },
         "rope.freq_base"},
        {"tiny_llama", "base_nan",
         [&](GgufWriter& w) { w.set("llama.rope.freq_base", GgufValue::f32(float(nan))); },
         "rope.freq_base"},
        {"tiny_llama", "rope_type",
         [](GgufWriter& w) { w.set("llama.rope.scaling.type", GgufValue::str("evil")); },
         "unsupported rope.scaling.type 'evil'"},
        {"tiny_llama", "dims_wrap",
         [](GgufWriter& w) {
             w.set("llama.rope.dimension_count", GgufValue::u64((uint64_t(1) << 32) + 2));
         },
         "rope.dimension_count 4294967298"},
        {"tiny_qwen2_yarn", "beta_nan",
         [&](GgufWriter& w) {
             w.set("qwen2.rope.scaling.yarn_beta_fast", GgufValue::f32(float(nan)));
         },
         "qwen2.rope.scaling.yarn_beta_fast"},
        {"tiny_qwen2_yarn", "factor_inf",
         [&](GgufWriter& w) { w.set("qwen2.rope.scaling.factor", GgufValue::f32(float(inf))); },
         "qwen2.rope.scaling.factor"},
        {"tiny_qwen2_yarn", "orig_zero",
         [](GgufWriter& w) {
             w.set("qwen2.rope.scaling.original_context_length", GgufValue::u32(0));
         },
         "original_context_length' = 0"},
        {"tiny_qwen2_yarn", "orig_negative",
         [](GgufWriter& w) {
             w.set("qwen2.rope.scaling.original_context_length", GgufValue::i32(-1));
         },
         "original_context_length' = -1"},
        {"tiny_qwen2_yarn", "orig_huge",
         [](GgufWriter& w) {
             w.set("qwen2.rope.scaling.original_context_length", GgufValue::u64(uint64_t(1) << 40));
         },
         "original_context_length' = 1099511627776"},
        {"tiny_qwen3moe", "scale_nan",
         [&](GgufWriter& w) { w.set("qwen3moe.expert_weights_scale", GgufValue::f32(float(nan))); },
         "expert_weights_scale"},
        {"tiny_llama", "arch_nul",
         [](GgufWriter& w) {
             w.set("general.architecture", GgufValue::str(std::string("llama\0evil", 10)));
         },
         "'llama\\x00evil' holds a NUL byte"},
    };
    for (const auto& c : cases) {
        const auto p = test::rewrite_fixture(c.fixture, c.tag, c.edit, keep_all);
        cpu::CpuBackend be(1);
        RunSettings rs;
        rs.n_ctx = 64;
        std::string e;
        try {
            Model::load(p, be, rs);
        } catch (const Error& err) {
            e = err.what();
        }
        EXPECT_NE(e.find(c.expect), std::string::npos) << c.tag << ": " << e;
    }
}

// A KV cache the backend cannot allocate is named as such, with the setting that sizes it,
// instead of an allocator's bare "out of memory allocating N bytes"; what was allocated is
// given back.
TEST(ModelErrors, KvCacheOutOfMemoryNamesTheContext) {
    struct Failing : test::ForwardingBackend {
        using ForwardingBackend::ForwardingBackend;
        int allocs = 0, releases = 0;
        Act alloc(int64_t rows, int64_t cols) override {
            if (++allocs == 4) throw Error("cpu alloc: out of memory allocating 123 bytes");
            return ForwardingBackend::alloc(rows, cols);
        }
        void release(Act& a) override {
            ++releases;
            ForwardingBackend::release(a);
        }
    } be(std::make_unique<cpu::CpuBackend>(1));
    try {
        KvCache cache({&be, &be, &be}, 4096, 64, 64);
        FAIL() << "the fourth allocation was meant to fail";
    } catch (const Error& e) {
        const std::string msg = e.what();
        // 3 layers * 4096 positions * (64 + 64) fp16 values.
        EXPECT_NE(msg.find("KV cache for a context of 4096 tokens (3 MiB, f16)"), std::string::npos)
            << msg;
        EXPECT_NE(msg.find("--cache-type q8_0"), std::string::npos) << msg;
        EXPECT_NE(msg.find("--ctx"), std::string::npos) << msg;
        EXPECT_NE(msg.find("out of memory allocating 123 bytes"), std::string::npos) << msg;
    }
    EXPECT_EQ(be.releases, 3);  // layer 0's k and v, and layer 1's k
}

}  // namespace
}  // namespace gb
