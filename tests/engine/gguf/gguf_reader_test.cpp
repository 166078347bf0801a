// GGUF reader: well-formed files, typed getters, and a suite of hostile files that must each be
// refused with a gb::Error naming the problem and where it is (never a crash).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>

#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_writer.h"
#include "kernels/error.h"
#include "tests/engine/gguf/gguf_bytes.h"

namespace gb {
namespace {

using test::GgufBytes;

constexpr uint32_t kF32 = 0, kQ8_0 = 8;

// The message of the gb::Error that parsing `bytes` throws; fails the test when it parses.
std::string parse_error(std::span<const uint8_t> bytes) {
    try {
        GgufFile::parse(bytes, "bad.gguf");
    } catch (const Error& e) {
        return e.what();
    }
    ADD_FAILURE() << "parse accepted a bad file";
    return "";
}

#define EXPECT_HAS(msg, part) EXPECT_NE(std::string(msg).find(part), std::string::npos) << (msg)

// A valid file with one F32 tensor of 4 elements, optionally with extra metadata.
GgufBytes one_tensor_file() {
    GgufBytes f;
    f.header(1, 1)
        .kv_str("general.architecture", "llama")
        .tensor("t", {4}, kF32, 0)
        .pad()
        .zeros(16);
    return f;
}

TEST(GgufReader, ParsesHandMadeFile) {
    GgufBytes f = one_tensor_file();
    GgufFile g = GgufFile::parse(f.span(), "hand.gguf");
    EXPECT_EQ(g.path(), "hand.gguf");
    EXPECT_EQ(g.version(), 3u);
    EXPECT_EQ(g.alignment(), 32u);
    EXPECT_EQ(g.file_size(), f.b.size());
    EXPECT_EQ(g.data_offset() % 32, 0u);
    EXPECT_EQ(g.data_offset() + 16, f.b.size());
    EXPECT_EQ(g.get_string("general.architecture"), "llama");
    ASSERT_EQ(g.tensors().size(), 1u);
    const GgufTensorInfo* t = g.find_tensor("t");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->n_elements, 4);
    EXPECT_EQ(t->n_bytes, 16u);
    EXPECT_EQ(t->rows(), 1);
    EXPECT_EQ(t->cols(), 4);
    EXPECT_EQ(g.tensor_data(*t), f.b.data() + g.data_offset());
    EXPECT_EQ(g.find_tensor("missing"), nullptr);
    EXPECT_EQ(g.find("missing"), nullptr);
}

TEST(GgufReader, AcceptsVersion2) {
    GgufBytes f;
    f.header(0, 1, 2).kv_u32("x", 5);
    GgufFile g = GgufFile::parse(f.span());
    EXPECT_EQ(g.version(), 2u);
    EXPECT_EQ(g.get_int("x"), 5);
    EXPECT_EQ(g.data_offset(), f.b.size());  // no tensors: the file may end after the header
}

TEST(GgufReader, CustomAlignment) {
    GgufBytes f;
    f.header(2, 1)
        .kv_u32("general.alignment", 8)
        .tensor("a", {2}, kF32, 0)
        .tensor("b", {2}, kF32, 8)
        .pad(8)
        .zeros(16);
    GgufFile g = GgufFile::parse(f.span());
    EXPECT_EQ(g.alignment(), 8u);
    EXPECT_EQ(g.data_offset() % 8, 0u);
    EXPECT_EQ(g.tensor_data(*g.find_tensor("b")) - g.tensor_data(*g.find_tensor("a")), 8);
}

TEST(GgufReader, TypedGetters) {
    GgufWriter w;
    w.set("i", GgufValue::i32(-7));
    w.set("u64big", GgufValue::u64(std::numeric_limits<uint64_t>::max()));
    w.set("u64small", GgufValue::u64(42));
    w.set("f", GgufValue::f32(0.5f));
    w.set("b", GgufValue::boolean(true));
    w.set("s", GgufValue::str("text"));
    w.set("a", GgufValue::i32_array({1, 2}));
    std::vector<uint8_t> bytes = w.to_bytes();
    GgufFile g = GgufFile::parse(bytes, "getters.gguf");

    EXPECT_EQ(g.get_int("i"), -7);
    EXPECT_EQ(g.get_int("u64small"), 42);
    EXPECT_EQ(g.get_float("i"), -7.0);  // floats accept integers
    EXPECT_EQ(g.get_float("f"), 0.5);
    EXPECT_EQ(g.get_bool("b"), true);
    EXPECT_EQ(g.get_string("s"), "text");
    ASSERT_NE(g.get_array("a"), nullptr);
    EXPECT_EQ(g.get_array("a")->ints, (std::vector<int64_t>{1, 2}));
    EXPECT_EQ(g.get_int("nope"), std::nullopt);
    EXPECT_EQ(g.get_float("nope"), std::nullopt);
    EXPECT_EQ(g.get_bool("nope"), std::nullopt);
    EXPECT_EQ(g.get_string("nope"), std::nullopt);
    EXPECT_EQ(g.get_array("nope"), nullptr);
    EXPECT_EQ(g.require_int("i"), -7);
    EXPECT_EQ(g.require_float("f"), 0.5);
    EXPECT_EQ(g.require_string("s"), "text");

    auto error_of = [](auto&& fn) -> std::string {
        try {
            fn();
        } catch (const Error& e) {
            return e.what();
        }
        return "no error";
    };
    std::string m = error_of([&] { g.get_int("s"); });
    EXPECT_HAS(m, "getters.gguf");
    EXPECT_HAS(m, "'s'");
    EXPECT_HAS(m, "is STRING, expected an integer");
    EXPECT_HAS(error_of([&] { g.get_int("u64big"); }), "does not fit in int64");
    EXPECT_HAS(error_of([&] { g.get_float("b"); }), "'b' is BOOL, expected a number");
    EXPECT_HAS(error_of([&] { g.get_bool("i"); }), "'i' is INT32, expected BOOL");
    EXPECT_HAS(error_of([&] { g.get_string("f"); }), "'f' is FLOAT32, expected STRING");
    EXPECT_HAS(error_of([&] { g.get_array("s"); }), "'s' is STRING, expected ARRAY");
    EXPECT_HAS(error_of([&] { g.require_int("llama.block_count"); }),
               "missing required key 'llama.block_count'");
    EXPECT_HAS(error_of([&] { g.require_float("x"); }), "missing required key 'x'");
    EXPECT_HAS(error_of([&] { g.require_string("y"); }), "missing required key 'y'");
}

TEST(GgufReader, OpenMapsFileAndReportsFileErrors) {
    auto dir =
        std::filesystem::temp_directory_path() / ("gb_gguf_reader_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    GgufBytes f = one_tensor_file();
    f.b[f.b.size() - 16] = 0xab;
    const std::string path = (dir / "ok.gguf").string();
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(f.b.data()), f.b.size());
    {
        GgufFile g = GgufFile::open(path);
        EXPECT_EQ(g.path(), path);
        EXPECT_EQ(g.tensor_data(g.tensors()[0])[0], 0xab);
        GgufFile moved = std::move(g);  // the mapping moves with the object
        EXPECT_EQ(moved.tensor_data(moved.tensors()[0])[0], 0xab);
    }
    auto open_error = [](const std::string& p) -> std::string {
        try {
            GgufFile::open(p);
        } catch (const Error& e) {
            return e.what();
        }
        return "no error";
    };
    EXPECT_HAS(open_error((dir / "missing.gguf").string()), "cannot open");
    EXPECT_HAS(open_error(dir.string()), "not a regular file");
    const std::string empty = (dir / "empty.gguf").string();
    std::ofstream(empty).close();
    EXPECT_HAS(open_error(empty), "empty");
    std::filesystem::remove_all(dir);
}

// A file cut off inside its tensor data (the first part of a split download): a full open names
// the tensor; a metadata-only open gives the metadata and tensor table and refuses the data.
TEST(GgufReader, MetadataOnlyOpenOfACutOffFile) {
    auto dir =
        std::filesystem::temp_directory_path() / ("gb_gguf_meta_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    GgufBytes f;
    f.header(2, 1).kv_str("general.architecture", "llama");
    f.tensor("a", {8}, kF32, 0).tensor("b", {8}, kF32, 32).pad().zeros(40);  // b needs 64 bytes
    const std::string path = (dir / "cut.gguf").string();
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(f.b.data()), f.b.size());
    try {
        GgufFile::open(path);
        ADD_FAILURE() << "a full open must refuse the cut-off file";
    } catch (const Error& e) {
        EXPECT_HAS(std::string(e.what()), "tensor 'b'");
    }
    const GgufFile g = GgufFile::open(path, GgufOpen::MetadataOnly);
    EXPECT_FALSE(g.has_tensor_data());
    EXPECT_EQ(g.get_string("general.architecture"), "llama");
    ASSERT_EQ(g.tensors().size(), 2u);
    EXPECT_NO_THROW((void)g.tensor_data(g.tensors()[0]));  // a lies inside the file
    try {
        (void)g.tensor_data(g.tensors()[1]);
        ADD_FAILURE() << "data past the end must be refused";
    } catch (const Error& e) {
        EXPECT_HAS(std::string(e.what()), "opened for metadata only");
    }
    // The layout is still checked: overlapping tensors are refused in this mode too.
    GgufBytes bad;
    bad.header(2, 0).tensor("a", {16}, kF32, 0).tensor("b", {4}, kF32, 32).pad();
    const std::string bad_path = (dir / "bad.gguf").string();
    std::ofstream(bad_path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bad.b.data()), bad.b.size());
    EXPECT_THROW(GgufFile::open(bad_path, GgufOpen::MetadataOnly), Error);
    std::filesystem::remove_all(dir);
}

