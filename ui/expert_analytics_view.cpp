// ExpertAnalyticsView: layout, and turning gb::analyze_moe's numbers into the views.
#include "ui/expert_analytics_view.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QShowEvent>
#include <QSplitter>
#include <QStackedWidget>
#include <QTableWidget>
#include <QVBoxLayout>
#include <algorithm>
#include <array>
#include <cmath>
#include <map>

#include "ui/chart_export.h"
#include "ui/heatmap_widget.h"
#include "ui/placeholder_stack.h"
#include "ui/token_flow_view.h"

namespace gb::ui {

namespace {

QString fixed(double v, int digits = 2) {
    return std::isfinite(v) ? QString::number(v, 'f', digits) : QStringLiteral("–");
}

QListWidget* titled_list(QWidget* parent, const QString& title, QLabel** label,
                         const QString& name) {
    auto* box = new QWidget(parent);
    auto* v = new QVBoxLayout(box);
    v->setContentsMargins(0, 0, 0, 0);
    *label = new QLabel(title, box);
    (*label)->setWordWrap(true);
    v->addWidget(*label);
    auto* list = new QListWidget(box);
    list->setAccessibleName(name);
    v->addWidget(list, 1);
    return list;
}

}  // namespace

// Loads from summed expert-usage rows (think and answer; the prompt is left out as in a
// reply's analytics). N k is the sum of the counts, so relative loads are exact even when k is
// not known.
static MoeAnalytics analytics_from_usage(const std::vector<gb::app::ExpertUsage>& rows,
                                         int n_expert, int k) {
    MoeAnalytics moe;
    int E = n_expert;
    for (const auto& u : rows) E = std::max(E, u.expert + 1);
    moe.n_expert = E;
    moe.k = k;
    std::map<int, std::array<std::vector<int64_t>, 2>> by_layer;  // think, answer
    for (const auto& u : rows) {
        if (u.phase != static_cast<int>(Phase::Think) && u.phase != static_cast<int>(Phase::Answer))
            continue;
        auto& l = by_layer[u.layer];
        for (auto& v : l) v.resize(static_cast<size_t>(E), 0);
        l[u.phase == static_cast<int>(Phase::Think) ? 0 : 1][static_cast<size_t>(u.expert)] +=
            u.count;
    }
    const int kk = std::max(1, k);
    for (const auto& [layer, phases] : by_layer) {
        LayerAnalytics la;
        la.layer = layer;
        la.counts.assign(static_cast<size_t>(E), 0);
        int64_t think = 0, answer = 0;
        for (int e = 0; e < E; ++e) {
            la.counts[static_cast<size_t>(e)] =
                phases[0][static_cast<size_t>(e)] + phases[1][static_cast<size_t>(e)];
            think += phases[0][static_cast<size_t>(e)];
            answer += phases[1][static_cast<size_t>(e)];
        }
        la.tokens_think = think / kk;
        la.tokens_answer = answer / kk;
        la.tokens = (think + answer) / kk;
        // tokens x k = the routings, whatever k is.
        la.load = load_stats(la.counts, think + answer, 1);
        if (think) la.relative_load_think = load_stats(phases[0], think, 1).relative_load;
        if (answer) la.relative_load_answer = load_stats(phases[1], answer, 1).relative_load;
        if (think && answer)
            for (int e = 0; e < E; ++e)
                la.think_minus_answer.push_back(la.relative_load_think[static_cast<size_t>(e)] -
                                                la.relative_load_answer[static_cast<size_t>(e)]);
        if (think + answer) moe.layers.push_back(std::move(la));
    }
    return moe;
}

ExpertAnalyticsView::ExpertAnalyticsView(QWidget* parent) : QWidget(parent) {
    auto* v = new QVBoxLayout(this);
    auto* scope_row = new QHBoxLayout;
    scope_row->addWidget(new QLabel(tr("Over:"), this));
    scope_box_ = new QComboBox(this);
    scope_box_->addItems({tr("This reply"), tr("Every reply of this conversation"),
                          tr("Every reply of the conversations chosen in the history"),
                          tr("Every stored reply of this model")});
    scope_box_->setToolTip(
        tr("Choose conversations with Ctrl+click or Shift+click in the history list."));
    scope_box_->setAccessibleName(tr("Which replies the expert analytics count"));
    scope_row->addWidget(scope_box_);
    scope_row->addStretch();
    v->addLayout(scope_row);
    connect(scope_box_, &QComboBox::currentIndexChanged, this,
            [this](int i) { set_scope(static_cast<Scope>(i)); });
    const PlaceholderStack ps = make_placeholder_stack(this, v, tr("Expert analytics"));
    stack_ = ps.stack;
    placeholder_ = ps.placeholder;
    page_ = ps.page;
    auto* pv = ps.page_layout;
    summary_ = ps.summary;
    pv->addWidget(summary_);

    auto* split = new QSplitter(Qt::Vertical, page_);
    layers_ = new QTableWidget(split);
    layers_->setColumnCount(6);
    layers_->setHorizontalHeaderLabels({tr("Layer"), tr("Tokens"), tr("MaxVio"), tr("Gini"),
                                        tr("Busiest (relative load)"),
                                        tr("Reasoning − answer (largest)")});
    layers_->verticalHeader()->hide();
    layers_->horizontalHeader()->setStretchLastSection(true);
    layers_->setSelectionBehavior(QAbstractItemView::SelectRows);
    layers_->setSelectionMode(QAbstractItemView::SingleSelection);
    layers_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    layers_->setAccessibleName(tr("MoE layers; choose one to see its experts"));

    auto* detail = new QWidget(split);
    auto* dv = new QVBoxLayout(detail);
    dv->setContentsMargins(0, 0, 0, 0);
    layer_title_ = new QLabel(detail);
    layer_title_->setWordWrap(true);
    dv->addWidget(layer_title_);
    auto* maps = new QSplitter(Qt::Horizontal, detail);
    load_ = new HeatmapWidget(maps);
    load_->setAccessibleName(
        tr("Relative load of each expert in the reply, its reasoning and its answer; click an "
           "expert to list its vocabulary"));
    coact_ = new HeatmapWidget(maps);
    coact_->setAccessibleName(
        tr("Co-activation: of the tokens routed to expert i (row), the "
           "share also routed to expert j (column)"));
    add_export_menu(load_, tr("expert-load"));
    add_export_menu(coact_, tr("expert-coactivation"));
    maps->addWidget(load_);
    maps->addWidget(coact_);
    dv->addWidget(maps, 1);

    auto* lists = new QSplitter(Qt::Horizontal, split);
    vocab_ = titled_list(lists, tr("Vocabulary: click an expert in the load map"), &vocab_title_,
                         tr("The texts the selected expert took most"));
    QLabel* paths_title = nullptr;
    paths_ = titled_list(lists, tr("Most frequent expert paths (first expert in each layer):"),
                         &paths_title, tr("Most frequent expert paths"));
    split->addWidget(layers_);
    split->addWidget(detail);
    split->addWidget(lists);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 2);
    split->setStretchFactor(2, 1);
    pv->addWidget(split, 1);

