// Compact binary form of a trace, for storage (the history database keeps it zstd-compressed).
// Versioned and checksummed; the layout is documented in TRACE_FORMAT.md ("Binary form").
#pragma once

#include <string>
#include <string_view>

#include "engine/trace/trace.h"

namespace gb {

// 2: forced tokens, n_cached, interventions; 3: device, routing weights may be absent
constexpr int kTraceBinaryVersion = 4;

// Everything in the Trace. Token texts are stored once per distinct id. Log-probabilities,
// entropies and times are exact; routing weights and router probabilities are stored as IEEE
// half floats (about 3 significant digits: enough to draw and compare them, and it halves the
// largest part of an MoE trace).
std::string write_binary(const Trace& trace);

// Reads what write_binary writes. gb::Error names the problem and its byte offset: not a trace,
// a newer version, a checksum mismatch, a truncated or inconsistent record.
Trace read_binary(std::string_view bytes);

}  // namespace gb
