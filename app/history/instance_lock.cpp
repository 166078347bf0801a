// The per-database instance lock (instance_lock.h), with flock(2): its locks belong to the open
// file description, so two stores in one process conflict too, as two processes do.
#include "app/history/instance_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "app/history/history_types.h"

namespace gb::app {

InstanceLock::InstanceLock(const std::string& db_path) : path_(db_path + ".lock") {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0)
        throw HistoryError(HistoryError::Kind::Io, "history: cannot create lock file " + path_ +
                                                       ": " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        char buf[32] = {};
        const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
        std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
        while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' '))
            holder.pop_back();
        ::close(fd_);
        fd_ = -1;
        if (err != EWOULDBLOCK)
            throw HistoryError(HistoryError::Kind::Io,
                               "history: cannot lock " + path_ + ": " + std::strerror(err));
        throw HistoryError(HistoryError::Kind::Locked,
                           "history: " + db_path + " is in use by another Glassbox instance" +
                               (holder.empty() ? "" : " (pid " + holder + ")") +
                               "; close it, or open a different history database");
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
        // The pid is only for the message; the lock itself is held.
    }
}

InstanceLock::InstanceLock(InstanceLock&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), path_(std::move(o.path_)) {}

InstanceLock& InstanceLock::operator=(InstanceLock&& o) noexcept {
    if (this != &o) {
        release();
        fd_ = std::exchange(o.fd_, -1);
        path_ = std::move(o.path_);
    }
    return *this;
}

InstanceLock::~InstanceLock() { release(); }

void InstanceLock::release() {
    // The file stays: unlinking it would race with another instance that just opened it and
    // is about to lock the (then nameless) inode.
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

}  // namespace gb::app