    connect(layers_, &QTableWidget::currentCellChanged, this,
            [this](int row, int, int, int) { select_layer(row); });
    connect(load_, &HeatmapWidget::cellClicked, this, [this](int, int col) { select_expert(col); });
    connect(coact_, &HeatmapWidget::cellClicked, this,
            [this](int row, int) { select_expert(row); });
    rebuild();
}

bool ExpertAnalyticsView::showing_placeholder() const {
    return stack_->currentWidget() == placeholder_;
}
QString ExpertAnalyticsView::placeholder_text() const { return placeholder_->text(); }
QString ExpertAnalyticsView::summary_text() const { return summary_->text(); }

void ExpertAnalyticsView::set_trace(std::shared_ptr<const Trace> trace) {
    trace_ = std::move(trace);
    layer_ = -1;
    expert_ = -1;
    dirty_ = true;
    // A summed scope is read again: the new reply may belong to it.
    if (scope_ != Scope::Reply && trace_) emit scopeRequested(scope_);
    if (isVisible()) rebuild();
}

// Counted again only while shown (see ReasoningMapView::set_trace).
void ExpertAnalyticsView::trace_grew() {
    dirty_ = true;
    if (isVisible()) rebuild();
}

void ExpertAnalyticsView::showEvent(QShowEvent* e) {
    QWidget::showEvent(e);
    if (dirty_) rebuild();
}

void ExpertAnalyticsView::set_scope(Scope scope) {
    scope_ = scope;
    if (scope_box_->currentIndex() != static_cast<int>(scope)) {
        const QSignalBlocker block(scope_box_);
        scope_box_->setCurrentIndex(static_cast<int>(scope));
    }
    aggregate_ready_ = false;
    aggregate_error_.clear();
    layer_ = -1;
    expert_ = -1;
    if (scope != Scope::Reply) emit scopeRequested(scope);
    rebuild();
}

void ExpertAnalyticsView::set_aggregate(int replies, const std::vector<gb::app::ExpertUsage>& rows,
                                        int n_expert, int k,
                                        std::shared_ptr<const MoeAnalytics> full) {
    aggregate_full_ = full != nullptr;
    aggregate_ = full ? *full : analytics_from_usage(rows, n_expert, k);
    aggregate_replies_ = replies;
    aggregate_ready_ = true;
    aggregate_error_.clear();
    rebuild();
}

void ExpertAnalyticsView::set_aggregate_error(const QString& error) {
    aggregate_error_ = error;
    aggregate_ready_ = false;
    rebuild();
}

