// Trace blobs (zstd over the engine's binary trace) and the expert-usage summary.
#include "app/history/trace_blob.h"

#include <zstd.h>

#include "app/history/history_types.h"
#include "engine/trace/expert_load.h"
#include "engine/trace/trace_binary.h"

namespace gb::app {

namespace {
// Level 3 (zstd's default) compresses a 20,000-token trace in milliseconds; higher levels
// gain a few percent for several times the time, on the thread that finishes a reply.
constexpr int kZstdLevel = 3;
// A bound on what a stored blob may claim to expand to, so a damaged size field cannot ask
// for an absurd allocation.
constexpr int64_t kMaxRawTrace = int64_t{4} << 30;
}  // namespace

StoredTrace encode_trace(const Trace& trace) {
    StoredTrace out;
    const std::string raw = write_binary(trace);
    out.format_version = kTraceBinaryVersion;
    out.codec = "zstd";
    out.raw_size = static_cast<int64_t>(raw.size());
    out.data.resize(ZSTD_compressBound(raw.size()));
    const size_t n =
        ZSTD_compress(out.data.data(), out.data.size(), raw.data(), raw.size(), kZstdLevel);
    if (ZSTD_isError(n))
        throw HistoryError(
            HistoryError::Kind::Invalid,
            std::string("history: zstd compression failed: ") + ZSTD_getErrorName(n));
    out.data.resize(n);
    return out;
}

Trace decode_trace(const StoredTrace& stored, int64_t message_id) {
    const std::string where = "history: trace of message " + std::to_string(message_id);
    if (stored.codec != "zstd")
        throw HistoryError(HistoryError::Kind::Corrupt,
                           where + ": unknown codec '" + stored.codec + "'");
    if (stored.format_version > kTraceBinaryVersion)
        throw HistoryError(
            HistoryError::Kind::TooNew,
            where + ": binary trace version " + std::to_string(stored.format_version) +
                " is newer than this build reads (" + std::to_string(kTraceBinaryVersion) + ")");
    if (stored.raw_size < 0 || stored.raw_size > kMaxRawTrace)
        throw HistoryError(HistoryError::Kind::Corrupt,
                           where + ": implausible size " + std::to_string(stored.raw_size));
    std::string raw(static_cast<size_t>(stored.raw_size), '\0');
    const size_t n =
        ZSTD_decompress(raw.data(), raw.size(), stored.data.data(), stored.data.size());
    if (ZSTD_isError(n) || n != raw.size())
        throw HistoryError(
            HistoryError::Kind::Corrupt,
            where + ": zstd: " + (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "size mismatch"));
    try {
        return read_binary(raw);
    } catch (const HistoryError&) {
        throw;
    } catch (const gb::Error& e) {
        throw HistoryError(HistoryError::Kind::Corrupt, where + ": " + e.what());
    }
}

std::vector<ExpertUsage> summarise_expert_usage(const Trace& trace) {
    const ExpertLoad load = count_expert_load(trace);
    std::vector<ExpertUsage> out;
    for (size_t row = 0; row < load.layers.size(); ++row)
        for (int e = 0; e < load.n_expert; ++e)
            for (Phase phase : {Phase::Prompt, Phase::Think, Phase::Answer}) {
                const int64_t n = load.count(phase, row, e);
                if (n == 0) continue;
                ExpertUsage u;
                u.layer = load.layers[row];
                u.expert = e;
                u.phase = static_cast<int>(phase);
                u.count = n;
                u.weight_sum = load.weight_sum(phase, row, e);
                out.push_back(u);
            }
    return out;
}

void write_expert_usage(sql::Db& db, int64_t message_id, const Trace& trace) {
    write_expert_usage(db, message_id, summarise_expert_usage(trace));
}

void write_expert_usage(sql::Db& db, int64_t message_id, const std::vector<ExpertUsage>& usage) {
    db.prepare("DELETE FROM expert_usage WHERE message_id = ?").args(message_id).run();
    auto ins = db.prepare(
        "INSERT INTO expert_usage(message_id, layer, expert, phase, count, weight_sum) "
        "VALUES (?, ?, ?, ?, ?, ?)");
    for (const ExpertUsage& u : usage)
        ins.args(message_id, u.layer, u.expert, u.phase, u.count, u.weight_sum).run();
}

PreparedTrace prepare_trace(const Trace& trace) {
    return PreparedTrace{encode_trace(trace), summarise_expert_usage(trace)};
}

}  // namespace gb::app