// --- hostile files --------------------------------------------------------------------------

TEST(GgufHostile, EveryTruncationIsRefused) {
    // A small valid file with every value type and two tensors; the writer ends it with tensor
    // data, so no proper prefix of it is a valid file.
    GgufWriter w;
    w.set("general.architecture", GgufValue::str("llama"));
    w.set("u8", GgufValue::u8(1));
    w.set("i16", GgufValue::i16(-2));
    w.set("f64", GgufValue::f64(3.5));
    w.set("b", GgufValue::boolean(false));
    w.set("u64", GgufValue::u64(9));
    w.set("strs", GgufValue::str_array({"x", "yz"}));
    GgufArray nested;
    nested.elem_type = GgufType::ARRAY;
    nested.arrays = {GgufValue::f32_array({1.f}), GgufValue::i32_array({2, 3})};
    w.set("nested", GgufValue::array(nested));
    std::vector<uint8_t> q(34, 1);
    w.add_tensor("q", TensorType::Q8_0, {32}, q.data(), q.size());
    float x[3] = {1, 2, 3};
    w.add_tensor("x", TensorType::F32, {3}, x, sizeof x);
    const std::vector<uint8_t> full = w.to_bytes();
    ASSERT_NO_THROW(GgufFile::parse(full));
    for (size_t n = 0; n < full.size(); ++n) {
        // An exact-size heap copy, so that a read past the end is a real out-of-bounds read
        // (caught under ASan) rather than a read of the rest of `full`.
        std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<ptrdiff_t>(n));
        EXPECT_THROW(GgufFile::parse(cut, "cut.gguf"), Error)
            << "prefix of " << n << " bytes was accepted";
    }
}

