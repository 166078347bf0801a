// SHA-256 against FIPS 180-4's example vectors and digests made by Python's hashlib: lengths
// around the padding boundary (55, 56, 63, 64, 65, 119 bytes), a million bytes, and the same
// digest whatever pieces the bytes arrive in.
#include "app/remote/sha256.h"

#include <gtest/gtest.h>

#include <string>

using gb::remote::Sha256;
using gb::remote::sha256_hex;

TEST(Sha256, StandardVectors) {
    EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256_hex("abc"),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
              "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    EXPECT_EQ(sha256_hex("The quick brown fox jumps over the lazy dog"),
              "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592");
}

TEST(Sha256, LengthsAroundThePadding) {
    // hashlib.sha256(b"a" * n).hexdigest()
    const std::pair<size_t, const char*> cases[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
    };
    for (const auto& [n, hex] : cases) EXPECT_EQ(sha256_hex(std::string(n, 'a')), hex) << n;
}

TEST(Sha256, PiecesOfAnySize) {
    // hashlib.sha256(bytes(range(256)) * 1000).hexdigest()
    const char* want = "b57b64b198d5d59ce5a22a9b9f25e72a7d081476d432051aa923f3dbebb90934";
    std::string data;
    for (int r = 0; r < 1000; ++r)
        for (int b = 0; b < 256; ++b) data += static_cast<char>(b);
    for (size_t piece : {1u, 3u, 63u, 64u, 65u, 1000u, 16384u}) {
        Sha256 h;
        for (size_t at = 0; at < data.size(); at += piece)
            h.update(std::string_view(data).substr(at, piece));
        EXPECT_EQ(h.finish_hex(), want) << "pieces of " << piece;
    }
    Sha256 h;
    h.update("abc");
    (void)h.finish();
    h.reset();
    h.update("abc");
    EXPECT_EQ(h.finish_hex(), sha256_hex("abc"));
}
