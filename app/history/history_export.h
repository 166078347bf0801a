// Export and import of conversations: JSON (schema in HISTORY_FORMAT.md, traces included in
// the trace JSON format) and Markdown (the current branch, for reading and sharing).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "app/history/history_store.h"

namespace gb::app {

constexpr int kHistoryExportVersion = 1;

// The given conversations (all of them when ids is empty), every branch, traces included
// unless with_traces is false.
std::string export_json(HistoryStore& store, const std::vector<int64_t>& ids = {},
                        bool with_traces = true);

// Adds every conversation of an export as new conversations (ids are new; everything else,
// timestamps included, is kept) in one transaction: a bad file imports nothing. Returns the
// new conversation ids. HistoryError(Invalid) names the bad field, e.g.
// "conversations[0].messages[3].parent".
std::vector<int64_t> import_json(HistoryStore& store, std::string_view text);

// The conversation's current branch as Markdown: reasoning in a collapsible <details> block,
// each reply's model and speed below it.
std::string export_markdown(HistoryStore& store, int64_t conversation_id);

}  // namespace gb::app
