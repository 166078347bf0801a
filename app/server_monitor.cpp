#include "app/server_monitor.h"

#include <chrono>

namespace gb::app {

namespace {
double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}
}  // namespace

ServerMonitor::ServerMonitor(int interval_ms, QObject* parent) : QObject(parent) {
    qRegisterMetaType<gb::app::ServerSample>();
    thread_.setObjectName("glassbox-server-monitor");
    timer_ = new QTimer;
    timer_->setInterval(interval_ms);
    timer_->moveToThread(&thread_);
    connect(timer_, &QTimer::timeout, timer_, [this] { poll(); });
    connect(&thread_, &QThread::finished, timer_, &QObject::deleteLater);
    thread_.start();
}

ServerMonitor::~ServerMonitor() {
    stop_ = true;
    thread_.quit();
    thread_.wait();
}

void ServerMonitor::watch(const remote::RemoteServer& server, const std::string& model) {
    {
        std::lock_guard lock(mu_);
        server_ = server;
        model_ = model;
        watching_ = true;
        ++generation_;
        last_ = {};
        last_t_ = -1;
        t0_ = now_s();
    }
    QMetaObject::invokeMethod(timer_, [this] {
        timer_->start();
        poll();
    });
}

void ServerMonitor::unwatch() {
    {
        std::lock_guard lock(mu_);
        watching_ = false;
        ++generation_;
    }
    QMetaObject::invokeMethod(timer_, [this] { timer_->stop(); });
}

bool ServerMonitor::watching() const {
    std::lock_guard lock(mu_);
    return watching_;
}

void ServerMonitor::poll() {
    remote::RemoteServer server;
    std::string model;
    int generation;
    {
        std::lock_guard lock(mu_);
        if (!watching_) return;
        server = server_;
        model = model_;
        generation = generation_;
    }
    ServerSample s;
    const double t = now_s();
    try {
        s.health = remote::poll_health(server, model, &stop_);
    } catch (const std::exception& e) {
        s.error = QString::fromUtf8(e.what());
    }
    {
        std::lock_guard lock(mu_);
        if (generation != generation_ || stop_) return;
        s.t_s = t - t0_;
        if (s.error.isEmpty()) {
            remote::fill_rate(s.health, last_, last_t_ >= 0 ? t - last_t_ : 0);
            last_ = s.health;
            last_t_ = t;
        }
    }
    emit polled(s);
}

}  // namespace gb::app
