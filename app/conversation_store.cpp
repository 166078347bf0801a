// MemoryConversationStore: conversations kept in memory (tests, and runs without a database).
#include "app/conversation_store.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <sstream>
#include <tuple>

#include "kernels/error.h"

namespace gb::app {

int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void reply_stats_from_trace(StoredMessage& m) {
    const Trace* t = m.trace.get();
    if (!t) return;
    m.n_prompt_tokens = t->n_prompt > 0 ? t->n_prompt
                        : t->server_usage.prompt_tokens > 0
                            ? static_cast<int>(t->server_usage.prompt_tokens)
                            : 0;
    m.decode_tps = t->decode_ms > 0 ? 1000.0 * t->n_gen / t->decode_ms : 0;
    m.precision = t->precision;
    m.ttft_ms = 0;
    for (const TokenRecord& r : t->tokens)
        if (r.phase != Phase::Prompt) {
            m.ttft_ms = r.t_ms;
            break;
        }
}

namespace {
std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}
}  // namespace

MemoryConversationStore::Conv& MemoryConversationStore::at(int64_t id) {
    auto it = convs_.find(id);
    if (it == convs_.end()) throw Error("no conversation " + std::to_string(id));
    return it->second;
}

// A logical clock on top of wall time keeps "most recent first" strict within one millisecond.
void MemoryConversationStore::touch(Conv& c) {
    clock_ = std::max(unix_ms(), clock_ + 1);
    c.info.updated_ms = clock_;
}

std::vector<ConversationSummary> MemoryConversationStore::list() {
    std::lock_guard<std::mutex> lock(mu_);
    return sorted();
}

std::vector<ConversationSummary> MemoryConversationStore::sorted() const {
    std::vector<ConversationSummary> out;
    for (const auto& [id, c] : convs_) out.push_back(c.info);
    std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        if (a.pinned != b.pinned) return a.pinned;
        return a.updated_ms > b.updated_ms;
    });
    return out;
}

std::vector<int64_t> MemoryConversationStore::search(const std::string& text) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> want;
    std::istringstream in(lower(text));
    for (std::string w; in >> w;) want.push_back(w);
    std::vector<int64_t> out;
    for (const ConversationSummary& s : sorted()) {
        const Conv& c = convs_.at(s.id);
        std::string all = lower(c.info.title);
        for (const StoredMessage& m : c.messages)
            all += "\n" + lower(m.content) + "\n" + lower(m.reasoning);
        if (std::all_of(want.begin(), want.end(),
                        [&](const std::string& w) { return all.find(w) != std::string::npos; }))
            out.push_back(s.id);
    }
    return out;
}

int64_t MemoryConversationStore::create(const std::string& title,
                                        const std::string& settings_json) {
    std::lock_guard<std::mutex> lock(mu_);
    Conv c;
    c.info.id = next_id_++;
    c.info.title = title;
    c.info.settings_json = settings_json;
    touch(c);
    const int64_t id = c.info.id;
    convs_.emplace(id, std::move(c));
    return id;
}

void MemoryConversationStore::rename(int64_t id, const std::string& title) {
    std::lock_guard<std::mutex> lock(mu_);
    at(id).info.title = title;
}
void MemoryConversationStore::set_pinned(int64_t id, bool pinned) {
    std::lock_guard<std::mutex> lock(mu_);
    at(id).info.pinned = pinned;
}
void MemoryConversationStore::remove(int64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = convs_.find(id);
    if (it == convs_.end()) return;
    // Its replies' bookmarks go with them, as the database's cascade does.
    for (const StoredMessage& m : it->second.messages) {
        std::erase_if(bookmarks_, [&](const auto& b) { return b.second.message_id == m.id; });
        std::erase_if(resamplings_, [&](const auto& r) { return r.second.message_id == m.id; });
    }
    convs_.erase(it);
}
void MemoryConversationStore::set_settings(int64_t id, const std::string& s) {
    std::lock_guard<std::mutex> lock(mu_);
    at(id).info.settings_json = s;
}
void MemoryConversationStore::set_current_leaf(int64_t id, int64_t message_id) {
    std::lock_guard<std::mutex> lock(mu_);
    at(id).info.current_leaf = message_id;
}
ConversationSummary MemoryConversationStore::summary(int64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    return at(id).info;
}
std::vector<StoredMessage> MemoryConversationStore::messages(int64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    return at(id).messages;
}

