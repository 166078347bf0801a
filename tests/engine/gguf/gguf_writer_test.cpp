// GGUF writer: every value type and tensors survive a round trip through the reader; misuse of
// the writer is refused.
#include "engine/gguf/gguf_writer.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <limits>

#include "engine/gguf/gguf_file.h"
#include "kernels/error.h"

namespace gb {
namespace {

GgufArray ints(GgufType t, std::vector<int64_t> v) {
    GgufArray a;
    a.elem_type = t;
    a.ints = std::move(v);
    return a;
}

TEST(GgufWriter, RoundTripsEveryScalarType) {
    GgufWriter w;
    w.set("u8", GgufValue::u8(255));
    w.set("i8", GgufValue::i8(-128));
    w.set("u16", GgufValue::u16(65535));
    w.set("i16", GgufValue::i16(-32768));
    w.set("u32", GgufValue::u32(4294967295u));
    w.set("i32", GgufValue::i32(std::numeric_limits<int32_t>::min()));
    w.set("u64", GgufValue::u64(std::numeric_limits<uint64_t>::max()));
    w.set("i64", GgufValue::i64(std::numeric_limits<int64_t>::min()));
    w.set("f32", GgufValue::f32(-1.5e-3f));
    w.set("f64", GgufValue::f64(1e300));
    w.set("t", GgufValue::boolean(true));
    w.set("f", GgufValue::boolean(false));
    w.set("s", GgufValue::str(std::string("nul\0inside, ünïcode", 20)));
    w.set("empty", GgufValue::str(""));
    const std::vector<uint8_t> bytes = w.to_bytes();
    GgufFile g = GgufFile::parse(bytes);

    ASSERT_EQ(g.metadata().size(), 14u);
    const char* order[] = {"u8",  "i8",  "u16", "i16", "u32", "i32", "u64",
                           "i64", "f32", "f64", "t",   "f",   "s",   "empty"};
    for (size_t i = 0; i < 14; ++i) EXPECT_EQ(g.metadata()[i].key, order[i]);
    const GgufType types[] = {
        GgufType::UINT8, GgufType::INT8,   GgufType::UINT16, GgufType::INT16,   GgufType::UINT32,
        GgufType::INT32, GgufType::UINT64, GgufType::INT64,  GgufType::FLOAT32, GgufType::FLOAT64,
        GgufType::BOOL,  GgufType::BOOL,   GgufType::STRING, GgufType::STRING};
    for (size_t i = 0; i < 14; ++i) EXPECT_EQ(g.metadata()[i].value.type, types[i]) << order[i];
    EXPECT_EQ(g.get_int("u8"), 255);
    EXPECT_EQ(g.get_int("i8"), -128);
    EXPECT_EQ(g.get_int("u16"), 65535);
    EXPECT_EQ(g.get_int("i16"), -32768);
    EXPECT_EQ(g.get_int("u32"), 4294967295ll);
    EXPECT_EQ(g.get_int("i32"), std::numeric_limits<int32_t>::min());
    EXPECT_EQ(std::get<uint64_t>(g.find("u64")->v), std::numeric_limits<uint64_t>::max());
    EXPECT_EQ(g.get_int("i64"), std::numeric_limits<int64_t>::min());
    EXPECT_EQ(g.get_float("f32"), static_cast<double>(-1.5e-3f));
    EXPECT_EQ(g.get_float("f64"), 1e300);
    EXPECT_EQ(g.get_bool("t"), true);
    EXPECT_EQ(g.get_bool("f"), false);
    EXPECT_EQ(g.get_string("s"), std::string("nul\0inside, ünïcode", 20));
    EXPECT_EQ(g.get_string("empty"), "");
}

TEST(GgufWriter, RoundTripsArrays) {
    GgufWriter w;
    w.set("strs", GgufValue::str_array({"<s>", "", "Ġthe", std::string(300, 'x')}));
    w.set("i32s", GgufValue::i32_array({-1, 0, 2147483647}));
    w.set("f32s", GgufValue::f32_array({0.25f, -8.f}));
    w.set("u8s", GgufValue::array(ints(GgufType::UINT8, {0, 255})));
    w.set("i8s", GgufValue::array(ints(GgufType::INT8, {-128, 127})));
    w.set("u16s", GgufValue::array(ints(GgufType::UINT16, {65535})));
    w.set("i16s", GgufValue::array(ints(GgufType::INT16, {-32768})));
    w.set("u32s", GgufValue::array(ints(GgufType::UINT32, {4294967295ll})));
    w.set("u64s", GgufValue::array(ints(GgufType::UINT64, {std::numeric_limits<int64_t>::max()})));
    w.set("i64s", GgufValue::array(ints(GgufType::INT64, {std::numeric_limits<int64_t>::min()})));
    GgufArray f64s;
    f64s.elem_type = GgufType::FLOAT64;
    f64s.floats = {1e-300, -0.0};
    w.set("f64s", GgufValue::array(f64s));
    GgufArray bools;
    bools.elem_type = GgufType::BOOL;
    bools.bools = {1, 0, 1};
    w.set("bools", GgufValue::array(bools));
    w.set("none", GgufValue::array(ints(GgufType::INT32, {})));
    // [[[1, 2], []], [["a"]]]: arrays nested two deep, of mixed element types.
    GgufArray inner_a, inner_b, outer;
    inner_a.elem_type = inner_b.elem_type = outer.elem_type = GgufType::ARRAY;
    inner_a.arrays = {GgufValue::i32_array({1, 2}), GgufValue::i32_array({})};
    inner_b.arrays = {GgufValue::str_array({"a"})};
    outer.arrays = {GgufValue::array(inner_a), GgufValue::array(inner_b)};
    w.set("nested", GgufValue::array(outer));
    const std::vector<uint8_t> bytes = w.to_bytes();
    GgufFile g = GgufFile::parse(bytes);

    EXPECT_EQ(g.get_array("strs")->strings,
              (std::vector<std::string>{"<s>", "", "Ġthe", std::string(300, 'x')}));
    EXPECT_EQ(g.get_array("strs")->elem_type, GgufType::STRING);
    EXPECT_EQ(g.get_array("i32s")->ints, (std::vector<int64_t>{-1, 0, 2147483647}));
    EXPECT_EQ(g.get_array("f32s")->floats, (std::vector<double>{0.25, -8.0}));
    EXPECT_EQ(g.get_array("u8s")->ints, (std::vector<int64_t>{0, 255}));
    EXPECT_EQ(g.get_array("i8s")->ints, (std::vector<int64_t>{-128, 127}));
    EXPECT_EQ(g.get_array("u16s")->ints, (std::vector<int64_t>{65535}));
    EXPECT_EQ(g.get_array("i16s")->ints, (std::vector<int64_t>{-32768}));
    EXPECT_EQ(g.get_array("u32s")->ints, (std::vector<int64_t>{4294967295ll}));
    EXPECT_EQ(g.get_array("u64s")->elem_type, GgufType::UINT64);
    EXPECT_EQ(g.get_array("u64s")->ints,
              (std::vector<int64_t>{std::numeric_limits<int64_t>::max()}));
    EXPECT_EQ(g.get_array("i64s")->ints,
              (std::vector<int64_t>{std::numeric_limits<int64_t>::min()}));
    EXPECT_EQ(g.get_array("f64s")->floats[0], 1e-300);
    EXPECT_TRUE(std::signbit(g.get_array("f64s")->floats[1]));
    EXPECT_EQ(g.get_array("bools")->bools, (std::vector<uint8_t>{1, 0, 1}));
    EXPECT_EQ(g.get_array("none")->size(), 0u);
    EXPECT_EQ(g.get_array("none")->elem_type, GgufType::INT32);

    const GgufArray& n = *g.get_array("nested");
    ASSERT_EQ(n.elem_type, GgufType::ARRAY);
    ASSERT_EQ(n.size(), 2u);
    const GgufArray& a = std::get<GgufArray>(n.arrays[0].v);
    ASSERT_EQ(a.size(), 2u);
    EXPECT_EQ(std::get<GgufArray>(a.arrays[0].v).ints, (std::vector<int64_t>{1, 2}));
    EXPECT_EQ(std::get<GgufArray>(a.arrays[1].v).size(), 0u);
    const GgufArray& b = std::get<GgufArray>(n.arrays[1].v);
    EXPECT_EQ(std::get<GgufArray>(b.arrays[0].v).strings, (std::vector<std::string>{"a"}));
}

TEST(GgufWriter, SetReplacesExistingKeyInPlace) {
    GgufWriter w;
    w.set("a", GgufValue::u32(1));
    w.set("b", GgufValue::u32(2));
    w.set("a", GgufValue::str("again"));
    const std::vector<uint8_t> bytes = w.to_bytes();
    GgufFile g = GgufFile::parse(bytes);
    ASSERT_EQ(g.metadata().size(), 2u);
    EXPECT_EQ(g.metadata()[0].key, "a");
    EXPECT_EQ(g.get_string("a"), "again");
    EXPECT_EQ(g.get_int("b"), 2);
}

TEST(GgufWriter, TensorsRoundTripWithAlignment) {
    for (uint64_t alignment : {32u, 64u, 1u}) {
        GgufWriter w(alignment);
        w.set("general.architecture", GgufValue::str("llama"));
        std::vector<float> a(6);
        for (size_t i = 0; i < a.size(); ++i) a[i] = 0.5f * static_cast<float>(i);
        std::vector<uint8_t> q(2 * 34);
        for (size_t i = 0; i < q.size(); ++i) q[i] = static_cast<uint8_t>(i * 7);
        std::vector<uint16_t> h = {0x3c00, 0xc000, 0x0001};
        w.add_tensor("a", TensorType::F32, {3, 2}, a.data(), a.size() * 4);
        w.add_tensor("q", TensorType::Q8_0, {32, 1, 2, 1}, q.data(), q.size());
        w.add_tensor("h", TensorType::F16, {3}, h.data(), h.size() * 2);
        const std::vector<uint8_t> bytes = w.to_bytes();
        GgufFile g = GgufFile::parse(bytes);
        EXPECT_EQ(g.alignment(), alignment);
        EXPECT_EQ(g.get_int("general.alignment").has_value(), alignment != 32);
        ASSERT_EQ(g.tensors().size(), 3u);
        const GgufTensorInfo& ta = g.tensors()[0];
        EXPECT_EQ(ta.name, "a");
        EXPECT_EQ(ta.type, TensorType::F32);
        EXPECT_EQ(ta.dims, (std::vector<int64_t>{3, 2}));
        EXPECT_EQ(ta.rows(), 2);
        EXPECT_EQ(std::memcmp(g.tensor_data(ta), a.data(), 24), 0);
        const GgufTensorInfo& tq = g.tensors()[1];
        EXPECT_EQ(tq.type, TensorType::Q8_0);
        EXPECT_EQ(tq.dims, (std::vector<int64_t>{32, 1, 2, 1}));
        EXPECT_EQ(tq.n_elements, 64);
        EXPECT_EQ(tq.n_bytes, 68u);
        EXPECT_EQ(std::memcmp(g.tensor_data(tq), q.data(), q.size()), 0);
        const GgufTensorInfo& th = g.tensors()[2];
        EXPECT_EQ(std::memcmp(g.tensor_data(th), h.data(), 6), 0);
        for (const auto& t : g.tensors()) {
            EXPECT_EQ(t.offset % alignment, 0u) << t.name;
            EXPECT_EQ((g.tensor_data(t) - bytes.data()) % alignment, 0) << t.name;
        }
    }
}

TEST(GgufWriter, WritesFileThatOpenReads) {
    auto path = std::filesystem::temp_directory_path() /
                ("gb_gguf_writer_" + std::to_string(::getpid()) + ".gguf");
    GgufWriter w;
    w.set("general.architecture", GgufValue::str("qwen2"));
    float x[2] = {1.f, -2.f};
    w.add_tensor("x", TensorType::F32, {2}, x, sizeof x);
    w.write(path.string());
    {
        GgufFile g = GgufFile::open(path.string());
        EXPECT_EQ(g.version(), 3u);
        EXPECT_EQ(g.get_string("general.architecture"), "qwen2");
        EXPECT_EQ(std::memcmp(g.tensor_data(g.tensors()[0]), x, sizeof x), 0);
    }
    std::filesystem::remove(path);
    EXPECT_THROW(w.write("/nonexistent-dir/x.gguf"), Error);
}

TEST(GgufWriter, RefusesMisuse) {
    EXPECT_THROW(GgufWriter(0), Error);
    EXPECT_THROW(GgufWriter(48), Error);
    GgufWriter w;
    float x[4] = {};
    EXPECT_THROW(w.add_tensor("x", TensorType::F32, {4}, x, 12), Error);    // wrong byte count
    EXPECT_THROW(w.add_tensor("x", TensorType::F32, {0}, x, 0), Error);     // empty dim
    EXPECT_THROW(w.add_tensor("x", TensorType::F32, {}, x, 0), Error);      // no dims
    EXPECT_THROW(w.add_tensor("x", TensorType::Q8_0, {16}, x, 16), Error);  // not whole blocks
    EXPECT_THROW(w.add_tensor(std::string(64, 'n'), TensorType::F32, {4}, x, 16), Error);
    w.add_tensor("x", TensorType::F32, {4}, x, 16);
    EXPECT_THROW(w.add_tensor("x", TensorType::F32, {4}, x, 16), Error);  // duplicate
    EXPECT_THROW(w.set("", GgufValue::u32(1)), Error);

    GgufWriter range;
    GgufValue v = GgufValue::u8(1);
    v.v = int64_t{300};
    range.set("too_big", v);
    try {
        range.to_bytes();
        ADD_FAILURE() << "300 written as UINT8";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("'too_big'"), std::string::npos) << e.what();
    }
    GgufWriter mismatch;
    GgufValue s = GgufValue::str("x");
    s.v = 1.0;
    mismatch.set("s", s);
    EXPECT_THROW(mismatch.to_bytes(), Error);
    GgufWriter align(64);
    align.set("general.alignment", GgufValue::u32(32));
    EXPECT_THROW(align.to_bytes(), Error);
}

}  // namespace
}  // namespace gb

