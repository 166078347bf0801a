// ExpertUsageQuery: summing the stored expert usage off the UI thread.
#include "app/expert_usage_query.h"

#include <algorithm>

#include "app/error_text.h"

namespace gb::app {

ExpertUsageQuery::ExpertUsageQuery(ConversationStore& store, QObject* parent)
    : QObject(parent), store_(store) {
    pool_.setMaxThreadCount(1);
}

ExpertUsageQuery::~ExpertUsageQuery() { pool_.waitForDone(); }

void ExpertUsageQuery::sum(std::vector<int64_t> ids, std::string model) {
    run([ids = std::move(ids), model = std::move(model)](ConversationStore& store) {
        return model.empty() ? ids : store.replies_of_model(model);
    });
}

void ExpertUsageQuery::sum_conversations(std::vector<int64_t> conversation_ids) {
    run([conversation_ids = std::move(conversation_ids)](ConversationStore& store) {
        std::vector<int64_t> ids;
        for (int64_t c : conversation_ids)
            for (const StoredMessage& m : store.messages(c))
                if (m.role == "assistant") ids.push_back(m.id);
        return ids;
    });
}

void ExpertUsageQuery::run(std::function<std::vector<int64_t>(ConversationStore&)> replies) {
    const quint64 gen = ++generation_;
    ConversationStore* store = &store_;
    pool_.start([this, store, replies = std::move(replies), gen] {
        std::vector<ExpertUsage> rows;
        std::shared_ptr<const MoeAnalytics> full;
        QString error;
        int replies_summed = 0;
        try {
            const std::vector<int64_t> ids = replies(*store);
            rows = store->expert_usage(ids);
            replies_summed = static_cast<int>(ids.size());
            // The generated tokens of every reply as one trace: the same analytics as for one
            // reply (co-activation, vocabulary, paths), which the usage table cannot give.
            Trace merged;
            bool whole = true;
            for (int64_t id : ids) {
                const auto t = store->trace(id);
                if (!t) {
                    whole = false;
                    break;
                }
                merged.n_expert = std::max(merged.n_expert, t->n_expert);
                merged.n_expert_used = std::max(merged.n_expert_used, t->n_expert_used);
                for (const TokenRecord& r : t->tokens)
                    if (r.phase != Phase::Prompt && !r.routing.empty()) merged.tokens.push_back(r);
                if (merged.tokens.size() > kMaxMergedTokens) {
                    whole = false;
                    break;
                }
            }
            if (whole && !merged.tokens.empty())
                full = std::make_shared<const MoeAnalytics>(analyze_moe(merged));
        } catch (const std::exception& e) {
            error = error_text(e);
        }
        QMetaObject::invokeMethod(
            this,
            [this, rows = std::move(rows), full, error, replies = replies_summed, gen] {
                if (gen != generation_) return;
                if (!error.isEmpty())
                    emit failed(error);
                else
                    emit summed(replies, rows, full);
            },
            Qt::QueuedConnection);
    });
}

}  // namespace gb::app
