// A trace file as glassbox-cli and the app read it: the binary form (by its magic) or JSON.
#pragma once

#include <string>

#include "engine/trace/trace.h"

namespace gb {

// The largest trace file read (a 20,000-token trace of a 48-layer, 128-expert MoE model is
// about 145 MB as JSON).
inline constexpr size_t kMaxTraceFileBytes = size_t{2} << 30;

// Reads a trace written by write_json or write_binary, telling them apart by the binary form's
// magic. gb::Error names the file and the problem (not a regular file, too large, not a trace,
// the field or byte offset that is wrong).
Trace read_trace_file(const std::string& path);

}  // namespace gb
