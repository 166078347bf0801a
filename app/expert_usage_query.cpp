// ExpertUsageQuery: summing the stored expert usage off the UI thread.
#include "app/expert_usage_query.h"

#include "app/error_text.h"

namespace gb::app {

ExpertUsageQuery::ExpertUsageQuery(ConversationStore& store, QObject* parent)
    : QObject(parent), store_(store) {
    pool_.setMaxThreadCount(1);
}

ExpertUsageQuery::~ExpertUsageQuery() { pool_.waitForDone(); }

void ExpertUsageQuery::sum(std::vector<int64_t> ids, std::string model) {
    const quint64 gen = ++generation_;
    ConversationStore* store = &store_;
    pool_.start([this, store, ids = std::move(ids), model = std::move(model), gen]() mutable {
        std::vector<ExpertUsage> rows;
        QString error;
        int replies = 0;
        try {
            if (!model.empty()) ids = store->replies_of_model(model);
            rows = store->expert_usage(ids);
            replies = static_cast<int>(ids.size());
        } catch (const std::exception& e) {
            error = error_text(e);
        }
        QMetaObject::invokeMethod(
            this,
            [this, rows = std::move(rows), error, replies, gen] {
                if (gen != generation_) return;
                if (!error.isEmpty())
                    emit failed(error);
                else
                    emit summed(replies, rows);
            },
            Qt::QueuedConnection);
    });
}

}  // namespace gb::app
