// Writing a trace bundle.
#include "engine/trace/trace_bundle.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/core/file_write.h"
#include "engine/core/json.h"
#include "engine/core/utf8.h"
#include "engine/trace/expert_load.h"
#include "engine/trace/trace_analysis.h"
#include "kernels/error.h"

namespace gb {

namespace {

std::string number(double v) { return std::isfinite(v) ? json::format_number(v) : std::string(); }

}  // namespace

std::vector<std::string> bundle_files() {
    return {"tokens.jsonl", "expert_usage.csv", "steps.csv", "analysis.json"};
}

std::string csv_field(std::string_view s) {
    if (s.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(s);
    std::string out = "\"";
    for (char c : s) {
        if (c == '"') out += '"';
        out += c;
    }
    out += '"';
    return out;
}

void write_bundle(const Trace& trace, const std::string& dir) {
    const std::filesystem::path root(dir);
    std::error_code ec;
    std::filesystem::create_directories(root, ec);
    if (ec || !std::filesystem::is_directory(root))
        throw Error("cannot create the bundle folder " + dir + (ec ? ": " + ec.message() : ""));

    // tokens.jsonl: the trace's token records, one per line, exactly as in a trace file.
    std::string tokens;
    for (const TokenRecord& r : trace.tokens) {
        tokens += token_json_line(r);
        tokens += '\n';
    }
    write_file_atomically((root / "tokens.jsonl").string(), tokens);

    // expert_usage.csv: the history's expert-usage table for this reply.
    std::string usage = "layer,expert,phase,count,weight_sum\n";
    const ExpertLoad load = count_expert_load(trace);
    for (size_t row = 0; row < load.layers.size(); ++row)
        for (int e = 0; e < load.n_expert; ++e)
            for (Phase phase : {Phase::Prompt, Phase::Think, Phase::Answer}) {
                const int64_t n = load.count(phase, row, e);
                if (!n) continue;
                usage += std::to_string(load.layers[row]) + ',' + std::to_string(e) + ',' +
                         phase_name(phase) + ',' + std::to_string(n) + ',' +
                         number(load.weight_sum(phase, row, e)) + '\n';
            }
    write_file_atomically((root / "expert_usage.csv").string(), usage);

    const TraceAnalysis a = analyze_trace(trace);
    std::string steps = "step,first,last,count,start,marker,t_ms,entropy_mean,text\n";
    for (size_t i = 0; i < a.reasoning.steps.size(); ++i) {
        const ReasoningStep& s = a.reasoning.steps[i];
        const std::string text = utf8::repaired(s.text);  // newlines stay, inside quotes
        steps += std::to_string(i) + ',' + std::to_string(s.first) + ',' + std::to_string(s.last) +
                 ',' + std::to_string(s.count) + ',' + csv_field(step_start_name(s.start)) + ',' +
                 csv_field(s.marker) + ',' + number(s.t_ms) + ',' + number(s.entropy_mean) + ',' +
                 csv_field(text) + '\n';
    }
    write_file_atomically((root / "steps.csv").string(), steps);

    std::ostringstream analysis;
    write_analysis_json(a, analysis);
    write_file_atomically((root / "analysis.json").string(), analysis.str());
}

}  // namespace gb