TEST(GgufHostile, BadMagic) {
    GgufBytes f = one_tensor_file();
    f.b[3] = 'X';
    std::string m = parse_error(f.span());
    EXPECT_HAS(m, "bad.gguf: ");
    EXPECT_HAS(m, "bad magic");
    EXPECT_HAS(m, "at byte offset 0");
    EXPECT_HAS(parse_error(std::span<const uint8_t>(f.b.data(), 3)), "too small");
}

TEST(GgufHostile, BadVersion) {
    GgufBytes v1, v4, be;
    v1.header(0, 0, 1);
    v4.header(0, 0, 4);
    be.header(0, 0, 0x03000000);
    EXPECT_HAS(parse_error(v1.span()), "GGUF version 1 is not supported");
    EXPECT_HAS(parse_error(v4.span()), "unsupported GGUF version 4");
    EXPECT_HAS(parse_error(be.span()), "big-endian");
}

TEST(GgufHostile, HugeCounts) {
    GgufBytes kv, tensors, both;
    kv.header(0, uint64_t{1} << 63).kv_u32("a", 1);
    tensors.header(std::numeric_limits<uint64_t>::max(), 0).zeros(64);
    both.header(1, 3).zeros(60);  // each count alone fits, together they cannot
    EXPECT_HAS(parse_error(kv.span()), "cannot fit in a file of");
    EXPECT_HAS(parse_error(tensors.span()), "cannot fit in a file of");
    EXPECT_HAS(parse_error(both.span()), "cannot fit in a file of");
}

