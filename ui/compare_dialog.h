// CompareDialog: two replies side by side. Pick each from the conversation's replies (every
// branch: regenerations with other seeds, edits) or from a trace file (another model or
// quantisation); the dialog shows their aligned tokens (shared, only in A, only in B), the
// log-probability difference along the alignment, and per MoE layer the change of expert load.
#pragma once

#include <QDialog>
#include <memory>
#include <vector>

#include "app/chat_controller.h"
#include "app/reply_comparison.h"

class QComboBox;
class QLabel;
class QTextBrowser;

namespace gb::ui {

class HeatmapWidget;
class SparklineWidget;

class CompareDialog : public QDialog {
    Q_OBJECT
public:
    // a: the reply to preselect as A (0: none); B is then the reply before it, if any.
    CompareDialog(gb::app::ChatController& controller, qint64 a, QWidget* parent = nullptr);

    // A choice of each side; compares at once (for tests and scripts).
    void compare(const gb::app::ReplySource& a, const gb::app::ReplySource& b);
    bool busy() const { return comparison_.busy(); }
    QString summary_text() const;
    QString alignment_html() const { return html_; }  // as generated, before Qt's rewrite
    SparklineWidget* difference_line() const { return line_; }
    HeatmapWidget* load_heatmap() const { return loads_; }
    const gb::TraceComparison* result() const { return result_.get(); }
    QComboBox* side(int i) const { return i == 0 ? a_ : b_; }
    // A trace in memory (a rescoring of the reply on side A) as a choice for side B, chosen
    // and compared at once.
    void add_trace(std::shared_ptr<const gb::Trace> t, const QString& label);

private:
    void fill_choices(qint64 a);
    void choose_file(QComboBox* box);
    void run();
    void show_result(std::shared_ptr<const gb::Trace> a, std::shared_ptr<const gb::Trace> b,
                     std::shared_ptr<const gb::TraceComparison> c);

    gb::app::ChatController& c_;
    gb::app::ReplyComparison comparison_;
    QComboBox* a_ = nullptr;
    QComboBox* b_ = nullptr;
    QLabel* summary_ = nullptr;
    QTextBrowser* tokens_ = nullptr;
    SparklineWidget* line_ = nullptr;
    HeatmapWidget* loads_ = nullptr;
    std::shared_ptr<const gb::TraceComparison> result_;
    std::shared_ptr<const gb::Trace> ta_, tb_;
    std::vector<std::shared_ptr<const gb::Trace>> added_;  // add_trace's, by -(data + 10)
    QString html_;
};

}  // namespace gb::ui
