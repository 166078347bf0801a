// libFuzzer harness for the history import (the JSON export format, history_export.h) into a
// real store: any input must import or throw gb::Error, and a bad file must import nothing. What
// imports must export (JSON and Markdown) and import again.
// fuzz-options: -max_len=65536
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "app/history/history_export.h"
#include "app/history/history_store.h"
#include "kernels/error.h"

namespace {

gb::app::HistoryStore& store() {
    static std::unique_ptr<gb::app::HistoryStore> s = [] {
        const auto dir = std::filesystem::temp_directory_path() /
                         ("gb_history_import_fuzz_" + std::to_string(getpid()));
        std::filesystem::remove_all(dir);
        std::filesystem::create_directories(dir);
        gb::app::HistoryOptions o;
        o.synchronous_full = false;
        o.instance_lock = false;
        o.quick_check_on_open = false;
        return gb::app::HistoryStore::open((dir / "h.db").string(), o);
    }();
    return *s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > 65536) return 0;
    gb::app::HistoryStore& s = store();
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::vector<int64_t> ids;
    try {
        ids = gb::app::import_json(s, text);
    } catch (const gb::Error&) {
        if (s.count_conversations() != 0) std::abort();  // a failed import left something
        return 0;
    }
    // Imported: export it (JSON with traces, Markdown), import the export again, clean up.
    const std::string again = gb::app::export_json(s, ids, true);
    for (int64_t id : ids) (void)gb::app::export_markdown(s, id);
    std::vector<int64_t> ids2 = gb::app::import_json(s, again);
    if (ids2.size() != ids.size()) std::abort();
    if (gb::app::export_json(s, ids2, true) != again) std::abort();
    for (int64_t id : ids) s.delete_conversation(id);
    for (int64_t id : ids2) s.delete_conversation(id);
    return 0;
}
