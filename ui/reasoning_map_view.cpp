// ReasoningMapView: layout, and turning gb::map_reasoning's numbers into the views.
#include "ui/reasoning_map_view.h"

#include <QAction>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QProgressBar>
#include <QPushButton>
#include <QShowEvent>
#include <QSplitter>
#include <QStackedWidget>
#include <QTableWidget>
#include <QVBoxLayout>
#include <cmath>

#include "ui/chart_export.h"
#include "ui/placeholder_stack.h"
#include "ui/sparkline_widget.h"
#include "ui/token_flow_view.h"

namespace gb::ui {

namespace {

QString nats(double v) { return std::isfinite(v) ? QString::number(v, 'f', 3) : QString("–"); }

// One line of a step's text for the table: newlines shown as ⏎, cut at `max` characters.
QString one_line(const std::string& bytes, int max = 90) {
    QString s = QString::fromUtf8(bytes.data(), static_cast<qsizetype>(bytes.size())).trimmed();
    s.replace('\n', QStringLiteral(" ⏎ "));
    s.replace('\t', ' ');
    if (s.size() > max) s = s.left(max - 1) + QStringLiteral("…");
    return s;
}

}  // namespace

ReasoningMapView::ReasoningMapView(QWidget* parent) : QWidget(parent) {
    auto* v = new QVBoxLayout(this);
    const PlaceholderStack ps = make_placeholder_stack(this, v, tr("Reasoning map"));
    stack_ = ps.stack;
    placeholder_ = ps.placeholder;
    placeholder_->setText(tr("No reply selected: press Inspect under a reply."));
    auto* page = page_ = ps.page;
    auto* pv = ps.page_layout;
    summary_ = ps.summary;
    // The actions in a row of their own above the summary, which then has the panel's width
    // (beside them it was squeezed into a column a word wide).
    auto* head = new QHBoxLayout;
    head->addStretch();
    auto* export_button = new QPushButton(tr("Export bundle…"), page);
    export_button->setToolTip(
        tr("Write this reply's tokens, expert usage, steps and analysis as "
           "files for pandas (tokens.jsonl, expert_usage.csv, steps.csv, "
           "analysis.json)"));
    export_button->setAccessibleName(tr("Export the reply as a trace bundle"));
    head->addWidget(export_button);
    auto* html_button = new QPushButton(tr("Export HTML…"), page);
    html_button->setToolTip(
        tr("The reply with its trace as one web page that opens offline: "
           "tokens coloured by probability, the reasoning map, the experts"));
    html_button->setAccessibleName(tr("Export the reply as a web page"));
    head->addWidget(html_button);
    connect(html_button, &QPushButton::clicked, this, &ReasoningMapView::exportHtmlRequested);
    auto* compare_button = new QPushButton(tr("Compare with…"), page);
    compare_button->setToolTip(
        tr("This reply against another one: aligned tokens, probability "
           "differences, expert loads (Ctrl+D)"));
    compare_button->setAccessibleName(tr("Compare this reply with another"));
    head->addWidget(compare_button);
    connect(compare_button, &QPushButton::clicked, this, &ReasoningMapView::compareRequested);
    pv->addLayout(head);
    pv->addWidget(summary_);
    connect(export_button, &QPushButton::clicked, this, &ReasoningMapView::exportBundleRequested);
    meter_ = new QProgressBar(page);
    meter_->setTextVisible(true);
    meter_->setAccessibleName(tr("Reasoning against answer tokens"));
    meter_->setMaximumHeight(20);
    pv->addWidget(meter_);
    loop_ = new QLabel(page);
    loop_->setWordWrap(true);
    loop_->setObjectName("alert");  // the theme's error colours
    loop_->setAccessibleName(tr("Loop alarm"));
    loop_->hide();
    pv->addWidget(loop_);

    auto* split = new QSplitter(Qt::Vertical, page);
    auto* top = new QWidget(split);
    auto* tv = new QVBoxLayout(top);
    tv->setContentsMargins(0, 0, 0, 0);
    spark_ = new SparklineWidget(top);
    spark_->setAccessibleName(
        tr("Entropy and chosen-token probability over the reply; click a point to inspect it"));
    tv->addWidget(spark_, 1);
    add_export_menu(spark_, tr("reasoning-map"));
    token_ =
        new QLabel(tr("Click the sparkline, a step or a fork token to see that token here."), top);
    token_->setWordWrap(true);
    token_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    token_->setAccessibleName(tr("Selected token"));
    tv->addWidget(token_);
    auto* legend = new QLabel(
        tr("<span style='color:#3264c8'>━</span> entropy (nats, left) &nbsp; "
           "<span style='color:#3c965a'>━</span> chosen-token probability (right) &nbsp; "
           "<span style='color:#c83c3c'>●</span> fork token &nbsp; "
           "<span style='color:#c83c3c'>╌</span> fork threshold &nbsp; ┆ step start &nbsp; "
           "<span style='background:#f5d9c3'>&nbsp;&nbsp;</span> least confident window &nbsp; "
           "tinted: the answer"),
        top);
    legend->setWordWrap(true);
    tv->addWidget(legend);

    auto* lists = new QSplitter(Qt::Horizontal, split);
    steps_ = new QTableWidget(lists);
    steps_->setColumnCount(6);
    steps_->setHorizontalHeaderLabels(
        {tr("#"), tr("Opened by"), tr("Tokens"), tr("Time"), tr("Mean entropy"), tr("Text")});
    steps_->verticalHeader()->hide();
    steps_->horizontalHeader()->setStretchLastSection(true);
    steps_->setSelectionBehavior(QAbstractItemView::SelectRows);
    steps_->setSelectionMode(QAbstractItemView::SingleSelection);
    steps_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    steps_->setAccessibleName(tr("Reasoning steps; choose one to inspect its first token"));
    forks_ = new QListWidget(lists);
    forks_->setAccessibleName(tr("Fork tokens, highest entropy first; choose one to inspect it"));
    auto* marks = new QWidget(lists);
    auto* mv = new QVBoxLayout(marks);
    mv->setContentsMargins(0, 0, 0, 0);
    bookmark_button_ = new QPushButton(tr("Bookmark token…"), marks);
    bookmark_button_->setToolTip(
        tr("Keep the selected token with a note, in the history (Ctrl+B)"));
    bookmark_button_->setAccessibleName(tr("Bookmark the selected token"));
    bookmark_button_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_B));
    mv->addWidget(bookmark_button_);
    bookmarks_ = new QListWidget(marks);
    bookmarks_->setAccessibleName(
        tr("Bookmarks with notes; choose one to inspect its token, double-click to edit the "
           "note, Delete removes it"));
    mv->addWidget(bookmarks_, 1);
    lists->addWidget(steps_);
    lists->addWidget(forks_);
    lists->addWidget(marks);
    connect(bookmark_button_, &QPushButton::clicked, this, &ReasoningMapView::bookmark_selected);
    connect(bookmarks_, &QListWidget::currentRowChanged, this, [this](int row) {
        if (row < 0) return;
        const int index = bookmarks_->item(row)->data(Qt::UserRole + 1).toInt();
        select_token(index);
        emit tokenActivated(index);
    });
    connect(bookmarks_, &QListWidget::itemDoubleClicked, this, [this](QListWidgetItem* item) {
        bool ok = false;
        const QString note =
            QInputDialog::getText(this, tr("Bookmark note"), tr("Note:"), QLineEdit::Normal,
                                  item->data(Qt::UserRole + 2).toString(), &ok);
        if (ok) emit bookmarkNoteEdited(item->data(Qt::UserRole).toLongLong(), note);
    });
    auto* remove = new QAction(tr("Remove bookmark"), bookmarks_);
    remove->setShortcut(QKeySequence::Delete);
    remove->setShortcutContext(Qt::WidgetShortcut);
    bookmarks_->addAction(remove);
    bookmarks_->setContextMenuPolicy(Qt::ActionsContextMenu);
    connect(remove, &QAction::triggered, this, [this] {
        if (QListWidgetItem* item = bookmarks_->currentItem())
            emit bookmarkRemoved(item->data(Qt::UserRole).toLongLong());
    });
    lists->setStretchFactor(0, 3);
    lists->setStretchFactor(1, 2);
    split->addWidget(top);
    split->addWidget(lists);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 1);
    pv->addWidget(split, 1);

    connect(spark_, &SparklineWidget::pointClicked, this, [this](int x) {
        const int index = token_of_point(x);
        if (index < 0) return;
        selected_ = index;
        show_token(index);
        emit tokenActivated(index);
    });
    connect(steps_, &QTableWidget::cellClicked, this, [this](int row, int) {
        if (row < 0 || row >= static_cast<int>(map_.steps.size())) return;
        const int index = map_.steps[static_cast<size_t>(row)].first;
        select_token(index);
        emit tokenActivated(index);
    });
    connect(forks_, &QListWidget::currentRowChanged, this, [this](int row) {
        if (row < 0) return;
        const int index = forks_->item(row)->data(Qt::UserRole).toInt();
        select_token(index);
        emit tokenActivated(index);
    });
    spark_->set_tooltip([this](int x) {
        const int index = token_of_point(x);
        if (!trace_ || index < 0) return QString();
        const TokenRecord& r = trace_->tokens[static_cast<size_t>(index)];
        QString tip = tr("Token %1 “%2” (%3)<br>entropy %4 nats, probability %5")
                          .arg(index)
                          .arg(token_line(r.text).toHtmlEscaped())
                          .arg(phase_name(r.phase))
                          .arg(nats(r.entropy))
                          .arg(std::isfinite(r.logprob)
                                   ? QString::number(100 * std::exp(r.logprob), 'f', 1) + "%"
                                   : QString("–"));
        if (std::isfinite(map_.fork_threshold) && r.phase == Phase::Think &&
            std::isfinite(r.entropy) && r.entropy >= map_.fork_threshold)
            tip += tr("<br><b>fork token</b>");
        return tip;
    });
}

