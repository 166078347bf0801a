// Stored trace blobs that lie about their size: a zstd bomb, a claim far above what the blob
// holds, a frame whose content size disagrees with the row, an oversized blob. Each is refused
// with an error naming the message, before the claim is allocated.
#include "app/history/trace_blob.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <zstd.h>

#include "tests/app/history/history_test_support.h"

namespace gb::app {
namespace {

using test::TempDir;

std::string zstd(const std::string& raw, bool with_size = true) {
    ZSTD_CCtx* c = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, with_size ? 1 : 0);
    std::string out(ZSTD_compressBound(raw.size()), '\0');
    ZSTD_outBuffer o{out.data(), out.size(), 0};
    ZSTD_inBuffer in{raw.data(), raw.size(), 0};
    if (with_size) ZSTD_CCtx_setPledgedSrcSize(c, raw.size());
    while (ZSTD_compressStream2(c, &o, &in, ZSTD_e_end) != 0) {
    }
    ZSTD_freeCCtx(c);
    out.resize(o.pos);
    return out;
}

long peak_rss_mb() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss / 1024;
}

std::string error_of(const StoredTrace& s) {
    try {
        decode_trace(s, 42);
    } catch (const HistoryError& e) {
        EXPECT_EQ(e.kind(), HistoryError::Kind::Corrupt) << e.what();
        return e.what();
    }
    return "no error";
}

TEST(TraceBlob, AZstdBombIsRefusedBeforeItsClaimIsAllocated) {
    const long before = peak_rss_mb();
    const std::string zeros(size_t{64} << 20, '\0');
    const std::string bomb = zstd(zeros), unsized = zstd(zeros, false);
    const long baseline = peak_rss_mb();
    // The reported file: 3.5 GiB of zeros claimed by a small blob.
    StoredTrace s{1, "zstd", int64_t{7} << 29, bomb};
    EXPECT_NE(error_of(s).find("history: trace of message 42: implausible size 3758096384"),
              std::string::npos)
        << error_of(s);
    s.raw_size = int64_t{1} << 62;
    EXPECT_NE(error_of(s).find("implausible size"), std::string::npos);
    s.raw_size = -1;
    EXPECT_NE(error_of(s).find("implausible size -1"), std::string::npos);
    // Within the cap, but far beyond any real trace's compression ratio.
    s.raw_size = int64_t{64} << 20;
    EXPECT_NE(error_of(s).find("a damaged size or a decompression bomb"), std::string::npos)
        << error_of(s);
    // A small claim: the frame says otherwise.
    s.raw_size = 1000;
    EXPECT_NE(error_of(s).find("the frame holds 67108864 bytes but the row claims 1000"),
              std::string::npos)
        << error_of(s);
    // A frame without a content size is streamed and stops at the claim.
    s.data = unsized;
    EXPECT_NE(error_of(s).find("expands beyond the claimed 1000 bytes"), std::string::npos)
        << error_of(s);
    // Garbage, truncation.
    s.data = "not zstd at all";
    EXPECT_NE(error_of(s).find("zstd: not a zstd frame"), std::string::npos) << error_of(s);
    const StoredTrace good = encode_trace(test::make_trace(30, 30, 2));
    s = good;
    s.data.resize(s.data.size() / 2);
    EXPECT_NE(error_of(s).find("zstd: the data is truncated"), std::string::npos) << error_of(s);
    s = good;
    s.format_version = 0;
    EXPECT_NE(error_of(s).find("invalid binary trace version 0"), std::string::npos);
    EXPECT_EQ(decode_trace(good, 42).tokens.size(), 62u);
    // Nothing above allocated a claim: the peak grew by far less than 64 MiB.
    EXPECT_LT(peak_rss_mb() - baseline, 48) << "before " << before;
}

// The store checks a row's sizes and types before reading its blob.
TEST(TraceBlob, TheStoreRefusesImplausibleRowsWithoutReadingTheBlob) {
    TempDir dir;
    auto store = HistoryStore::open(dir.file("h.db"), test::fast_options());
    const int64_t c = store->create_conversation("x");
    const Trace trace = test::make_trace(2, 2);
    const int64_t r = store->add_reply(c, std::nullopt, Message{}, &trace);
    auto load_error = [&](const char* sql) -> std::string {
        store->database().prepare(sql).args(r).run();
        try {
            store->load_trace(r);
        } catch (const HistoryError& e) {
            EXPECT_EQ(e.kind(), HistoryError::Kind::Corrupt) << e.what();
            return e.what();
        }
        return "no error";
    };
    const std::string m = "history: trace of message " + std::to_string(r);
    EXPECT_EQ(load_error("UPDATE traces SET format_version = 4294967297 WHERE message_id = ?"),
              m + ": invalid format version 4294967297");
    EXPECT_NE(load_error("UPDATE traces SET format_version = 'one' WHERE message_id = ?")
                  .find("wrong type"),
              std::string::npos);
    EXPECT_NE(load_error("UPDATE traces SET format_version = 1, raw_size = 9223372036854775807 "
                         "WHERE message_id = ?")
                  .find("implausible size 9223372036854775807"),
              std::string::npos);
    EXPECT_NE(load_error("UPDATE traces SET raw_size = 1073741824 WHERE message_id = ?")
                  .find("claims 1073741824 bytes from"),
              std::string::npos);
    EXPECT_NE(load_error("UPDATE traces SET raw_size = 10, data = 'text' WHERE message_id = ?")
                  .find("wrong type"),
              std::string::npos);
}

TEST(TraceBlob, AnOversizedBlobIsRefusedByItsLength) {
    try {
        check_trace_size(10, kMaxStoredTrace + 1, 7);
        FAIL() << "expected an error";
    } catch (const HistoryError& e) {
        EXPECT_NE(std::string(e.what()).find("history: trace of message 7: the stored blob of " +
                                             std::to_string(kMaxStoredTrace + 1) +
                                             " bytes is larger than a trace can be"),
                  std::string::npos)
            << e.what();
    }
}

}  // namespace
}  // namespace gb::app
