// RoutingView: where a MoE model sent each token. For the selected token, a layers x experts
// heatmap of gate weights; for the whole reply, expert load per layer (token counts), in the
// reasoning, the answer, or their difference; clicking a cell lists the tokens that expert took
// in that layer. A dense model says plainly that it has no experts.
#pragma once

#include <QWidget>
#include <memory>

#include "app/chat_types.h"
#include "engine/trace/expert_load.h"
#include "engine/trace/trace.h"

class QComboBox;
class QLabel;
class QListWidget;
class QStackedWidget;

namespace gb::ui {

class HeatmapWidget;

// Expert load of a reply for the heatmap, from the engine's count (engine/trace/expert_load.h):
// counts[layer row * n_expert + expert] over the generated tokens of the given phase (nullptr
// phase: reasoning and answer together); no rows when the reply has no routed tokens.
struct ExpertLoad {
    int n_layers = 0, n_expert = 0;
    std::vector<double> counts;
    QStringList layer_labels;
};
ExpertLoad expert_load(const gb::ExpertLoad& counted, int n_expert, const Phase* phase);

class RoutingView : public QWidget {
    Q_OBJECT
public:
    enum class LoadMode { All, Reasoning, Answer, Difference };
    explicit RoutingView(QWidget* parent = nullptr);
    void set_trace(std::shared_ptr<const Trace> trace);
    // The model now loaded: what the view says while no reply is inspected, and whether an
    // inspected reply came from another model.
    void set_loaded_model(const gb::app::ModelInfo& m);
    // The trace given to set_trace() has grown (a reply being streamed): the load and summary
    // follow, the selected token and expert list stay.
    void trace_grew();
    void select_token(int index);
    void set_load_mode(LoadMode mode);
    void select_expert(int layer_row, int expert);
    bool showing_dense_message() const;
    QString summary_text() const;
    HeatmapWidget* token_heatmap() const { return token_map_; }
    HeatmapWidget* load_heatmap() const { return load_map_; }
    QListWidget* expert_tokens() const { return expert_tokens_; }

signals:
    void tokenActivated(int index);  // a token in the expert's list was chosen

private:
    QString model_name_;  // the loaded model ('' when none)
    int64_t model_experts_ = 0, model_k_ = 0;
    void show_message_without_trace();
    void update_load();  // counts the trace, then the overload below
    void update_load(const gb::ExpertLoad& counted);

    std::shared_ptr<const Trace> trace_;
    int selected_ = -1;
    LoadMode mode_ = LoadMode::All;
    QStackedWidget* stack_ = nullptr;
    QLabel* dense_ = nullptr;
    QLabel* summary_ = nullptr;
    QLabel* token_title_ = nullptr;
    HeatmapWidget* token_map_ = nullptr;
    QComboBox* mode_box_ = nullptr;
    HeatmapWidget* load_map_ = nullptr;
    QLabel* expert_title_ = nullptr;
    QListWidget* expert_tokens_ = nullptr;
};

}  // namespace gb::ui