int64_t MemoryConversationStore::add_message(int64_t conversation_id, const StoredMessage& m) {
    std::lock_guard<std::mutex> lock(mu_);
    Conv& c = at(conversation_id);
    StoredMessage copy = m;
    copy.id = next_message_++;
    if (!copy.created_ms) copy.created_ms = unix_ms();
    c.messages.push_back(copy);
    c.info.current_leaf = copy.id;
    touch(c);
    return copy.id;
}

std::shared_ptr<const Trace> MemoryConversationStore::trace(int64_t message_id) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, c] : convs_)
        for (const StoredMessage& m : c.messages)
            if (m.id == message_id) return m.trace;
    return nullptr;
}

std::vector<int64_t> MemoryConversationStore::replies_of_model(const std::string& model) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<int64_t> out;
    for (auto& [id, c] : convs_)
        for (const StoredMessage& m : c.messages)
            if (m.role == "assistant" && m.trace && m.trace->model == model) out.push_back(m.id);
    std::sort(out.begin(), out.end());
    return out;
}

// The same contract as HistoryStore's bookmarks, errors included.
std::vector<Bookmark> MemoryConversationStore::bookmarks(int64_t message_id) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Bookmark> out;
    for (const auto& [id, b] : bookmarks_)
        if (b.message_id == message_id) out.push_back(b);
    std::stable_sort(out.begin(), out.end(),
                     [](const Bookmark& a, const Bookmark& b) { return a.token < b.token; });
    return out;
}

int64_t MemoryConversationStore::add_bookmark(int64_t message_id, int token,
                                              const std::string& note) {
    check_bookmark(token, note);
    std::lock_guard<std::mutex> lock(mu_);
    if (!has_message(message_id))
        throw HistoryError(HistoryError::Kind::NotFound,
                           "history: no message with id " + std::to_string(message_id));
    const int64_t id = next_bookmark_++;
    bookmarks_[id] = Bookmark{id, message_id, token, note, unix_ms()};
    return id;
}

void MemoryConversationStore::set_bookmark_note(int64_t id, const std::string& note) {
    check_bookmark(0, note);
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = bookmarks_.find(id);
    if (it == bookmarks_.end())
        throw HistoryError(HistoryError::Kind::NotFound,
                           "history: no bookmark with id " + std::to_string(id));
    it->second.note = note;
}

void MemoryConversationStore::remove_bookmark(int64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!bookmarks_.erase(id))
        throw HistoryError(HistoryError::Kind::NotFound,
                           "history: no bookmark with id " + std::to_string(id));
}

bool MemoryConversationStore::has_message(int64_t message_id) const {
    for (const auto& [id, c] : convs_)
        for (const StoredMessage& m : c.messages)
            if (m.id == message_id) return true;
    return false;
}

// The same contract as HistoryStore's resamplings, errors included.
std::vector<StoredResampling> MemoryConversationStore::resamplings(int64_t message_id) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<StoredResampling> out;
    for (const auto& [id, r] : resamplings_)
        if (r.message_id == message_id) out.push_back(r);
    std::stable_sort(
        out.begin(), out.end(),
        [](const StoredResampling& a, const StoredResampling& b) { return a.at < b.at; });
    return out;
}

int64_t MemoryConversationStore::add_resampling(int64_t message_id,
                                                const std::string& result_json) {
    const auto [at, k] = check_resampling(result_json);
    std::lock_guard<std::mutex> lock(mu_);
    if (!has_message(message_id))
        throw HistoryError(HistoryError::Kind::NotFound,
                           "history: no message with id " + std::to_string(message_id));
    const int64_t id = next_resampling_++;
    resamplings_[id] = StoredResampling{id, message_id, at, k, result_json, unix_ms()};
    return id;
}

void MemoryConversationStore::remove_resampling(int64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!resamplings_.erase(id))
        throw HistoryError(HistoryError::Kind::NotFound,
                           "history: no resampling with id " + std::to_string(id));
}

std::vector<ExpertUsage> MemoryConversationStore::expert_usage(const std::vector<int64_t>& ids) {
    std::vector<std::vector<ExpertUsage>> parts;
    for (int64_t id : ids)
        if (auto t = trace(id)) parts.push_back(summarise_expert_usage(*t));
    return sum_expert_usage(parts);
}

}  // namespace gb::app