// The map is counted again only while it is shown: a hidden tab costs the UI thread nothing
// while a long reply streams, and catches up when it is opened.
void ReasoningMapView::set_trace(std::shared_ptr<const Trace> trace) {
    trace_ = std::move(trace);
    selected_ = -1;
    spark_->set_selected(-1);
    token_->setText(tr("Click the sparkline, a step or a fork token to see that token here."));
    dirty_ = true;
    if (isVisible()) rebuild();
}

void ReasoningMapView::trace_grew() {
    dirty_ = true;
    if (isVisible()) rebuild();
}

void ReasoningMapView::showEvent(QShowEvent* e) {
    QWidget::showEvent(e);
    if (dirty_) rebuild();
}

bool ReasoningMapView::showing_placeholder() const {
    return stack_->currentWidget() == placeholder_;
}
QString ReasoningMapView::summary_text() const { return summary_->text(); }
QString ReasoningMapView::loop_text() const {
    return loop_->isHidden() ? QString() : loop_->text();
}
QString ReasoningMapView::meter_text() const { return meter_->text(); }

int ReasoningMapView::token_of_point(int x) const {
    return x >= 0 && x < static_cast<int>(points_.size()) ? points_[static_cast<size_t>(x)] : -1;
}
int ReasoningMapView::point_of_token(int index) const {
    return index >= 0 && index < static_cast<int>(point_of_.size())
               ? point_of_[static_cast<size_t>(index)]
               : -1;
}

