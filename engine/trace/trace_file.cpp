// Reading a trace file in either form.
#include "engine/trace/trace_file.h"

#include "engine/core/file_read.h"
#include "engine/trace/trace_binary.h"
#include "kernels/error.h"

namespace gb {

Trace read_trace_file(const std::string& path) {
    const std::string bytes = read_regular_file(path, kMaxTraceFileBytes, "trace file");
    try {
        if (bytes.starts_with(std::string_view("GBTRACE\x1a", 8))) return read_binary(bytes);
        return read_json(bytes);
    } catch (const Error& e) {
        throw Error(path + ": " + e.what());
    }
}

}  // namespace gb
