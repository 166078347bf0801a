// GpuDashboard: the GPU monitor's samples charted over the last minutes (utilisation, memory,
// power, temperature, clocks), or CPU and memory use when there is no NVIDIA GPU, next to the
// engine's own figures for the last reply.
#pragma once

#include <QWidget>

#include "app/gpu_monitor.h"
#include "app/server_monitor.h"
#include "engine/trace/trace.h"

class QLabel;
class QChart;
class QLineSeries;
class QValueAxis;

namespace gb::ui {

// A round tick step (1, 2, 2.5 or 5 times a power of ten) giving at most max_ticks steps
// over span: 82 s at 5 ticks gives 20 s.
double nice_tick_interval(double span, int max_ticks);

class GpuDashboard : public QWidget {
    Q_OBJECT
public:
    explicit GpuDashboard(QWidget* parent = nullptr);
    void attach(gb::app::GpuMonitor* monitor);
    void add_sample(const gb::app::HwSample& s);
    // Time to first token, prefill and decode speed, KV cache fill, backend of a reply.
    void set_engine_figures(const Trace& t, int64_t n_ctx);
    // A remote model: the server is named (empty: the model is local, the server part hides)
    // and its polled figures charted.
    void set_server(const QString& description);
    void add_server_sample(const gb::app::ServerSample& s);
    QString server_text() const;
    QString status_text() const;
    QString engine_text() const;
    int points() const;

private:
    struct Plot {
        QChart* chart = nullptr;
        QValueAxis *x = nullptr, *y = nullptr;
        bool auto_y = true;  // false: the y range is set from the sample (0-100 %, 0-total)
        std::vector<QLineSeries*> series;
    };
    Plot make_plot(const QString& title, const QStringList& names, const QString& unit);
    void append(Plot& p, int i, double t, double v);
    void set_range(QValueAxis* axis, double lo, double hi);

    bool gpu_ = false;
    QLabel* status_ = nullptr;
    QLabel* engine_ = nullptr;
    QLabel* latest_ = nullptr;
    QLabel* server_ = nullptr;
    QString server_name_;
    Plot requests_, throughput_;
    QWidget* server_views_ = nullptr;
    Plot util_, mem_, power_, clocks_;
    QWidget *power_view_ = nullptr, *clocks_view_ = nullptr;
    double window_s_ = 180;
};

}  // namespace gb::ui
