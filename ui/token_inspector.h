// TokenInspector: every token of a reply (prompt, reasoning, answer) as clickable text, coloured
// by probability or entropy; the selected token's probability, entropy, timing and a bar chart
// of its top alternatives.
#pragma once

#include <QWidget>
#include <memory>

#include "engine/trace/trace.h"
#include "ui/token_flow_view.h"

class QComboBox;
class QLabel;
class QChartView;
class QBarSet;
class QBarCategoryAxis;
class QValueAxis;
class QHorizontalBarSeries;

namespace gb::ui {

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

signals:
    void tokenSelected(int index);

private:
    std::shared_ptr<const Trace> trace_;
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
