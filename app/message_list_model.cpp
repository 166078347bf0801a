// MessageListModel: rows from the controller's path plus its streaming reply.
#include "app/message_list_model.h"

#include <algorithm>

#include "app/inspected_reply.h"

namespace gb::app {

MessageListModel::MessageListModel(ChatController& controller, QObject* parent)
    : QAbstractListModel(parent), c_(controller) {
    connect(&c_, &ChatController::pathChanged, this, &MessageListModel::reset);
    connect(&c_, &ChatController::streamingStarted, this, &MessageListModel::streaming_changed);
    connect(&c_, &ChatController::streamingUpdated, this, &MessageListModel::streaming_changed);
    reset();
}

void MessageListModel::reset() {
    beginResetModel();
    has_streaming_row_ = c_.streaming().active;
    endResetModel();
}

void MessageListModel::streaming_changed() {
    const int row = static_cast<int>(c_.path().size());
    if (!has_streaming_row_) {
        beginInsertRows({}, row, row);
        has_streaming_row_ = true;
        endInsertRows();
    } else {
        emit dataChanged(index(row), index(row));
    }
}

int MessageListModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(c_.path().size()) + (has_streaming_row_ ? 1 : 0);
}

QVariant MessageListModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= rowCount()) return {};
    const size_t row = static_cast<size_t>(index.row());
    if (row == c_.path().size()) {
        const StreamingReply& s = c_.streaming();
        switch (role) {
            case IdRole: return QVariant::fromValue<qint64>(0);
            case RoleRole: return QStringLiteral("assistant");
            case Qt::DisplayRole:
            // Trimmed as the stored reply will be, so finishing does not re-render the same text.
            case ContentRole: return QString::fromStdString(s.answer).trimmed();
            case ReasoningRole: return QString::fromStdString(s.reasoning).trimmed();
            case StreamingRole: return s.active;
            case ThoughtMsRole: return s.n_reasoning ? s.think_end_ms : 0.0;
            case ReasoningTokensRole: return s.n_reasoning;
            case AnswerTokensRole: return s.n_answer;
            case BranchIndexRole:
            case BranchCountRole: return 1;
            case CompleteRole: return false;
            case StopReasonRole: return QString();
            default: return {};
        }
    }
    const StoredMessage& m = c_.path()[row];
    if (replay_id_ && m.id == replay_id_) {
        switch (role) {
            case Qt::DisplayRole:
            case ContentRole: return QString::fromStdString(replay_.answer);
            case ReasoningRole: return QString::fromStdString(replay_.reasoning);
            case StreamingRole: return replay_growing_;
            case ReasoningTokensRole: return replay_.n_reasoning;
            case AnswerTokensRole: return replay_.n_answer;
            case CompleteRole: return replay_growing_ || m.complete;
            case ReplayRole: return true;
            default: break;  // the stored message's
        }
    }
    switch (role) {
        case IdRole: return QVariant::fromValue<qint64>(m.id);
        case RoleRole: return QString::fromStdString(m.role);
        case Qt::DisplayRole:
        case ContentRole: return QString::fromStdString(m.content);
        case ReasoningRole: return QString::fromStdString(m.reasoning);
        case StreamingRole: return false;
        case ThoughtMsRole: return m.thought_ms;
        case ReasoningTokensRole: return m.n_reasoning_tokens;
        case AnswerTokensRole: return m.n_answer_tokens;
        case BranchIndexRole: {
            const auto sib = c_.siblings(m.id);
            return static_cast<int>(std::find(sib.begin(), sib.end(), m.id) - sib.begin()) + 1;
        }
        case BranchCountRole: return static_cast<int>(c_.siblings(m.id).size());
        case CompleteRole: return m.complete;
        case StopReasonRole: return QString(stop_reason_name(m.stop_reason));
        case ReplayRole: return false;
        case PromptTokensRole: return m.n_prompt_tokens;
        case TtftMsRole: return m.ttft_ms;
        case DecodeTpsRole: return m.decode_tps;
        case PrecisionRole: return QString::fromStdString(m.precision);
        default: return {};
    }
}

void MessageListModel::follow_replay(const InspectedReply* reply) {
    if (replay_source_) disconnect(replay_source_, nullptr, this, nullptr);
    replay_source_ = reply;
    if (reply)
        connect(reply, &InspectedReply::replayChanged, this, &MessageListModel::replay_changed);
    replay_changed();
}

int MessageListModel::row_of(qint64 message_id) const {
    const auto& path = c_.path();
    for (size_t i = 0; i < path.size(); ++i)
        if (path[i].id == message_id) return static_cast<int>(i);
    return -1;
}

void MessageListModel::replay_changed() {
    const qint64 before = replay_id_;
    const bool on = replay_source_ && replay_source_->replayed();
    replay_id_ = on ? replay_source_->message_id() : 0;
    if (on) {
        const int at = replay_source_->replay_position();
        replay_ = reply_texts_at(*replay_source_->replayed(), static_cast<size_t>(at));
        replay_growing_ = at < replay_source_->replay_length();
    } else {
        replay_ = {};
        replay_growing_ = false;
    }
    for (qint64 id : {before, replay_id_}) {
        const int row = id ? row_of(id) : -1;
        if (row >= 0) emit dataChanged(index(row), index(row));
        if (id == replay_id_ && id == before) break;
    }
}

QHash<int, QByteArray> MessageListModel::roleNames() const {
    auto r = QAbstractListModel::roleNames();
    r[IdRole] = "id";
    r[RoleRole] = "role";
    r[ContentRole] = "content";
    r[ReasoningRole] = "reasoning";
    r[StreamingRole] = "streaming";
    r[ThoughtMsRole] = "thoughtMs";
    r[ReasoningTokensRole] = "reasoningTokens";
    r[AnswerTokensRole] = "answerTokens";
    r[BranchIndexRole] = "branchIndex";
    r[BranchCountRole] = "branchCount";
    r[CompleteRole] = "complete";
    r[StopReasonRole] = "stopReason";
    r[ReplayRole] = "replay";
    r[PromptTokensRole] = "promptTokens";
    r[TtftMsRole] = "ttftMs";
    r[DecodeTpsRole] = "decodeTps";
    r[PrecisionRole] = "precision";
    return r;
}

}  // namespace gb::app
