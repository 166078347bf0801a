// ReplyComparison: loading both sides and comparing them off the UI thread.
#include "app/reply_comparison.h"

#include "app/error_text.h"
#include "engine/trace/trace_file.h"
#include "kernels/error.h"

namespace gb::app {

ReplyComparison::ReplyComparison(ConversationStore& store, QObject* parent)
    : QObject(parent), store_(store) {
    pool_.setMaxThreadCount(1);
}

ReplyComparison::~ReplyComparison() { pool_.waitForDone(); }

void ReplyComparison::compare(const ReplySource& a, const ReplySource& b) {
    const quint64 gen = ++generation_;
    busy_ = true;
    ConversationStore* store = &store_;
    pool_.start([this, store, a, b, gen] {
        std::shared_ptr<const Trace> ta, tb;
        std::shared_ptr<const TraceComparison> c;
        QString error;
        auto load = [&](const ReplySource& s, const char* side) -> std::shared_ptr<const Trace> {
            if (s.trace) return s.trace;
            if (!s.file.isEmpty())
                return std::make_shared<const Trace>(read_trace_file(s.file.toStdString()));
            auto t = store->trace(s.message_id);
            if (!t)
                throw Error(std::string("reply ") + side +
                            " has no trace stored (a reply made before "
                            "traces were kept, or one that was cancelled before its first token)");
            return t;
        };
        try {
            ta = load(a, "A");
            tb = load(b, "B");
            c = std::make_shared<const TraceComparison>(compare_traces(*ta, *tb));
        } catch (const std::exception& e) {
            error = error_text(e);
        }
        QMetaObject::invokeMethod(
            this,
            [this, ta, tb, c, error, gen] {
                if (gen != generation_) return;  // a newer comparison was asked for
                busy_ = false;
                if (!error.isEmpty())
                    emit failed(error);
                else
                    emit compared(ta, tb, c);
            },
            Qt::QueuedConnection);
    });
}

}  // namespace gb::app
