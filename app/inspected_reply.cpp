// InspectedReply: live trace from the step records, stored traces loaded on a pool thread.
#include "app/inspected_reply.h"

#include <QDateTime>
#include <QTimer>
#include <algorithm>
#include <cmath>

#include "app/error_text.h"
#include "engine/core/file_write.h"
#include "engine/trace/trace_bundle.h"
#include "engine/trace/trace_html.h"

namespace gb::app {

InspectedReply::InspectedReply(ChatController& controller, QObject* parent)
    : QObject(parent), c_(controller) {
    pool_.setMaxThreadCount(1);  // loads run one at a time, newest wins
    timer_ = new QTimer(this);
    timer_->setSingleShot(true);
    timer_->setInterval(150);
    connect(timer_, &QTimer::timeout, this, &InspectedReply::follow);
    connect(&c_, &ChatController::streamingStarted, this, &InspectedReply::start_live);
    connect(&c_, &ChatController::streamingUpdated, this, [this] {
        if (live_ && !timer_->isActive()) timer_->start();
    });
    connect(&c_, &ChatController::streamingFinished, this, &InspectedReply::finish_live);
    replay_timer_ = new QTimer(this);
    connect(replay_timer_, &QTimer::timeout, this, &InspectedReply::replay_tick);
    connect(&c_, &ChatController::currentConversationChanged, this, [this] {
        if (!live_) clear();
    });
}

InspectedReply::~InspectedReply() { pool_.waitForDone(); }

void InspectedReply::set_intervals(int tokens_ms, int routing_ms) {
    timer_->setInterval(tokens_ms);
    routing_ms_ = routing_ms;
}

void InspectedReply::clear() {
    end_replay(false);
    ++generation_;
    timer_->stop();
    live_.reset();
    message_id_ = 0;
    loading_ = false;
    if (!shown_) return;
    shown_.reset();
    emit traceChanged(nullptr, false);
}

void InspectedReply::start_live() {
    end_replay(false);
    ++generation_;
    live_ = std::make_shared<Trace>();
    const ModelInfo& m = c_.model();
    live_->model = m.name;
    live_->n_expert = static_cast<int>(m.n_expert);
    live_->n_expert_used = static_cast<int>(m.n_expert_used);
    shown_ = live_;
    message_id_ = 0;
    loading_ = false;
    routing_at_ = 0;
    routing_stale_ = false;
    emit traceChanged(shown_, false);
}

void InspectedReply::follow() { follow_tokens(false); }

void InspectedReply::follow_tokens(bool last) {
    if (!live_) return;
    // Each record is complete when it arrives (its routing included), so the live trace holds
    // exactly what the stored one will.
    const auto& streamed = c_.streaming().tokens;
    const bool grew = streamed.size() > live_->tokens.size();
    for (size_t i = live_->tokens.size(); i < streamed.size(); ++i) {
        live_->tokens.push_back(*streamed[i]);
        ++live_->n_gen;
    }
    // The routing view counts the whole reply each time it hears of it: at most every
    // routing_ms, and once more at the end if tokens came in since it last did.
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    const bool routing_due =
        (last && (routing_stale_ || grew)) || (grew && now - routing_at_ >= routing_ms_);
    if (!grew && !routing_due) return;
    if (routing_due) routing_at_ = now;
    routing_stale_ = (routing_stale_ || grew) && !routing_due;
    emit traceGrew(routing_due);
}

void InspectedReply::finish_live(qint64 message_id) {
    if (!live_) return;
    timer_->stop();
    follow_tokens(true);  // the last tokens, shown until the stored trace replaces them
    live_.reset();
    // Not stored (the reply failed before it was saved): the live trace stays on show.
    if (message_id) load(message_id, true);
}

void InspectedReply::inspect(qint64 message_id) { load(message_id, false); }

void InspectedReply::load(qint64 message_id, bool continues_live) {
    end_replay(false);
    timer_->stop();
    live_.reset();
    const quint64 gen = ++generation_;
    message_id_ = message_id;
    loading_ = true;
    ConversationStore* store = &c_.store();
    // The destructor waits for the pool, and a queued call to a deleted object is dropped, so
    // `this` outlives the job and its reply.
    pool_.start([this, store, message_id, gen, continues_live] {
        std::shared_ptr<const Trace> t;
        QString error;
        try {
            t = store->trace(message_id);
        } catch (const std::exception& e) {
            error = error_text(e);
        }
        QMetaObject::invokeMethod(
            this,
            [this, t, error, gen, continues_live] {
                if (gen != generation_) return;  // something newer is shown
                loading_ = false;
                if (!error.isEmpty()) {
                    emit loadFailed(error);
                    return;
                }
                shown_ = t;
                emit traceChanged(t, continues_live);
            },
            Qt::QueuedConnection);
    });
}

// ---- replay ----

bool InspectedReply::start_replay(double tokens_per_second) {
    if (replay_) end_replay(true);
    if (!shown_ || live_ || loading_) return false;
    replay_full_ = shown_;
    replay_ = std::make_shared<Trace>(*replay_full_);
    replay_prompt_ = 0;
    while (replay_prompt_ < replay_->tokens.size() &&
           replay_->tokens[replay_prompt_].phase == Phase::Prompt)
        ++replay_prompt_;
    replay_->tokens.resize(replay_prompt_);
    replay_->n_gen = 0;
    shown_ = replay_;
    emit traceChanged(shown_, false);
    set_replay_speed(tokens_per_second);
    replay_timer_->start();
    emit replayChanged();
    return true;
}

void InspectedReply::set_replay_speed(double tokens_per_second) {
    replay_timer_->setInterval(
        static_cast<int>(std::lround(1000.0 / std::clamp(tokens_per_second, 0.2, 1000.0))));
}

bool InspectedReply::replay_paused() const { return replay_ && !replay_timer_->isActive(); }

int InspectedReply::replay_position() const {
    return replay_ ? static_cast<int>(replay_->tokens.size() - replay_prompt_) : 0;
}

int InspectedReply::replay_length() const {
    return replay_ ? static_cast<int>(replay_full_->tokens.size() - replay_prompt_) : 0;
}

void InspectedReply::pause_replay() {
    if (!replay_) return;
    replay_timer_->stop();
    emit replayChanged();
}

void InspectedReply::resume_replay() {
    if (!replay_ || replay_position() >= replay_length()) return;
    replay_timer_->start();
    emit replayChanged();
}

void InspectedReply::replay_tick() {
    if (!replay_) return;
    if (replay_->tokens.size() >= replay_full_->tokens.size()) {
        replay_timer_->stop();
        emit replayChanged();
        return;
    }
    replay_->tokens.push_back(replay_full_->tokens[replay_->tokens.size()]);
    ++replay_->n_gen;
    emit traceGrew(true);
    emit replayChanged();
    if (replay_->tokens.size() >= replay_full_->tokens.size()) replay_timer_->stop();
}

void InspectedReply::step_replay(int delta) {
    if (!replay_) return;
    replay_timer_->stop();
    if (delta > 0) {
        for (int i = 0; i < delta && replay_->tokens.size() < replay_full_->tokens.size(); ++i) {
            replay_->tokens.push_back(replay_full_->tokens[replay_->tokens.size()]);
            ++replay_->n_gen;
        }
        emit traceGrew(true);
    } else if (delta < 0) {
        // The views only ever grow a trace they follow: going back shows it afresh.
        const size_t keep = std::max(
            replay_prompt_, replay_->tokens.size() - std::min<size_t>(replay_->tokens.size(),
                                                                      static_cast<size_t>(-delta)));
        replay_->tokens.resize(keep);
        replay_->n_gen = static_cast<int>(keep - replay_prompt_);
        emit traceChanged(shown_, false);
    }
    emit replayChanged();
}

void InspectedReply::stop_replay() { end_replay(true); }

void InspectedReply::end_replay(bool restore) {
    if (!replay_) return;
    replay_timer_->stop();
    auto full = replay_full_;
    replay_.reset();
    replay_full_.reset();
    if (restore) {
        shown_ = full;
        emit traceChanged(shown_, false);
    }
    emit replayChanged();
}

bool InspectedReply::export_bundle(const QString& dir) {
    return export_shown(dir, [](const Trace& t, const std::string& d) { write_bundle(t, d); });
}

bool InspectedReply::export_html(const QString& path) {
    return export_shown(path, [](const Trace& t, const std::string& p) {
        write_file_atomically(p, trace_html(t));
    });
}

bool InspectedReply::export_shown(const QString& path,
                                  std::function<void(const Trace&, const std::string&)> write) {
    if (!shown_) return false;
    // A live or replayed trace keeps changing on this thread: export a copy of what is shown.
    std::shared_ptr<const Trace> t =
        live_ || replay_ ? std::make_shared<const Trace>(*shown_) : shown_;
    pool_.start([this, t, path, write = std::move(write)] {
        QString error;
        try {
            write(*t, path.toStdString());
        } catch (const std::exception& e) {
            error = error_text(e);
        }
        QMetaObject::invokeMethod(
            this, [this, path, error] { emit exported(path, error); }, Qt::QueuedConnection);
    });
    return true;
}

}  // namespace gb::app
