// HistorySidebar: widgets and the actions' shortcuts (F2 rename, Delete, Ctrl+Shift+P pin,
// Ctrl+F search).
#include "ui/history_sidebar.h"

#include <QAction>
#include <QGuiApplication>
#include <QHBoxLayout>
#include <QInputDialog>
#include <QItemSelectionModel>
#include <QLineEdit>
#include <QListView>
#include <QMessageBox>
#include <QPushButton>
#include <QVBoxLayout>
#include <algorithm>

namespace gb::ui {

using gb::app::ConversationListModel;

HistorySidebar::HistorySidebar(ConversationListModel* model, QWidget* parent)
    : QWidget(parent), model_(model) {
    auto* v = new QVBoxLayout(this);
    v->setContentsMargins(4, 4, 4, 4);
    search_ = new QLineEdit(this);
    search_->setPlaceholderText(tr("Search conversations (Ctrl+F)"));
    search_->setClearButtonEnabled(true);
    search_->setAccessibleName(tr("Search conversations"));
    v->addWidget(search_);
    list_ = new QListView(this);
    list_->setModel(model_);
    list_->setAccessibleName(tr("Conversations"));
    list_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    list_->setSelectionMode(QAbstractItemView::ExtendedSelection);
    v->addWidget(list_, 1);
    auto* row = new QHBoxLayout;
    auto button = [&](const QString& text, const QString& name, const QString& tip) {
        auto* b = new QPushButton(text, this);
        b->setAccessibleName(name);
        b->setToolTip(tip);
        row->addWidget(b);
        return b;
    };
    auto* add = button(tr("New"), tr("New conversation"), tr("New conversation (Ctrl+N)"));
    auto* ren = button(tr("Rename"), tr("Rename conversation"), tr("Rename (F2)"));
    auto* pin =
        button(tr("Pin"), tr("Pin or unpin conversation"), tr("Pin / unpin (Ctrl+Shift+P)"));
    auto* del = button(tr("Delete"), tr("Delete conversation"), tr("Delete (Del)"));
    v->addLayout(row);

    auto shortcut = [&](const QKeySequence& k, auto fn) {
        auto* a = new QAction(this);
        a->setShortcut(k);
        a->setShortcutContext(Qt::WidgetWithChildrenShortcut);
        connect(a, &QAction::triggered, this, fn);
        addAction(a);
    };
    shortcut(QKeySequence(Qt::Key_F2), [this] { rename_current(); });
    shortcut(QKeySequence::Delete, [this] { delete_current(); });

    connect(search_, &QLineEdit::textChanged, this, [this](const QString& t) {
        model_->set_filter(t);
        set_current(current_);
    });
    connect(list_, &QListView::clicked, this, [this](const QModelIndex& i) {
        // Ctrl/Shift+click only chooses (for the expert analytics); a plain click opens.
        if (QGuiApplication::keyboardModifiers() & (Qt::ControlModifier | Qt::ShiftModifier))
            return;
        current_ = model_->id_at(i.row());
        emit conversationActivated(current_);
    });
    connect(list_->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            &HistorySidebar::selectionChanged);
    connect(list_, &QListView::activated, this, [this](const QModelIndex& i) {
        current_ = model_->id_at(i.row());
        emit conversationActivated(current_);
    });
    connect(model_, &QAbstractItemModel::modelReset, this, [this] { set_current(current_); });
    connect(add, &QPushButton::clicked, this, &HistorySidebar::newRequested);
    connect(ren, &QPushButton::clicked, this, &HistorySidebar::rename_current);
    connect(del, &QPushButton::clicked, this, &HistorySidebar::delete_current);
    connect(pin, &QPushButton::clicked, this, &HistorySidebar::toggle_pin_current);
}

void HistorySidebar::set_current(qint64 id) {
    current_ = id;
    const int row = model_->row_of(id);
    if (row >= 0)
        list_->setCurrentIndex(model_->index(row));
    else
        list_->clearSelection();
}

qint64 HistorySidebar::current() const { return current_; }

std::vector<qint64> HistorySidebar::selected() const {
    QModelIndexList rows = list_->selectionModel()->selectedRows();
    std::sort(rows.begin(), rows.end(),
              [](const QModelIndex& a, const QModelIndex& b) { return a.row() < b.row(); });
    std::vector<qint64> out;
    for (const QModelIndex& i : rows) out.push_back(model_->id_at(i.row()));
    return out;
}

void HistorySidebar::rename_current() {
    const int row = model_->row_of(current_);
    if (row < 0) return;
    bool ok = false;
    const QString title =
        QInputDialog::getText(this, tr("Rename conversation"), tr("Title:"), QLineEdit::Normal,
                              model_->data(model_->index(row), Qt::DisplayRole).toString(), &ok);
    if (ok && !title.trimmed().isEmpty()) emit renameRequested(current_, title.trimmed());
}

void HistorySidebar::delete_current() {
    if (model_->row_of(current_) < 0) return;
    if (confirm_delete_ &&
        QMessageBox::question(this, tr("Delete conversation"),
                              tr("Delete this conversation and all its branches?")) !=
            QMessageBox::Yes)
        return;
    emit deleteRequested(current_);
}

void HistorySidebar::toggle_pin_current() {
    const int row = model_->row_of(current_);
    if (row < 0) return;
    emit pinRequested(
        current_, !model_->data(model_->index(row), ConversationListModel::PinnedRole).toBool());
}

}  // namespace gb::ui