QString ReasoningMapView::token_text() const { return token_->text(); }

void ReasoningMapView::bookmark_selected() {
    if (selected_ < 0 || !bookmark_button_->isEnabled()) return;
    bool ok = false;
    const QString note = QInputDialog::getText(this, tr("Bookmark token %1").arg(selected_),
                                               tr("Note (what to say about this token):"),
                                               QLineEdit::Normal, QString(), &ok);
    if (ok) emit bookmarkRequested(selected_, note);
}

void ReasoningMapView::set_bookmarks(const std::vector<gb::app::Bookmark>& marks, bool enabled) {
    bookmark_button_->setEnabled(enabled);
    bookmark_button_->setToolTip(
        enabled ? tr("Keep the selected token with a note, in the history (Ctrl+B)")
                : tr("Bookmarks need a stored reply: wait for the reply to "
                     "finish, or inspect one from the history"));
    const QSignalBlocker block(bookmarks_);
    bookmarks_->clear();
    for (const gb::app::Bookmark& b : marks) {
        QString label = tr("token %1").arg(b.token);
        if (trace_ && b.token < static_cast<int>(trace_->tokens.size()))
            label += QStringLiteral(" “%1”").arg(
                token_line(trace_->tokens[static_cast<size_t>(b.token)].text));
        if (!b.note.empty()) label += QStringLiteral(": ") + QString::fromStdString(b.note);
        auto* item = new QListWidgetItem(label, bookmarks_);
        item->setData(Qt::UserRole, QVariant::fromValue<qlonglong>(b.id));
        item->setData(Qt::UserRole + 1, b.token);
        item->setData(Qt::UserRole + 2, QString::fromStdString(b.note));
        item->setToolTip(QString::fromStdString(b.note));
    }
}

