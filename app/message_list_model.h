// MessageListModel: the messages of the branch on show, then the reply being streamed, for
// the chat view. Streaming updates the last row only (dataChanged), so views redraw one bubble.
#pragma once

#include <QAbstractListModel>

#include "app/chat_controller.h"

namespace gb::app {

class MessageListModel : public QAbstractListModel {
    Q_OBJECT
public:
    enum Roles {
        IdRole = Qt::UserRole + 1,  // 0 for the streaming row
        RoleRole,                   // "user", "assistant"
        ContentRole,                // user text or answer
        ReasoningRole,
        StreamingRole,
        ThoughtMsRole,
        ReasoningTokensRole,
        AnswerTokensRole,
        BranchIndexRole,  // 1-based position among siblings
        BranchCountRole,
        CompleteRole,
        StopReasonRole,
    };
    explicit MessageListModel(ChatController& controller, QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QHash<int, QByteArray> roleNames() const override;

private:
    void reset();
    void streaming_changed();

    ChatController& c_;
    bool has_streaming_row_ = false;
};

}  // namespace gb::app
