// One Glassbox instance per history database: an advisory lock on "<db>.lock" holding the
// owner's pid. The kernel drops the lock when its process dies, even by SIGKILL, so a crash
// never leaves a stale lock behind.
#pragma once

#include <string>

namespace gb::app {

class InstanceLock {
public:
    InstanceLock() = default;
    // Takes the lock or throws HistoryError(Locked) naming the holder's pid.
    explicit InstanceLock(const std::string& db_path);
    InstanceLock(InstanceLock&& o) noexcept;
    InstanceLock& operator=(InstanceLock&& o) noexcept;
    InstanceLock(const InstanceLock&) = delete;
    InstanceLock& operator=(const InstanceLock&) = delete;
    ~InstanceLock();

    void release();
    const std::string& path() const { return path_; }

private:
    int fd_ = -1;
    std::string path_;
};

}  // namespace gb::app
