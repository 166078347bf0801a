// ServerMonitor: polls a remote model's server for its health (remote::poll_health: requests
// running and waiting, KV-cache use, generation throughput) every couple of seconds on its own
// thread, for the hardware view. Nothing is polled until watch() names a server; unwatch()
// stops. A server without metrics is said once, in words.
#pragma once

#include <QObject>
#include <QThread>
#include <QTimer>
#include <atomic>
#include <mutex>

#include "app/remote/server_health.h"

namespace gb::app {

struct ServerSample {
    double t_s = 0;  // seconds since watching began
    remote::ServerHealth health;
    QString error;  // why there are no figures (then health has none)
};

class ServerMonitor : public QObject {
    Q_OBJECT
public:
    explicit ServerMonitor(int interval_ms = 2000, QObject* parent = nullptr);
    ~ServerMonitor() override;

    // Starts polling `server` (its key stays in memory only) for `model`'s figures.
    void watch(const remote::RemoteServer& server, const std::string& model);
    void unwatch();
    bool watching() const;

signals:
    void polled(gb::app::ServerSample sample);  // queued to the receiver's thread

private:
    void poll();  // on thread_

    QThread thread_;
    QTimer* timer_ = nullptr;  // lives in thread_
    mutable std::mutex mu_;
    remote::RemoteServer server_;
    std::string model_;
    bool watching_ = false;
    int generation_ = 0;  // bumped by watch/unwatch: a poll of an older server is dropped
    std::atomic<bool> stop_{false};
    remote::ServerHealth last_;
    double last_t_ = -1, t0_ = 0;
};

}  // namespace gb::app

Q_DECLARE_METATYPE(gb::app::ServerSample)
