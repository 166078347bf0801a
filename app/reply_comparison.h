// ReplyComparison: two replies, each a stored message or a trace file, loaded and compared
// (engine/trace/trace_compare.h) on a pool thread; the result comes back on the UI thread.
#pragma once

#include <QObject>
#include <QString>
#include <QThreadPool>
#include <memory>

#include "app/conversation_store.h"
#include "engine/trace/trace_compare.h"

namespace gb::app {

// Where one side of a comparison comes from: a stored reply (message_id > 0), a trace file, or a
// trace in memory.
struct ReplySource {
    qint64 message_id = 0;
    QString file;
    std::shared_ptr<const Trace> trace;  // a trace in memory (a rescoring), when set
    bool valid() const { return message_id > 0 || !file.isEmpty() || trace; }
};

class ReplyComparison : public QObject {
    Q_OBJECT
public:
    explicit ReplyComparison(ConversationStore& store, QObject* parent = nullptr);
    ~ReplyComparison() override;  // waits for a comparison in flight

    // Starts one; a later call wins over one still running (its result is dropped).
    void compare(const ReplySource& a, const ReplySource& b);
    bool busy() const { return busy_; }

signals:
    void compared(std::shared_ptr<const gb::Trace> a, std::shared_ptr<const gb::Trace> b,
                  std::shared_ptr<const gb::TraceComparison> comparison);
    void failed(QString error);

private:
    ConversationStore& store_;
    QThreadPool pool_;
    quint64 generation_ = 0;
    bool busy_ = false;
};

}  // namespace gb::app
