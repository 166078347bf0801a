// ExpertAnalyticsView: how a mixture-of-experts model shared the work over a whole reply, per
// MoE layer: tokens, MaxVio (DeepSeek-V3's relative load), Gini of the expert counts, relative
// load in the reply, its reasoning and its answer, the co-activation matrix P(j | i), each
// expert's vocabulary (the texts it took most and its share of each) and the most frequent
// expert paths across layers. The numbers are gb::analyze_moe's (engine/trace/trace_analysis.h),
// the same that glassbox-cli analyze prints.
#pragma once

#include <QWidget>
#include <memory>

#include "app/history/trace_blob.h"
#include "engine/trace/trace.h"
#include "engine/trace/trace_analysis.h"

class QComboBox;
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

    // What the view counts: the inspected reply, or a set of stored replies summed through the
    // history's expert-usage table (loads only: co-activation, vocabulary and paths need the
    // tokens of one reply).
    // Chosen: every reply of the conversations selected (Ctrl+click) in the history.
    enum class Scope { Reply, Conversation, Chosen, Model };
    void set_scope(Scope scope);  // asks for the rows with scopeRequested (not for Reply)
    Scope scope() const { return scope_; }
    // The summed rows for the scope asked for: `replies` stored replies, k experts per token
    // (0: unknown; relative loads stay exact, token counts are then routings).
    // full (may be null): the analytics of all their tokens together, from their traces.
    void set_aggregate(int replies, const std::vector<gb::app::ExpertUsage>& rows, int n_expert,
                       int k, std::shared_ptr<const MoeAnalytics> full = nullptr);
    void set_aggregate_error(const QString& error);

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

signals:
    void scopeRequested(gb::ui::ExpertAnalyticsView::Scope scope);

protected:
    void showEvent(QShowEvent* e) override;  // catches up on what changed while hidden

private:
    void rebuild();
    void show_analytics();  // moe_ into the page
    bool dirty_ = false;    // the trace changed while the view was hidden
    void show_layer();

    std::shared_ptr<const Trace> trace_;
    MoeAnalytics moe_;
    Scope scope_ = Scope::Reply;
    MoeAnalytics aggregate_;
    int aggregate_replies_ = 0;
    QString aggregate_error_;
    bool aggregate_ready_ = false;
    bool aggregate_full_ = false;  // from the replies' traces, not only the usage table
    QComboBox* scope_box_ = nullptr;
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
