// TokenInspector: the trace's tokens (TokenFlowView), the selected token's details and the
// alternatives chart.
#include "ui/token_inspector.h"

#include <QBarCategoryAxis>
#include <QBarSet>
#include <QChart>
#include <QChartView>
#include <QCheckBox>
#include <QComboBox>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHorizontalBarSeries>
#include <QLabel>
#include <QPushButton>
#include <QSlider>
#include <QSpinBox>
#include <QSplitter>
#include <QVBoxLayout>
#include <QValueAxis>
#include <cmath>

#include "engine/sample/what_if.h"
#include "ui/chart_export.h"

namespace gb::ui {

void TokenInspector::resizeEvent(QResizeEvent* e) {
    QWidget::resizeEvent(e);
    const bool two_rows = width() < 520;
    if (two_rows == two_rows_) return;
    two_rows_ = two_rows;
    top_->removeWidget(actions_);
    if (two_rows)
        top_->addWidget(actions_, 1, 0);
    else
        top_->addWidget(actions_, 0, 1);
}

TokenInspector::TokenInspector(QWidget* parent) : QWidget(parent) {
    auto* v = new QVBoxLayout(this);
    // "Colour by" and the three actions: one row, or two when the panel is narrow (reflow()).
    top_ = new QGridLayout;
    auto* colour = new QHBoxLayout;
    colour->addWidget(new QLabel(tr("Colour by:"), this));
    overlay_box_ = new QComboBox(this);
    overlay_box_->addItems({tr("Nothing"), tr("Probability"), tr("Entropy")});
    overlay_box_->setCurrentIndex(1);
    overlay_box_->setAccessibleName(tr("Token colouring"));
    colour->addWidget(overlay_box_);
    colour->addStretch();
    top_->addLayout(colour, 0, 0);
    actions_ = new QWidget(this);
    auto* top = new QHBoxLayout(actions_);
    top->setContentsMargins(0, 0, 0, 0);
    top->addStretch();
    lens_button_ = new QPushButton(tr("Layers…"), this);
    lens_button_->setToolTip(
        tr("Logit lens: what the model predicted for the selected token after each of its "
           "layers"));
    lens_button_->setAccessibleName(tr("Logit lens of the selected token"));
    top->addWidget(lens_button_);
    connect(lens_button_, &QPushButton::clicked, this, [this] {
        if (trace_ && selected_ > 0) emit lensRequested(selected_);
    });
    resample_button_ = new QPushButton(tr("Resample…"), this);
    resample_button_->setToolTip(
        tr("Forking paths: sample the reply afresh from the selected token many times and see "
           "how its final answers spread"));
    resample_button_->setAccessibleName(tr("Resample from the selected token"));
    top->addWidget(resample_button_);
    connect(resample_button_, &QPushButton::clicked, this, [this] {
        if (trace_ && selected_ >= trace_->n_prompt) emit resampleRequested(selected_);
    });
    reproduce_button_ = new QPushButton(tr("Run again"), this);
    reproduce_button_->setToolTip(
        tr("Reproduce: run this reply again from its recorded prompt, settings and seed, and "
           "say whether every token comes out the same"));
    reproduce_button_->setAccessibleName(tr("Reproduce this reply"));
    top->addWidget(reproduce_button_);
    connect(reproduce_button_, &QPushButton::clicked, this, &TokenInspector::reproduceRequested);
    rescore_button_ = new QPushButton(tr("Compare precise"), this);
    rescore_button_->setToolTip(
        tr("Score this reply's own tokens again in the other precision mode and compare the "
           "probabilities token by token (a fast reply against precise numbers)"));
    rescore_button_->setAccessibleName(tr("Compare with the other precision mode"));
    top->addWidget(rescore_button_);
    connect(rescore_button_, &QPushButton::clicked, this, [this] {
        if (trace_) emit rescoreRequested(trace_->precision != "precise");
    });
    top_->addWidget(actions_, 0, 1);
    v->addLayout(top_);

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
    chart_view_->setMinimumHeight(220);
    chart_view_->setAccessibleName(tr("Alternatives chart"));
    lv->addWidget(chart_view_, 1);
    add_export_menu(chart_view_, tr("alternatives"));

    // Branch: continue the reply from this token with another of its alternatives.
    auto* br = new QHBoxLayout;
    br->addWidget(new QLabel(tr("Continue with:"), lower));
    branch_box_ = new QComboBox(lower);
    branch_box_->setAccessibleName(tr("Alternative to continue the reply with"));
    br->addWidget(branch_box_, 1);
    branch_button_ = new QPushButton(tr("Branch here"), lower);
    branch_button_->setToolTip(
        tr("A new reply beside this one: the tokens before this one kept, the chosen "
           "alternative in its place, and the model writes on from there (its cache of the "
           "shared start is reused)."));
    br->addWidget(branch_button_);
    lv->addLayout(br);
    connect(branch_button_, &QPushButton::clicked, this, [this] {
        if (!trace_ || selected_ < trace_->n_prompt || branch_box_->currentIndex() < 0) return;
        emit branchRequested(selected_ - trace_->n_prompt, branch_box_->currentData().toInt());
    });
    update_branch();

    // What if: other sampler settings reshape what could have been drawn here.
    auto* wi = new QHBoxLayout;
    what_if_box_ = new QCheckBox(tr("What if:"), lower);
    what_if_box_->setToolTip(
        tr("Reshape this token's recorded alternatives with other sampler "
           "settings: what could have been drawn (the reply does not change)"));
    what_if_box_->setAccessibleName(tr("What-if sampling"));
    wi->addWidget(what_if_box_);
    wi->addWidget(new QLabel(tr("T"), lower));
    temp_slider_ = new QSlider(Qt::Horizontal, lower);
    temp_slider_->setRange(0, 200);  // hundredths
    temp_slider_->setValue(100);
    temp_slider_->setAccessibleName(tr("What-if temperature"));
    wi->addWidget(temp_slider_, 1);
    wi->addWidget(new QLabel(tr("top-k"), lower));
    top_k_box_ = new QSpinBox(lower);
    top_k_box_->setRange(0, 100);
    top_k_box_->setSpecialValueText(tr("off"));
    top_k_box_->setAccessibleName(tr("What-if top-k"));
    wi->addWidget(top_k_box_);
    wi->addWidget(new QLabel(tr("top-p"), lower));
    top_p_slider_ = new QSlider(Qt::Horizontal, lower);
    top_p_slider_->setRange(1, 100);
    top_p_slider_->setValue(100);
    top_p_slider_->setAccessibleName(tr("What-if top-p"));
    wi->addWidget(top_p_slider_, 1);
    lv->addLayout(wi);
    what_if_label_ = new QLabel(lower);
    what_if_label_->setWordWrap(true);
    what_if_label_->setAccessibleName(tr("What-if settings and their effect"));
    lv->addWidget(what_if_label_);
    for (QObject* o : {static_cast<QObject*>(temp_slider_), static_cast<QObject*>(top_p_slider_)})
        connect(static_cast<QSlider*>(o), &QSlider::valueChanged, this,
                [this] { update_what_if(); });
    connect(top_k_box_, &QSpinBox::valueChanged, this, [this] { update_what_if(); });
    connect(what_if_box_, &QCheckBox::toggled, this, [this] { update_what_if(); });
    update_what_if();
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 1);
    v->addWidget(split, 1);

