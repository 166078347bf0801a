// GpuMonitor: samples arrive off the UI thread at the set rate and are kept for the window;
// the /proc sampler reads real figures; NVML is optional.
#include <QSignalSpy>
#include <QTest>
#include <QThread>
#include <atomic>

#include "app/gpu_monitor.h"

using namespace gb::app;

namespace {
class FakeSampler : public HwSampler {
public:
    explicit FakeSampler(std::atomic<QThread*>* thread) : thread_(thread) {}
    bool is_gpu() const override { return true; }
    std::string device_name() const override { return "Fake GPU"; }
    bool sample(HwSample& s) override {
        thread_->store(QThread::currentThread());
        s.gpu = true;
        s.util_pct = 42;
        s.mem_used_mb = 1000;
        s.mem_total_mb = 8000;
        s.power_w = 100;
        return true;
    }

private:
    std::atomic<QThread*>* thread_;
};
}  // namespace

class GpuMonitorTest : public QObject {
    Q_OBJECT
private slots:
    void samples_off_the_ui_thread_and_keeps_a_window() {
        std::atomic<QThread*> sampled_on{nullptr};
        GpuMonitor m(std::make_unique<FakeSampler>(&sampled_on), 20, 0.2);
        QVERIFY(m.is_gpu());
        QCOMPARE(m.device_name(), QString("Fake GPU"));
        QSignalSpy spy(&m, &GpuMonitor::sampled);
        QTRY_VERIFY_WITH_TIMEOUT(spy.count() >= 15, 3000);
        QVERIFY(sampled_on.load() != nullptr);
        QVERIFY(sampled_on.load() != QThread::currentThread());
        const HwSample s = spy.last().at(0).value<HwSample>();
        QCOMPARE(s.util_pct, 42.0);
        const auto h = m.history();
        QVERIFY(!h.empty());
        QVERIFY(h.back().t_s - h.front().t_s <= 0.2 + 1e-9);  // older samples dropped
    }

    void proc_sampler_reads_cpu_and_memory() {
        auto s = open_proc_sampler();
        QVERIFY(!s->is_gpu());
        HwSample a, b;
        QVERIFY(s->sample(a));
        QTest::qWait(60);
        QVERIFY(s->sample(b));
        QVERIFY(b.mem_total_mb > 0);
        QVERIFY(b.mem_used_mb > 0 && b.mem_used_mb <= b.mem_total_mb);
        QVERIFY(b.util_pct >= 0 && b.util_pct <= 100);
    }

    void nvml_is_optional() {
        std::string why;
        auto s = open_nvml_sampler(&why);
        if (!s) {
            QVERIFY(!why.empty());
            qInfo("no NVML here: %s", why.c_str());
            GpuMonitor m;  // falls back to /proc
            QVERIFY(!m.is_gpu());
            QVERIFY(!m.unavailable_reason().isEmpty());
        } else {
            HwSample x;
            QVERIFY(s->sample(x));
            QVERIFY(x.mem_total_mb > 0);
            qInfo("NVML: %s, %.0f MiB", s->device_name().c_str(), x.mem_total_mb);
        }
    }
};

QTEST_GUILESS_MAIN(GpuMonitorTest)
#include "gpu_monitor_qtest.moc"
