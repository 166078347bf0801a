// ModelAnatomyView: the loaded model's structure from its metadata, for the classroom: the layer
// stack (dense and MoE layers, the attention kind), parameters per part with how many one token
// uses, what the KV cache keeps per token (MLA's compressed latent against the per-head cache it
// replaces) and what the current context costs. A switch shows the same for DeepSeek-V3/R1's
// published shapes: why 37B of 671B parameters are active and why its cache is 71 times smaller.
#pragma once

#include <QWidget>

#include "app/chat_types.h"

class QComboBox;
class QLabel;
class QStackedWidget;
class QTableWidget;

namespace gb::ui {

class LayerStackWidget;

class ModelAnatomyView : public QWidget {
    Q_OBJECT
public:
    explicit ModelAnatomyView(QWidget* parent = nullptr);
    // The loaded model (an empty anatomy: none loaded, or its metadata could not be read) and
    // the context: positions allocated and in use.
    void set_model(const gb::app::ModelInfo& info);
    void set_context(int64_t n_ctx, int64_t used);
    void show_reference(bool deepseek);  // the switch: this model, or DeepSeek-V3/R1

    bool showing_placeholder() const;
    QString summary_text() const;
    QString cache_text() const;
    QTableWidget* parts_table() const { return parts_; }
    const gb::ModelAnatomy& shown() const { return shown_; }

private:
    void rebuild();

    gb::app::ModelInfo model_;
    gb::ModelAnatomy shown_;
    bool reference_ = false;
    int64_t n_ctx_ = 0, used_ = 0;
    QComboBox* which_ = nullptr;
    QStackedWidget* stack_ = nullptr;
    QLabel* placeholder_ = nullptr;
    QWidget* page_ = nullptr;
    QLabel* summary_ = nullptr;
    LayerStackWidget* stack_view_ = nullptr;
    QTableWidget* parts_ = nullptr;
    QLabel* cache_ = nullptr;
};

}  // namespace gb::ui
