// GpuMonitor: NVML via a table of dlsym'd functions (the few we need), a /proc fallback, and
// the sampling thread.
#include "app/gpu_monitor.h"

#include <dlfcn.h>

#include <QElapsedTimer>
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace gb::app {

namespace {

// The NVML ABI subset we call; types as nvml.h declares them (opaque device handle, C ints).
using nvmlDevice_t = void*;
struct NvmlUtilization {
    unsigned int gpu, memory;
};
struct NvmlMemory {
    unsigned long long total, free, used;
};
constexpr int kNvmlTemperatureGpu = 0;
constexpr int kNvmlClockSm = 1, kNvmlClockMem = 2;

class NvmlSampler : public HwSampler {
public:
    ~NvmlSampler() override {
        if (shutdown_) shutdown_();
        if (lib_) dlclose(lib_);
    }
    bool open(std::string* why) {
        lib_ = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
        if (!lib_) return fail(why, "no NVIDIA driver (libnvidia-ml.so.1 not found)");
        auto sym = [&](const char* a, const char* b = nullptr) {
            void* p = dlsym(lib_, a);
            return p ? p : (b ? dlsym(lib_, b) : nullptr);
        };
        init_ = reinterpret_cast<int (*)()>(sym("nvmlInit_v2", "nvmlInit"));
        shutdown_ = reinterpret_cast<int (*)()>(sym("nvmlShutdown"));
        handle_ = reinterpret_cast<int (*)(unsigned, nvmlDevice_t*)>(
            sym("nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex"));
        name_fn_ =
            reinterpret_cast<int (*)(nvmlDevice_t, char*, unsigned)>(sym("nvmlDeviceGetName"));
        util_ = reinterpret_cast<int (*)(nvmlDevice_t, NvmlUtilization*)>(
            sym("nvmlDeviceGetUtilizationRates"));
        mem_ = reinterpret_cast<int (*)(nvmlDevice_t, NvmlMemory*)>(sym("nvmlDeviceGetMemoryInfo"));
        power_ = reinterpret_cast<int (*)(nvmlDevice_t, unsigned*)>(sym("nvmlDeviceGetPowerUsage"));
        temp_ = reinterpret_cast<int (*)(nvmlDevice_t, int, unsigned*)>(
            sym("nvmlDeviceGetTemperature"));
        clock_ =
            reinterpret_cast<int (*)(nvmlDevice_t, int, unsigned*)>(sym("nvmlDeviceGetClockInfo"));
        if (!init_ || !handle_ || !util_ || !mem_)
            return fail(why, "libnvidia-ml.so.1 lacks the functions we need");
        if (init_() != 0) {
            shutdown_ = nullptr;
            return fail(why, "NVML could not initialise (is the driver loaded?)");
        }
        if (handle_(0, &dev_) != 0) return fail(why, "NVML found no GPU");
        char buf[96] = {};
        if (name_fn_ && name_fn_(dev_, buf, sizeof buf) == 0) name_ = buf;
        return true;
    }
    bool is_gpu() const override { return true; }
    std::string device_name() const override { return name_.empty() ? "NVIDIA GPU" : name_; }
    bool sample(HwSample& s) override {
        s.gpu = true;
        NvmlUtilization u{};
        NvmlMemory m{};
        if (util_(dev_, &u) != 0 || mem_(dev_, &m) != 0) return false;
        s.util_pct = u.gpu;
        s.mem_used_mb = static_cast<double>(m.used) / (1 << 20);
        s.mem_total_mb = static_cast<double>(m.total) / (1 << 20);
        unsigned v = 0;
        if (power_ && power_(dev_, &v) == 0) s.power_w = v / 1000.0;  // milliwatts
        if (temp_ && temp_(dev_, kNvmlTemperatureGpu, &v) == 0) s.temp_c = v;
        if (clock_ && clock_(dev_, kNvmlClockSm, &v) == 0) s.sm_clock_mhz = v;
        if (clock_ && clock_(dev_, kNvmlClockMem, &v) == 0) s.mem_clock_mhz = v;
        return true;
    }

private:
    bool fail(std::string* why, const char* msg) {
        if (why) *why = msg;
        return false;
    }
    void* lib_ = nullptr;
    nvmlDevice_t dev_ = nullptr;
    std::string name_;
    int (*init_)() = nullptr;
    int (*shutdown_)() = nullptr;
    int (*handle_)(unsigned, nvmlDevice_t*) = nullptr;
    int (*name_fn_)(nvmlDevice_t, char*, unsigned) = nullptr;
    int (*util_)(nvmlDevice_t, NvmlUtilization*) = nullptr;
    int (*mem_)(nvmlDevice_t, NvmlMemory*) = nullptr;
    int (*power_)(nvmlDevice_t, unsigned*) = nullptr;
    int (*temp_)(nvmlDevice_t, int, unsigned*) = nullptr;
    int (*clock_)(nvmlDevice_t, int, unsigned*) = nullptr;
};

class ProcSampler : public HwSampler {
public:
    bool is_gpu() const override { return false; }
    std::string device_name() const override {
        std::ifstream f("/proc/cpuinfo");
        for (std::string line; std::getline(f, line);)
            if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
        return "CPU";
    }
    bool sample(HwSample& s) override {
        s.gpu = false;
        std::ifstream stat("/proc/stat");
        std::string cpu;
        unsigned long long v[8] = {};
        stat >> cpu >> v[0] >> v[1] >> v[2] >> v[3] >> v[4] >> v[5] >> v[6] >> v[7];
        if (!stat || cpu != "cpu") return false;
        const unsigned long long idle = v[3] + v[4];
        unsigned long long total = 0;
        for (auto x : v) total += x;
        const long long self = read_self_ticks();
        if (prev_total_ && total > prev_total_) {
            s.util_pct = 100.0 * (1.0 - static_cast<double>(idle - prev_idle_) /
                                            static_cast<double>(total - prev_total_));
            if (self >= 0 && prev_self_ >= 0 && self >= prev_self_)
                s.app_cpu_pct = process_cpu_share_pct(
                    static_cast<unsigned long long>(self - prev_self_), total - prev_total_);
        }
        prev_total_ = total;
        prev_idle_ = idle;
        prev_self_ = self;
        {
            std::ifstream status("/proc/self/status");
            for (std::string line; std::getline(status, line);)
                if (line.rfind("VmRSS:", 0) == 0) {
                    s.app_mem_mb = std::atof(line.c_str() + 6) / 1024;
                    break;
                }
        }
        std::ifstream mem("/proc/meminfo");
        double total_kb = 0, avail_kb = 0;
        for (std::string line; std::getline(mem, line);) {
            std::istringstream in(line);
            std::string key;
            double val = 0;
            in >> key >> val;
            if (key == "MemTotal:") total_kb = val;
            if (key == "MemAvailable:") avail_kb = val;
        }
        s.mem_total_mb = total_kb / 1024;
        s.mem_used_mb = (total_kb - avail_kb) / 1024;
        return true;
    }

private:
    static long long read_self_ticks() {
        std::ifstream f("/proc/self/stat");
        std::stringstream text;
        text << f.rdbuf();
        return stat_cpu_ticks(text.str());
    }
    unsigned long long prev_total_ = 0, prev_idle_ = 0;
    long long prev_self_ = -1;
};

}  // namespace

double process_cpu_share_pct(unsigned long long self_ticks_delta,
                             unsigned long long total_ticks_delta) {
    if (total_ticks_delta == 0) return 0;
    return std::min(100.0, 100.0 * static_cast<double>(self_ticks_delta) /
                               static_cast<double>(total_ticks_delta));
}

long long stat_cpu_ticks(const std::string& text) {
    // The command name is in parentheses and may contain anything: fields count from the last
    // ')'. After it: state (field 3) ... utime (14), stime (15).
    const size_t close = text.rfind(')');
    if (close == std::string::npos) return -1;
    std::istringstream in(text.substr(close + 1));
    std::string field;
    long long utime = -1, stime = -1;
    for (int i = 3; i <= 15 && in >> field; ++i) {
        if (i == 14 || i == 15) {
            char* end = nullptr;
            const long long v = std::strtoll(field.c_str(), &end, 10);
            if (*end != '\0' || v < 0) return -1;
            (i == 14 ? utime : stime) = v;
        }
    }
    return utime >= 0 && stime >= 0 ? utime + stime : -1;
}

std::unique_ptr<HwSampler> open_nvml_sampler(std::string* why) {
    auto s = std::make_unique<NvmlSampler>();
    if (!s->open(why)) return nullptr;
    return s;
}

std::unique_ptr<HwSampler> open_proc_sampler() { return std::make_unique<ProcSampler>(); }

GpuMonitor::GpuMonitor(std::unique_ptr<HwSampler> sampler, int interval_ms, double keep_seconds,
                       QObject* parent)
    : QObject(parent), sampler_(std::move(sampler)), keep_s_(keep_seconds) {
    qRegisterMetaType<gb::app::HwSample>();
    if (!sampler_) {
        std::string why;
        sampler_ = open_nvml_sampler(&why);
        why_ = QString::fromStdString(why);
        if (!sampler_) sampler_ = open_proc_sampler();
    }
    gpu_ = sampler_->is_gpu();
    name_ = QString::fromStdString(sampler_->device_name());
    thread_.setObjectName("glassbox-gpu-monitor");
    timer_ = new QTimer;
    timer_->setInterval(interval_ms);
    timer_->moveToThread(&thread_);
    auto clock = std::make_shared<QElapsedTimer>();
    clock->start();
    // Runs on thread_: NVML calls can take milliseconds and must not touch the UI thread.
    connect(timer_, &QTimer::timeout, timer_, [this, clock] {
        HwSample s;
        s.t_s = static_cast<double>(clock->elapsed()) / 1000.0;
        if (!sampler_->sample(s)) return;
        {
            std::lock_guard lock(mu_);
            history_.push_back(s);
            while (!history_.empty() && s.t_s - history_.front().t_s > keep_s_)
                history_.pop_front();
        }
        emit sampled(s);
    });
    connect(&thread_, &QThread::started, timer_, qOverload<>(&QTimer::start));
    connect(&thread_, &QThread::finished, timer_, &QObject::deleteLater);
    thread_.start();
}

GpuMonitor::~GpuMonitor() {
    thread_.quit();
    thread_.wait();
}

std::deque<HwSample> GpuMonitor::history() const {
    std::lock_guard lock(mu_);
    return history_;
}

}  // namespace gb::app