void ExpertAnalyticsView::rebuild() {
    dirty_ = false;
    if (scope_ != Scope::Reply) {
        moe_ = aggregate_ready_ ? aggregate_ : MoeAnalytics{};
        if (!aggregate_ready_ || moe_.empty()) {
            placeholder_->setText(
                !aggregate_error_.isEmpty()
                    ? tr("The stored expert usage could not be read: %1").arg(aggregate_error_)
                : aggregate_ready_ && aggregate_replies_ == 0 && scope_ == Scope::Chosen
                    ? tr("No conversation with a reply is chosen: Ctrl+click or Shift+click "
                         "conversations in the history to count their replies together.")
                : aggregate_ready_
                    ? tr("None of these %1 stored replies has expert routing (a dense "
                         "model, or routing was not recorded).")
                          .arg(aggregate_replies_)
                    : tr("Summing the stored replies' expert usage…"));
            stack_->setCurrentWidget(placeholder_);
            return;
        }
        show_analytics();
        return;
    }
    QString error;
    try {
        moe_ = trace_ ? analyze_moe(*trace_) : MoeAnalytics{};
    } catch (const std::exception& e) {
        moe_ = {};
        error = QString::fromUtf8(e.what());
    }
    if (!error.isEmpty()) {
        placeholder_->setText(tr("This reply's experts cannot be analysed: %1").arg(error));
        stack_->setCurrentWidget(placeholder_);
        return;
    }
    if (!trace_ || moe_.empty()) {
        placeholder_->setText(
            !trace_ ? tr("No reply selected: press Inspect under a reply of a mixture-of-experts "
                         "model.")
            : trace_->n_expert > 0
                ? tr("No generated token of this reply has routing yet.")
                : tr("This reply's model is dense: it has no experts to analyse."));
        stack_->setCurrentWidget(placeholder_);
        return;
    }
    show_analytics();
}

void ExpertAnalyticsView::show_analytics() {
    stack_->setCurrentWidget(page_);
    const int E = moe_.n_expert;
    int64_t tokens = 0;
    for (const LayerAnalytics& la : moe_.layers) tokens = std::max(tokens, la.tokens);
    QString over = tr("over %1 generated tokens").arg(tokens);
    if (scope_ != Scope::Reply && aggregate_full_)
        over = tr("over %1 stored replies (%2 generated tokens), from their traces")
                   .arg(aggregate_replies_)
                   .arg(tokens);
    else if (scope_ != Scope::Reply)
        over = tr("over %1 stored replies (%2 generated tokens), from the history's expert-usage "
                  "table (some traces are missing or they are too long to merge: co-activation, "
                  "vocabulary and paths need the tokens)")
                   .arg(aggregate_replies_)
                   .arg(tokens);
    summary_->setText(
        tr("%1 MoE layers · %2 experts · top-%3 · %4. Relative load 1 is an expert's fair share "
           "(N·k/E); MaxVio is the busiest expert's excess over it; Gini 0 is an even spread, "
           "near 1 one expert taking everything.")
            .arg(moe_.layers.size())
            .arg(E)
            .arg(moe_.k)
            .arg(over));

    const QSignalBlocker block(layers_);
    layers_->setRowCount(static_cast<int>(moe_.layers.size()));
    for (size_t i = 0; i < moe_.layers.size(); ++i) {
        const LayerAnalytics& la = moe_.layers[i];
        const std::vector<int> order = la.experts_by_load();
        QStringList busiest;
        for (size_t j = 0; j < 3 && j < order.size(); ++j)
            busiest << QStringLiteral("#%1 %2").arg(order[j]).arg(
                fixed(la.load.relative_load[static_cast<size_t>(order[j])]));
        QString diff = tr("–");
        if (const int e = la.largest_phase_difference(); e >= 0) {
            const double d = la.think_minus_answer[static_cast<size_t>(e)];
            diff = QStringLiteral("#%1 %2").arg(e).arg(d >= 0 ? "+" + fixed(d) : fixed(d));
        }
        const QString cells[] = {QString::number(la.layer),          QString::number(la.tokens),
                                 fixed(la.load.max_violation),       fixed(la.load.gini),
                                 busiest.join(QStringLiteral("  ")), diff};
        for (int c = 0; c < 6; ++c)
            layers_->setItem(static_cast<int>(i), c, new QTableWidgetItem(cells[c]));
    }
    layers_->resizeColumnsToContents();
    if (layer_ < 0 || layer_ >= static_cast<int>(moe_.layers.size())) layer_ = 0;
    layers_->setCurrentCell(layer_, 0);

    paths_->clear();
    for (const ExpertPath& p : moe_.paths) {
        QStringList xs;
        for (int x : p.experts) xs << QString::number(x);
        paths_->addItem(tr("%1   %2 tokens (%3%)")
                            .arg(xs.join(QStringLiteral(" → ")))
                            .arg(p.count)
                            .arg(100 * p.share, 0, 'f', 1));
    }
    show_layer();
}

