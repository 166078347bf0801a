// ExpertUsageQuery: the expert-usage table summed over a set of stored replies (a whole
// conversation, the conversations chosen in the history, or every reply of a model), read on a pool
// thread so the history database never blocks the UI; the expert analytics view shows the
// aggregate.
#pragma once

#include <QObject>
#include <QThreadPool>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "app/conversation_store.h"
#include "engine/trace/trace_analysis.h"

namespace gb::app {

class ExpertUsageQuery : public QObject {
    Q_OBJECT
public:
    explicit ExpertUsageQuery(ConversationStore& store, QObject* parent = nullptr);
    ~ExpertUsageQuery() override;  // waits for a query in flight

    // The replies given, or (model non-empty) every stored reply of that model. A later call
    // wins over one in flight.
    void sum(std::vector<int64_t> message_ids, std::string model = {});
    // Every stored reply (every branch) of those conversations.
    void sum_conversations(std::vector<int64_t> conversation_ids);

    // Above this many generated tokens in all, the replies' traces are not merged (loads only).
    static constexpr size_t kMaxMergedTokens = 400000;

signals:
    // rows: the expert-usage table summed. full: the analytics of all their generated tokens
    // together (co-activation, vocabulary, paths too), from their traces; null when a reply
    // has no trace stored or they are too many tokens.
    void summed(int replies, std::vector<gb::app::ExpertUsage> rows,
                std::shared_ptr<const gb::MoeAnalytics> full);
    void failed(QString error);

private:
    // Runs on the pool: which replies, then their sum.
    void run(std::function<std::vector<int64_t>(ConversationStore&)> replies);
    ConversationStore& store_;
    QThreadPool pool_;
    quint64 generation_ = 0;
};

}  // namespace gb::app
