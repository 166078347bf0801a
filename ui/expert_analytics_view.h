// ExpertAnalyticsView: how a mixture-of-experts model shared the work over a whole reply, per
// MoE layer: tokens, MaxVio (DeepSeek-V3's relative load), Gini of the expert counts, relative
// load in the reply, its reasoning and its answer, the co-activation matrix P(j | i), each
// expert's vocabulary (the texts it took most and its share of each) and the most frequent
// expert paths across layers. The numbers are gb::analyze_moe's (engine/trace/trace_analysis.h),
// the same that glassbox-cli analyze prints.
#pragma once

#include <QWidget>
#include <memory>

#include "engine/trace/trace.h"
#include "engine/trace/trace_analysis.h"

class QLabel;
class QListWidget;
class QStackedWidget;
class QTableWidget;

namespace gb::ui {

class HeatmapWidget;

class ExpertAnalyticsView : public QWidget {
    Q_OBJECT
public:
    explicit ExpertAnalyticsView(QWidget* parent = nullptr);
    void set_trace(std::shared_ptr<const Trace> trace);
    void trace_grew();
    void select_layer(int row);      // a row of the layer table
    void select_expert(int expert);  // lists its vocabulary in the selected layer

    const MoeAnalytics& analytics() const { return moe_; }
    bool showing_placeholder() const;
    QString placeholder_text() const;
    QString summary_text() const;
    int selected_layer() const { return layer_; }
    QTableWidget* layer_table() const { return layers_; }
    HeatmapWidget* load_heatmap() const { return load_; }
    HeatmapWidget* coactivation_heatmap() const { return coact_; }
    QListWidget* vocabulary() const { return vocab_; }
    QListWidget* paths() const { return paths_; }

protected:
    void showEvent(QShowEvent* e) override;  // catches up on what changed while hidden

private:
    void rebuild();
    bool dirty_ = false;  // the trace changed while the view was hidden
    void show_layer();

    std::shared_ptr<const Trace> trace_;
    MoeAnalytics moe_;
    int layer_ = -1;
    int expert_ = -1;
    QStackedWidget* stack_ = nullptr;
    QLabel* placeholder_ = nullptr;
    QWidget* page_ = nullptr;
    QLabel* summary_ = nullptr;
    QTableWidget* layers_ = nullptr;
    QLabel* layer_title_ = nullptr;
    HeatmapWidget* load_ = nullptr;
    HeatmapWidget* coact_ = nullptr;
    QLabel* vocab_title_ = nullptr;
    QListWidget* vocab_ = nullptr;
    QListWidget* paths_ = nullptr;
};

}  // namespace gb::ui
