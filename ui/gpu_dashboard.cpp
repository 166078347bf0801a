// GpuDashboard: line charts fed by GpuMonitor's queued samples.
#include "ui/gpu_dashboard.h"

#include <QChart>
#include <QChartView>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineSeries>
#include <QVBoxLayout>
#include <QValueAxis>
#include <cmath>

#include "ui/chart_export.h"

namespace gb::ui {

GpuDashboard::GpuDashboard(QWidget* parent) : QWidget(parent) {
    auto* v = new QVBoxLayout(this);
    status_ = new QLabel(tr("Hardware monitor not started."), this);
    status_->setWordWrap(true);
    status_->setAccessibleName(tr("Hardware status"));
    v->addWidget(status_);
    latest_ = new QLabel(this);
    latest_->setWordWrap(true);
    v->addWidget(latest_);
    server_ = new QLabel(this);
    server_->setWordWrap(true);
    server_->setAccessibleName(tr("Server health"));
    server_->hide();
    v->addWidget(server_);
    server_views_ = new QWidget(this);
    auto* sv = new QHBoxLayout(server_views_);
    sv->setContentsMargins(0, 0, 0, 0);
    requests_ = make_plot(tr("Server requests"), {tr("running"), tr("waiting")}, "");
    throughput_ = make_plot(tr("Server generation"), {tr("tok/s")}, "tok/s");
    for (Plot* p : {&requests_, &throughput_}) {
        auto* view = new QChartView(p->chart, server_views_);
        view->setRenderHint(QPainter::Antialiasing);
        view->setMinimumSize(220, 150);
        view->setAccessibleName(p->chart->title());
        add_export_menu(view, p->chart->title().toLower());
        sv->addWidget(view);
    }
    server_views_->hide();
    v->addWidget(server_views_, 1);
    engine_ = new QLabel(tr("Engine: no reply yet."), this);
    engine_->setWordWrap(true);
    engine_->setAccessibleName(tr("Engine figures"));
    v->addWidget(engine_);
    auto* grid = new QGridLayout;
    v->addLayout(grid, 1);
    util_ = make_plot(tr("Utilisation"), {tr("GPU busy"), tr("Glassbox CPU")}, "%");
    mem_ = make_plot(tr("Memory"), {tr("GPU memory used"), tr("Glassbox")}, "MiB");
    util_.auto_y = false;
    set_range(util_.y, 0, 100);
    power_ = make_plot(tr("Power and temperature"), {tr("W"), tr("°C")}, "");
    clocks_ = make_plot(tr("Clocks"), {tr("SM MHz"), tr("memory MHz")}, "MHz");
    int i = 0;
    for (Plot* p : {&util_, &mem_, &power_, &clocks_}) {
        auto* view = new QChartView(p->chart, this);
        view->setRenderHint(QPainter::Antialiasing);
        view->setMinimumSize(220, 150);
        view->setAccessibleName(p->chart->title());
        add_export_menu(view, p->chart->title().toLower());
        grid->addWidget(view, i / 2, i % 2);
        if (p == &power_) power_view_ = view;
        if (p == &clocks_) clocks_view_ = view;
        ++i;
    }
}

GpuDashboard::Plot GpuDashboard::make_plot(const QString& title, const QStringList& names,
                                           const QString& unit) {
    Plot p;
    p.chart = new QChart;
    p.chart->setTitle(title);
    p.chart->setMargins(QMargins(2, 2, 2, 2));
    // Ticks at round numbers (0, 30, 60 s; 0, 25, 50 %), not at fifths of the range.
    p.x = new QValueAxis;
    p.x->setTitleText(tr("seconds"));
    p.x->setLabelFormat("%.0f");
    p.x->setTickType(QValueAxis::TicksDynamic);
    p.x->setTickAnchor(0);
    p.y = new QValueAxis;
    p.y->setTitleText(unit);
    p.y->setLabelFormat("%.0f");
    p.y->setTickType(QValueAxis::TicksDynamic);
    p.y->setTickAnchor(0);
    p.chart->addAxis(p.x, Qt::AlignBottom);
    p.chart->addAxis(p.y, Qt::AlignLeft);
    for (const QString& n : names) {
        auto* s = new QLineSeries;
        s->setName(n);
        p.chart->addSeries(s);
        s->attachAxis(p.x);
        s->attachAxis(p.y);
        p.series.push_back(s);
    }
    p.chart->legend()->setVisible(names.size() > 1);
    return p;
}

void GpuDashboard::attach(gb::app::GpuMonitor* monitor) {
    gpu_ = monitor->is_gpu();
    if (gpu_) {
        // The GPU's memory chart has no second line (the app's host memory is another scale).
        QLineSeries* app_mem = mem_.series[1];
        mem_.chart->removeSeries(app_mem);
        delete app_mem;
        mem_.series.pop_back();
        mem_.chart->legend()->setVisible(false);
        status_->setText(tr("GPU: %1 (NVML, 4 samples/s)").arg(monitor->device_name()));
    } else {
        status_->setText(tr("No NVIDIA GPU: %1. Showing CPU (%2) and memory use instead.")
                             .arg(monitor->unavailable_reason().isEmpty()
                                      ? tr("NVML unavailable")
                                      : monitor->unavailable_reason(),
                                  monitor->device_name()));
        util_.chart->setTitle(tr("CPU use (share of all cores)"));
        mem_.chart->setTitle(tr("Memory"));
        util_.series[0]->setName(tr("whole system"));
        util_.series[1]->setName(tr("Glassbox"));
        mem_.series[0]->setName(tr("system in use"));
        mem_.series[1]->setName(tr("Glassbox (resident)"));
        // Power, temperature and clocks exist only for a GPU: no empty charts.
        power_view_->hide();
        clocks_view_->hide();
    }
    for (const auto& s : monitor->history()) add_sample(s);
    connect(monitor, &gb::app::GpuMonitor::sampled, this, &GpuDashboard::add_sample);
}

void GpuDashboard::append(Plot& p, int i, double t, double v) {
    QLineSeries* s = p.series[static_cast<size_t>(i)];
    s->append(t, v);
    // Keep the last window_s_ seconds; drop old points in one go to keep appends cheap.
    int drop = 0;
    while (drop < s->count() && s->at(drop).x() < t - window_s_) ++drop;
    if (drop > 0) s->removePoints(0, drop);
    set_range(p.x, std::max(0.0, t - window_s_), std::max(t, 10.0));
    if (!p.auto_y) return;
    double hi = 1;
    for (QLineSeries* ser : p.series)
        for (const QPointF& pt : ser->points()) hi = std::max(hi, pt.y());
    set_range(p.y, 0, hi * 1.1);
}

void GpuDashboard::set_range(QValueAxis* axis, double lo, double hi) {
    // The step first: a wide range laid out with the last (small) step would make hundreds of
    // ticks for a moment.
    axis->setTickInterval(nice_tick_interval(hi - lo, 5));
    axis->setRange(lo, hi);
}

double nice_tick_interval(double span, int max_ticks) {
    if (!(span > 0) || max_ticks < 1) return 1;
    const double raw = span / max_ticks;
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
        if (m * mag >= raw) return m * mag;
    return 10 * mag;
}

void GpuDashboard::add_sample(const gb::app::HwSample& s) {
    append(util_, 0, s.t_s, s.util_pct);
    if (s.app_cpu_pct >= 0) append(util_, 1, s.t_s, s.app_cpu_pct);
    append(mem_, 0, s.t_s, s.mem_used_mb);
    if (mem_.series.size() > 1 && s.app_mem_mb >= 0) append(mem_, 1, s.t_s, s.app_mem_mb);
    mem_.auto_y = !(s.mem_total_mb > 0);
    if (s.mem_total_mb > 0 && mem_.y->max() != s.mem_total_mb) set_range(mem_.y, 0, s.mem_total_mb);
    if (s.gpu) {
        append(power_, 0, s.t_s, s.power_w);
        append(power_, 1, s.t_s, s.temp_c);
        append(clocks_, 0, s.t_s, s.sm_clock_mhz);
        append(clocks_, 1, s.t_s, s.mem_clock_mhz);
        latest_->setText(tr("now: %1% busy · %2 / %3 MiB · %4 W · %5 °C · SM %6 MHz")
                             .arg(s.util_pct, 0, 'f', 0)
                             .arg(s.mem_used_mb, 0, 'f', 0)
                             .arg(s.mem_total_mb, 0, 'f', 0)
                             .arg(s.power_w, 0, 'f', 0)
                             .arg(s.temp_c, 0, 'f', 0)
                             .arg(s.sm_clock_mhz, 0, 'f', 0));
    } else {
        latest_->setText(tr("now: Glassbox %1% of the CPU, %2 MiB · whole system %3% · %4 / %5 "
                            "MiB")
                             .arg(std::max(0.0, s.app_cpu_pct), 0, 'f', 0)
                             .arg(std::max(0.0, s.app_mem_mb), 0, 'f', 0)
                             .arg(s.util_pct, 0, 'f', 0)
                             .arg(s.mem_used_mb, 0, 'f', 0)
                             .arg(s.mem_total_mb, 0, 'f', 0));
    }
}

void GpuDashboard::set_engine_figures(const Trace& t, int64_t n_ctx) {
    double ttft = 0;
    for (const TokenRecord& r : t.tokens)
        if (r.phase != Phase::Prompt) {
            ttft = r.t_ms;
            break;
        }
    if (t.backend.rfind("remote", 0) == 0) {
        // The model runs on a server: its GPUs are not this machine's, and the charts below
        // show only this computer (the client).
        const ServerUsage& u = t.server_usage;
        QString figures;
        if (u.prompt_tokens >= 0) figures += tr(" · prompt %1 tokens").arg(u.prompt_tokens);
        if (u.cached_prompt_tokens >= 0) figures += tr(" (%1 cached)").arg(u.cached_prompt_tokens);
        if (u.completion_tokens >= 0) figures += tr(" · reply %1 tokens").arg(u.completion_tokens);
        if (u.generate_ms > 0 && u.completion_tokens > 0)
            figures += tr(" · server decode %1 tok/s")
                           .arg(1000.0 * u.completion_tokens / u.generate_ms, 0, 'f', 1);
        engine_->setText(
            tr("The model runs remotely on %1 (%2): the charts below are this computer's, not "
               "the server's. Last reply: time to first token %3 ms · %4 tok/s as received%5.")
                .arg(QString::fromStdString(t.device.empty() ? t.backend : t.device))
                .arg(QString::fromStdString(t.model))
                .arg(ttft, 0, 'f', 0)
                .arg(t.decode_ms > 0 ? 1000.0 * t.n_gen / t.decode_ms : 0.0, 0, 'f', 1)
                .arg(figures));
        return;
    }
    const double pp = t.prefill_ms > 0 ? 1000.0 * t.n_prompt / t.prefill_ms : 0;
    const double tg = t.decode_ms > 0 ? 1000.0 * t.n_gen / t.decode_ms : 0;
    const int64_t used = t.n_prompt + t.n_gen;
    engine_->setText(tr("Engine (last reply): backend %1 · time to first token %2 ms · prefill %3 "
                        "tok/s · decode %4 tok/s · "
                        "KV cache %5 / %6 positions (%7%)")
                         .arg(QString::fromStdString(t.backend.empty() ? "cpu" : t.backend))
                         .arg(ttft, 0, 'f', 0)
                         .arg(pp, 0, 'f', 1)
                         .arg(tg, 0, 'f', 1)
                         .arg(used)
                         .arg(n_ctx)
                         .arg(n_ctx > 0 ? 100.0 * used / n_ctx : 0.0, 0, 'f', 1));
}

void GpuDashboard::set_server(const QString& description) {
    server_name_ = description;
    server_->setVisible(!description.isEmpty());
    server_views_->setVisible(false);  // until the server gives figures
    for (Plot* p : {&requests_, &throughput_})
        for (QLineSeries* s : p->series) s->clear();
    if (!description.isEmpty())
        server_->setText(tr("Server %1: asking for its figures…").arg(description));
}

void GpuDashboard::add_server_sample(const gb::app::ServerSample& s) {
    if (server_name_.isEmpty()) return;
    if (!s.error.isEmpty()) {
        server_->setText(tr("Server %1: no health figures (%2).").arg(server_name_, s.error));
        return;
    }
    const gb::remote::ServerHealth& h = s.health;
    auto known = [](double v) { return v >= 0; };
    QStringList parts;
    if (known(h.running)) parts << tr("%1 running").arg(h.running, 0, 'f', 0);
    if (known(h.waiting)) parts << tr("%1 waiting").arg(h.waiting, 0, 'f', 0);
    if (h.n_slots >= 0) parts << tr("%1 of %2 slots busy").arg(h.slots_busy).arg(h.n_slots);
    if (known(h.kv_usage)) parts << tr("KV cache %1% used").arg(100 * h.kv_usage, 0, 'f', 1);
    if (known(h.gen_tps)) parts << tr("%1 tok/s generated").arg(h.gen_tps, 0, 'f', 1);
    if (known(h.gen_tokens_total))
        parts << tr("%1 tokens generated since it started").arg(h.gen_tokens_total, 0, 'f', 0);
    server_->setText(
        parts.isEmpty()
            ? tr("Server %1: its metrics hold none of the figures shown here.").arg(server_name_)
            : tr("Server %1 (its own metrics): %2.")
                  .arg(server_name_, parts.join(QStringLiteral(" · "))));
    server_views_->setVisible(true);
    if (known(h.running)) append(requests_, 0, s.t_s, h.running);
    if (known(h.waiting)) append(requests_, 1, s.t_s, h.waiting);
    if (known(h.gen_tps)) append(throughput_, 0, s.t_s, h.gen_tps);
}

QString GpuDashboard::server_text() const { return server_->isVisible() ? server_->text() : ""; }

QString GpuDashboard::status_text() const { return status_->text(); }
QString GpuDashboard::engine_text() const { return engine_->text(); }
int GpuDashboard::points() const { return static_cast<int>(util_.series[0]->count()); }

}  // namespace gb::ui
