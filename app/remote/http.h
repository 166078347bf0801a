// One HTTP request to an inference server, its body streamed to a callback as it arrives
// (libcurl; Qt-free, so the CLI and the app's engine thread share it). TLS checks the server
// against the system's certificates. Redirects are never followed: an API key must not travel
// to another host, so a 3xx is an error that names where the server points.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gb::remote {

struct HttpRequest {
    std::string method = "GET";  // GET, POST or HEAD (no body is read)
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;  // POST
    double connect_timeout_s = 10;
    // No byte (a keep-alive comment counts) for this long: the server is taken to be gone.
    double idle_timeout_s = 120;
};

struct HttpResponse {
    long status = 0;
    std::string content_type;
    std::string location;  // a redirect's target
    // The body when it was not streamed: a non-2xx answer (up to 64 KiB, for its message), or
    // every 2xx body when no callback was given.
    std::string body;
    bool cancelled = false;  // stopped by *cancel or by the callback
    int64_t bytes = 0;       // body bytes received
    // The final answer's header lines in the order received (names as the server spelled them;
    // an interim 1xx answer's are dropped).
    std::vector<std::pair<std::string, std::string>> headers;

    // The value of the last header named `name` (case-insensitive), or null.
    const std::string* header(std::string_view name) const;
};

// Sends `req`. A 2xx body goes to on_data as it arrives (return false to stop); anything else
// is collected in the response. *cancel (may be null) is polled several times a second.
// on_head (may be empty) sees the response once its status and headers are in, before any of
// its body (return false to stop: the response comes back cancelled), e.g. to tell a 206 from a
// 200 before writing a byte.
// Throws RemoteError: Network (no connection, TLS, a dropped connection: the message says which
// and the bytes received so far went to on_data), Timeout (connect or idle), Refused (a URL that
// is not http or https).
HttpResponse http_request(const HttpRequest& req,
                          const std::function<bool(std::string_view)>& on_data,
                          const std::atomic<bool>* cancel = nullptr,
                          const std::function<bool(const HttpResponse&)>& on_head = {});

// "host:port" of an http(s) URL, for messages.
std::string host_of(std::string_view url);

// A non-2xx answer in words: the status, and the server's own message from a JSON body
// ({"error":{"message"}}, {"error":"..."}, {"message"}, {"detail"}), else the first text of an
// HTML or plain body.
std::string describe_http_error(const HttpResponse& r, std::string_view url);

}  // namespace gb::remote
