// HistoryConversationStore: the controller's view of conversations mapped onto HistoryStore.
#include "app/history_conversation_store.h"

#include <algorithm>
#include <cctype>

namespace gb::app {

namespace {

ConversationSummary to_summary(const ConversationInfo& c) {
    ConversationSummary s;
    s.id = c.id;
    s.title = c.title;
    s.pinned = c.pinned;
    s.updated_ms = c.updated_ms;
    s.settings_json = c.settings_json;
    s.current_leaf = c.current_leaf;
    return s;
}

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

}  // namespace

HistoryConversationStore::HistoryConversationStore(std::unique_ptr<HistoryStore> store)
    : store_(std::move(store)) {
    try {
        reader_ = HistoryStore::open_reader(store_->path(), store_->options());
    } catch (const std::exception&) {
        reader_.reset();  // e.g. an in-memory database: reads share the writer's connection
    }
    thread_ = std::thread([this] { run_writer(); });
}

HistoryConversationStore::~HistoryConversationStore() {
    {
        std::lock_guard<std::mutex> lock(q_mu_);
        stop_ = true;
    }
    q_cv_.notify_all();
    thread_.join();  // runs what is queued first
    std::lock_guard<std::mutex> lock(db_mu_);
    writer_.reset();  // a reply still streaming is marked incomplete
}

void HistoryConversationStore::post(std::function<void()> task) {
    {
        std::lock_guard<std::mutex> lock(q_mu_);
        queue_.push_back(std::move(task));
    }
    q_cv_.notify_one();
}

void HistoryConversationStore::run_writer() {
    for (;;) {
        std::function<void()> task;
        {
            std::unique_lock<std::mutex> lock(q_mu_);
            q_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping, nothing left
            task = std::move(queue_.front());
            queue_.pop_front();
            busy_ = true;
        }
        std::string error;
        try {
            task();
        } catch (const std::exception& e) {
            error = e.what();
        }
        std::lock_guard<std::mutex> lock(q_mu_);
        busy_ = false;
        if (!error.empty() && background_error_.empty()) background_error_ = error;
        if (queue_.empty()) idle_cv_.notify_all();
    }
}

void HistoryConversationStore::drain() {
    std::unique_lock<std::mutex> lock(q_mu_);
    idle_cv_.wait(lock, [&] { return queue_.empty() && !busy_; });
}

void HistoryConversationStore::rethrow_background_error() {
    std::string error;
    {
        std::lock_guard<std::mutex> lock(q_mu_);
        error.swap(background_error_);
    }
    if (!error.empty())
        throw HistoryError(HistoryError::Kind::Io, "saving the reply failed: " + error);
}

void HistoryConversationStore::reply_started(int64_t conversation_id,
                                             std::optional<int64_t> parent) {
    rethrow_background_error();
    drain();  // the previous reply is finished before this one starts
    std::lock_guard<std::mutex> lock(db_mu_);
    writer_.reset();
    writer_.emplace(store_->begin_reply(conversation_id, parent, ReplyStart{}));
}

void HistoryConversationStore::reply_text(bool reasoning, const std::string& text) {
    rethrow_background_error();
    post([this, reasoning, text] {
        std::lock_guard<std::mutex> lock(db_mu_);
        if (!writer_) return;
        if (reasoning)
            writer_->append_reasoning(text);
        else
            writer_->append_answer(text);
    });
}

void HistoryConversationStore::reply_abandoned() {
    post([this] {
        std::lock_guard<std::mutex> lock(db_mu_);
        writer_.reset();
    });
}

std::unique_ptr<HistoryConversationStore> HistoryConversationStore::open(const std::string& path,
                                                                         std::string* note) {
    HistoryStore::Opened o =
        HistoryStore::open_or_recover(path);  // before the writer thread exists
    if (note && o.report.outcome == OpenOutcome::Recovered)
        *note = "The history file was damaged (" + o.report.problem + "); it was moved to " +
                o.report.moved_aside_to + " and a new one started.";
    if (note && !o.report.damaged.empty()) {
        std::string ids;
        for (size_t i = 0; i < o.report.damaged.size() && i < 20; ++i)
            ids += (i ? ", " : "") + std::to_string(o.report.damaged[i]);
        if (o.report.damaged.size() > 20) ids += ", ...";
        *note = std::to_string(o.report.damaged.size()) +
                " conversation(s) in the history are damaged (ids " + ids +
                "): their messages do not form a tree. They are listed but cannot be opened; "
                "every other conversation is fine.";
    }
    return std::make_unique<HistoryConversationStore>(std::move(o.store));
}

std::vector<ConversationSummary> HistoryConversationStore::list() {
    rethrow_background_error();
    return read([](HistoryStore& db) {
        std::vector<ConversationSummary> out;
        for (const ConversationInfo& c : db.list_conversations()) out.push_back(to_summary(c));
        return out;
    });
}

std::vector<int64_t> HistoryConversationStore::search(const std::string& text) {
    return read([&](HistoryStore& db) {
        // Full-text hits (whole words in titles, prompts, reasoning, answers), then titles
        // that contain the text as typed so far: the sidebar searches as the user types.
        std::vector<int64_t> ids;
        try {
            for (const SearchHit& h : db.search(text, kSearchAll, 200))
                if (std::find(ids.begin(), ids.end(), h.conversation_id) == ids.end())
                    ids.push_back(h.conversation_id);
        } catch (const std::exception&) {
            // A half-typed query the full-text syntax rejects: the title match still works.
        }
        const std::string want = lower(text);
        for (const ConversationInfo& c : db.list_conversations())
            if (lower(c.title).find(want) != std::string::npos &&
                std::find(ids.begin(), ids.end(), c.id) == ids.end())
                ids.push_back(c.id);
        return ids;
    });
}

int64_t HistoryConversationStore::create(const std::string& title,
                                         const std::string& settings_json) {
    std::lock_guard<std::mutex> lock(db_mu_);
    return store_->create_conversation(title, {}, settings_json);
}
void HistoryConversationStore::rename(int64_t id, const std::string& title) {
    std::lock_guard<std::mutex> lock(db_mu_);
    store_->rename_conversation(id, title);
}
void HistoryConversationStore::set_pinned(int64_t id, bool pinned) {
    std::lock_guard<std::mutex> lock(db_mu_);
    store_->set_pinned(id, pinned);
}
void HistoryConversationStore::remove(int64_t id) {
    drain();  // nothing queued may write into the conversation being deleted
    std::lock_guard<std::mutex> lock(db_mu_);
    store_->delete_conversation(id);
    std::lock_guard<std::mutex> recent(recent_mu_);
    recent_traces_.clear();
}
void HistoryConversationStore::set_settings(int64_t id, const std::string& s) {
    std::lock_guard<std::mutex> lock(db_mu_);
    store_->set_settings(id, s);
}
void HistoryConversationStore::set_current_leaf(int64_t id, int64_t m) {
    drain();  // after a queued reply has set its own leaf
    std::lock_guard<std::mutex> lock(db_mu_);
    store_->set_current_leaf(id, m);
}
ConversationSummary HistoryConversationStore::summary(int64_t id) {
    drain();  // its current leaf as the last reply set it
    std::lock_guard<std::mutex> lock(db_mu_);
    return to_summary(store_->conversation_info(id));
}

std::vector<StoredMessage> HistoryConversationStore::messages(int64_t id) {
    drain();  // a reply being written shows whole, not half-saved
    std::lock_guard<std::mutex> lock(db_mu_);
    std::vector<StoredMessage> out;
    for (const Message& m : store_->load_conversation(id).messages) {
        StoredMessage s;
        s.id = m.id;
        s.parent = m.parent_id;
        s.role = role_name(m.role);
        s.content = m.role == Role::Assistant ? m.answer : m.content;
        s.reasoning = m.reasoning;
        s.complete = m.status == MessageStatus::Complete;
        s.n_reasoning_tokens = m.stats.n_reasoning_tokens;
        s.n_answer_tokens = m.stats.n_answer_tokens;
        s.stop_reason = m.stats.stop_reason;
        s.created_ms = m.created_ms;
        s.n_prompt_tokens = m.stats.n_prompt_tokens;
        s.ttft_ms = m.stats.ttft_ms;
        s.decode_tps = m.stats.decode_tps;
        s.precision = m.stats.precision;
        // The store keeps speeds, not the thinking time: time to first token plus the
        // reasoning tokens at the decode speed is what it was.
        if (m.stats.decode_tps > 0)
            s.thought_ms =
                m.stats.ttft_ms + 1000.0 * m.stats.n_reasoning_tokens / m.stats.decode_tps;
        out.push_back(std::move(s));
    }
    return out;
}

int64_t HistoryConversationStore::add_message(int64_t conversation_id, const StoredMessage& m) {
    rethrow_background_error();
    if (m.role != "assistant") {
        drain();
        std::lock_guard<std::mutex> lock(db_mu_);
        const int64_t id =
            store_->add_message(conversation_id, m.parent, role_from_name(m.role), m.content);
        remember_trace(id, nullptr);
        return id;
    }
    Message reply;
    reply.role = Role::Assistant;
    reply.answer = m.content;
    reply.reasoning = m.reasoning;
    reply.status = m.complete ? MessageStatus::Complete : MessageStatus::Incomplete;
    ReplyStats& st = reply.stats;
    st.n_reasoning_tokens = m.n_reasoning_tokens;
    st.n_answer_tokens = m.n_answer_tokens;
    st.stop_reason = m.stop_reason;
    if (const Trace* t = m.trace.get()) {
        StoredMessage stats;
        stats.trace = m.trace;
        reply_stats_from_trace(stats);
        st.n_prompt_tokens = stats.n_prompt_tokens;
        st.model = t->model;
        st.backend = t->backend;
        st.prefill_tps = t->prefill_ms > 0 ? 1000.0 * t->n_prompt / t->prefill_ms : 0;
        st.decode_tps = stats.decode_tps;
        st.ttft_ms = stats.ttft_ms;
        st.precision = t->precision;
        reply.repro.sampler = t->sampling;
        reply.repro.rendered_prompt = t->prompt_text;
    }
    std::optional<int64_t> streamed;
    {
        std::lock_guard<std::mutex> lock(db_mu_);
        if (writer_) streamed = writer_->id();
    }
    if (streamed) {
        // The streamed row becomes the finished reply (texts from the trace, stats, the trace),
        // written on the background thread after the text still queued: the id is known now.
        post([this, conversation_id, id = *streamed, stats = reply.stats, status = reply.status,
              trace = m.trace] {
            std::optional<PreparedTrace> prepared;
            if (trace) prepared = prepare_trace(*trace);  // the slow part, without the database
            std::lock_guard<std::mutex> lock(db_mu_);
            if (!writer_ || writer_->id() != id) return;
            writer_->finish(stats, trace.get(), status, prepared ? &*prepared : nullptr);
            writer_.reset();
            store_->set_current_leaf(conversation_id, id);
        });
        remember_trace(*streamed, m.trace);
        return *streamed;
    }
    drain();
    std::lock_guard<std::mutex> lock(db_mu_);
    const int64_t id = store_->add_reply(conversation_id, m.parent, reply, m.trace.get());
    remember_trace(id, m.trace);
    return id;
}

void HistoryConversationStore::remember_trace(int64_t id, std::shared_ptr<const Trace> trace) {
    std::lock_guard<std::mutex> lock(recent_mu_);
    std::erase_if(recent_traces_, [id](const auto& e) { return e.first == id; });
    if (!trace) return;
    constexpr size_t kKeep = 4;
    if (recent_traces_.size() == kKeep) recent_traces_.erase(recent_traces_.begin());
    recent_traces_.emplace_back(id, std::move(trace));
}

std::vector<int64_t> HistoryConversationStore::replies_of_model(const std::string& model) {
    drain();
    std::lock_guard<std::mutex> lock(db_mu_);
    return store_->replies_of_model(model);
}

std::vector<ExpertUsage> HistoryConversationStore::expert_usage(const std::vector<int64_t>& ids) {
    drain();
    std::lock_guard<std::mutex> lock(db_mu_);
    std::vector<std::vector<ExpertUsage>> parts;
    for (int64_t id : ids) parts.push_back(store_->expert_usage(id));
    return sum_expert_usage(parts);
}

std::vector<Bookmark> HistoryConversationStore::bookmarks(int64_t message_id) {
    return read([&](HistoryStore& db) { return db.bookmarks(message_id); });
}
int64_t HistoryConversationStore::add_bookmark(int64_t message_id, int token,
                                               const std::string& note) {
    drain();  // the reply may still be on its way into the database
    std::lock_guard<std::mutex> lock(db_mu_);
    return store_->add_bookmark(message_id, token, note);
}
void HistoryConversationStore::set_bookmark_note(int64_t id, const std::string& note) {
    std::lock_guard<std::mutex> lock(db_mu_);
    store_->set_bookmark_note(id, note);
}
void HistoryConversationStore::remove_bookmark(int64_t id) {
    std::lock_guard<std::mutex> lock(db_mu_);
    store_->remove_bookmark(id);
}

std::vector<StoredResampling> HistoryConversationStore::resamplings(int64_t message_id) {
    return read([&](HistoryStore& db) { return db.resamplings(message_id); });
}
int64_t HistoryConversationStore::add_resampling(int64_t message_id,
                                                 const std::string& result_json) {
    drain();  // the reply may still be on its way into the database
    std::lock_guard<std::mutex> lock(db_mu_);
    return store_->add_resampling(message_id, result_json);
}
void HistoryConversationStore::remove_resampling(int64_t id) {
    std::lock_guard<std::mutex> lock(db_mu_);
    store_->remove_resampling(id);
}

std::shared_ptr<const Trace> HistoryConversationStore::trace(int64_t message_id) {
    {
        std::lock_guard<std::mutex> lock(recent_mu_);
        for (const auto& [id, t] : recent_traces_)
            if (id == message_id) return t;
    }
    drain();
    std::lock_guard<std::mutex> lock(db_mu_);
    std::optional<Trace> t = store_->load_trace(message_id);
    return t ? std::make_shared<const Trace>(std::move(*t)) : nullptr;
}

}  // namespace gb::app
