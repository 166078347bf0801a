// ConversationListModel: rows from the store, refreshed whenever conversations change.
#include "app/conversation_list_model.h"

#include <QDateTime>
#include <algorithm>

namespace gb::app {

ConversationListModel::ConversationListModel(ConversationStore& store, QObject* parent)
    : QAbstractListModel(parent), store_(store) {
    refresh();
}

int ConversationListModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

QVariant ConversationListModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= rowCount()) return {};
    const ConversationSummary& c = rows_[static_cast<size_t>(index.row())];
    switch (role) {
        case Qt::DisplayRole: return QString::fromStdString(c.title.empty() ? "Untitled" : c.title);
        case Qt::ToolTipRole:
            return QStringLiteral("%1\nupdated %2")
                .arg(QString::fromStdString(c.title),
                     QDateTime::fromMSecsSinceEpoch(c.updated_ms).toString());
        case IdRole: return QVariant::fromValue<qint64>(c.id);
        case PinnedRole: return c.pinned;
        case UpdatedRole: return QVariant::fromValue<qint64>(c.updated_ms);
        default: return {};
    }
}

QHash<int, QByteArray> ConversationListModel::roleNames() const {
    auto r = QAbstractListModel::roleNames();
    r[IdRole] = "id";
    r[PinnedRole] = "pinned";
    r[UpdatedRole] = "updated";
    return r;
}

void ConversationListModel::set_filter(const QString& text) {
    if (text == filter_) return;
    filter_ = text;
    refresh();
}

int64_t ConversationListModel::id_at(int row) const {
    return row >= 0 && row < rowCount() ? rows_[static_cast<size_t>(row)].id : 0;
}

int ConversationListModel::row_of(int64_t id) const {
    for (size_t i = 0; i < rows_.size(); ++i)
        if (rows_[i].id == id) return static_cast<int>(i);
    return -1;
}

void ConversationListModel::refresh() {
    beginResetModel();
    try {
        rows_ = store_.list();
        if (!filter_.trimmed().isEmpty()) {
            const std::vector<int64_t> hits = store_.search(filter_.toStdString());
            std::erase_if(rows_, [&](const ConversationSummary& c) {
                return std::find(hits.begin(), hits.end(), c.id) == hits.end();
            });
        }
    } catch (const std::exception&) {
        rows_.clear();
    }
    endResetModel();
}

}  // namespace gb::app
