// MessageListModel: rows from the controller's path plus its streaming reply.
#include "app/message_list_model.h"

#include <algorithm>

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
        default: return {};
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
    return r;
}

}  // namespace gb::app
