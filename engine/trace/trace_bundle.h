// A trace bundle: one reply as plain files for pandas and other tools (ANALYSIS_FORMAT.md,
// "Trace bundle"): tokens.jsonl, expert_usage.csv, steps.csv and analysis.json in a folder.
#pragma once

#include <string>
#include <vector>

#include "engine/trace/trace.h"

namespace gb {

// The bundle's file names, in the order they are written.
std::vector<std::string> bundle_files();

// Writes the bundle into `dir` (created if missing; files of an earlier bundle there are
// replaced, each through a temporary file and a rename, so a failure never leaves half a file).
// gb::Error names the path and the reason.
void write_bundle(const Trace& trace, const std::string& dir);

// A CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF, quotes doubled.
std::string csv_field(std::string_view s);

}  // namespace gb
