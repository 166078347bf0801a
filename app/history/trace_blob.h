// How a reply's trace is stored: the engine's binary trace form, zstd-compressed, with its
// version; and the per-reply expert-usage summary derived from the trace's routing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "app/history/sqlite.h"
#include "engine/trace/trace.h"

namespace gb::app {

struct StoredTrace {
    int format_version = 0;  // kTraceBinaryVersion at the time it was written
    std::string codec;       // "zstd"
    int64_t raw_size = 0;    // bytes of the uncompressed binary trace
    std::string data;
};

StoredTrace encode_trace(const Trace& trace);
// Bounds on stored traces. A claimed raw size is checked (against kMaxRawTrace, and for claims
// above kRatioFreeSize against kMaxRatio times the compressed size) before anything is
// allocated; decompression is streamed and stops at the claim, so a zstd bomb costs no more
// memory than its claim allows.
constexpr int64_t kMaxRawTrace = int64_t{1} << 30;
constexpr int64_t kMaxStoredTrace = int64_t{512} << 20;
constexpr int64_t kRatioFreeSize = int64_t{16} << 20;
constexpr int64_t kMaxRatio = 64;
constexpr size_t kFirstChunk = size_t{1} << 20;

// HistoryError(Corrupt) naming the message when the sizes are implausible.
void check_trace_size(int64_t raw_size, int64_t compressed_size, int64_t message_id);
// HistoryError(Corrupt) naming the message when the blob does not decode.
Trace decode_trace(const StoredTrace& stored, int64_t message_id);

// How often one expert of one MoE layer was chosen in one phase of one reply.
struct ExpertUsage {
    int layer = 0;
    int expert = 0;
    int phase = 0;  // static_cast<int>(gb::Phase): 0 prompt, 1 think, 2 answer
    int64_t count = 0;
    double weight_sum = 0;
    bool operator==(const ExpertUsage&) const = default;
};

// Sorted by (layer, expert, phase).
std::vector<ExpertUsage> summarise_expert_usage(const Trace& trace);
// The rows of several replies summed per (layer, expert, phase), sorted the same way.
std::vector<ExpertUsage> sum_expert_usage(const std::vector<std::vector<ExpertUsage>>& parts);

// Replaces message_id's rows of expert_usage with the trace's summary.
void write_expert_usage(sql::Db& db, int64_t message_id, const Trace& trace);
void write_expert_usage(sql::Db& db, int64_t message_id, const std::vector<ExpertUsage>& usage);

// What storing a trace writes, computed without the database: the compressed blob and the
// expert-usage summary. Preparing is the slow part (encoding, zstd), so a caller can do it on
// another thread before taking the database for the short write.
struct PreparedTrace {
    StoredTrace blob;
    std::vector<ExpertUsage> usage;
};
PreparedTrace prepare_trace(const Trace& trace);

}  // namespace gb::app
