// RoutingView: heatmaps and the expert token list built from a Trace's per-token routing.
#include "ui/routing_view.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QSplitter>
#include <QStackedWidget>
#include <QVBoxLayout>

#include "ui/chart_export.h"
#include "ui/heatmap_widget.h"
#include "ui/token_inspector.h"

namespace gb::ui {

ExpertLoad expert_load(const gb::ExpertLoad& counted, int n_expert, const Phase* phase) {
    ExpertLoad load;
    load.n_expert = n_expert;
    if (counted.empty() || n_expert <= 0 || counted.n_expert < n_expert) return load;
    int64_t reply_tokens = 0;  // a reply without routed tokens has no load (the prompt's aside)
    for (size_t i = 0; i < counted.layers.size(); ++i)
        reply_tokens += counted.tokens(Phase::Think, i) + counted.tokens(Phase::Answer, i);
    if (reply_tokens == 0) return load;
    load.n_layers = static_cast<int>(counted.layers.size());
    load.counts.assign(static_cast<size_t>(load.n_layers * load.n_expert), 0.0);
    for (uint16_t l : counted.layers) load.layer_labels << QString::number(l);
    for (size_t i = 0; i < counted.layers.size(); ++i)
        for (int e = 0; e < load.n_expert; ++e)
            load.counts[i * static_cast<size_t>(load.n_expert) + static_cast<size_t>(e)] =
                static_cast<double>(phase ? counted.count(*phase, i, e)
                                          : counted.reply_count(i, e));
    return load;
}

RoutingView::RoutingView(QWidget* parent) : QWidget(parent) {
    auto* v = new QVBoxLayout(this);
    stack_ = new QStackedWidget(this);
    v->addWidget(stack_);
    dense_ = new QLabel(
        tr("No reply selected: press Inspect under a reply of a mixture-of-experts model."),
        stack_);
    dense_->setWordWrap(true);
    dense_->setAlignment(Qt::AlignCenter);
    dense_->setAccessibleName(tr("Routing status"));
    stack_->addWidget(dense_);

    auto* page = new QWidget(stack_);
    auto* pv = new QVBoxLayout(page);
    pv->setContentsMargins(0, 0, 0, 0);
    summary_ = new QLabel(page);
    summary_->setWordWrap(true);
    pv->addWidget(summary_);
    auto* split = new QSplitter(Qt::Vertical, page);
    auto* top = new QWidget(split);
    auto* tv = new QVBoxLayout(top);
    tv->setContentsMargins(0, 0, 0, 0);
    token_title_ = new QLabel(tr("Selected token: click a token in the inspector"), top);
    tv->addWidget(token_title_);
    token_map_ = new HeatmapWidget(top);
    token_map_->setAccessibleName(tr("Gate weights of the selected token, layers by experts"));
    tv->addWidget(token_map_, 1);
    add_export_menu(token_map_, tr("token-routing"));

    auto* mid = new QWidget(split);
    auto* mv = new QVBoxLayout(mid);
    mv->setContentsMargins(0, 0, 0, 0);
    auto* row = new QHBoxLayout;
    row->addWidget(new QLabel(tr("Expert load of the reply:"), mid));
    mode_box_ = new QComboBox(mid);
    mode_box_->addItems({tr("Reasoning + answer"), tr("Reasoning"), tr("Answer"),
                         tr("Reasoning − answer (share)")});
    mode_box_->setAccessibleName(tr("Which tokens the expert load counts"));
    row->addWidget(mode_box_);
    row->addStretch();
    mv->addLayout(row);
    load_map_ = new HeatmapWidget(mid);
    load_map_->setAccessibleName(tr("Expert load per layer; click a cell to list its tokens"));
    mv->addWidget(load_map_, 1);
    add_export_menu(load_map_, tr("expert-load-per-layer"));

    auto* bottom = new QWidget(split);
    auto* bv = new QVBoxLayout(bottom);
    bv->setContentsMargins(0, 0, 0, 0);
    expert_title_ = new QLabel(
        tr("Click a cell above to list the tokens that expert took in that layer."), bottom);
    expert_title_->setWordWrap(true);
    bv->addWidget(expert_title_);
    expert_tokens_ = new QListWidget(bottom);
    expert_tokens_->setAccessibleName(tr("Tokens routed to the chosen expert"));
    bv->addWidget(expert_tokens_, 1);
    pv->addWidget(split, 1);
    stack_->addWidget(page);

    connect(mode_box_, &QComboBox::currentIndexChanged, this,
            [this](int i) { set_load_mode(static_cast<LoadMode>(i)); });
    connect(load_map_, &HeatmapWidget::cellClicked, this, &RoutingView::select_expert);
    connect(token_map_, &HeatmapWidget::cellClicked, this,
            [this](int r, int c) { select_expert(r, c); });
    connect(expert_tokens_, &QListWidget::itemActivated, this,
            [this](QListWidgetItem* it) { emit tokenActivated(it->data(Qt::UserRole).toInt()); });
}

bool RoutingView::showing_dense_message() const { return stack_->currentIndex() == 0; }
QString RoutingView::summary_text() const {
    return showing_dense_message() ? dense_->text() : summary_->text();
}

void RoutingView::set_trace(std::shared_ptr<const Trace> trace) {
    trace_ = std::move(trace);
    selected_ = -1;
    expert_tokens_->clear();
    if (!trace_) {
        show_message_without_trace();
        return;
    }
    if (trace_->n_expert == 0) {
        // The reply's model, which need not be the one loaded now.
        const QString name = QString::fromStdString(trace_->model);
        QString text =
            tr("This reply's model (%1) is dense: it has no experts, so every token goes through "
               "the same feed-forward weights in every layer.")
                .arg(name.isEmpty() ? tr("unnamed") : name);
        if (model_experts_ > 0 && name != model_name_)
            text += " " + tr("%1, loaded now, routes each token to %2 of %3 experts: send it a "
                             "message to see its routing.")
                              .arg(model_name_)
                              .arg(model_k_)
                              .arg(model_experts_);
        else
            text +=
                " " + tr("Open a mixture-of-experts model (Qwen3-MoE, OLMoE, Mixtral, DeepSeek, "
                         "or our glassbox-demo-moe) to see routing.");
        dense_->setText(text);
        stack_->setCurrentIndex(0);
        return;
    }
    const gb::ExpertLoad counted = count_expert_load(*trace_);
    const ExpertLoad all = expert_load(counted, trace_->n_expert, nullptr);
    if (all.n_layers == 0) {
        dense_->setText(tr("This reply has no routing recorded (routing capture was off)."));
        stack_->setCurrentIndex(0);
        return;
    }
    summary_->setText(tr("Top-%1 of %2 experts in %3 MoE layers, %4 generated tokens.")
                          .arg(trace_->n_expert_used)
                          .arg(trace_->n_expert)
                          .arg(all.n_layers)
                          .arg(trace_->n_gen));
    stack_->setCurrentIndex(1);
    token_map_->set_data(0, 0, {});
    token_title_->setText(tr("Selected token: click a token in the inspector"));
    update_load(counted);
}

void RoutingView::set_loaded_model(const gb::app::ModelInfo& m) {
    model_name_ = QString::fromStdString(m.name);
    model_experts_ = m.n_expert;
    model_k_ = m.n_expert_used;
    if (!trace_ || trace_->n_expert == 0) set_trace(trace_);
}

void RoutingView::show_message_without_trace() {
    if (model_name_.isEmpty())
        dense_->setText(tr("No reply inspected yet: load a model and send a message."));
    else if (model_experts_ > 0)
        dense_->setText(tr("%1 routes each token to %2 of %3 experts in its MoE layers: send a "
                           "message and the routing fills in as the reply streams.")
                            .arg(model_name_)
                            .arg(model_k_)
                            .arg(model_experts_));
    else
        dense_->setText(tr("%1 is dense: it has no experts, so every token goes through the same "
                           "feed-forward weights in every layer. Open a mixture-of-experts model "
                           "(Qwen3-MoE, OLMoE, Mixtral, DeepSeek, or our glassbox-demo-moe) to "
                           "see routing.")
                            .arg(model_name_));
    stack_->setCurrentIndex(0);
}

void RoutingView::trace_grew() {
    if (!trace_ || trace_->n_expert == 0) return;
    if (showing_dense_message()) {  // the first routed tokens may have arrived
        auto t = trace_;
        set_trace(t);
        if (showing_dense_message()) return;
    }
    const gb::ExpertLoad counted = count_expert_load(*trace_);
    const ExpertLoad all = expert_load(counted, trace_->n_expert, nullptr);
    summary_->setText(tr("Top-%1 of %2 experts in %3 MoE layers, %4 generated tokens so far.")
                          .arg(trace_->n_expert_used)
                          .arg(trace_->n_expert)
                          .arg(all.n_layers)
                          .arg(trace_->n_gen));
    update_load(counted);
}

void RoutingView::select_token(int index) {
    if (!trace_ || index < 0 || index >= static_cast<int>(trace_->tokens.size()) ||
        trace_->n_expert == 0)
        return;
    selected_ = index;
    const TokenRecord& r = trace_->tokens[static_cast<size_t>(index)];
    const TokenRouting& rt = r.routing;
    if (rt.empty()) {
        token_title_->setText(tr("Token %1 “%2” has no routing (prompt tokens are not recorded).")
                                  .arg(index)
                                  .arg(token_display(r.text)));
        token_map_->set_data(0, 0, {});
        return;
    }
    const int n_e = trace_->n_expert;
    std::vector<double> w(rt.n_layers() * static_cast<size_t>(n_e), 0.0);
    QStringList labels;
    const bool full = rt.probs.size() == rt.n_layers() * static_cast<size_t>(n_e);
    const bool weighted = rt.weights.size() == rt.experts.size();  // a server's routing has none
    for (size_t l = 0; l < rt.n_layers(); ++l) {
        labels << QString::number(rt.layers[l]);
        if (full)
            for (int e = 0; e < n_e; ++e) w[l * n_e + e] = rt.probs[l * n_e + e];
        else
            for (int k = 0; k < rt.k; ++k)
                w[l * n_e + rt.experts_of(l)[k]] = weighted ? rt.weights_of(l)[k] : 1.0;
    }
    token_title_->setText(tr("Token %1 “%2” (%3): %4 per layer and expert")
                              .arg(index)
                              .arg(token_display(r.text))
                              .arg(phase_name(r.phase))
                              .arg(full       ? tr("router probability")
                                   : weighted ? tr("gate weight")
                                              : tr("selected (the server gives no weights)")));
    token_map_->set_data(static_cast<int>(rt.n_layers()), n_e, std::move(w), labels, tr("layer"),
                         tr("expert"), 1.0);
    token_map_->set_legend({}, {}, {});
}

void RoutingView::set_load_mode(LoadMode mode) {
    mode_ = mode;
    if (mode_box_->currentIndex() != static_cast<int>(mode))
        mode_box_->setCurrentIndex(static_cast<int>(mode));
    update_load();
}

void RoutingView::update_load() {
    if (trace_ && trace_->n_expert > 0) update_load(count_expert_load(*trace_));
}

void RoutingView::update_load(const gb::ExpertLoad& counted) {
    if (!trace_ || trace_->n_expert == 0) return;
    const int n_e = trace_->n_expert;
    const Phase think = Phase::Think, answer = Phase::Answer;
    ExpertLoad load;
    double max = 0;
    if (mode_ == LoadMode::Difference) {
        // Share of each phase's routings per layer, reasoning minus answer, shifted so 0.5 is even.
        ExpertLoad a = expert_load(counted, n_e, &think), b = expert_load(counted, n_e, &answer);
        load = a.n_layers ? a : b;
        const size_t n = load.counts.size();
        double sa = 0, sb = 0;
        for (double x : a.counts) sa += x;
        for (double x : b.counts) sb += x;
        for (size_t i = 0; i < n; ++i) {
            const double pa = a.counts.size() == n && sa > 0 ? a.counts[i] / sa : 0;
            const double pb = b.counts.size() == n && sb > 0 ? b.counts[i] / sb : 0;
            load.counts[i] = pa - pb;
        }
        double m = 1e-12;
        for (double x : load.counts) m = std::max(m, std::abs(x));
        for (double& x : load.counts) x = 0.5 + 0.5 * x / m;
        max = 1.0;
        load_map_->set_legend(tr("answer"), tr("even"), tr("reasoning"));
    } else {
        const Phase* p = mode_ == LoadMode::Reasoning ? &think
                         : mode_ == LoadMode::Answer  ? &answer
                                                      : nullptr;
        load = expert_load(counted, n_e, p);
    }
    load_map_->set_data(load.n_layers, load.n_expert, load.counts, load.layer_labels, tr("layer"),
                        tr("expert"), max);
    if (mode_ != LoadMode::Difference) {  // counts of routed tokens
        double top = 0;
        for (double x : load.counts) top = std::max(top, x);
        load_map_->set_legend(tr("0"), {}, tr("%1 tok").arg(top));
    }
}

void RoutingView::select_expert(int layer_row, int expert) {
    if (!trace_ || trace_->n_expert == 0) return;
    expert_tokens_->clear();
    load_map_->set_selected_column(expert);
    int n_think = 0, n_answer = 0;
    QString layer_name = QString::number(layer_row);
    for (size_t i = 0; i < trace_->tokens.size(); ++i) {
        const TokenRecord& r = trace_->tokens[i];
        // Generated tokens only, as the load heatmap counts them.
        if (r.phase == Phase::Prompt || r.routing.empty() ||
            static_cast<size_t>(layer_row) >= r.routing.n_layers())
            continue;
        layer_name = QString::number(r.routing.layers[static_cast<size_t>(layer_row)]);
        const auto ex = r.routing.experts_of(static_cast<size_t>(layer_row));
        for (int k = 0; k < r.routing.k; ++k) {
            if (ex[k] != expert) continue;
            (r.phase == Phase::Think ? n_think : n_answer)++;
            const bool weighted = r.routing.weights.size() == r.routing.experts.size();
            auto* it = new QListWidgetItem(
                QStringLiteral("#%1  %2  [%3, %4]")
                    .arg(i)
                    .arg(token_display(r.text))
                    .arg(phase_name(r.phase))
                    .arg(weighted
                             ? QStringLiteral("weight %1")
                                   .arg(r.routing.weights_of(static_cast<size_t>(layer_row))[k], 0,
                                        'f', 3)
                             : QStringLiteral("weight not known")));
            it->setData(Qt::UserRole, static_cast<int>(i));
            expert_tokens_->addItem(it);
        }
    }
    expert_title_->setText(
        tr("Expert %1 of layer %2 took %3 tokens: %4 in the reasoning, %5 in the answer.")
            .arg(expert)
            .arg(layer_name)
            .arg(n_think + n_answer)
            .arg(n_think)
            .arg(n_answer));
}

}  // namespace gb::ui
