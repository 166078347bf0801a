// Safetensors reader: hand-made files, sharded checkpoints, and hostile files that must each be
// refused with a gb::Error naming the file, the tensor and the problem (never a crash).
#include <gtest/gtest.h>

#include "engine/gguf/safetensors_file.h"
#include "kernels/error.h"
#include "tests/engine/safetensors/safetensors_bytes.h"

namespace gb {
namespace {

using test::st_bytes;

#define EXPECT_HAS(msg, part) EXPECT_NE(std::string(msg).find(part), std::string::npos) << (msg)

std::string parse_error(const std::vector<uint8_t>& bytes) {
    try {
        SafetensorsFile::parse(bytes, "bad.safetensors");
    } catch (const Error& e) {
        return e.what();
    }
    ADD_FAILURE() << "parse accepted a bad file";
    return "";
}

// One tensor "t" with the given entry fields and `n` data bytes.
std::string one(const std::string& fields, size_t n = 8) {
    return parse_error(st_bytes("{\"t\":{" + fields + "}}", std::vector<uint8_t>(n)));
}

TEST(SafetensorsReader, ParsesHandMadeFile) {
    const std::string h = R"({"__metadata__":{"format":"pt"},)"
                          R"("b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]},)"
                          R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                          R"("s":{"dtype":"F16","shape":[],"data_offsets":[22,24]}}  )";
    std::vector<uint8_t> data(24);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i);
    const auto bytes = st_bytes(h, data);
    SafetensorsFile f = SafetensorsFile::parse(bytes, "hand.safetensors");
    EXPECT_EQ(f.path(), "hand.safetensors");
    EXPECT_EQ(f.header_bytes(), h.size());
    ASSERT_EQ(f.tensors().size(), 3u);
    EXPECT_EQ(f.tensors()[0].name, "a");  // file order
    const SafetensorsTensor* b = f.find("b");
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b->type, TensorType::BF16);
    EXPECT_EQ(b->shape, (std::vector<int64_t>{3}));
    EXPECT_EQ(b->n_bytes, 6u);
    EXPECT_EQ(b->data, bytes.data() + 8 + h.size() + 16);
    EXPECT_EQ(b->file, "hand.safetensors");
    const SafetensorsTensor* s = f.find("s");
    ASSERT_NE(s, nullptr);
    EXPECT_TRUE(s->shape.empty());
    EXPECT_EQ(s->n_elements, 1);
    EXPECT_EQ(f.find("nope"), nullptr);
    ASSERT_EQ(f.metadata().size(), 1u);
    EXPECT_EQ(f.metadata()[0].second, "pt");
}

TEST(SafetensorsReader, RefusesBadHeaderFraming) {
    EXPECT_HAS(parse_error({1, 2, 3}), "too small");
    EXPECT_HAS(parse_error(st_bytes("", {})), "header length is 0");
    EXPECT_HAS(parse_error(st_bytes("{}", {}, 200'000'000)), "exceeds the limit");
    EXPECT_HAS(parse_error(st_bytes("{}", {}, 50)), "runs past end of file");
    EXPECT_HAS(parse_error(st_bytes("[1]", {})), "does not start with '{'");
    EXPECT_HAS(parse_error(st_bytes("{\"t\":", {})), "JSON header");
    EXPECT_HAS(parse_error(st_bytes("{\"t\":1,}", {})), "bad.safetensors");
    // Duplicate names are duplicate JSON keys.
    const std::string e = R"("dtype":"F32","shape":[1],"data_offsets":[0,4])";
    EXPECT_HAS(
        parse_error(st_bytes("{\"t\":{" + e + "},\"t\":{" + e + "}}", std::vector<uint8_t>(4))),
        "duplicate key \"t\"");
    EXPECT_HAS(parse_error(st_bytes(R"({"__metadata__":{"k":1}})", {})), "'k'");
    EXPECT_HAS(parse_error(st_bytes(R"({"__metadata__":[]})", {})), "__metadata__");
}