    connect(text_, &TokenFlowView::tokenActivated, this, &TokenInspector::select_token);
    connect(overlay_box_, &QComboBox::currentIndexChanged, this,
            [this](int i) { set_overlay(static_cast<Overlay>(i)); });
}

QString precision_note(const Trace& t) {
    if (t.precision == "precise")
        return QObject::tr("Precise mode: within 1e-4 of the exact probabilities.");
    if (t.precision == "fast")
        return QObject::tr("Fast mode: 8-bit activations, probabilities a few % off.");
    if (t.backend.rfind("remote", 0) == 0)
        return QObject::tr("Computed by the server, in its own precision.");
    return QObject::tr("Precision not recorded (an older reply).");
}

void TokenInspector::set_trace(std::shared_ptr<const Trace> trace) {
    trace_ = std::move(trace);
    selected_ = -1;
    text_->set_trace(trace_);
    details_->setText(trace_
                          ? tr("%1 tokens (%2 prompt, %3 generated). Click a token to inspect it.")
                                    .arg(trace_->tokens.size())
                                    .arg(trace_->n_prompt)
                                    .arg(trace_->n_gen) +
                                QStringLiteral("<br>") + precision_note(*trace_).toHtmlEscaped()
                          : tr("No reply selected: press Inspect under a reply."));
    // Where the mode is chosen and what it costs, for the curious.
    details_->setToolTip(
        trace_ && trace_->precision == "fast"
            ? tr("Fast mode rounds activations to 8 bits inside the quantised products, which "
                 "moves log-probabilities by about 0.05 on a 4-bit model. Turn on Precise "
                 "probabilities in the Settings tab to quote them, or press Compare precise.")
            : QString());
    series_->clear();
    cat_axis_->clear();
    update_branch();
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
    if (r.forced)
        d +=
            tr("<br><i>put in, not sampled</i> (a branch, an edited thought or the "
               "end-of-thinking marker of a thinking control)");
    d += QStringLiteral("<br><small>") + precision_note(*trace_).toHtmlEscaped() +
         QStringLiteral("</small>");
    details_->setText(d);

    series_->clear();
    cat_axis_->clear();
    auto* set = new QBarSet(tr("the model"));
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
    update_what_if();
    update_branch();
    text_->set_selected(index);
    emit tokenSelected(index);
}

