// InspectedReply: live trace from the step records, stored traces loaded on a pool thread.
#include "app/inspected_reply.h"

#include <QDateTime>
#include <QTimer>

#include "app/error_text.h"
#include "engine/trace/trace_bundle.h"

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

bool InspectedReply::export_bundle(const QString& dir) {
    if (!shown_) return false;
    // A live trace keeps growing on this thread: export a copy of what is shown now.
    std::shared_ptr<const Trace> t = live_ ? std::make_shared<const Trace>(*live_) : shown_;
    pool_.start([this, t, dir] {
        QString error;
        try {
            write_bundle(*t, dir.toStdString());
        } catch (const std::exception& e) {
            error = error_text(e);
        }
        QMetaObject::invokeMethod(
            this, [this, dir, error] { emit bundleExported(dir, error); }, Qt::QueuedConnection);
    });
    return true;
}

}  // namespace gb::app
