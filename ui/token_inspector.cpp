// TokenInspector: the trace's tokens (TokenFlowView), the selected token's details and the
// alternatives chart.
#include "ui/token_inspector.h"

#include <QBarCategoryAxis>
#include <QBarSet>
#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QHBoxLayout>
#include <QHorizontalBarSeries>
#include <QLabel>
#include <QSplitter>
#include <QVBoxLayout>
#include <QValueAxis>
#include <cmath>

namespace gb::ui {

TokenInspector::TokenInspector(QWidget* parent) : QWidget(parent) {
    auto* v = new QVBoxLayout(this);
    auto* top = new QHBoxLayout;
    top->addWidget(new QLabel(tr("Colour by:"), this));
    overlay_box_ = new QComboBox(this);
    overlay_box_->addItems({tr("Nothing"), tr("Probability"), tr("Entropy")});
    overlay_box_->setCurrentIndex(1);
    overlay_box_->setAccessibleName(tr("Token colouring"));
    top->addWidget(overlay_box_);
    top->addStretch();
    v->addLayout(top);

    auto* split = new QSplitter(Qt::Vertical, this);
    text_ = new TokenFlowView(split);
    text_->set_overlay(overlay_);
    auto* lower = new QWidget(split);
    auto* lv = new QVBoxLayout(lower);
    lv->setContentsMargins(0, 0, 0, 0);
    details_ = new QLabel(
        tr("Click a token to see its probability, entropy, alternatives and timing."), lower);
    details_->setWordWrap(true);
    details_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    details_->setAccessibleName(tr("Selected token details"));
    lv->addWidget(details_);

    auto* chart = new QChart;
    chart->setTitle(tr("Top alternatives (probability)"));
    chart->legend()->hide();
    chart->setMargins(QMargins(4, 4, 4, 4));
    series_ = new QHorizontalBarSeries;
    chart->addSeries(series_);
    cat_axis_ = new QBarCategoryAxis;
    val_axis_ = new QValueAxis;
    val_axis_->setRange(0, 1);
    val_axis_->setLabelFormat("%.2f");
    chart->addAxis(cat_axis_, Qt::AlignLeft);
    chart->addAxis(val_axis_, Qt::AlignBottom);
    series_->attachAxis(cat_axis_);
    series_->attachAxis(val_axis_);
    chart_view_ = new QChartView(chart, lower);
    chart_view_->setRenderHint(QPainter::Antialiasing);
    chart_view_->setMinimumHeight(180);
    chart_view_->setAccessibleName(tr("Alternatives chart"));
    lv->addWidget(chart_view_, 1);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 1);
    v->addWidget(split, 1);

    connect(text_, &TokenFlowView::tokenActivated, this, &TokenInspector::select_token);
    connect(overlay_box_, &QComboBox::currentIndexChanged, this,
            [this](int i) { set_overlay(static_cast<Overlay>(i)); });
}

void TokenInspector::set_trace(std::shared_ptr<const Trace> trace) {
    trace_ = std::move(trace);
    selected_ = -1;
    text_->set_trace(trace_);
    details_->setText(trace_
                          ? tr("%1 tokens (%2 prompt, %3 generated). Click a token to inspect it.")
                                .arg(trace_->tokens.size())
                                .arg(trace_->n_prompt)
                                .arg(trace_->n_gen)
                          : tr("No reply selected: press Inspect under a reply."));
    series_->clear();
    cat_axis_->clear();
}

void TokenInspector::trace_grew() {
    text_->tokens_appended();
    if (trace_ && selected_ < 0)
        details_->setText(
            tr("%1 tokens so far. Click a token to inspect it.").arg(trace_->tokens.size()));
}

void TokenInspector::set_overlay(Overlay mode) {
    overlay_ = mode;
    if (overlay_box_->currentIndex() != static_cast<int>(mode))
        overlay_box_->setCurrentIndex(static_cast<int>(mode));
    text_->set_overlay(mode);
}

void TokenInspector::select_token(int index) {
    if (!trace_ || index < 0 || index >= static_cast<int>(trace_->tokens.size())) return;
    selected_ = index;
    const TokenRecord& r = trace_->tokens[static_cast<size_t>(index)];
    const double prev_ms = index > 0 ? trace_->tokens[static_cast<size_t>(index - 1)].t_ms : 0;
    QString d = tr("<b>Token %1</b> “%2” (id %3, %4)<br>")
                    .arg(index)
                    .arg(token_display(r.text).toHtmlEscaped())
                    .arg(r.id)
                    .arg(phase_name(r.phase));
    if (std::isnan(r.logprob))
        d += tr("probability: not scored<br>");
    else
        d += tr("probability: %1 (log %2)<br>")
                 .arg(std::exp(r.logprob), 0, 'f', 4)
                 .arg(r.logprob, 0, 'f', 3);
    d += std::isnan(r.entropy) ? tr("entropy: –<br>")
                               : tr("entropy: %1 nats<br>").arg(r.entropy, 0, 'f', 3);
    if (r.phase != Phase::Prompt)
        d += tr("produced at %1 ms (%2 ms after the previous token)")
                 .arg(r.t_ms, 0, 'f', 1)
                 .arg(r.t_ms - prev_ms, 0, 'f', 1);
    details_->setText(d);

    series_->clear();
    cat_axis_->clear();
    auto* set = new QBarSet(tr("probability"));
    QStringList cats;
    // Horizontal bars draw bottom-up: add the least likely first so the best is on top.
    for (auto it = r.top.rbegin(); it != r.top.rend(); ++it) {
        *set << std::exp(static_cast<double>(it->logprob));
        QString label = token_display(it->text);
        if (it->id == r.id) label += " ✓";
        const auto rank = static_cast<int>(r.top.size()) - static_cast<int>(cats.size());
        cats << QStringLiteral("%1. %2").arg(rank).arg(
            label.left(18));  // the rank keeps labels unique
    }
    series_->append(set);
    cat_axis_->append(cats);
    text_->set_selected(index);
    emit tokenSelected(index);
}

QString TokenInspector::details_text() const { return details_->text(); }

int TokenInspector::chart_bars() const {
    const auto sets = series_->barSets();
    return sets.isEmpty() ? 0 : static_cast<int>(sets.first()->count());
}

}  // namespace gb::ui
