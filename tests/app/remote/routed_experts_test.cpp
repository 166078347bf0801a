// Routed-expert arrays as servers send them: NumPy-written .npy (uint8, and uint16 in format
// version 2) decoded to the ids NumPy wrote (fixtures/remote/make_routed_experts.py), raw int32
// shaped from a known layer count, rows matched to reply tokens, and hostile payloads (bad
// base64, a wrong header, a shape that does not fit the bytes, a huge shape) refused in words.
#include "app/remote/routed_experts.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "engine/core/json.h"
#include "kernels/error.h"
#include "tests/test_support.h"

using namespace gb;
using namespace gb::remote;

namespace {

json::Value fixtures() {
    std::ifstream f(std::string(GB_FIXTURES_DIR) + "/remote/routed_experts.json");
    std::stringstream ss;
    ss << f.rdbuf();
    return json::parse(ss.str());
}

using gb::test::error_of;

std::string npy(const std::string& header, const std::string& data) {
    std::string h = header;
    while ((10 + h.size() + 1) % 64 != 0) h += ' ';
    h += '\n';
    std::string out("\x93NUMPY\x01\x00", 8);
    out += static_cast<char>(h.size() & 0xFF);
    out += static_cast<char>(h.size() >> 8);
    return out + h + data;
}

}  // namespace

TEST(RoutedExperts, Base64IsDecodedAndBadTextRefused) {
    EXPECT_EQ(base64_decode("aGVsbG8="), "hello");
    EXPECT_EQ(base64_decode("aGVsbG8"), "hello");  // padding optional
    EXPECT_EQ(base64_decode(""), "");
    EXPECT_NE(error_of([] { base64_decode("aGV*bG8="); }).find("character 42 at 3"),
              std::string::npos);
    EXPECT_NE(error_of([] { base64_decode("a"); }).find("cannot be whole bytes"),
              std::string::npos);
}

TEST(RoutedExperts, NumpyFilesDecodeToWhatNumpyWrote) {
    const json::Value fx = fixtures();
    const json::Value& u16 = fx.at("vllm_uint16_v2");
    const RoutedExperts re = decode_npy(base64_decode(u16.at("npy_base64").as_string()));
    const auto& shape = u16.at("shape").as_array();
    EXPECT_EQ(re.rows, shape[0].as_int64());
    EXPECT_EQ(re.layers, shape[1].as_int64());
    EXPECT_EQ(re.k, shape[2].as_int64());
    std::vector<int32_t> ids;
    for (const auto& v : u16.at("ids").as_array())
        ids.push_back(static_cast<int32_t>(v.as_int64()));
    EXPECT_EQ(re.ids, ids);
    bool above_255 = false;
    for (int32_t v : ids) above_255 |= v > 255;
    EXPECT_TRUE(above_255);  // the uint16 path was exercised
}

TEST(RoutedExperts, HostileNumpyFilesAreRefusedInWords) {
    const std::string four(4, '\1');
    EXPECT_NE(error_of([] { decode_npy("not numpy at all"); }).find("no NumPy header"),
              std::string::npos);
    EXPECT_NE(
        error_of([&] {
            decode_npy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1), }", four));
        }).find("'<f4' is not an integer type"),
        std::string::npos);
    EXPECT_NE(
        error_of([&] {
            decode_npy(npy("{'descr': '|u1', 'fortran_order': True, 'shape': (2, 1, 2), }", four));
        }).find("Fortran"),
        std::string::npos);
    EXPECT_NE(
        error_of([&] {
            decode_npy(npy("{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }", four));
        }).find("3 dimensions"),
        std::string::npos);
    EXPECT_NE(
        error_of([&] {
            decode_npy(npy("{'descr': '|u1', 'fortran_order': False, 'shape': (3, 1, 2), }", four));
        }).find("4 data bytes for shape (3, 1, 2)"),
        std::string::npos);
    EXPECT_NE(error_of([&] {
                  decode_npy(
                      npy("{'descr': '<u2', 'fortran_order': False, 'shape': "
                          "(999999999999, 99999, 8), }",
                          four));
              }).find("impossible routed-experts shape"),
              std::string::npos);
    // The header length pointing past the end.
    std::string cut = npy("{'descr': '|u1', 'fortran_order': False, 'shape': (1, 1, 1), }", "\1");
    cut[8] = '\xff';
    cut[9] = '\x7f';
    EXPECT_NE(error_of([&] { decode_npy(cut); }).find("runs past"), std::string::npos);
    // A correct tiny one.
    const RoutedExperts ok =
        decode_npy(npy("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 1, 2), }",
                       std::string("\0\1\2\3", 4)));
    EXPECT_EQ(ok.ids, (std::vector<int32_t>{0, 1, 2, 3}));
    EXPECT_EQ(ok.at(1, 0, 1), 3);
}

TEST(RoutedExperts, RawInt32NeedsItsShapeAndRowsMatchTheReply) {
    // 3 positions x 2 layers x 2: layer 0 dense (zeros).
    const std::vector<int32_t> v = {0, 0, 5, 1, 0, 0, 7, 2, 0, 0, 3, 4};
    const std::string bytes(reinterpret_cast<const char*>(v.data()), v.size() * 4);
    EXPECT_NE(error_of([&] { decode_raw_int32(bytes, 3, 0, 0); }).find("set the model's layer"),
              std::string::npos);
    EXPECT_NE(error_of([&] { decode_raw_int32(bytes, 5, 2, 0); }).find("do not divide"),
              std::string::npos);
    EXPECT_NE(error_of([&] { decode_raw_int32(bytes.substr(1), 3, 2, 0); }).find("whole int32"),
              std::string::npos);
    const RoutedExperts re = decode_raw_int32(bytes, 3, 2, 0);
    EXPECT_EQ(re.k, 2);
    // A reply of 2 tokens after a 2-token prompt: rows are positions 0..2; reply token 0 is
    // position 2 (the last row), reply token 1 (the last) has none.
    std::vector<TokenRecord> reply(2);
    const RoutingMatch m = match_routing(re, reply);
    EXPECT_EQ(m.tokens, 1);
    EXPECT_EQ(m.moe_layers, 1);
    EXPECT_EQ(m.n_expert, 8);
    EXPECT_EQ(reply[0].routing.layers, (std::vector<uint16_t>{1}));
    EXPECT_EQ(reply[0].routing.experts, (std::vector<uint16_t>{3, 4}));
    EXPECT_TRUE(reply[1].routing.empty());
    // More reply tokens than rows can hold: nothing is guessed.
    std::vector<TokenRecord> long_reply(5);
    const RoutingMatch bad = match_routing(re, long_reply);
    EXPECT_EQ(bad.tokens, 0);
    EXPECT_NE(bad.problem.find("cannot hold"), std::string::npos);
}
