// ResampleDialog: forking paths at one token of a stored reply. The user sets the rollouts
// (count, temperature, length, first seed, the expected answer if known) and sees what it will
// cost before starting; while the rollouts run, their progress; then the distribution of final
// answers and each rollout. The resamplings kept with the reply are listed by position, with a
// chart of the share of the expected (or the reply's own) answer against the position: where
// the answer was decided. The numbers are gb::resample_at's (engine/session/interventions.h),
// as `glassbox-cli resample` prints them; the owner runs the rollouts and stores the results.
#pragma once

#include <QDialog>
#include <memory>
#include <vector>

#include "app/history/history_types.h"
#include "engine/session/interventions.h"
#include "engine/trace/trace.h"

class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QDoubleSpinBox;
class QTableWidget;
class QChartView;
class QLineSeries;
class QScatterSeries;
class QValueAxis;

namespace gb::ui {

class ResampleDialog : public QDialog {
    Q_OBJECT
public:
    explicit ResampleDialog(QWidget* parent = nullptr);

    // The reply (its trace) and the generated position to resample from; the settings take the
    // reply's defaults, and `earlier` (the resamplings kept with it) fills the list and chart.
    void set_target(qint64 message_id, std::shared_ptr<const gb::Trace> trace, int at,
                    const std::vector<gb::app::StoredResampling>& earlier);
    void set_earlier(const std::vector<gb::app::StoredResampling>& earlier);
    void set_running(bool running);
    void set_progress(int done, int k);
    // A finished resampling (stored_id 0: not kept) is shown and selected in the list.
    void show_result(const gb::ResampleResult& r, qint64 stored_id);
    void set_error(const QString& error);

    qint64 message_id() const { return message_id_; }
    std::shared_ptr<const gb::Trace> trace() const { return trace_; }
    bool running() const { return running_; }
    int at() const { return at_; }
    gb::ResampleOptions options() const;
    QString status_text() const;
    QString estimate_text() const;
    QString result_text() const;
    QTableWidget* answers_table() const { return answers_; }
    QTableWidget* rollouts_table() const { return rollouts_; }
    QTableWidget* earlier_table() const { return earlier_; }
    QPushButton* start_button() const { return start_; }
    QPushButton* remove_button() const { return remove_; }
    QSpinBox* rollouts_box() const { return k_; }
    QSpinBox* length_box() const { return max_new_; }
    QDoubleSpinBox* temperature_box() const { return temp_; }
    QLineEdit* expected_edit() const { return expected_; }
    // The chart's points: (position, share) of each kept resampling, by position.
    std::vector<std::pair<int, double>> chart_points() const;

signals:
    void startRequested(gb::ResampleOptions options);
    void stopRequested();
    void removeRequested(qint64 stored_id);

private:
    void update_estimate();
    void show_stored(int row);  // the earlier resampling in that row of the list

    qint64 message_id_ = 0;
    std::shared_ptr<const gb::Trace> trace_;
    int at_ = 0;
    bool running_ = false;
    std::vector<gb::app::StoredResampling> earlier_rows_;

    QLabel* status_ = nullptr;
    QSpinBox* k_ = nullptr;
    QDoubleSpinBox* temp_ = nullptr;
    QSpinBox* max_new_ = nullptr;
    QSpinBox* seed_ = nullptr;
    QLineEdit* expected_ = nullptr;
    QLabel* estimate_ = nullptr;
    QProgressBar* progress_ = nullptr;
    QPushButton* start_ = nullptr;
    QLabel* result_ = nullptr;
    QTableWidget* answers_ = nullptr;
    QTableWidget* rollouts_ = nullptr;
    QTableWidget* earlier_ = nullptr;
    QPushButton* remove_ = nullptr;
    QChartView* chart_view_ = nullptr;
    QLineSeries* line_ = nullptr;
    QScatterSeries* dots_ = nullptr;
    QValueAxis* x_axis_ = nullptr;
};

}  // namespace gb::ui
