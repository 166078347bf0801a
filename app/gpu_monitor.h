// GpuMonitor: samples the GPU (NVML, opened at run time with dlopen so no driver is needed to
// build or run) or, without one, the CPU and memory (/proc), about 4 times a second on its own
// thread, and keeps the last minutes for the dashboard.
#pragma once

#include <QObject>
#include <QThread>
#include <QTimer>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

namespace gb::app {

struct HwSample {
    double t_s = 0;          // seconds since the monitor started
    bool gpu = false;        // false: the CPU / memory figures below are what was sampled
    double util_pct = 0;     // GPU utilisation, or CPU use over all cores
    double mem_used_mb = 0;  // GPU memory, or system memory in use
    double mem_total_mb = 0;
    double power_w = 0;        // GPU only
    double temp_c = 0;         // GPU only
    double sm_clock_mhz = 0;   // GPU only
    double mem_clock_mhz = 0;  // GPU only
    // Glassbox itself (CPU sampler): its share of all cores, like util_pct, and its resident
    // memory; -1 where not sampled.
    double app_cpu_pct = -1;
    double app_mem_mb = -1;
};

// This process's CPU share of all cores between two readings: the change in its utime+stime
// (fields 14 and 15 of /proc/self/stat) over the change in the machine's total jiffies (the
// first line of /proc/stat), both in clock ticks. Exposed for tests.
double process_cpu_share_pct(unsigned long long self_ticks_delta,
                             unsigned long long total_ticks_delta);
// utime + stime from the text of /proc/<pid>/stat (the command name may hold spaces and
// parentheses); -1 when the text is not one.
long long stat_cpu_ticks(const std::string& proc_stat_text);

// One source of samples; the fake in tests implements it too.
class HwSampler {
public:
    virtual ~HwSampler() = default;
    virtual bool is_gpu() const = 0;
    virtual std::string device_name() const = 0;
    virtual bool sample(HwSample& s) = 0;  // false: this sample failed
};

// NVML through dlopen("libnvidia-ml.so.1"); nullptr when the library or a GPU is missing
// (why is written to *why).
std::unique_ptr<HwSampler> open_nvml_sampler(std::string* why = nullptr);
// CPU use from /proc/stat and memory from /proc/meminfo.
std::unique_ptr<HwSampler> open_proc_sampler();

class GpuMonitor : public QObject {
    Q_OBJECT
public:
    // sampler: nullptr picks NVML, else /proc.
    explicit GpuMonitor(std::unique_ptr<HwSampler> sampler = nullptr, int interval_ms = 250,
                        double keep_seconds = 300, QObject* parent = nullptr);
    ~GpuMonitor() override;

    bool is_gpu() const { return gpu_; }
    QString device_name() const { return name_; }
    QString unavailable_reason() const { return why_; }  // why there is no GPU view
    std::deque<HwSample> history() const;                // oldest first

signals:
    void sampled(gb::app::HwSample sample);  // queued to the receiver's thread

private:
    std::unique_ptr<HwSampler> sampler_;
    QThread thread_;
    QTimer* timer_ = nullptr;  // lives in thread_
    bool gpu_ = false;
    QString name_, why_;
    double keep_s_;
    mutable std::mutex mu_;
    std::deque<HwSample> history_;
};

}  // namespace gb::app

Q_DECLARE_METATYPE(gb::app::HwSample)
