// TokenInspector: every token of a reply (prompt, reasoning, answer) as clickable text, coloured
// by probability or entropy; the selected token's probability, entropy, timing and a bar chart
// of its top alternatives.
#pragma once

#include <QWidget>
#include <memory>

#include "engine/trace/trace.h"
#include "ui/token_flow_view.h"

class QCheckBox;
class QGridLayout;
class QPushButton;
class QComboBox;
class QSlider;
class QSpinBox;
class QLabel;
class QChartView;
class QBarSet;
class QBarCategoryAxis;
class QValueAxis;
class QHorizontalBarSeries;

namespace gb::ui {

// One line on how the reply's probabilities were computed (Trace::precision): precise, fast,
// by a server, or not recorded.
QString precision_note(const Trace& t);

class TokenInspector : public QWidget {
    Q_OBJECT
public:
    explicit TokenInspector(QWidget* parent = nullptr);
    void set_trace(std::shared_ptr<const Trace> trace);
    // The trace given to set_trace() has grown (a reply being streamed).
    void trace_grew();
    const std::shared_ptr<const Trace>& trace() const { return trace_; }
    void select_token(int index);
    int selected() const { return selected_; }
    void set_overlay(Overlay mode);
    QString details_text() const;
    int chart_bars() const;  // alternatives in the chart (tests)
    TokenFlowView* flow_view() const { return text_; }

    // "What if" (teaching): the selected token's recorded alternatives reshaped by other sampler
    // settings (engine/sample/what_if.h), drawn beside the model's own probabilities. Display
    // only. temperature 0 is greedy; top_k 0 and top_p 1 are off.
    void set_what_if(bool on, double temperature = 1.0, int top_k = 0, double top_p = 1.0);
    // The reshaped probabilities of the alternatives, most likely first (empty when off).
    std::vector<double> what_if_values() const { return what_if_; }
    QString what_if_text() const;

    // Branching: while on (a stored reply of the loaded model is shown), a generated token's
    // alternatives can be picked to continue the reply from there (branchRequested says which),
    // and the reply can be run again (reproduceRequested).
    void set_branchable(bool on);
    bool branchable() const { return branchable_; }
    QComboBox* branch_choice() const { return branch_box_; }
    QPushButton* branch_button() const { return branch_button_; }
    QPushButton* reproduce_button() const { return reproduce_button_; }
    QPushButton* rescore_button() const { return rescore_button_; }
    QPushButton* lens_button() const { return lens_button_; }
    QPushButton* resample_button() const { return resample_button_; }

signals:
    void tokenSelected(int index);
    // Continue the reply from generated position `at` with `token` in place of its own.
    void branchRequested(int at, int token);
    void reproduceRequested();
    // The reply's probabilities from the other precision mode, to compare with its own.
    void rescoreRequested(bool precise);
    // The logit lens of token `index` (what each layer predicted for it).
    void lensRequested(int index);
    void resampleRequested(int index);  // a generated token: forking paths from there

protected:
    void resizeEvent(QResizeEvent* e) override;

private:
    QGridLayout* top_ = nullptr;
    QWidget* actions_ = nullptr;  // Layers, Resample, Run again
    bool two_rows_ = false;       // narrow: the actions sit under "Colour by"
    void update_what_if();
    void update_branch();
    bool branchable_ = false;
    QComboBox* branch_box_ = nullptr;
    QPushButton* branch_button_ = nullptr;
    QPushButton* reproduce_button_ = nullptr;
    QPushButton* rescore_button_ = nullptr;
    QPushButton* lens_button_ = nullptr;
    QPushButton* resample_button_ = nullptr;

    std::shared_ptr<const Trace> trace_;
    std::vector<double> what_if_;
    QCheckBox* what_if_box_ = nullptr;
    QSlider* temp_slider_ = nullptr;
    QSpinBox* top_k_box_ = nullptr;
    QSlider* top_p_slider_ = nullptr;
    QLabel* what_if_label_ = nullptr;
    int selected_ = -1;
    Overlay overlay_ = Overlay::Probability;
    QComboBox* overlay_box_ = nullptr;
    TokenFlowView* text_ = nullptr;
    QLabel* details_ = nullptr;
    QChartView* chart_view_ = nullptr;
    QHorizontalBarSeries* series_ = nullptr;
    QBarCategoryAxis* cat_axis_ = nullptr;
    QValueAxis* val_axis_ = nullptr;
};

}  // namespace gb::ui
