// MessageListModel: the messages of the branch on show, then the reply being streamed, for
// the chat view. Streaming updates the last row only (dataChanged), so views redraw one bubble.
// A replay (teaching mode) shows its stored reply growing in that reply's own row, as the
// stream showed it (gb::reply_texts_at), until the replay ends.
#pragma once

#include <QAbstractListModel>

#include "app/chat_controller.h"
#include "engine/trace/reasoning_parser.h"

namespace gb::app {

class InspectedReply;

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
        ReplayRole,  // true while a replay shows this reply
        // A finished reply's speed for its footer (0: unknown).
        PromptTokensRole,
        TtftMsRole,     // time to first token
        DecodeTpsRole,  // generated tokens per second
        PrecisionRole,  // how a local reply was computed: "fast", "precise", "" (not known)
    };
    explicit MessageListModel(ChatController& controller, QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QHash<int, QByteArray> roleNames() const override;

    // Follows the replays of `reply` (null: none): the replayed reply's row shows the replayed
    // part of it.
    void follow_replay(const InspectedReply* reply);

private:
    void replay_changed();
    int row_of(qint64 message_id) const;  // -1: not on the branch shown

    void reset();
    void streaming_changed();

    ChatController& c_;
    bool has_streaming_row_ = false;
    const InspectedReply* replay_source_ = nullptr;
    qint64 replay_id_ = 0;  // the stored reply being replayed; 0: none
    bool replay_growing_ = false;
    ReplyTexts replay_;
};

}  // namespace gb::app