void TokenInspector::set_branchable(bool on) {
    branchable_ = on;
    update_branch();
}

void TokenInspector::update_branch() {
    branch_box_->clear();
    const bool generated = trace_ && selected_ >= trace_->n_prompt &&
                           selected_ < static_cast<int>(trace_->tokens.size());
    if (generated) {
        const TokenRecord& r = trace_->tokens[static_cast<size_t>(selected_)];
        for (const Alternative& a : r.top) {
            if (a.id == r.id) continue;
            branch_box_->addItem(
                tr("“%1” (%2%)")
                    .arg(token_display(a.text))
                    .arg(100.0 * std::exp(static_cast<double>(a.logprob)), 0, 'f', 1),
                a.id);
        }
    }
    reproduce_button_->setEnabled(branchable_ && trace_ && trace_->n_gen > 0);
    rescore_button_->setEnabled(branchable_ && trace_ && trace_->n_gen > 0);
    rescore_button_->setText(trace_ && trace_->precision == "precise" ? tr("Compare fast")
                                                                      : tr("Compare precise"));
    lens_button_->setEnabled(branchable_ && trace_ && selected_ > 0);
    resample_button_->setEnabled(branchable_ && generated);
    const bool ok = branchable_ && generated && branch_box_->count() > 0;
    branch_box_->setEnabled(ok);
    branch_button_->setEnabled(ok);
}

QString TokenInspector::details_text() const { return details_->text(); }

void TokenInspector::set_what_if(bool on, double temperature, int top_k, double top_p) {
    const QSignalBlocker b1(what_if_box_), b2(temp_slider_), b3(top_k_box_), b4(top_p_slider_);
    what_if_box_->setChecked(on);
    temp_slider_->setValue(static_cast<int>(std::lround(temperature * 100)));
    top_k_box_->setValue(top_k);
    top_p_slider_->setValue(static_cast<int>(std::lround(top_p * 100)));
    update_what_if();
}

QString TokenInspector::what_if_text() const { return what_if_label_->text(); }

void TokenInspector::update_what_if() {
    what_if_.clear();
    const auto sets = series_->barSets();
    if (sets.size() > 1) series_->remove(sets.last());
    const bool on = what_if_box_->isChecked();
    chart_view_->chart()->legend()->setVisible(on);  // two bars per alternative need names
    for (QWidget* w : std::initializer_list<QWidget*>{temp_slider_, top_k_box_, top_p_slider_})
        w->setEnabled(on);
    if (!on || !trace_ || selected_ < 0) {
        what_if_label_->setText(on ? tr("Select a token first.") : QString());
        return;
    }
    const TokenRecord& r = trace_->tokens[static_cast<size_t>(selected_)];
    SamplerSettings s;
    s.temperature = static_cast<float>(temp_slider_->value()) / 100.0f;
    s.top_k = top_k_box_->value();
    s.top_p = static_cast<float>(top_p_slider_->value()) / 100.0f;
    s.min_p = 0;
    std::vector<float> lp;
    double recorded = 0;
    for (const Alternative& a : r.top) {
        lp.push_back(a.logprob);
        if (std::isfinite(a.logprob)) recorded += std::exp(static_cast<double>(a.logprob));
    }
    what_if_ = what_if_distribution(lp, s);
    auto* set = new QBarSet(tr("what if"));
    for (auto it = what_if_.rbegin(); it != what_if_.rend(); ++it) *set << *it;
    series_->append(set);
    int possible = 0;
    for (double p : what_if_) possible += p > 0;
    what_if_label_->setText(
        tr("T %1, top-k %2, top-p %3: %4 of the %5 recorded alternatives could be drawn. Shown "
           "over the recorded alternatives only (%6% of the model's probability here).")
            .arg(s.temperature, 0, 'f', 2)
            .arg(s.top_k ? QString::number(s.top_k) : tr("off"))
            .arg(s.top_p, 0, 'f', 2)
            .arg(possible)
            .arg(r.top.size())
            .arg(100 * recorded, 0, 'f', 1));
}

int TokenInspector::chart_bars() const {
    const auto sets = series_->barSets();
    return sets.isEmpty() ? 0 : static_cast<int>(sets.first()->count());
}

}  // namespace gb::ui
