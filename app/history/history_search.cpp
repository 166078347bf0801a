// HistoryStore's full-text search (FTS5) and the metadata queries an inspector asks.
#include <algorithm>

#include "app/history/history_store.h"

namespace gb::app {

using Kind = HistoryError::Kind;

namespace {

// The user's text as an FTS5 query: every word a quoted string (so FTS5 operators and
// punctuation in the text cannot make a syntax error), all required; "a phrase" stays a phrase;
// a word ending in * matches as a prefix.
std::string fts_query(std::string_view text) {
    std::vector<std::string> terms;
    size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n')) ++i;
        if (i >= text.size()) break;
        std::string term;
        if (text[i] == '"') {
            const size_t end = text.find('"', i + 1);
            term =
                std::string(text.substr(i + 1, end == std::string_view::npos ? end : end - i - 1));
            i = end == std::string_view::npos ? text.size() : end + 1;
        } else {
            const size_t end = text.find_first_of(" \t\n", i);
            term = std::string(text.substr(i, end == std::string_view::npos ? end : end - i));
            i = end == std::string_view::npos ? text.size() : end;
        }
        bool prefix = false;
        if (term.size() > 1 && term.back() == '*') {
            prefix = true;
            term.pop_back();
        }
        std::string quoted = "\"";
        for (char c : term) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
        quoted += '"';
        if (term.empty()) continue;
        terms.push_back(quoted + (prefix ? "*" : ""));
    }
    std::string q;
    for (const auto& t : terms) q += (q.empty() ? "" : " ") + t;
    return q;
}

}  // namespace

std::vector<SearchHit> HistoryStore::search(std::string_view text, unsigned fields, int limit) {
    const std::string q = fts_query(text);
    std::vector<SearchHit> hits;
    if (q.empty() || limit <= 0) return hits;
    try {
        if (fields & kSearchTitle) {
            auto st = db_.prepare(
                "SELECT c.id, c.title, snippet(title_fts, 0, '[', ']', '…', 12), bm25(title_fts) "
                "FROM title_fts JOIN conversations c ON c.id = title_fts.rowid "
                "WHERE title_fts MATCH ? ORDER BY bm25(title_fts) LIMIT ?");
            st.args(q, limit);
            while (st.step())
                hits.push_back({st.i64(0), 0, kSearchTitle, st.text(1), st.text(2), st.f64(3)});
        }
        // One query per column, so each hit says where it matched and its snippet comes from
        // that column.
        const struct {
            SearchField field;
            int column;
            const char* name;
        } columns[] = {{kSearchPrompt, 0, "prompt"},
                       {kSearchReasoning, 1, "reasoning"},
                       {kSearchAnswer, 2, "answer"}};
        for (const auto& col : columns) {
            if (!(fields & col.field)) continue;
            auto st = db_.prepare("SELECT m.conversation_id, m.id, c.title, snippet(message_fts, " +
                                  std::to_string(col.column) +
                                  ", '[', ']', '…', 16), bm25(message_fts) "
                                  "FROM message_fts JOIN messages m ON m.id = message_fts.rowid "
                                  "JOIN conversations c ON c.id = m.conversation_id "
                                  "WHERE message_fts MATCH ? ORDER BY bm25(message_fts) LIMIT ?");
            st.args("{" + std::string(col.name) + "} : (" + q + ")", limit);
            while (st.step())
                hits.push_back(
                    {st.i64(0), st.i64(1), col.field, st.text(2), st.text(3), st.f64(4)});
        }
    } catch (const sql::SqlError& e) {
        rethrow_as_history_error(e);
    }
    std::stable_sort(hits.begin(), hits.end(),
                     [](const SearchHit& a, const SearchHit& b) { return a.rank < b.rank; });
    if (hits.size() > static_cast<size_t>(limit)) hits.resize(static_cast<size_t>(limit));
    return hits;
}

std::vector<ReplyRef> HistoryStore::reply_refs(sql::Stmt& st) {
    std::vector<ReplyRef> out;
    while (st.step())
        out.push_back(
            {st.i64(0), st.i64(1), st.text(2), st.text(3), static_cast<int>(st.i64(4)), st.i64(5)});
    return out;
}

static constexpr const char* kReplyColumns =
    "SELECT m.id, m.conversation_id, c.title, m.model, m.n_reasoning_tokens, m.created_ms "
    "FROM messages m JOIN conversations c ON c.id = m.conversation_id ";

std::vector<ReplyRef> HistoryStore::replies_with_reasoning_over(int n_tokens, int limit) {
    try {
        auto st = db_.prepare(std::string(kReplyColumns) +
                              "WHERE m.role = 'assistant' AND m.n_reasoning_tokens > ? "
                              "ORDER BY m.created_ms DESC, m.id DESC LIMIT ?");
        st.args(n_tokens, limit);
        return reply_refs(st);
    } catch (const sql::SqlError& e) {
        rethrow_as_history_error(e);
    }
}

std::vector<ReplyRef> HistoryStore::replies_by_model(std::string_view model, int limit) {
    try {
        auto st = db_.prepare(std::string(kReplyColumns) +
                              "WHERE m.role = 'assistant' AND m.model = ? "
                              "ORDER BY m.created_ms DESC, m.id DESC LIMIT ?");
        st.args(model, limit);
        return reply_refs(st);
    } catch (const sql::SqlError& e) {
        rethrow_as_history_error(e);
    }
}

std::vector<ReplyRef> HistoryStore::replies_using_expert(int layer, int expert,
                                                         std::optional<Phase> phase, int limit) {
    // The (layer, expert, phase, message_id) index answers this without reading any trace.
    try {
        const int lo = phase ? static_cast<int>(*phase) : static_cast<int>(Phase::Think);
        const int hi = phase ? static_cast<int>(*phase) : static_cast<int>(Phase::Answer);
        auto st = db_.prepare(std::string(kReplyColumns) +
                              "WHERE m.id IN (SELECT message_id FROM expert_usage "
                              "WHERE layer = ? AND expert = ? AND phase BETWEEN ? AND ?) "
                              "ORDER BY m.created_ms DESC, m.id DESC LIMIT ?");
        st.args(layer, expert, lo, hi, limit);
        return reply_refs(st);
    } catch (const sql::SqlError& e) {
        rethrow_as_history_error(e);
    }
}

}  // namespace gb::app
