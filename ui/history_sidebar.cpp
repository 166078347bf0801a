// HistorySidebar: widgets and the actions' shortcuts (F2 rename, Delete, Ctrl+Shift+P pin,
// Ctrl+F search).
#include "ui/history_sidebar.h"

#include <QAction>
#include <QApplication>
#include <QDateTime>
#include <QGuiApplication>
#include <QHBoxLayout>
#include <QInputDialog>
#include <QItemSelectionModel>
#include <QLineEdit>
#include <QListView>
#include <QLocale>
#include <QMessageBox>
#include <QPainter>
#include <QPushButton>
#include <QStyledItemDelegate>
#include <QTimeZone>
#include <QVBoxLayout>
#include <algorithm>

#include "ui/icons.h"

namespace gb::ui {

using gb::app::ConversationListModel;

QString conversation_date(qint64 updated_ms, const QDateTime& now) {
    if (updated_ms <= 0) return {};
    const QDateTime t = QDateTime::fromMSecsSinceEpoch(updated_ms, now.timeZone());
    const qint64 days = t.date().daysTo(now.date());
    const QLocale locale;
    if (days == 0) {
        QString format = locale.timeFormat(QLocale::ShortFormat);
        format.remove(QStringLiteral(":ss"));  // some locales' short format has seconds
        return locale.toString(t.time(), format);
    }
    if (days == 1) return QObject::tr("Yesterday");
    if (days > 1 && days < 7) return locale.dayName(t.date().dayOfWeek(), QLocale::LongFormat);
    if (t.date().year() == now.date().year()) return t.date().toString("d MMM");
    return t.date().toString("d MMM yyyy");
}

QString elided_title(const QString& title, const QFontMetrics& fm, int width) {
    return fm.elidedText(title, Qt::ElideRight, std::max(0, width));
}

namespace {
// Two lines per conversation: the title (cut with an ellipsis, a pin before a pinned one) and,
// muted, when it was last active.
class ConversationDelegate final : public QStyledItemDelegate {
public:
    using QStyledItemDelegate::QStyledItemDelegate;
    QSize sizeHint(const QStyleOptionViewItem& opt, const QModelIndex&) const override {
        const QFontMetrics fm(opt.font);
        return {100, fm.height() * 2 + 12};
    }
    void paint(QPainter* p, const QStyleOptionViewItem& option,
               const QModelIndex& index) const override {
        QStyleOptionViewItem opt = option;
        initStyleOption(&opt, index);
        opt.text.clear();
        opt.icon = {};
        const QWidget* w = option.widget;
        QStyle* style = w ? w->style() : QApplication::style();
        style->drawPrimitive(QStyle::PE_PanelItemViewItem, &opt, p, w);
        const bool selected = option.state & QStyle::State_Selected;
        const QPalette& pal = option.palette;
        const QRect r = option.rect.adjusted(8, 4, -8, -4);
        QString title = index.data(Qt::DisplayRole).toString();
        if (index.data(ConversationListModel::PinnedRole).toBool())
            title = QStringLiteral("📌 ") + title;
        QFont bold = option.font;
        bold.setWeight(QFont::DemiBold);
        p->save();
        p->setFont(bold);
        p->setPen(pal.color(selected ? QPalette::HighlightedText : QPalette::Text));
        const QFontMetrics fm(bold);
        p->drawText(QRect(r.left(), r.top(), r.width(), fm.height()),
                    Qt::AlignLeft | Qt::AlignVCenter, elided_title(title, fm, r.width()));
        QFont small = option.font;
        small.setPointSizeF(std::max(7.0, small.pointSizeF() * 0.88));
        p->setFont(small);
        QColor muted = pal.color(selected ? QPalette::HighlightedText : QPalette::PlaceholderText);
        p->setPen(muted);
        const qint64 updated = index.data(ConversationListModel::UpdatedRole).toLongLong();
        p->drawText(
            QRect(r.left(), r.top() + fm.height() + 2, r.width(), QFontMetrics(small).height()),
            Qt::AlignLeft | Qt::AlignVCenter,
            conversation_date(updated, QDateTime::currentDateTime()));
        p->restore();
    }
};
}  // namespace

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
    list_->setObjectName("conversationList");
    list_->setItemDelegate(new ConversationDelegate(list_));
    list_->setUniformItemSizes(true);
    v->addWidget(list_, 1);
    auto* row = new QHBoxLayout;
    // Icon-only (the words were cut off in a narrow list); the tooltip and accessible name say
    // what each does, and the text stays where there is no icon to show.
    auto button = [&](const QString& icon, const QString& text, const QString& name,
                      const QString& tip) {
        auto* b = new QPushButton(text, this);
        b->setObjectName("sidebarButton");
        b->setAccessibleName(name);
        b->setToolTip(tip);
        if (set_action_icon(b, icon)) b->setText({});
        row->addWidget(b);
        return b;
    };
    auto* add =
        button("new-chat", tr("New"), tr("New conversation"), tr("New conversation (Ctrl+N)"));
    auto* ren = button("rename", tr("Rename"), tr("Rename conversation"), tr("Rename (F2)"));
    auto* pin =
        button("pin", tr("Pin"), tr("Pin or unpin conversation"), tr("Pin / unpin (Ctrl+Shift+P)"));
    auto* del = button("delete", tr("Delete"), tr("Delete conversation"), tr("Delete (Del)"));
    v->addLayout(row);

    auto shortcut = [&](const QKeySequence& k, auto fn) {
        auto* a = new QAction(this);
        a->setShortcut(k);
        a->setShortcutContext(Qt::WidgetWithChildrenShortcut);
        connect(a, &QAction::triggered, this, fn);
        addAction(a);
    };
    // F2 (rename) is the main window's: one action per key, or Qt calls the key ambiguous and
    // runs neither.
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