TEST(SafetensorsReader, RefusesBadTensorEntries) {
    EXPECT_HAS(parse_error(st_bytes(R"({"t":[1]})", {})), "tensor 't': entry is a");
    EXPECT_HAS(one(R"("dtype":"F7","shape":[2],"data_offsets":[0,8])"), "unknown dtype 'F7'");
    const std::string fp8 = one(R"("dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8])");
    EXPECT_HAS(fp8, "tensor 't': dtype F8_E4M3 is not supported");
    EXPECT_HAS(fp8, "bad.safetensors");
    EXPECT_HAS(one(R"("dtype":"I64","shape":[1],"data_offsets":[0,8])"), "I64 is not supported");
    EXPECT_HAS(one(R"("shape":[2],"data_offsets":[0,8])"), "missing field \"dtype\"");
    EXPECT_HAS(one(R"("dtype":"F32","data_offsets":[0,8])"), "missing field \"shape\"");
    EXPECT_HAS(one(R"("dtype":"F32","shape":[2])"), "missing field \"data_offsets\"");
    EXPECT_HAS(one(R"("dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1)"), "unknown field 'x'");
    EXPECT_HAS(one(R"("dtype":"F32","shape":"2","data_offsets":[0,8])"),
               "\"shape\" is a string, expected an array");
    EXPECT_HAS(one(R"("dtype":"F32","shape":[2.5],"data_offsets":[0,8])"),
               "not a non-negative integer");
    EXPECT_HAS(one(R"("dtype":"F32","shape":[-2],"data_offsets":[0,8])"),
               "not a non-negative integer");
    EXPECT_HAS(one(R"("dtype":"F32","shape":[2,0],"data_offsets":[0,0])", 0), "dimension 1 is 0");
    EXPECT_HAS(one(R"("dtype":"F32","shape":[1,1,1,1,1,1,1,1,2],"data_offsets":[0,8])"),
               "9 dimensions");
    EXPECT_HAS(one(R"("dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8])"),
               "overflow");
    EXPECT_HAS(one(R"("dtype":"F32","shape":[3],"data_offsets":[0,8])"),
               "shape [3] of F32 needs 12 bytes but data_offsets [0, 8) hold 8");
    EXPECT_HAS(one(R"("dtype":"F32","shape":[2],"data_offsets":[8,0])"), "end before they begin");
    EXPECT_HAS(one(R"("dtype":"F32","shape":[2],"data_offsets":[0])"), "expected [begin, end]");
    EXPECT_HAS(one(R"("dtype":"F32","shape":[4],"data_offsets":[0,16])"), "runs past the end");
    EXPECT_HAS(one(R"("dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551615])"),
               "runs past the end");
}