TEST(GgufHostile, HugeStringLengths) {
    GgufBytes key, value, elem;
    key.header(0, 1).u64(std::numeric_limits<uint64_t>::max()).zeros(16);
    value.header(0, 1).str("general.name").u32(8).u64(uint64_t{1} << 40).zeros(16);
    elem.header(0, 1).str("tokens").u32(9).u32(8).u64(1).u64(1000).zeros(16);
    std::string m = parse_error(key.span());
    EXPECT_HAS(m, "metadata entry #0");
    EXPECT_HAS(m, "exceeds the limit");
    m = parse_error(value.span());
    EXPECT_HAS(m, "'general.name'");
    EXPECT_HAS(m, "runs past end of file");
    EXPECT_HAS(parse_error(elem.span()), "'tokens'");
}

TEST(GgufHostile, HugeArrayLength) {
    GgufBytes f;
    f.header(0, 1).str("big").u32(9).u32(4).u64(uint64_t{1} << 62).zeros(16);
    std::string m = parse_error(f.span());
    EXPECT_HAS(m, "'big'");
    EXPECT_HAS(m, "UINT32 elements cannot fit");
}

TEST(GgufHostile, BadValueTypes) {
    GgufBytes kv, elem, boolean, u64;
    kv.header(0, 1).str("weird").u32(13).zeros(8);
    elem.header(0, 1).str("arr").u32(9).u32(99).u64(1).zeros(8);
    boolean.header(0, 1).str("flag").u32(7).u8(2);
    u64.header(0, 1).str("ids").u32(9).u32(10).u64(1).u64(std::numeric_limits<uint64_t>::max());
    std::string m = parse_error(kv.span());
    EXPECT_HAS(m, "'weird'");
    EXPECT_HAS(m, "unknown value type id 13");
    m = parse_error(elem.span());
    EXPECT_HAS(m, "'arr'");
    EXPECT_HAS(m, "unknown value type id 99");
    EXPECT_HAS(parse_error(boolean.span()), "'flag': BOOL value is 2");
    EXPECT_HAS(parse_error(u64.span()), "'ids': UINT64 array element");
}

TEST(GgufHostile, NestingTooDeep) {
    GgufBytes f;
    f.header(0, 1).str("deep").u32(9);
    for (int i = 0; i < 20; ++i) f.u32(9).u64(1);
    f.u32(0).u64(0);
    EXPECT_HAS(parse_error(f.span()), "nested deeper");
}

TEST(GgufHostile, BadKeys) {
    GgufBytes empty, dup;
    empty.header(0, 1).str("").u32(4).u32(1);
    dup.header(0, 2).kv_u32("llama.block_count", 1).kv_u32("llama.block_count", 2);
    EXPECT_HAS(parse_error(empty.span()), "empty key");
    std::string m = parse_error(dup.span());
    EXPECT_HAS(m, "'llama.block_count'");
    EXPECT_HAS(m, "duplicate key");
}

TEST(GgufHostile, BadAlignment) {
    for (uint32_t a : {0u, 3u, 48u}) {
        GgufBytes f;
        f.header(0, 1).kv_u32("general.alignment", a);
        std::string m = parse_error(f.span());
        EXPECT_HAS(m, "'general.alignment'");
        EXPECT_HAS(m, "not a nonzero power of two");
    }
    GgufBytes wrong_type;
    wrong_type.header(0, 1).str("general.alignment").u32(10).u64(32);
    EXPECT_HAS(parse_error(wrong_type.span()), "'general.alignment' is UINT64, expected UINT32");
}

