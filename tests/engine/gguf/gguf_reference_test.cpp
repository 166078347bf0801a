// The reader against files it did not write: a fixture made by the `gguf` Python package
// (tools/gen_gguf_fixture.py) and, when present, a real model.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "engine/gguf/gguf_file.h"
#include "tests/test_support.h"

namespace gb {
namespace {

std::vector<std::string> split_tabs(const std::string& line) {
    std::vector<std::string> out;
    std::stringstream ss(line);
    for (std::string part; std::getline(ss, part, '\t');) out.push_back(part);
    return out;
}

std::string to_hex(const uint8_t* p, size_t n) {
    static const char* d = "0123456789abcdef";
    std::string s;
    for (size_t i = 0; i < n; ++i) {
        s += d[p[i] >> 4];
        s += d[p[i] & 15];
    }
    return s;
}

class GgufReference : public ::testing::Test {
protected:
    GgufFile file = GgufFile::open(test::fixture("gguf/reference.gguf"));
};

TEST_F(GgufReference, MatchesWhatTheGgufPackageReadsBack) {
    std::ifstream in(test::fixture("gguf/reference.expect.txt"));
    ASSERT_TRUE(in) << "missing fixture; run tools/gen_gguf_fixture.py";
    size_t n_keys = 0, n_tensors = 0;
    for (std::string line; std::getline(in, line);) {
        auto f = split_tabs(line);
        ASSERT_GE(f.size(), 2u) << line;
        if (f[0] == "version") {
            EXPECT_EQ(file.version(), std::stoul(f[1]));
        } else if (f[0] == "alignment") {
            EXPECT_EQ(file.alignment(), std::stoul(f[1]));
        } else if (f[0] == "key") {
            ASSERT_EQ(f.size(), 3u);
            ASSERT_LT(n_keys, file.metadata().size());
            EXPECT_EQ(file.metadata()[n_keys].key, f[1]);  // same order as in the file
            EXPECT_EQ(gguf_type_name(file.metadata()[n_keys].value.type), f[2]) << f[1];
            ++n_keys;
        } else if (f[0] == "tensor") {
            ASSERT_EQ(f.size(), 7u);
            ASSERT_LT(n_tensors, file.tensors().size());
            const GgufTensorInfo& t = file.tensors()[n_tensors++];
            EXPECT_EQ(t.name, f[1]);
            EXPECT_EQ(type_name(t.type), f[2]) << t.name;
            std::string dims;
            for (int64_t d : t.dims) dims += (dims.empty() ? "" : ",") + std::to_string(d);
            EXPECT_EQ(dims, f[3]) << t.name;
            EXPECT_EQ(file.data_offset() + t.offset, std::stoull(f[4])) << t.name;
            EXPECT_EQ(t.n_bytes, std::stoull(f[5])) << t.name;
            EXPECT_EQ(to_hex(file.tensor_data(t), t.n_bytes), f[6]) << t.name;
        } else {
            ADD_FAILURE() << "unknown expectation line: " << line;
        }
    }
    EXPECT_EQ(n_keys, file.metadata().size());
    EXPECT_EQ(n_tensors, file.tensors().size());
    EXPECT_EQ(n_tensors, 3u);
}

// The inputs tools/gen_gguf_fixture.py gave the gguf package.
TEST_F(GgufReference, MetadataValues) {
    const GgufFile& f = file;
    EXPECT_EQ(f.get_string("general.architecture"), "llama");
    EXPECT_EQ(f.get_string("general.name"), "reference fixture");
    EXPECT_EQ(f.get_int("test.u8"), 200);
    EXPECT_EQ(f.get_int("test.i8"), -100);
    EXPECT_EQ(f.get_int("test.u16"), 60000);
    EXPECT_EQ(f.get_int("test.i16"), -30000);
    EXPECT_EQ(f.get_int("test.u32"), 4000000000ll);
    EXPECT_EQ(f.get_int("test.i32"), -2000000000);
    EXPECT_EQ(std::get<uint64_t>(f.find("test.u64")->v), 18446744073709551615ull);
    EXPECT_EQ(f.get_int("test.i64"), -9000000000000000000ll);
    EXPECT_EQ(f.get_float("test.f32"), 0.15625);
    EXPECT_EQ(f.get_float("test.f64"), -1.0e100);
    EXPECT_EQ(f.get_bool("test.bool_true"), true);
    EXPECT_EQ(f.get_bool("test.bool_false"), false);
    EXPECT_EQ(f.get_string("test.string"), "h\xc3\xa9llo, w\xc3\xb6rld\n");
    EXPECT_EQ(f.get_array("test.strings")->strings,
              (std::vector<std::string>{"<s>", "</s>", "", "\xc4\xa0the"}));
    EXPECT_EQ(f.get_array("test.i32s")->elem_type, GgufType::INT32);
    EXPECT_EQ(f.get_array("test.i32s")->ints, (std::vector<int64_t>{1, -2, 3}));
    EXPECT_EQ(f.get_array("test.f32s")->floats, (std::vector<double>{0.5, -0.25}));
    const GgufArray& nested = *f.get_array("test.nested");
    ASSERT_EQ(nested.elem_type, GgufType::ARRAY);
    ASSERT_EQ(nested.size(), 2u);
    EXPECT_EQ(std::get<GgufArray>(nested.arrays[0].v).ints, (std::vector<int64_t>{1, 2}));
    EXPECT_EQ(std::get<GgufArray>(nested.arrays[1].v).ints, (std::vector<int64_t>{3}));
}

TEST_F(GgufReference, TensorValues) {
    const GgufTensorInfo* t = file.find_tensor("weights.f32");  // arange(12) - 5.5, shape (4, 3)
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->rows(), 4);
    EXPECT_EQ(t->cols(), 3);
    for (int i = 0; i < 12; ++i) {
        float v;
        std::memcpy(&v, file.tensor_data(*t) + 4 * i, 4);
        EXPECT_EQ(v, static_cast<float>(i) - 5.5f) << i;
    }
    const GgufTensorInfo* h = file.find_tensor("weights.f16");  // arange(16) / 8 as f16
    ASSERT_NE(h, nullptr);
    uint16_t one;
    std::memcpy(&one, file.tensor_data(*h) + 2 * 8, 2);  // element 8 is 1.0 = 0x3c00
    EXPECT_EQ(one, 0x3c00);
    const GgufTensorInfo* q = file.find_tensor("weights.q8_0");
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(q->type, TensorType::Q8_0);
    EXPECT_EQ(q->n_bytes, 2u * 2u * 34u);  // 2 rows of 2 blocks of (f16 scale + 32 int8)
}

TEST(GgufRealModel, SmolLM2) {
    GB_REQUIRE_MODEL(path, "SmolLM2-135M-Instruct.Q4_1.gguf");
    GgufFile f = GgufFile::open(path);
    // Facts read with gguf.GGUFReader from the same file.
    EXPECT_EQ(f.version(), 3u);
    EXPECT_EQ(f.get_string("general.architecture"), "llama");
    EXPECT_EQ(f.tensors().size(), 272u);
    EXPECT_EQ(f.metadata().size(), 33u);
    EXPECT_EQ(f.get_int("llama.block_count"), 30);
    EXPECT_EQ(f.get_int("llama.embedding_length"), 576);
    ASSERT_NE(f.get_array("tokenizer.ggml.tokens"), nullptr);
    EXPECT_EQ(f.get_array("tokenizer.ggml.tokens")->strings.size(), 49152u);
    const GgufTensorInfo* emb = f.find_tensor("token_embd.weight");
    ASSERT_NE(emb, nullptr);
    EXPECT_EQ(emb->dims, (std::vector<int64_t>{576, 49152}));
    EXPECT_EQ(emb->type, TensorType::Q8_0);
    EXPECT_EQ(f.data_offset() + emb->offset, 1785664u);
    EXPECT_EQ(emb->n_bytes, 30081024u);
}

}  // namespace
}  // namespace gb