TEST(SafetensorsReader, RefusesOverlapsGapsAndTrailingBytes) {
    auto two = [](int a0, int a1, int b0, int b1, size_t n) {
        const std::string h =
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[" + std::to_string((a1 - a0) / 4) +
            "],\"data_offsets\":[" + std::to_string(a0) + "," + std::to_string(a1) +
            "]},\"b\":{\"dtype\":\"F32\",\"shape\":[" + std::to_string((b1 - b0) / 4) +
            "],\"data_offsets\":[" + std::to_string(b0) + "," + std::to_string(b1) + "]}}";
        return parse_error(st_bytes(h, std::vector<uint8_t>(n)));
    };
    const std::string overlap = two(0, 8, 4, 12, 12);
    EXPECT_HAS(overlap, "tensor 'b': data [4, 12) overlaps the data of tensor 'a' [0, 8)");
    EXPECT_HAS(two(0, 8, 12, 16, 16), "bytes [8, 12) belong to no tensor");
    EXPECT_HAS(two(4, 8, 8, 12, 12), "tensor 'a': data starts at 4");
    EXPECT_HAS(two(0, 4, 4, 8, 12), "4 bytes after the last tensor");
    EXPECT_HAS(parse_error(st_bytes("{}", std::vector<uint8_t>(4))), "belong to no tensor");
    SafetensorsFile::parse(st_bytes("{}", {}));  // an empty file of no tensors is fine
}

TEST(SafetensorsReader, OpensFilesAndRefusesMissingOnes) {
    test::TempDir dir("st_open");
    const auto p = dir.path / "m.safetensors";
    test::write_file(p, test::st_file({{"x", {2}, {1.5f, -2.0f}}}));
    SafetensorsFile f = SafetensorsFile::open(p.string());
    ASSERT_NE(f.find("x"), nullptr);
    EXPECT_EQ(reinterpret_cast<const float*>(f.find("x")->data)[1], -2.0f);
    try {
        SafetensorsFile::open((dir.path / "none.safetensors").string());
        ADD_FAILURE();
    } catch (const Error& e) {
        EXPECT_HAS(e.what(), "none.safetensors: cannot open");
    }
    test::write_file(dir.path / "empty.safetensors", std::string());
    EXPECT_THROW(SafetensorsFile::open((dir.path / "empty.safetensors").string()), Error);
}

class ShardedCheckpoint : public ::testing::Test {
protected:
    test::TempDir dir{"st_shards"};
    void SetUp() override {
        test::write_file(dir.path / "a.safetensors", test::st_file({{"w1", {2}, {1, 2}}}));
        test::write_file(dir.path / "b.safetensors",
                         test::st_file({{"w2", {1}, {3}}, {"w3", {1}, {4}}}));
    }
    void index(const std::string& map) {
        test::write_file(dir.path / "model.safetensors.index.json",
                         "{\"metadata\":{\"total_size\":16},\"weight_map\":{" + map + "}}");
    }
    std::string error() {
        try {
            SafetensorsSet::open(dir.str());
        } catch (const Error& e) {
            return e.what();
        }
        ADD_FAILURE() << "opened a bad checkpoint";
        return "";
    }
};

TEST_F(ShardedCheckpoint, OpensAllShards) {
    index(R"("w1":"a.safetensors","w2":"b.safetensors","w3":"b.safetensors")");
    SafetensorsSet s = SafetensorsSet::open(dir.str());
    EXPECT_EQ(s.files().size(), 2u);
    EXPECT_EQ(s.tensors().size(), 3u);
    ASSERT_NE(s.find("w3"), nullptr);
    EXPECT_EQ(reinterpret_cast<const float*>(s.find("w3")->data)[0], 4.0f);
    EXPECT_HAS(s.find("w3")->file, "b.safetensors");
    // The index file itself may be given.
    EXPECT_EQ(
        SafetensorsSet::open((dir.path / "model.safetensors.index.json").string()).tensors().size(),
        3u);
}

TEST_F(ShardedCheckpoint, RefusesInconsistentIndexes) {
    index(R"("w1":"a.safetensors","w2":"c.safetensors","w3":"b.safetensors")");
    EXPECT_HAS(error(), "tensor 'w2' is in shard 'c.safetensors', which does not exist");
    index(R"("w1":"a.safetensors","w2":"a.safetensors","w3":"b.safetensors")");
    EXPECT_HAS(error(), "tensor 'w2' is listed in shard 'a.safetensors' but");
    index(R"("w1":"a.safetensors","w2":"b.safetensors")");
    EXPECT_HAS(error(), "tensor 'w3' is not listed in the index");
    index(R"("w1":"../a.safetensors")");
    EXPECT_HAS(error(), "not a plain file name");
    index(R"("w1":7)");
    EXPECT_HAS(error(), "not a file name");
    index("");
    EXPECT_HAS(error(), "lists no tensors");
    test::write_file(dir.path / "model.safetensors.index.json", std::string("{\"metadata\":{}}"));
    EXPECT_HAS(error(), "no \"weight_map\"");
    test::write_file(dir.path / "c.safetensors", test::st_file({{"w1", {2}, {1, 2}}}));
    index(R"("w1":"a.safetensors","w2":"b.safetensors","w3":"b.safetensors","x":"c.safetensors")");
    EXPECT_HAS(error(), "tensor 'w1' is in two shards");
}

TEST(SafetensorsSet, NamesTheDirectoryWithoutWeights) {
    test::TempDir dir("st_none");
    try {
        SafetensorsSet::open(dir.str());
        ADD_FAILURE();
    } catch (const Error& e) {
        EXPECT_HAS(e.what(), "no model.safetensors");
    }
}

}  // namespace
}  // namespace gb
