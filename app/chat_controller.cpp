// ChatController: conversation tree, branches, streaming and storing of replies.
#include "app/chat_controller.h"

#include <algorithm>

#include "app/error_text.h"
#include "engine/session/interventions.h"
#include "kernels/error.h"

namespace gb::app {

ChatController::ChatController(ConversationStore& store, EngineWorker& worker, QObject* parent)
    : QObject(parent), store_(store), worker_(worker) {
    connect(&worker_, &EngineWorker::tokenStreamed, this, &ChatController::on_token);
    connect(&worker_, &EngineWorker::generationFinished, this, &ChatController::on_finished);
    connect(&worker_, &EngineWorker::generationFailed, this, &ChatController::on_failed);
    connect(&worker_, &EngineWorker::resampleProgress, this,
            [this](quint64 request, int done, int k) {
                if (request == resample_request_) emit resampleProgress(resample_id_, done, k);
            });
    connect(&worker_, &EngineWorker::resampled, this,
            [this](quint64 request, std::shared_ptr<const ResampleResult> r) {
                if (request != resample_request_) return;
                resample_request_ = 0;
                qint64 stored = 0;
                if (!r->rollouts.empty()) {
                    try {
                        stored = store_.add_resampling(resample_id_, resampling_json(*r));
                    } catch (const std::exception& e) {
                        emit errorOccurred(
                            tr("The resampling could not be saved: %1").arg(error_text(e)));
                    }
                }
                emit resampleFinished(resample_id_, stored, std::move(r));
            });
    connect(&worker_, &EngineWorker::resampleFailed, this,
            [this](quint64 request, const QString& error) {
                if (request != resample_request_) return;
                resample_request_ = 0;
                emit resampleFailed(resample_id_, error);
            });
    connect(&worker_, &EngineWorker::reproduced, this,
            [this](quint64 request, std::shared_ptr<const Trace> again) {
                if (request != request_ || !reproduce_trace_) return;
                const TokenDiff d = compare_generated(*reproduce_trace_, *again);
                QString summary;
                if (d.identical) {
                    summary = tr("Reproduced: all %1 generated tokens are identical (log-"
                                 "probabilities within %2).")
                                  .arg(again->n_gen)
                                  .arg(d.max_logprob_diff, 0, 'g', 3);
                } else {
                    auto text = [](const Trace& t, int i) {
                        const size_t k = static_cast<size_t>(t.n_prompt + i);
                        return k < t.tokens.size()
                                   ? "“" + QString::fromStdString(t.tokens[k].text) + "”"
                                   : tr("the end");
                    };
                    summary = tr("Not reproduced: generated token %1 was %2 and is now %3; the "
                                 "%1 tokens before it are identical.")
                                  .arg(d.first_difference)
                                  .arg(text(*reproduce_trace_, d.first_difference))
                                  .arg(text(*again, d.first_difference));
                }
                const qint64 id = reproduce_id_;
                reproduce_trace_.reset();
                emit reproduced(id, d.identical, summary, again);
            });
    connect(&worker_, &EngineWorker::loadStarted, this, [this](const QString& path) {
        loading_ = true;
        emit modelLoading(path);
    });
    connect(&worker_, &EngineWorker::notice, this, &ChatController::noticeOccurred);
    connect(&worker_, &EngineWorker::modelLoaded, this, [this](const ModelInfo& info) {
        model_ = info;
        model_loaded_ = true;
        loading_ = false;
        emit modelChanged();
        refresh_context_use();
    });
    connect(&worker_, &EngineWorker::modelUnloaded, this, [this] {
        model_ = ModelInfo{};
        model_loaded_ = false;
        emit modelChanged();
    });
    connect(&worker_, &EngineWorker::loadFailed, this, [this](const QString& e) {
        loading_ = false;
        emit errorOccurred(tr("Could not load the model: %1").arg(e));
        emit modelChanged();
    });
    connect(&worker_, &EngineWorker::contextUseReady, this, [this](const ContextUse& u) {
        context_ = u;
        emit contextUseChanged();
    });
}

// Errors from the store (a full disk, a damaged database) reach the window, never the user's
// stack: every store call from a slot goes through this.
#define GB_GUARD(body)                     \
    try {                                  \
        body;                              \
    } catch (const std::exception& e) {    \
        emit errorOccurred(error_text(e)); \
    }

int64_t ChatController::new_conversation() {
    if (busy()) stop();
    int64_t id = 0;
    GB_GUARD(id = store_.create(tr("New chat").toStdString(), to_json(settings_)));
    conv_ = id;
    load_current();
    emit conversationsChanged();
    emit currentConversationChanged(conv_);
    return id;
}

void ChatController::select_conversation(int64_t id) {
    if (id == conv_) return;
    if (busy()) stop();
    conv_ = id;
    load_current();
    emit currentConversationChanged(conv_);
}

void ChatController::rename_conversation(int64_t id, const QString& title) {
    GB_GUARD(store_.rename(id, title.trimmed().toStdString()));
    emit conversationsChanged();
}

void ChatController::delete_conversation(int64_t id) {
    if (id == conv_ && busy()) stop();
    GB_GUARD(store_.remove(id));
    if (id == conv_) {
        conv_ = 0;
        load_current();
        emit currentConversationChanged(0);
    }
    emit conversationsChanged();
}

void ChatController::set_pinned(int64_t id, bool pinned) {
    GB_GUARD(store_.set_pinned(id, pinned));
    emit conversationsChanged();
}

const StoredMessage* ChatController::find(int64_t id) const {
    for (const StoredMessage& m : all_)
        if (m.id == id) return &m;
    return nullptr;
}

// Following a branch down: the newest child each time, as chat apps show a fresh branch. At
// most one step per message, so a cycle of parents (a damaged store) cannot loop forever.
int64_t ChatController::deepest_leaf(int64_t from) const {
    int64_t cur = from;
    for (size_t steps = 0; steps < all_.size(); ++steps) {
        int64_t next = 0;
        for (const StoredMessage& m : all_)
            if (m.parent == cur) next = std::max(next, m.id);
        if (!next) return cur;
        cur = next;
    }
    return cur;
}

// The messages from the root to leaf. Every walk up the tree goes through here: it stops at a
// missing parent and after one step per message, so a damaged store's cycle cannot hang it.
std::vector<StoredMessage> ChatController::path_to(std::optional<int64_t> leaf) const {
    std::vector<StoredMessage> out;
    for (const StoredMessage* m = leaf ? find(*leaf) : nullptr; m && out.size() < all_.size();
         m = m->parent ? find(*m->parent) : nullptr)
        out.push_back(*m);
    return {out.rbegin(), out.rend()};
}

void ChatController::load_current() {
    all_.clear();
    path_.clear();
    // stop_at_end belongs to this session, not to a conversation (it is not stored): it carries
    // over to whichever conversation is opened or made.
    const bool stop_at_end = settings_.stop_at_end;
    settings_ = GenerationSettings{};
    settings_.stop_at_end = stop_at_end;
    if (conv_) {
        try {
            const ConversationSummary s = store_.summary(conv_);
            settings_ = settings_from_json(s.settings_json);
            settings_.stop_at_end = stop_at_end;
            all_ = store_.messages(conv_);
            path_ = path_to(s.current_leaf.value_or(all_.empty() ? 0 : all_.back().id));
        } catch (const std::exception& e) {
            emit errorOccurred(error_text(e));
        }
    }
    emit settingsChanged();
    emit pathChanged();
    refresh_context_use();
}

std::vector<int64_t> ChatController::siblings(int64_t message_id) const {
    std::vector<int64_t> out;
    const StoredMessage* m = find(message_id);
    if (!m) return out;
    for (const StoredMessage& o : all_)
        if (o.parent == m->parent && o.role == m->role) out.push_back(o.id);
    return out;
}

std::vector<ChatTurn> ChatController::turns_to(std::optional<int64_t> leaf) const {
    std::vector<ChatTurn> turns;
    for (const StoredMessage& m : path_to(leaf))
        turns.push_back(ChatTurn{m.role, m.content, m.reasoning});
    return turns;
}

bool ChatController::send(const QString& text) {
    const QString t = text.trimmed();
    if (t.isEmpty()) return false;
    if (busy()) {
        emit errorOccurred(busy_text());
        return false;
    }
    if (!model_loaded_) {
        emit errorOccurred(loading_ ? tr("The model is still loading: send the message once it "
                                         "is ready (the status bar says when).")
                                    : no_model_text());
        return false;
    }
    if (!conv_) new_conversation();
    if (!conv_) return false;
    if (all_.empty()) {
        // The first message names the conversation, until the user renames it.
        QString title = t.left(48).replace('\n', ' ');
        GB_GUARD(store_.rename(conv_, title.toStdString()));
    }
    StoredMessage m;
    m.role = "user";
    m.content = t.toStdString();
    if (!path_.empty()) m.parent = path_.back().id;
    try {
        m.id = store_.add_message(conv_, m);
    } catch (const std::exception& e) {
        emit errorOccurred(error_text(e));
        return false;
    }
    all_.push_back(m);
    path_.push_back(m);
    emit pathChanged();
    emit conversationsChanged();
    start_reply(m.id);
    return true;
}

void ChatController::regenerate_last() {
    for (auto it = path_.rbegin(); it != path_.rend(); ++it) {
        if (it->role == "assistant") return regenerate(it->id);
        if (it->role == "user") {
            if (busy()) {
                emit errorOccurred(busy_text());
                return;
            }
            const int64_t id = it->id;
            path_ = path_to(id);
            emit pathChanged();
            return start_reply(id);
        }
    }
}

QString ChatController::no_model_text() const {
    return tr("No model is loaded: open one with Model > Open model (Ctrl+O).");
}

void ChatController::edit(int64_t user_message_id, const QString& text) {
    const StoredMessage* old = find(user_message_id);
    if (!old || old->role != "user" || text.trimmed().isEmpty()) return;
    if (busy()) {
        emit errorOccurred(busy_text());
        return;
    }
    StoredMessage m;
    m.role = "user";
    m.content = text.trimmed().toStdString();
    m.parent = old->parent;
    try {
        m.id = store_.add_message(conv_, m);
    } catch (const std::exception& e) {
        emit errorOccurred(error_text(e));
        return;
    }
    all_.push_back(m);
    path_ = path_to(m.id);
    emit pathChanged();
    start_reply(m.id);
}

void ChatController::regenerate(int64_t assistant_message_id) {
    const StoredMessage* old = find(assistant_message_id);
    if (!old || old->role != "assistant" || !old->parent) return;
    if (busy()) {
        emit errorOccurred(busy_text());
        return;
    }
    const int64_t parent = *old->parent;
    path_ = path_to(parent);
    emit pathChanged();
    start_reply(parent);
}

void ChatController::switch_branch(int64_t message_id, int delta) {
    if (busy()) return;
    const std::vector<int64_t> sib = siblings(message_id);
    auto it = std::find(sib.begin(), sib.end(), message_id);
    if (it == sib.end()) return;
    const long idx = (it - sib.begin()) + delta;
    if (idx < 0 || idx >= static_cast<long>(sib.size())) return;
    const int64_t leaf = deepest_leaf(sib[static_cast<size_t>(idx)]);
    GB_GUARD(store_.set_current_leaf(conv_, leaf));
    path_ = path_to(leaf);
    emit pathChanged();
    refresh_context_use();
}

void ChatController::start_reply(std::optional<int64_t> parent) {
    if (!model_loaded_) {
        emit errorOccurred(no_model_text());
        return;
    }
    begin_reply(parent);
    worker_.generate(request_, turns_to(parent), settings_);
    emit streamingStarted();
}

void ChatController::begin_reply(std::optional<int64_t> parent) {
    streaming_ = StreamingReply{};
    streaming_.active = true;
    streaming_.parent = parent;
    ++request_;
    GB_GUARD(store_.reply_started(conv_, parent));
}

QString ChatController::busy_text() const {
    return resampling() ? tr("Rollouts are running: stop them first (Esc).")
                        : tr("A reply is still being generated: stop it first (Esc).");
}

void ChatController::stop() {
    if (busy()) worker_.cancel();
}

void ChatController::stop_thinking() {
    if (busy()) worker_.stop_thinking();
}

bool ChatController::can_rerun(const std::shared_ptr<const Trace>& trace) {
    if (busy()) {
        emit errorOccurred(busy_text());
        return false;
    }
    if (!trace || !model_loaded_) {
        emit errorOccurred(!trace ? tr("This reply has no stored trace to start from.")
                                  : tr("No model is loaded: open one with Model > Open model "
                                       "(Ctrl+O)."));
        return false;
    }
    return true;
}

std::optional<int64_t> ChatController::begin_sibling(int64_t assistant_message_id,
                                                     const std::shared_ptr<const Trace>& trace) {
    const StoredMessage* old = find(assistant_message_id);
    if (!old || old->role != "assistant" || !old->parent || !can_rerun(trace)) return {};
    const int64_t parent = *old->parent;
    path_ = path_to(parent);
    emit pathChanged();
    begin_reply(parent);
    return parent;
}

void ChatController::branch_from(int64_t assistant_message_id, std::shared_ptr<const Trace> trace,
                                 int at, int32_t token) {
    if (!begin_sibling(assistant_message_id, trace)) return;
    worker_.branch(request_, std::move(trace), at, token, settings_);
    emit streamingStarted();
}

void ChatController::edit_thought(int64_t assistant_message_id, std::shared_ptr<const Trace> trace,
                                  const QString& thought) {
    if (!begin_sibling(assistant_message_id, trace)) return;
    worker_.continue_thought(request_, std::move(trace), thought.toStdString(), settings_);
    emit streamingStarted();
}

void ChatController::continue_reply(int64_t assistant_message_id,
                                    std::shared_ptr<const Trace> trace) {
    if (!begin_sibling(assistant_message_id, trace)) return;
    worker_.continue_reply(request_, std::move(trace), settings_);
    emit streamingStarted();
}

void ChatController::reproduce(int64_t assistant_message_id, std::shared_ptr<const Trace> trace) {
    if (!can_rerun(trace)) return;
    reproduce_id_ = assistant_message_id;
    reproduce_trace_ = trace;
    worker_.reproduce(++request_, std::move(trace));
}

void ChatController::resample(int64_t assistant_message_id, std::shared_ptr<const Trace> trace,
                              int at, const ResampleOptions& opt) {
    if (!can_rerun(trace)) return;
    resample_id_ = assistant_message_id;
    resample_request_ = ++request_;
    worker_.resample(resample_request_, std::move(trace), at, opt);
}

void ChatController::on_token(quint64 request, const StreamToken& t) {
    if (request != request_ || !streaming_.active) return;
    if (t.rec) {
        const TokenRecord& r = *t.rec;
        streaming_.tokens.push_back(t.rec);
        if (streaming_.first_ms < 0) streaming_.first_ms = r.t_ms;
        streaming_.last_ms = r.t_ms;
        if (r.phase == Phase::Think) {
            ++streaming_.n_reasoning;
            streaming_.think_end_ms = r.t_ms;
            streaming_.reasoning += t.text;
        } else {
            ++streaming_.n_answer;
            streaming_.answer += t.text;
        }
        GB_GUARD(store_.reply_text(r.phase == Phase::Think, t.text));
    } else {
        (streaming_.n_answer ? streaming_.answer : streaming_.reasoning) += t.text;
    }
    emit streamingUpdated();
}

void ChatController::on_finished(quint64 request, std::shared_ptr<const Trace> trace) {
    if (request != request_ || !streaming_.active) return;
    StoredMessage m;
    m.role = "assistant";
    m.parent = streaming_.parent;
    m.content = trace->answer_text;
    m.reasoning = trace->reasoning_text;
    m.complete = stop_is_complete(trace->stop_reason);
    m.stop_reason = trace->stop_reason;
    m.n_reasoning_tokens = streaming_.n_reasoning;
    m.n_answer_tokens = streaming_.n_answer;
    m.thought_ms = streaming_.n_reasoning ? streaming_.think_end_ms : 0;
    m.trace = trace;
    reply_stats_from_trace(m);
    streaming_.active = false;
    try {
        m.id = store_.add_message(conv_, m);
    } catch (const std::exception& e) {
        emit errorOccurred(tr("The reply could not be saved: %1").arg(error_text(e)));
    }
    all_.push_back(m);
    path_.push_back(m);
    emit streamingFinished(m.id);
    emit pathChanged();
    emit conversationsChanged();
    refresh_context_use();
}

void ChatController::on_failed(quint64 request, const QString& error) {
    if (request != request_) return;
    if (reproduce_trace_) {  // a re-run, not a reply: nothing was being streamed
        reproduce_trace_.reset();
        emit errorOccurred(tr("The reply could not be run again: %1").arg(error));
        return;
    }
    streaming_.active = false;
    GB_GUARD(store_.reply_abandoned());
    emit streamingFinished(0);
    emit pathChanged();
    emit errorOccurred(tr("Generation failed: %1").arg(error));
}

void ChatController::set_settings(const GenerationSettings& s) {
    settings_ = s;
    if (conv_) GB_GUARD(store_.set_settings(conv_, to_json(s)));
    emit settingsChanged();
    refresh_context_use();
}

void ChatController::load_model(const LoadSettings& settings) {
    if (busy()) stop();
    model_loaded_ = false;
    load_settings_ = settings;
    worker_.load(settings);
}

void ChatController::unload_model() {
    if (busy()) stop();
    worker_.unload();
}

void ChatController::refresh_context_use() {
    if (!model_loaded_) return;
    worker_.compute_context_use(
        turns_to(path_.empty() ? std::nullopt : std::optional<int64_t>(path_.back().id)),
        settings_);
}

}  // namespace gb::app
