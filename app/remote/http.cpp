// libcurl's easy interface, one handle per request; errors turned into RemoteError.
#include "app/remote/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <mutex>

#include "app/remote/chat_stream.h"
#include "engine/core/json.h"

namespace gb::remote {

namespace {

void global_init() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
    const std::function<bool(std::string_view)>* on_data;
    const std::atomic<bool>* cancel;
    HttpResponse* resp;
    CURL* curl;
    const std::function<bool(const HttpResponse&)>* on_head = nullptr;
    bool status_known = false;
    bool ok_status = false;
};

// One header line of the answer: a status line starts a new header block (an interim 1xx
// answer's lines are dropped with it), the blank line ends it.
size_t on_header(char* p, size_t size, size_t n, void* user) {
    auto& t = *static_cast<Transfer*>(user);
    const size_t len = size * n;
    std::string_view line(p, len);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    if (line.starts_with("HTTP/")) {
        t.resp->headers.clear();
    } else if (line.empty()) {
        long status = 0;
        curl_easy_getinfo(t.curl, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && t.on_head && *t.on_head) {
            t.resp->status = status;
            if (!(*t.on_head)(*t.resp)) {
                t.resp->cancelled = true;
                return 0;  // stops the transfer
            }
        }
    } else if (const size_t colon = line.find(':'); colon != std::string_view::npos) {
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
            value.remove_prefix(1);
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
            value.remove_suffix(1);
        t.resp->headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
    }
    return len;
}

size_t on_write(char* p, size_t size, size_t n, void* user) {
    auto& t = *static_cast<Transfer*>(user);
    const size_t len = size * n;
    if (!t.status_known) {
        curl_easy_getinfo(t.curl, CURLINFO_RESPONSE_CODE, &t.resp->status);
        t.ok_status = t.resp->status >= 200 && t.resp->status < 300;
        t.status_known = true;
    }
    t.resp->bytes += static_cast<int64_t>(len);
    if (t.ok_status && t.on_data && *t.on_data) {
        if (!(*t.on_data)(std::string_view(p, len))) {
            t.resp->cancelled = true;
            return 0;  // stops the transfer
        }
        return len;
    }
    constexpr size_t kKeep = 64 * 1024;
    if (t.resp->body.size() < kKeep || t.ok_status)
        t.resp->body.append(p, t.ok_status ? len : std::min(len, kKeep - t.resp->body.size()));
    return len;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto& t = *static_cast<Transfer*>(user);
    if (t.cancel && t.cancel->load()) {
        t.resp->cancelled = true;
        return 1;
    }
    return 0;
}

}  // namespace

const std::string* HttpResponse::header(std::string_view name) const {
    auto same = [&](const std::string& k) {
        return std::equal(k.begin(), k.end(), name.begin(), name.end(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) ==
                   std::tolower(static_cast<unsigned char>(b));
        });
    };
    for (auto it = headers.rbegin(); it != headers.rend(); ++it)
        if (same(it->first)) return &it->second;
    return nullptr;
}

std::string host_of(std::string_view url) {
    const size_t s = url.find("://");
    std::string_view rest = s == std::string_view::npos ? url : url.substr(s + 3);
    return std::string(rest.substr(0, rest.find('/')));
}

