// InspectedReply: the reply the inspector, the routing view and the dashboard show, as one
// object: the live trace of the reply being streamed (growing from the controller's step
// records) or the stored trace of a reply picked from the history, which is loaded off the UI
// thread. The views only follow its signals; the main window only wires them.
#pragma once

#include <QObject>
#include <QThreadPool>
#include <functional>
#include <memory>

#include "app/chat_controller.h"
#include "engine/trace/trace.h"

class QTimer;

namespace gb::app {

class InspectedReply : public QObject {
    Q_OBJECT
public:
    explicit InspectedReply(ChatController& controller, QObject* parent = nullptr);
    ~InspectedReply() override;  // waits for a load in flight

    // What is shown now: the live trace, a stored one, or nullptr.
    std::shared_ptr<const Trace> trace() const { return shown_; }
    bool live() const { return live_ != nullptr; }
    // The stored reply shown (or being loaded); 0 when live or none.
    qint64 message_id() const { return message_id_; }
    bool loading() const { return loading_; }

    // Shows the stored trace of a reply: loaded on a pool thread, then traceChanged. A later
    // inspect() or a new reply wins over a load still in flight.
    void inspect(qint64 message_id);
    void clear();

    // Replay (teaching): the shown stored reply again from its prompt, one generated token at a
    // time at tokens_per_second; every view follows it as it follows a live reply (traceGrew,
    // or traceChanged on a step back). A live reply, another inspect() or clear() ends it.
    bool start_replay(double tokens_per_second);  // false: no stored reply shown
    void set_replay_speed(double tokens_per_second);
    void pause_replay();
    void resume_replay();
    void step_replay(int delta);  // +1 / -1 token; pauses
    void stop_replay();           // back to the whole reply
    bool replaying() const { return replay_ != nullptr; }
    bool replay_paused() const;
    int replay_position() const;  // generated tokens shown
    int replay_length() const;    // generated tokens of the reply
    // The whole stored reply being replayed (trace() is the part of it shown so far); nullptr
    // when no replay runs.
    std::shared_ptr<const Trace> replayed() const { return replay_full_; }

    // Writes the shown trace as a trace bundle (engine/trace/trace_bundle.h) into dir, on a pool
    // thread; exported follows (error empty on success). False when nothing is shown.
    bool export_bundle(const QString& dir);
    // The same for one self-contained HTML page of the reply (engine/trace/trace_html.h).
    bool export_html(const QString& path);

    // How often the views hear of a growing live trace: tokens at most every tokens_ms, the
    // routing (which the view counts over the whole reply) at most every routing_ms.
    void set_intervals(int tokens_ms, int routing_ms);

signals:
    // A different trace to show (nullptr: none). continues_live: the stored trace of the reply
    // that was just shown live (same reply: a selected token may stay selected).
    void traceChanged(std::shared_ptr<const gb::Trace> trace, bool continues_live);
    // The live trace has new tokens; routing_due when the routing should be counted again.
    void traceGrew(bool routing_due);
    void loadFailed(QString error);
    void exported(QString path, QString error);  // a bundle folder or an HTML page
    void replayChanged();  // started, stepped, paused, resumed, finished or stopped

private:
    void start_live();
    void follow();  // copies newly streamed step records into the live trace
    void follow_tokens(bool last);
    void finish_live(qint64 message_id);
    void load(qint64 message_id, bool continues_live);

    ChatController& c_;
    std::shared_ptr<Trace> live_;
    std::shared_ptr<const Trace> shown_;
    qint64 message_id_ = 0;
    bool loading_ = false;
    quint64 generation_ = 0;  // bumped by every change of what is shown; stale loads are dropped
    QTimer* timer_ = nullptr;
    int routing_ms_ = 1000;
    qint64 routing_at_ = 0;
    bool routing_stale_ = false;  // tokens arrived since the routing view last counted
    QThreadPool pool_;

    bool export_shown(const QString& path,
                      std::function<void(const Trace&, const std::string&)> write);
    void replay_tick();
    void end_replay(bool restore);
    std::shared_ptr<const Trace> replay_full_;  // the stored reply being replayed
    std::shared_ptr<Trace> replay_;             // what is shown of it
    size_t replay_prompt_ = 0;                  // its prompt tokens (shown from the start)
    QTimer* replay_timer_ = nullptr;
};

}  // namespace gb::app