namespace gb {
namespace {

// Referenced and produced tensors give the same file as copied ones; a fill that fails leaves
// no file behind (nor an older file at the same path damaged).
TEST(GgufWriter, ReferencedAndProducedTensorsAndAtomicWrite) {
    std::vector<float> a(64), b(32);
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i) * 0.5f;
    for (size_t i = 0; i < b.size(); ++i) b[i] = -static_cast<float>(i);
    GgufWriter copied, streamed;
    for (GgufWriter* w : {&copied, &streamed})
        w->set("general.architecture", GgufValue::str("llama"));
    copied.add_tensor("a", TensorType::F32, {16, 4}, a.data(), a.size() * 4);
    copied.add_tensor("b", TensorType::F32, {32}, b.data(), b.size() * 4);
    streamed.add_tensor_ref("a", TensorType::F32, {16, 4}, a.data(), a.size() * 4);
    int fills = 0;
    streamed.add_tensor_fill("b", TensorType::F32, {32}, [&](uint8_t* dst) {
        ++fills;
        std::memcpy(dst, b.data(), b.size() * 4);
    });
    EXPECT_EQ(streamed.to_bytes(), copied.to_bytes());
    EXPECT_EQ(fills, 1);

    const auto dir =
        std::filesystem::temp_directory_path() / ("gb_writer_stream_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "m.gguf").string();
    streamed.write(path);
    EXPECT_EQ(fills, 2);
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
    {
        GgufFile f = GgufFile::open(path);
        const auto* t = f.find_tensor("b");
        ASSERT_NE(t, nullptr);
        EXPECT_EQ(std::memcmp(f.tensor_data(*t), b.data(), b.size() * 4), 0);
    }
    const auto before = std::filesystem::file_size(path);
    GgufWriter failing;
    failing.add_tensor_fill("x", TensorType::F32, {8},
                            [](uint8_t*) { throw Error("source tensor unreadable"); });
    try {
        failing.write(path);
        FAIL() << "expected the fill's error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("source tensor unreadable"), std::string::npos)
            << e.what();
    }
    EXPECT_EQ(std::filesystem::file_size(path), before) << "the earlier file must be untouched";
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
    EXPECT_THROW(failing.write((dir / "no_such_dir" / "m.gguf").string()), Error);
    EXPECT_THROW(streamed.add_tensor_ref("c", TensorType::F32, {8}, a.data(), 16),
                 Error);  // wrong size
    std::filesystem::remove_all(dir);
}

// A disk that fills up mid-write (here a file-size limit, which fails writes the same way as
// ENOSPC): a clear error, no temporary file left, and no double close (the error path used to
// close the file twice, a double free). Run in a child process so the limit stays there.
TEST(GgufWriter, FullDiskIsAnErrorNotADoubleFree) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("gb_writer_full_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "m.gguf").string();
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        std::signal(SIGXFSZ, SIG_IGN);  // writes past the limit fail with EFBIG instead
        const rlimit lim{64 * 1024, 64 * 1024};
        if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) ::_exit(10);
        std::vector<float> big(1 << 20, 1.0f);  // 4 MiB, far past the limit
        GgufWriter w;
        w.set("general.architecture", GgufValue::str("llama"));
        w.add_tensor_ref("big", TensorType::F32, {static_cast<int64_t>(big.size())}, big.data(),
                         big.size() * 4);
        try {
            w.write(path);
        } catch (const Error& e) {
            const std::string what = e.what();
            if (what.find("write failed") == std::string::npos) ::_exit(11);
            if (what.find(path) == std::string::npos) ::_exit(12);
            if (std::filesystem::exists(path + ".tmp")) ::_exit(13);
            if (std::filesystem::exists(path)) ::_exit(14);
            ::_exit(0);
        }
        ::_exit(15);  // no error at all: the write went through silently
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status)) << "the writer died on signal " << WTERMSIG(status);
    EXPECT_EQ(WEXITSTATUS(status), 0);
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gb