void ExpertAnalyticsView::select_layer(int row) {
    if (row < 0 || row >= static_cast<int>(moe_.layers.size())) return;
    if (layers_->currentRow() != row) {
        const QSignalBlocker block(layers_);
        layers_->setCurrentCell(row, 0);
    }
    if (row == layer_) return;
    layer_ = row;
    show_layer();
}

void ExpertAnalyticsView::show_layer() {
    if (layer_ < 0 || layer_ >= static_cast<int>(moe_.layers.size())) return;
    const LayerAnalytics& la = moe_.layers[static_cast<size_t>(layer_)];
    const int E = moe_.n_expert;
    layer_title_->setText(tr("<b>Layer %1</b>: %2 tokens (%3 reasoning, %4 answer) · MaxVio %5 · "
                             "Gini %6")
                              .arg(la.layer)
                              .arg(la.tokens)
                              .arg(la.tokens_think)
                              .arg(la.tokens_answer)
                              .arg(fixed(la.load.max_violation))
                              .arg(fixed(la.load.gini)));
    // Relative load: the reply, its reasoning, its answer (a missing phase stays dark).
    std::vector<double> load(static_cast<size_t>(3 * E), 0.0);
    double max = 0;
    auto fill = [&](int row, const std::vector<double>& v) {
        for (size_t x = 0; x < v.size() && x < static_cast<size_t>(E); ++x) {
            load[static_cast<size_t>(row * E) + x] = v[x];
            max = std::max(max, v[x]);
        }
    };
    fill(0, la.load.relative_load);
    fill(1, la.relative_load_think);
    fill(2, la.relative_load_answer);
    load_->set_data(3, E, std::move(load), {tr("reply"), tr("think"), tr("answer")}, tr("tokens"),
                    tr("expert (relative load)"), std::max(max, 1.0));
    load_->set_legend(QStringLiteral("0"), QString(), fixed(std::max(max, 1.0)));
    load_->set_selected_column(expert_);
    // Co-activation without the diagonal (always 1), so the off-diagonal shares keep their range.
    std::vector<double> co(static_cast<size_t>(E * E), 0.0);
    for (int i = 0; i < E; ++i)
        for (int j = 0; j < E; ++j) {
            const double p = la.p_given(i, j, E);
            if (i != j && std::isfinite(p)) co[static_cast<size_t>(i * E + j)] = p;
        }
    QStringList rows;
    for (int i = 0; i < E; ++i) rows << QString::number(i);
    coact_->set_data(E, E, std::move(co), rows, tr("expert i"), tr("also routed to expert j"), 1.0);
    coact_->set_legend(QStringLiteral("0"), QStringLiteral("0.5"), QStringLiteral("1"));
    // Until one is picked, list the busiest expert's vocabulary.
    int expert = expert_;
    if (expert < 0 || expert >= E) expert = la.experts_by_load().front();
    select_expert(expert);
}

void ExpertAnalyticsView::select_expert(int expert) {
    vocab_->clear();
    expert_ = expert;
    load_->set_selected_column(expert);
    if (layer_ < 0 || layer_ >= static_cast<int>(moe_.layers.size()) || expert < 0) {
        vocab_title_->setText(tr("Vocabulary: click an expert in the load map"));
        return;
    }
    const LayerAnalytics& la = moe_.layers[static_cast<size_t>(layer_)];
    const auto it = std::find_if(la.specialisation.begin(), la.specialisation.end(),
                                 [&](const ExpertVocabulary& ev) { return ev.expert == expert; });
    if (it == la.specialisation.end()) {
        vocab_title_->setText(
            scope_ != Scope::Reply
                ? tr("Expert %1 in layer %2 took %3 tokens; its vocabulary needs "
                     "one reply's tokens (choose “This reply”).")
                      .arg(expert)
                      .arg(la.layer)
                      .arg(la.counts[static_cast<size_t>(expert)])
                : tr("Expert %1 took no token in layer %2.").arg(expert).arg(la.layer));
        return;
    }
    vocab_title_->setText(tr("Expert %1 in layer %2 took %3 tokens; its texts (count, and its "
                             "share of all that text's tokens in this layer):")
                              .arg(expert)
                              .arg(la.layer)
                              .arg(la.counts[static_cast<size_t>(expert)]));
    for (const TextShare& t : it->top)
        vocab_->addItem(tr("“%1”   %2 tokens · %3% of its occurrences")
                            .arg(token_line(t.text))
                            .arg(t.count)
                            .arg(100 * t.share, 0, 'f', 0));
}

}  // namespace gb::ui
