// A scripted HTTP server on 127.0.0.1 for the remote tests: each connection's request is read
// (headers and a Content-Length body) and handed to the test's handler, which writes the answer
// as it likes: in pieces, with pauses, cut off, or never. Loopback only; one connection at a
// time, on a thread of its own.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gb::test {

class LoopbackServer {
public:
    struct Request {
        std::string head;  // request line and headers
        std::string body;
    };
    class Conn {
    public:
        explicit Conn(int fd) : fd_(fd) {}
        // Writes all of s (false when the client has gone).
        bool send(const std::string& s) {
            size_t off = 0;
            while (off < s.size()) {
                const ssize_t n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
                if (n <= 0) return false;
                off += static_cast<size_t>(n);
            }
            return true;
        }
        void pause_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }
        // Waits until the client closes or `ms` pass.
        void wait_close_ms(int ms) {
            pollfd p{fd_, POLLIN, 0};
            char buf[256];
            const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
            while (std::chrono::steady_clock::now() < end) {
                if (::poll(&p, 1, 20) > 0 && ::recv(fd_, buf, sizeof buf, 0) <= 0) return;
            }
        }

    private:
        int fd_;
    };
    using Handler = std::function<void(Conn&, const Request&)>;

    explicit LoopbackServer(Handler h) : handler_(std::move(h)) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = 0;
        ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
        ::listen(fd_, 8);
        socklen_t len = sizeof a;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] { run(); });
    }
    ~LoopbackServer() {
        stop_ = true;
        ::shutdown(fd_, SHUT_RDWR);
        ::close(fd_);
        thread_.join();
    }
    std::string url(const std::string& path = "") const {
        return "http://127.0.0.1:" + std::to_string(port_) + path;
    }
    std::vector<Request> requests() {
        std::lock_guard<std::mutex> lock(mu_);
        return seen_;
    }

private:
    void run() {
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            const int c = ::accept(fd_, nullptr, nullptr);
            if (c < 0) continue;
            Request r;
            std::string buf;
            char tmp[4096];
            size_t body_at = std::string::npos, want = 0;
            while (true) {
                const ssize_t n = ::recv(c, tmp, sizeof tmp, 0);
                if (n <= 0) break;
                buf.append(tmp, static_cast<size_t>(n));
                if (body_at == std::string::npos) {
                    const size_t e = buf.find("\r\n\r\n");
                    if (e == std::string::npos) continue;
                    body_at = e + 4;
                    r.head = buf.substr(0, e);
                    const size_t cl = r.head.find("Content-Length: ");
                    if (cl != std::string::npos) want = std::stoul(r.head.substr(cl + 16));
                }
                if (buf.size() - body_at >= want) break;
            }
            if (body_at != std::string::npos) r.body = buf.substr(body_at, want);
            {
                std::lock_guard<std::mutex> lock(mu_);
                seen_.push_back(r);
            }
            Conn conn(c);
            handler_(conn, r);
            ::shutdown(c, SHUT_RDWR);
            ::close(c);
        }
    }

    Handler handler_;
    int fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
    std::mutex mu_;
    std::vector<Request> seen_;
};

}  // namespace gb::test
