// Trace blobs (zstd over the engine's binary trace) and the expert-usage summary.
#include "app/history/trace_blob.h"

#include <zstd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <tuple>

#include "app/history/history_types.h"
#include "engine/trace/expert_load.h"
#include "engine/trace/trace_binary.h"

namespace gb::app {

namespace {
// Level 3 (zstd's default) compresses a 20,000-token trace in milliseconds; higher levels
// gain a few percent for several times the time, on the thread that finishes a reply.
constexpr int kZstdLevel = 3;
// Streams a zstd blob into at most stored.raw_size bytes (the caller checked the claim),
// growing the output as data actually arrives: a claimed size is never allocated up front,
// and a blob that expands beyond its claim (a bomb) stops at the claim.
std::string inflate(const StoredTrace& stored, const std::string& where) {
    auto corrupt = [&](const std::string& what) {
        return HistoryError(HistoryError::Kind::Corrupt, where + ": zstd: " + what);
    };
    const size_t claim = static_cast<size_t>(stored.raw_size);
    const unsigned long long frame =
        ZSTD_getFrameContentSize(stored.data.data(), stored.data.size());
    if (frame == ZSTD_CONTENTSIZE_ERROR) throw corrupt("not a zstd frame");
    if (frame != ZSTD_CONTENTSIZE_UNKNOWN && frame != claim)
        throw corrupt("the frame holds " + std::to_string(frame) + " bytes but the row claims " +
                      std::to_string(claim));
    std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> ctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
    if (!ctx) throw corrupt("out of memory");
    // The window a frame asks for is memory too. encode_trace (level 3) uses a 2 MiB window at
    // most; 16 MiB leaves room and refuses frames that ask for far more.
    ZSTD_DCtx_setParameter(ctx.get(), ZSTD_d_windowLogMax, 24);
    std::string out(std::min<size_t>(claim, kFirstChunk), '\0');
    ZSTD_inBuffer in{stored.data.data(), stored.data.size(), 0};
    size_t filled = 0;
    size_t last = 0;
    for (;;) {
        if (filled == out.size() && out.size() < claim) out.resize(std::min(claim, 2 * out.size()));
        // Once the claim is filled, one probe byte finds a blob that expands beyond it.
        char probe;
        const bool probing = filled == out.size();
        ZSTD_outBuffer o{probing ? &probe : out.data() + filled, probing ? 1 : out.size() - filled,
                         0};
        const size_t in_before = in.pos;
        last = ZSTD_decompressStream(ctx.get(), &o, &in);
        if (ZSTD_isError(last)) throw corrupt(ZSTD_getErrorName(last));
        if (probing && o.pos != 0)
            throw corrupt("the data expands beyond the claimed " + std::to_string(claim) +
                          " bytes");
        filled += probing ? 0 : o.pos;
        if (last == 0 && in.pos == in.size) break;     // every frame ended, input used up
        if (o.pos == 0 && in.pos == in_before) break;  // no progress: input ends mid-frame
    }
    if (last != 0) throw corrupt("the data is truncated");
    if (filled != claim)
        throw corrupt("size mismatch: " + std::to_string(filled) + " bytes, the row claims " +
                      std::to_string(claim));
    out.resize(filled);
    return out;
}
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
    if (stored.format_version < 1)
        throw HistoryError(HistoryError::Kind::Corrupt, where + ": invalid binary trace version " +
                                                            std::to_string(stored.format_version));
    check_trace_size(stored.raw_size, static_cast<int64_t>(stored.data.size()), message_id);
    const std::string raw = inflate(stored, where);
    try {
        return read_binary(raw);
    } catch (const HistoryError&) {
        throw;
    } catch (const gb::Error& e) {
        throw HistoryError(HistoryError::Kind::Corrupt, where + ": " + e.what());
    }
}

void check_trace_size(int64_t raw_size, int64_t compressed_size, int64_t message_id) {
    const std::string where = "history: trace of message " + std::to_string(message_id);
    if (compressed_size < 0 || compressed_size > kMaxStoredTrace)
        throw HistoryError(HistoryError::Kind::Corrupt,
                           where + ": the stored blob of " + std::to_string(compressed_size) +
                               " bytes is larger than a trace can be (" +
                               std::to_string(kMaxStoredTrace) + " bytes)");
    if (raw_size < 0 || raw_size > kMaxRawTrace)
        throw HistoryError(HistoryError::Kind::Corrupt,
                           where + ": implausible size " + std::to_string(raw_size) + " (at most " +
                               std::to_string(kMaxRawTrace) + " bytes)");
    // Binary traces are mostly floats and compress a few times at best; a large claim far
    // beyond that ratio is a damaged size field or a decompression bomb.
    if (raw_size > kRatioFreeSize && raw_size / kMaxRatio > compressed_size)
        throw HistoryError(HistoryError::Kind::Corrupt,
                           where + ": claims " + std::to_string(raw_size) + " bytes from " +
                               std::to_string(compressed_size) + " compressed (more than " +
                               std::to_string(kMaxRatio) +
                               " times; a damaged size or a decompression bomb)");
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

std::vector<ExpertUsage> sum_expert_usage(const std::vector<std::vector<ExpertUsage>>& parts) {
    std::map<std::tuple<int, int, int>, ExpertUsage> total;
    for (const auto& rows : parts)
        for (const ExpertUsage& u : rows) {
            ExpertUsage& t = total[{u.layer, u.expert, u.phase}];
            t.layer = u.layer;
            t.expert = u.expert;
            t.phase = u.phase;
            t.count += u.count;
            t.weight_sum += u.weight_sum;
        }
    std::vector<ExpertUsage> out;
    for (auto& [key, u] : total) out.push_back(u);
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