void ReasoningMapView::select_token(int index) {
    selected_ = index;
    if (dirty_) return;  // rebuild() shows it
    spark_->set_selected(point_of_token(index));
    show_token(index);
}

void ReasoningMapView::show_token(int index) {
    if (!trace_ || index < 0 || index >= static_cast<int>(trace_->tokens.size())) return;
    const TokenRecord& r = trace_->tokens[static_cast<size_t>(index)];
    auto pct = [](float lp) {
        return std::isfinite(lp) ? QString::number(100 * std::exp(lp), 'f', 1) + "%" : QString("–");
    };
    QString s = tr("<b>Token %1</b> “%2” (%3): entropy %4 nats, probability %5")
                    .arg(index)
                    .arg(token_line(r.text).toHtmlEscaped())
                    .arg(phase_name(r.phase))
                    .arg(nats(r.entropy))
                    .arg(pct(r.logprob));
    if (r.phase == Phase::Think && std::isfinite(r.entropy) && r.entropy >= map_.fork_threshold)
        s += tr(" · <b>fork token</b>");
    if (!r.top.empty()) {
        QStringList alts;
        for (size_t j = 0; j < r.top.size() && j < 5; ++j)
            alts << QStringLiteral("“%1” %2").arg(token_line(r.top[j].text).toHtmlEscaped(),
                                                  pct(r.top[j].logprob));
        s += tr("<br>alternatives: %1").arg(alts.join(QStringLiteral(", ")));
    }
    token_->setText(s);
}