TEST(GgufHostile, BadTensorShapes) {
    auto with = [](std::vector<uint64_t> dims, uint32_t type) {
        GgufBytes f;
        f.header(1, 0).tensor("blk.0.attn_q.weight", std::move(dims), type, 0).pad().zeros(256);
        return parse_error(f.span());
    };
    std::string m = with({uint64_t{1} << 62, 4}, kF32);
    EXPECT_HAS(m, "'blk.0.attn_q.weight'");
    EXPECT_HAS(m, "overflow");
    EXPECT_HAS(with({uint64_t{1} << 63}, kF32), "overflow");
    EXPECT_HAS(with({uint64_t{1} << 40}, kF32), "runs past end of file");
    EXPECT_HAS(with({uint64_t{1} << 62}, kF32),
               "data size of 4611686018427387904 F32 elements overflows");
    EXPECT_HAS(with({4, 0}, kF32), "dimension 1 is 0");
    EXPECT_HAS(with({}, kF32), "dimension count 0 is outside 1..4");
    EXPECT_HAS(with({1, 1, 1, 1, 1}, kF32), "dimension count 5");
    m = with({16}, kQ8_0);
    EXPECT_HAS(m, "'blk.0.attn_q.weight'");
    EXPECT_HAS(m, "not a multiple of the Q8_0 block size 32");
    m = with({32}, 4);  // 4 and 5 are ids of types removed from the format
    EXPECT_HAS(m, "'blk.0.attn_q.weight'");
    EXPECT_HAS(m, "unknown tensor type id 4");
}

TEST(GgufHostile, BadTensorNames) {
    GgufBytes empty, longname, dup;
    empty.header(1, 0).tensor("", {4}, kF32, 0).pad().zeros(16);
    longname.header(1, 0).tensor(std::string(64, 'n'), {4}, kF32, 0).pad().zeros(16);
    dup.header(2, 0).tensor("w", {4}, kF32, 0).tensor("w", {4}, kF32, 32).pad().zeros(64);
    EXPECT_HAS(parse_error(empty.span()), "empty tensor name");
    EXPECT_HAS(parse_error(longname.span()), "tensor name length 64 exceeds the limit of 63");
    std::string m = parse_error(dup.span());
    EXPECT_HAS(m, "tensor 'w'");
    EXPECT_HAS(m, "duplicate tensor name");
}

TEST(GgufHostile, MisalignedOffset) {
    GgufBytes f;
    f.header(1, 0).tensor("w", {4}, kF32, 4).pad().zeros(32);
    std::string m = parse_error(f.span());
    EXPECT_HAS(m, "tensor 'w'");
    EXPECT_HAS(m, "data offset 4 is not a multiple of the alignment 32");
}

TEST(GgufHostile, DataPastEndOfFile) {
    GgufBytes f, far, no_section;
    f.header(1, 0).tensor("blk.0.attn_q.weight", {8}, kF32, 0).pad().zeros(16);  // needs 32 bytes
    std::string m = parse_error(f.span());
    EXPECT_HAS(m, "bad.gguf: tensor 'blk.0.attn_q.weight': data [");
    EXPECT_HAS(m, ") runs past end of file (" + std::to_string(f.b.size()) + " bytes)");
    far.header(1, 0).tensor("w", {4}, kF32, uint64_t{1} << 60).pad().zeros(16);
    EXPECT_HAS(parse_error(far.span()),
               "tensor 'w': data offset 1152921504606846976 is past end of file");
    no_section.header(1, 0).tensor("w", {4}, kF32, 0);  // ends before the aligned data section
    EXPECT_HAS(parse_error(no_section.span()), "past end of file");
}

TEST(GgufHostile, OverlappingTensors) {
    GgufBytes f;
    f.header(2, 0).tensor("a", {16}, kF32, 0).tensor("b", {4}, kF32, 32).pad().zeros(64);
    std::string m = parse_error(f.span());
    EXPECT_HAS(m, "tensor 'b'");
    EXPECT_HAS(m, "overlaps the data of tensor 'a'");
    GgufBytes same;
    same.header(2, 0).tensor("a", {4}, kF32, 0).tensor("b", {4}, kF32, 0).pad().zeros(32);
    EXPECT_HAS(parse_error(same.span()), "overlaps");
}

TEST(GgufHostile, NonPrintableNamesAreEscapedInMessages) {
    GgufBytes f;
    f.header(0, 2).kv_u32(std::string("k\n\x01", 3), 1).kv_u32(std::string("k\n\x01", 3), 1);
    EXPECT_HAS(parse_error(f.span()), "'k\\x0a\\x01'");
}

}  // namespace
}  // namespace gb
