// Regular-file opening without blocking on FIFOs; see file_read.h.
#include "engine/core/file_read.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kernels/error.h"

namespace gb {

namespace {

const char* kind_of(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a named pipe (FIFO)";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

std::string mib(size_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB"; }

}  // namespace

int open_regular_file(const std::string& path) {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) != 0) {
        const int e = errno;
        ::close(fd);
        throw Error(path + ": cannot stat: " + std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        throw Error(path + ": is " + kind_of(st.st_mode) + ", not a regular file; give a file");
    }
    const int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    return fd;
}

std::string read_regular_file(const std::string& path, size_t max_bytes, std::string_view what) {
    const int fd = open_regular_file(path);
    struct stat st {};
    if (fstat(fd, &st) != 0 || st.st_size < 0) {
        ::close(fd);
        throw Error(path + ": cannot stat " + std::string(what));
    }
    const auto size = static_cast<size_t>(st.st_size);
    if (size > max_bytes) {
        ::close(fd);
        throw Error(path + ": " + std::string(what) + " is " + mib(size) + ", more than the " +
                    mib(max_bytes) + " such a file can be; is it the right file?");
    }
    std::string text(size, '\0');
    size_t got = 0;
    while (got < size) {
        const ssize_t n = ::read(fd, text.data() + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int e = n < 0 ? errno : 0;
            ::close(fd);
            throw Error(path + ": reading " + std::string(what) + " failed" +
                        (e ? std::string(": ") + std::strerror(e) : " (the file got shorter)"));
        }
        got += static_cast<size_t>(n);
    }
    ::close(fd);
    return text;
}

}  // namespace gb