void ReasoningMapView::rebuild() {
    dirty_ = false;
    points_.clear();
    point_of_.clear();
    if (!trace_) {
        map_ = {};
        placeholder_->setText(tr("No reply selected: press Inspect under a reply."));
        stack_->setCurrentWidget(placeholder_);
        return;
    }
    const Trace& t = *trace_;
    map_ = map_reasoning(t);
    point_of_.assign(t.tokens.size(), -1);
    std::vector<double> entropy, prob;
    int split = -1;
    for (size_t i = 0; i < t.tokens.size(); ++i) {
        const TokenRecord& r = t.tokens[i];
        if (r.phase == Phase::Prompt) continue;
        if (r.phase == Phase::Answer && split < 0 && map_.n_reasoning > 0)
            split = static_cast<int>(points_.size());
        point_of_[i] = static_cast<int>(points_.size());
        points_.push_back(static_cast<int>(i));
        entropy.push_back(std::isfinite(r.entropy) ? r.entropy : std::nan(""));
        prob.push_back(std::isfinite(r.logprob) ? std::exp(static_cast<double>(r.logprob))
                                                : std::nan(""));
    }
    if (points_.empty()) {
        placeholder_->setText(tr("This reply has no generated tokens yet."));
        stack_->setCurrentWidget(placeholder_);
        return;
    }
    stack_->setCurrentWidget(page_);

    spark_->set_series(std::move(entropy), std::move(prob));
    spark_->set_threshold(map_.fork_threshold);
    std::vector<int> marks, rules;
    for (const ForkToken& f : map_.forks) marks.push_back(point_of_token(f.token));
    for (size_t s = 1; s < map_.steps.size(); ++s)
        rules.push_back(point_of_token(map_.steps[s].first));
    spark_->set_marks(std::move(marks));
    spark_->set_rules(std::move(rules));
    const Confidence& c = map_.confidence;
    spark_->set_band(point_of_token(c.lowest.start), point_of_token(c.lowest.end));
    spark_->set_split(split);

    // Summary.
    QString s;
    if (map_.n_reasoning == 0) {
        s = tr("This reply has no reasoning: the sparkline shows the answer's entropy.");
    } else {
        s = tr("<b>%1</b> in %2 reasoning tokens · <b>%3 fork tokens</b> (entropy ≥ %4 "
               "nats, the reply's 80th percentile of reasoning entropy; mean %5)")
                .arg(map_.steps.size() == 1 ? tr("1 step") : tr("%1 steps").arg(map_.steps.size()))
                .arg(map_.n_reasoning)
                .arg(map_.forks.size())
                .arg(nats(map_.fork_threshold))
                .arg(nats(map_.entropy_mean));
        if (!t.reasoning_complete) s += tr(" · <i>the reply ended inside its reasoning</i>");
    }
    if (!c.tokens.empty())
        s += tr("<br>Confidence (DeepConf, top-%1 alternatives): mean %2, least confident "
                "%3-token window %4 at tokens %5–%6, tail %7")
                 .arg(kConfidenceTopN)
                 .arg(nats(c.mean))
                 .arg(kConfidenceWindow)
                 .arg(nats(c.lowest.value))
                 .arg(c.lowest.start)
                 .arg(c.lowest.end)
                 .arg(nats(c.tail));
    else
        s += tr("<br>Confidence: no token has recorded alternatives.");
    summary_->setText(s);

    const int total = map_.n_reasoning + map_.n_answer;
    meter_->setRange(0, std::max(1, total));
    meter_->setValue(map_.n_reasoning);
    meter_->setFormat(total ? tr("reasoning %1 tokens (%2%) · answer %3 tokens")
                                  .arg(map_.n_reasoning)
                                  .arg(std::lround(100.0 * map_.n_reasoning / total))
                                  .arg(map_.n_answer)
                            : tr("no tokens"));

    const LoopAlarm& l = map_.loop;
    if (l.found) {
        loop_->setText(tr("Loop: a %1-token sequence repeats %2 times (from tokens %3, %4 and %5): "
                          "“%6”")
                           .arg(kLoopN)
                           .arg(l.count)
                           .arg(l.occurrences[0])
                           .arg(l.occurrences[1])
                           .arg(l.occurrences[2])
                           .arg(one_line(l.text, 80).toHtmlEscaped()));
        loop_->show();
    } else {
        loop_->hide();
    }

    steps_->setRowCount(static_cast<int>(map_.steps.size()));
    for (size_t i = 0; i < map_.steps.size(); ++i) {
        const ReasoningStep& st = map_.steps[i];
        const int row = static_cast<int>(i);
        const QString by = st.start == StepStart::Marker
                               ? QStringLiteral("“%1”").arg(QString::fromStdString(st.marker))
                           : st.start == StepStart::BlankLine ? tr("blank line")
                                                              : tr("start");
        const QString cells[] = {QString::number(i + 1),    by,
                                 QString::number(st.count), tr("%1 ms").arg(st.t_ms, 0, 'f', 0),
                                 nats(st.entropy_mean),     one_line(st.text)};
        for (int col = 0; col < 6; ++col) {
            auto* item = new QTableWidgetItem(cells[col]);
            if (col == 5)
                item->setToolTip(
                    QString::fromUtf8(st.text.data(), static_cast<qsizetype>(st.text.size()))
                        .toHtmlEscaped());
            steps_->setItem(row, col, item);
        }
    }
    steps_->resizeColumnsToContents();

    const QSignalBlocker block(forks_);
    forks_->clear();
    std::vector<ForkToken> by_entropy = map_.forks;
    std::stable_sort(by_entropy.begin(), by_entropy.end(),
                     [](const ForkToken& a, const ForkToken& b) { return a.entropy > b.entropy; });
    for (const ForkToken& f : by_entropy) {
        auto* item = new QListWidgetItem(
            tr("%1 “%2”  H %3  p %4%")
                .arg(f.token)
                .arg(token_line(f.text))
                .arg(f.entropy, 0, 'f', 2)
                .arg(std::isfinite(f.logprob) ? 100 * std::exp(f.logprob) : 0.0, 0, 'f', 0),
            forks_);
        item->setData(Qt::UserRole, f.token);
    }
    spark_->set_selected(point_of_token(selected_));
    if (selected_ >= 0) show_token(selected_);
}

}  // namespace gb::ui
