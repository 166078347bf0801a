// ConversationListModel: the history sidebar's list (pinned first, then recent), filtered by a
// search text through the store's search.
#pragma once

#include <QAbstractListModel>

#include "app/conversation_store.h"

namespace gb::app {

class ConversationListModel : public QAbstractListModel {
    Q_OBJECT
public:
    enum Roles { IdRole = Qt::UserRole + 1, PinnedRole, UpdatedRole };
    explicit ConversationListModel(ConversationStore& store, QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QHash<int, QByteArray> roleNames() const override;

    void set_filter(const QString& text);
    const QString& filter() const { return filter_; }
    int64_t id_at(int row) const;
    int row_of(int64_t id) const;

public slots:
    void refresh();

private:
    ConversationStore& store_;
    QString filter_;
    std::vector<ConversationSummary> rows_;
};

}  // namespace gb::app