HttpResponse http_request(const HttpRequest& req,
                          const std::function<bool(std::string_view)>& on_data,
                          const std::atomic<bool>* cancel,
                          const std::function<bool(const HttpResponse&)>& on_head) {
    if (req.url.rfind("http://", 0) != 0 && req.url.rfind("https://", 0) != 0)
        throw RemoteError(RemoteError::Kind::Refused,
                          "not an http or https URL: '" + req.url + "'");
    global_init();
    CURL* curl = curl_easy_init();
    if (!curl) throw RemoteError(RemoteError::Kind::Network, "could not start an HTTP request");
    HttpResponse resp;
    Transfer t{&on_data, cancel, &resp, curl, &on_head};
    curl_slist* headers = nullptr;
    for (const auto& [k, v] : req.headers)
        headers = curl_slist_append(headers, (k + ": " + v).c_str());
    char err[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(curl, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    // The system's certificates; GLASSBOX_CA_FILE names another CA bundle (a company's own).
    if (const char* ca = std::getenv("GLASSBOX_CA_FILE"); ca && *ca)
        curl_easy_setopt(curl, CURLOPT_CAINFO, ca);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(req.connect_timeout_s * 1000));
    // Less than 1 byte a second for idle_timeout_s: gone.
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME,
                     std::max(1L, static_cast<long>(req.idle_timeout_s)));
    curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");  // whatever the build can decode
    if (req.method == "POST") {
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req.body.c_str());
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(req.body.size()));
    } else if (req.method == "HEAD") {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    }
    const CURLcode rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp.status);
    if (char* ct = nullptr; curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
        resp.content_type = ct;
    if (char* loc = nullptr;
        curl_easy_getinfo(curl, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc)
        resp.location = loc;
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (rc == CURLE_OK || resp.cancelled) return resp;
    const std::string host = host_of(req.url);
    const std::string detail = err[0] ? std::string(err) : curl_easy_strerror(rc);
    switch (rc) {
        case CURLE_OPERATION_TIMEDOUT:
            throw RemoteError(RemoteError::Kind::Timeout,
                              resp.status == 0
                                  ? "no answer from " + host + " (" + detail + ")"
                                  : host + " stopped sending mid-reply: nothing for " +
                                        std::to_string(static_cast<long>(req.idle_timeout_s)) +
                                        " s (" + detail + ")");
        case CURLE_COULDNT_RESOLVE_HOST:
            throw RemoteError(RemoteError::Kind::Network,
                              "no such host: " + host + " (" + detail + ")");
        case CURLE_COULDNT_CONNECT:
            throw RemoteError(
                RemoteError::Kind::Network,
                "could not connect to " + host + " (" + detail + "): is the server running there?");
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CONNECT_ERROR:
            throw RemoteError(RemoteError::Kind::Network,
                              "the TLS connection to " + host + " failed (" + detail + ")");
        case CURLE_PARTIAL_FILE:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
            throw RemoteError(
                RemoteError::Kind::Network,
                resp.bytes > 0
                    ? "the connection to " + host + " was dropped mid-reply after " +
                          std::to_string(resp.bytes) + " bytes (" + detail + ")"
                    : host + " closed the connection without an answer (" + detail + ")");
        default:
            throw RemoteError(RemoteError::Kind::Network,
                              "the request to " + host + " failed: " + detail);
    }
}

std::string describe_http_error(const HttpResponse& r, std::string_view url) {
    std::string out = "HTTP " + std::to_string(r.status) + " from " + host_of(url);
    if (r.status >= 300 && r.status < 400)
        return out + ": the server redirects to " + (r.location.empty() ? "?" : r.location) +
               ", which is not followed (an API key must not go to another address); use that "
               "URL if you trust it";
    std::string msg;
    try {
        const json::Value v = json::parse(r.body);
        auto text = [](const json::Value* f) -> std::string {
            if (!f) return {};
            if (f->kind() == json::Value::Kind::String) return f->as_string();
            if (f->kind() == json::Value::Kind::Object)
                if (const json::Value* m = f->find("message");
                    m && m->kind() == json::Value::Kind::String)
                    return m->as_string();
            return {};
        };
        if (v.kind() == json::Value::Kind::Object)
            for (const char* k : {"error", "message", "detail"})
                if (msg = text(v.find(k)); !msg.empty()) break;
    } catch (const std::exception&) {
        // Not JSON: the text of an HTML page (a proxy's error page) or a plain body.
        std::string plain;
        bool tag = false;
        for (char c : r.body) {
            if (c == '<')
                tag = true;
            else if (c == '>')
                tag = false, plain += ' ';
            else if (!tag)
                plain += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
        }
        std::string squeezed;
        for (char c : plain)
            if (!(c == ' ' && (squeezed.empty() || squeezed.back() == ' '))) squeezed += c;
        while (!squeezed.empty() && squeezed.back() == ' ') squeezed.pop_back();
        msg = squeezed.substr(0, 300);
    }
    if (!msg.empty()) out += ": " + msg;
    if (r.status == 401 || r.status == 403) out += " (check the API key)";
    if (r.status == 404) out += " (check the base URL: it usually ends in /v1)";
    return out;
}

}  // namespace gb::remote
