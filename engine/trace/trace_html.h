// A reply with its trace as one self-contained HTML page that opens offline in any browser:
// the prompt, the reasoning and the answer as tokens coloured by probability (hover one for
// its probability, entropy and alternatives), the reasoning map (an SVG sparkline of entropy
// with the fork tokens and steps), the steps, DeepConf confidence, the loop alarm and, for MoE
// models, the expert load per layer. No script, no external file: a teacher can mail it.
#pragma once

#include <string>

#include "engine/trace/trace.h"

namespace gb {

std::string trace_html(const Trace& trace, const std::string& title = {});

// Text made safe inside HTML elements and attribute values ("&<>\"'" escaped; bytes that are
// not UTF-8 become U+FFFD).
std::string html_escape(std::string_view s);

}  // namespace gb
