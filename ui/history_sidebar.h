// HistorySidebar: search, list (pinned first) and the new / rename / delete / pin actions over a
// ConversationListModel. It forwards requests; the controller does them. A click opens a
// conversation; Ctrl+click and Shift+click choose several (without opening them), which the
// expert analytics can count together.
#pragma once

#include <QWidget>
#include <vector>

#include "app/conversation_list_model.h"

class QDateTime;
class QFontMetrics;
class QLineEdit;
class QListView;
class QPushButton;

namespace gb::ui {

// When a conversation was last active, as the list shows it: the time today ("14:05"),
// "Yesterday", the weekday within the last week, "3 Nov" this year, else "3 Nov 2025".
QString conversation_date(qint64 updated_ms, const QDateTime& now);
// A title cut to `width` pixels with an ellipsis.
QString elided_title(const QString& title, const QFontMetrics& fm, int width);

class HistorySidebar : public QWidget {
    Q_OBJECT
public:
    explicit HistorySidebar(gb::app::ConversationListModel* model, QWidget* parent = nullptr);
    void set_current(qint64 id);
    qint64 current() const;
    // The conversations selected in the list (the open one among them when it is selected),
    // in list order.
    std::vector<qint64> selected() const;
    void set_confirm_delete(bool on) { confirm_delete_ = on; }
    QLineEdit* search() const { return search_; }
    QListView* list() const { return list_; }

    void rename_current();
    void delete_current();
    void toggle_pin_current();

signals:
    void conversationActivated(qint64 id);
    void newRequested();
    void renameRequested(qint64 id, QString title);
    void deleteRequested(qint64 id);
    void pinRequested(qint64 id, bool pinned);
    void selectionChanged();

private:
    gb::app::ConversationListModel* model_;
    QLineEdit* search_ = nullptr;
    QListView* list_ = nullptr;
    bool confirm_delete_ = true;
    qint64 current_ = 0;
};

}  // namespace gb::ui
