// The hub's download protocol: HEAD {endpoint}/{repo}/resolve/{rev}/{path} answers with the
// commit (X-Repo-Commit), and for LFS files a redirect to a CDN carrying the content's sha256 and
// size (X-Linked-Etag, X-Linked-Size); the bytes come from the redirect's target, which honours
// Range. The model API (/api/models/{repo}/revision/{rev}?blobs=true) lists files with the same
// figures.
#include "app/remote/hub_download.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <optional>

#include "app/remote/sha256.h"
#include "engine/core/json.h"
#include "kernels/error.h"

namespace gb::remote {

namespace fs = std::filesystem;

namespace {

constexpr const char* kDefaultEndpoint = "https://huggingface.co";
constexpr int kMaxRedirects = 5;
using Problem = HubError::Problem;
using Kind = RemoteError::Kind;

bool is_hex64(std::string_view s) {
    return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// A whole decimal header value, or -1.
int64_t parse_count(const std::string* v) {
    if (!v || v->empty() || v->size() > 18) return -1;
    int64_t n = 0;
    for (char c : *v) {
        if (c < '0' || c > '9') return -1;
        n = n * 10 + (c - '0');
    }
    return n;
}

// ETag values come as "abc" or W/"abc".
std::string normalize_etag(std::string_view e) {
    if (e.starts_with("W/")) e.remove_prefix(2);
    if (e.size() >= 2 && e.front() == '"' && e.back() == '"') e = e.substr(1, e.size() - 2);
    return std::string(e);
}

bool is_gguf(const std::string& path) { return lower(path).ends_with(".gguf"); }

// Headers for a request to `url`: the token only when it goes to the hub's own origin.
std::vector<std::pair<std::string, std::string>> request_headers(const std::string& url,
                                                                 const std::string& endpoint,
                                                                 const std::string& token,
                                                                 bool* sent_token) {
    std::vector<std::pair<std::string, std::string>> h = {
        {"User-Agent", "glassbox"},
        // The real size and byte offsets: no compressed transfer (Range counts encoded bytes).
        {"Accept-Encoding", "identity"},
    };
    *sent_token = !token.empty() && origin_of(url) == origin_of(endpoint);
    if (*sent_token) h.emplace_back("Authorization", "Bearer " + token);
    return h;
}

// Progress at most every 100 ms, with the rate over the last few seconds.
class Reporter {
public:
    explicit Reporter(const DownloadProgressCallback& cb) : cb_(cb) {}
    void stage(DownloadProgress::Stage s, int64_t done, int64_t total) {
        p_.stage = s, p_.done = done, p_.total = total, p_.bytes_per_s = 0;
        samples_.clear();
        last_ = {};
        tick(done, true);
    }
    void tick(int64_t done, bool force = false) {
        p_.done = done;
        if (!cb_) return;
        const auto now = std::chrono::steady_clock::now();
        if (!force && now - last_ < std::chrono::milliseconds(100)) return;
        last_ = now;
        samples_.emplace_back(now, done);
        while (samples_.size() > 2 && now - samples_.front().first > std::chrono::seconds(3))
            samples_.pop_front();
        const double dt = std::chrono::duration<double>(now - samples_.front().first).count();
        p_.bytes_per_s = dt > 0.05 ? double(done - samples_.front().second) / dt : 0;
        cb_(p_);
    }
    void set_resumed_from(int64_t n) { p_.resumed_from = n; }

private:
    const DownloadProgressCallback& cb_;
    DownloadProgress p_;
    std::deque<std::pair<std::chrono::steady_clock::time_point, int64_t>> samples_;
    std::chrono::steady_clock::time_point last_{};
};

bool cancelled(const std::atomic<bool>* c) { return c && c->load(); }

// Hashes the first `n` bytes of `file` into h; false when cancelled.
bool hash_file(const fs::path& file, int64_t n, Sha256& h, Reporter& rep,
               const std::atomic<bool>* cancel) {
    std::FILE* f = std::fopen(file.c_str(), "rb");
    if (!f)
        throw HubError(Problem::Other, Kind::Refused,
                       "could not read " + file.string() + ": " + std::strerror(errno));
    std::vector<char> buf(1 << 20);
    int64_t done = 0;
    while (done < n) {
        if (cancelled(cancel)) {
            std::fclose(f);
            return false;
        }
        const size_t want = static_cast<size_t>(std::min<int64_t>(buf.size(), n - done));
        const size_t got = std::fread(buf.data(), 1, want, f);
        if (got == 0) break;
        h.update(buf.data(), got);
        done += static_cast<int64_t>(got);
        rep.tick(done);
    }
    std::fclose(f);
    if (done != n)
        throw HubError(Problem::Other, Kind::Refused,
                       "could not read " + file.string() + ": it shrank while being read");
    rep.tick(done, true);
    return true;
}

HubError wrap_transport(const RemoteError& e, Problem p, const std::string& extra) {
    return HubError(p, e.kind(), std::string(e.what()) + extra);
}

// The HEAD that gives a file's metadata, following redirects that stay on the hub (a renamed
// repo) and stopping at one that leaves it (the CDN), whose answer carries the metadata.
std::optional<HubFileMetadata> resolve_metadata(const HubRepo& repo, const std::string& path,
                                                const std::string& endpoint,
                                                const std::string& token,
                                                const std::atomic<bool>* cancel) {
    std::string url = resolve_url(repo, path);
    for (int hop = 0; hop <= kMaxRedirects; ++hop) {
        HttpRequest h;
        h.method = "HEAD";
        h.url = url;
        bool sent_token = false;
        h.headers = request_headers(url, endpoint, token, &sent_token);
        h.idle_timeout_s = 30;
        HttpResponse r;
        try {
            r = http_request(h, {}, cancel);
        } catch (const RemoteError& e) {
            throw wrap_transport(e, Problem::Other, "");
        }
        if (r.cancelled) return std::nullopt;
        if (r.status >= 300 && r.status < 400) {
            if (r.location.empty())
                throw HubError(Problem::Other, Kind::Http,
                               "HTTP " + std::to_string(r.status) + " from " + host_of(url) +
                                   " without a Location to follow");
            if (origin_of(r.location) == origin_of(endpoint)) {
                url = r.location;
                continue;
            }
        } else if (r.status < 200 || r.status >= 300) {
            throw hub_error(r, url, repo, path, sent_token);
        }
        return parse_file_metadata(r, url);
    }
    throw HubError(Problem::Other, Kind::Http,
                   "more than " + std::to_string(kMaxRedirects) + " redirects from " +
                       host_of(endpoint) + " for " + path);
}

}  // namespace

// --- Names and places ---

std::string hub_endpoint(const HubRepo& repo) {
    std::string e = repo.endpoint;
    if (e.empty())
        if (const char* env = std::getenv("HF_ENDPOINT"); env && *env) e = env;
    if (e.empty()) e = kDefaultEndpoint;
    while (!e.empty() && e.back() == '/') e.pop_back();
    return e;
}

std::string hub_token(const HubRepo& repo) {
    if (!repo.token.empty()) return repo.token;
    const char* env = std::getenv("HF_TOKEN");
    return env ? env : "";
}

void check_repo_id(std::string_view id) {
    auto bad = [&](const std::string& why) {
        throw HubError(Problem::Other, Kind::Refused,
                       "not a repo id: '" + std::string(id) + "' (" + why +
                           "; expected owner/name, e.g. Qwen/Qwen3-0.6B-GGUF)");
    };
    if (id.empty()) bad("it is empty");
    if (std::count(id.begin(), id.end(), '/') > 1) bad("more than one '/'");
    size_t start = 0;
    while (start <= id.size()) {
        const size_t end = std::min(id.find('/', start), id.size());
        const std::string_view part = id.substr(start, end - start);
        if (part.empty() || part == "." || part == "..") bad("an empty or dot name");
        for (char c : part)
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
                bad("letters, digits, '-', '_' and '.' only");
        start = end + 1;
    }
}

void check_repo_path(std::string_view path) {
    auto bad = [&](const std::string& why) {
        throw HubError(Problem::Other, Kind::Refused,
                       "not a file path inside a repo: '" + std::string(path) + "' (" + why + ")");
    };
    if (path.empty()) bad("it is empty");
    if (path.front() == '/') bad("it starts with '/'");
    for (char c : path) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) bad("a control character");
        if (c == '\\') bad("a backslash");
    }
    size_t start = 0;
    while (start <= path.size()) {
        const size_t end = std::min(path.find('/', start), path.size());
        const std::string_view part = path.substr(start, end - start);
        if (part.empty() || part == "." || part == "..") bad("an empty, '.' or '..' segment");
        start = end + 1;
    }
}

std::string percent_encode(std::string_view s, bool keep_slash) {
    static const char* kHex = "0123456789ABCDEF";
    std::string out;
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
            (keep_slash && c == '/'))
            out += ch;
        else
            out += '%', out += kHex[c >> 4], out += kHex[c & 15];
    }
    return out;
}

std::string resolve_url(const HubRepo& repo, std::string_view path) {
    return hub_endpoint(repo) + "/" + repo.id + "/resolve/" + percent_encode(repo.revision, false) +
           "/" + percent_encode(path, true);
}

std::string origin_of(std::string_view url) {
    const size_t s = url.find("://");
    if (s == std::string_view::npos) return {};
    const std::string scheme = lower(url.substr(0, s));
    std::string_view auth = url.substr(s + 3);
    auth = auth.substr(0, auth.find_first_of("/?#"));
    if (const size_t at = auth.rfind('@'); at != std::string_view::npos) auth = auth.substr(at + 1);
    std::string_view host = auth, port;
    const size_t bracket = auth.rfind(']');
    const size_t colon = auth.rfind(':');
    if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket))
        host = auth.substr(0, colon), port = auth.substr(colon + 1);
    std::string p(port);
    if (p.empty()) p = scheme == "https" ? "443" : scheme == "http" ? "80" : "";
    return scheme + "://" + lower(host) + ":" + p;
}

fs::path default_models_dir() {
    if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x)
        return fs::path(x) / "glassbox" / "models";
    const char* home = std::getenv("HOME");
    return fs::path(home && *home ? home : ".") / ".local" / "share" / "glassbox" / "models";
}

fs::path default_download_dir(std::string_view repo_id) {
    return default_models_dir() / fs::path(std::string(repo_id));
}

// --- Reading the hub's answers ---

HubFileMetadata parse_file_metadata(const HttpResponse& head, const std::string& request_url) {
    HubFileMetadata m;
    if (const std::string* c = head.header("X-Repo-Commit")) m.commit = *c;
    const std::string* linked = head.header("X-Linked-Etag");
    if (const std::string* e = linked ? linked : head.header("ETag")) m.etag = normalize_etag(*e);
    if (is_hex64(lower(m.etag))) m.sha256 = lower(m.etag);
    const bool redirect = head.status >= 300 && head.status < 400;
    m.size = parse_count(head.header("X-Linked-Size"));
    if (m.size < 0 && !redirect) m.size = parse_count(head.header("Content-Length"));
    m.download_url = redirect && !head.location.empty() ? head.location : request_url;
    return m;
}

HubRepoListing parse_repo_listing(std::string_view json_text) {
    auto malformed = [](const std::string& why) {
        return RemoteError(Kind::Malformed, "the hub's file list is not as expected: " + why);
    };
    json::Value v;
    try {
        v = json::parse(json_text);
    } catch (const gb::Error& e) {
        throw malformed(e.what());
    }
    HubRepoListing out;
    try {
        if (v.kind() != json::Value::Kind::Object) throw malformed("not a JSON object");
        if (const json::Value* sha = v.find("sha"); sha && !sha->is_null())
            out.commit = sha->as_string();
        const json::Value* sib = v.find("siblings");
        if (!sib || sib->kind() != json::Value::Kind::Array) throw malformed("no siblings list");
        for (const json::Value& s : sib->as_array()) {
            HubFileInfo f;
            f.path = s.at("rfilename").as_string();
            if (const json::Value* n = s.find("size"); n && !n->is_null()) f.size = n->as_int64();
            if (const json::Value* b = s.find("blobId"); b && !b->is_null())
                f.blob_id = b->as_string();
            if (const json::Value* lfs = s.find("lfs"); lfs && !lfs->is_null()) {
                f.lfs = true;
                f.sha256 = lower(lfs->at("sha256").as_string());
                if (!is_hex64(f.sha256))
                    throw malformed("lfs.sha256 of " + f.path + " is not 64 hex digits");
                f.size = lfs->at("size").as_int64();
            }
            if (f.size < -1) throw malformed("a negative size for " + f.path);
            out.files.push_back(std::move(f));
        }
    } catch (const gb::Error& e) {
        throw malformed(e.what());
    }
    std::stable_sort(out.files.begin(), out.files.end(),
                     [](const HubFileInfo& a, const HubFileInfo& b) {
                         const bool ga = is_gguf(a.path), gb = is_gguf(b.path);
                         if (ga != gb) return ga;
                         return a.path < b.path;
                     });
    return out;
}

HubError hub_error(const HttpResponse& r, const std::string& url, const HubRepo& repo,
                   std::string_view path, bool sent_token) {
    const std::string host = host_of(url);
    const std::string status = "HTTP " + std::to_string(r.status);
    const std::string code = r.header("X-Error-Code") ? *r.header("X-Error-Code") : "";
    std::string said = r.header("X-Error-Message") ? *r.header("X-Error-Message") : "";
    if (said.empty()) {
        try {
            const json::Value v = json::parse(r.body);
            if (const json::Value* e = v.find("error"); e && e->kind() == json::Value::Kind::String)
                said = e->as_string();
        } catch (const std::exception&) {
        }
    }
    const std::string says = said.empty() ? "" : "; the hub says: " + said.substr(0, 300);
    const std::string page = hub_endpoint(repo) + "/" + repo.id;
    const std::string file(path);
    const bool on_hub = origin_of(url) == origin_of(hub_endpoint(repo));

    if (code == "GatedRepo" || (on_hub && (r.status == 401 || r.status == 403) &&
                                said.find("restricted") != std::string::npos)) {
        if (r.status == 403 || sent_token)
            return HubError(Problem::NeedsAccess, Kind::Http,
                            "repo " + repo.id +
                                " is gated and the token's account has not been "
                                "granted access: request access at " +
                                page + " (" + status + says + ")");
        return HubError(Problem::NeedsToken, Kind::Http,
                        "repo " + repo.id +
                            " is gated: downloading needs a token (HF_TOKEN) of "
                            "an account that has been granted access; request access at " +
                            page + " (" + status + ")");
    }
    if (code == "RevisionNotFound")
        return HubError(Problem::NotFound, Kind::Http,
                        "no revision " + repo.revision + " in repo " + repo.id + " on " + host +
                            " (" + status + ")");
    if (code == "RepoNotFound" || (on_hub && r.status == 404 && file.empty()))
        return HubError(Problem::NotFound, Kind::Http,
                        sent_token ? "no repo " + repo.id + " on " + host +
                                         ", or the token has no access to it (" + status + ")"
                                   : "no repo " + repo.id + " on " + host +
                                         " (if it is private, a token with access to it is "
                                         "needed: set HF_TOKEN) (" +
                                         status + ")");
    if (code == "EntryNotFound" || (on_hub && r.status == 404))
        return HubError(Problem::NotFound, Kind::Http,
                        "no file " + file + " in repo " + repo.id + " at revision " +
                            repo.revision + " (" + status + " from " + host + ")");
    if (r.status == 401)
        return HubError(
            Problem::NeedsToken, Kind::Http,
            sent_token ? host + " refused the token (" + status + says + "): check that it is valid"
                       : host + " needs a token for this (" + status + says + "): set HF_TOKEN");
    if (r.status == 403)
        return HubError(Problem::NeedsAccess, Kind::Http,
                        host + " refused access to " + (file.empty() ? repo.id : file) + " (" +
                            status + says + ")");
    if (r.status == 416)
        return HubError(Problem::Other, Kind::Http,
                        host + " refused the byte range asked for (" + status + ")");
    if (r.status == 429)
        return HubError(
            Problem::Other, Kind::Http,
            host + " is limiting requests (" + status + "): wait a minute and try again");
    if (r.status >= 500)
        return HubError(Problem::Other, Kind::Http,
                        host + " had a server error (" + status + says + "): try again later");
    return HubError(Problem::Other, Kind::Http, describe_http_error(r, url));
}

// --- Decisions ---

std::string format_bytes(int64_t n) {
    if (n < 1000) return std::to_string(n) + " bytes";
    const char* unit = "KB";
    double v = double(n) / 1e3;
    if (n >= 1000000000000ll)
        v = double(n) / 1e12, unit = "TB";
    else if (n >= 1000000000)
        v = double(n) / 1e9, unit = "GB";
    else if (n >= 1000000)
        v = double(n) / 1e6, unit = "MB";
    char buf[32];
    std::snprintf(buf, sizeof buf, v < 100 ? "%.1f %s" : "%.0f %s", v, unit);
    return buf;
}

std::string disk_space_problem(int64_t free_bytes, int64_t needed_bytes, const fs::path& dir) {
    if (needed_bytes <= 0 || free_bytes >= needed_bytes + kDiskMarginBytes) return "";
    return "not enough disk space in " + dir.string() + ": the download needs " +
           format_bytes(needed_bytes) + " more and " +
           format_bytes(std::max<int64_t>(0, free_bytes)) + " is free (" +
           format_bytes(kDiskMarginBytes) +
           " is kept spare); free some space or choose another folder";
}

int64_t free_space_of(const fs::path& dir) {
    if (const char* fake = std::getenv("GLASSBOX_TEST_FREE_BYTES"); fake && *fake)
        return std::strtoll(fake, nullptr, 10);
    fs::path p = dir;
    std::error_code ec;
    while (!p.empty() && !fs::exists(p, ec)) p = p.parent_path();
    const fs::space_info s = fs::space(p.empty() ? fs::path(".") : p, ec);
    if (ec) return INT64_MAX;  // unknown: do not refuse on a figure we do not have
    return static_cast<int64_t>(s.available);
}

ResumeStart plan_resume(int64_t partial_bytes, int64_t total) {
    if (partial_bytes <= 0) return ResumeStart::Fresh;
    if (total < 0) return ResumeStart::Resume;
    if (partial_bytes == total) return ResumeStart::Complete;
    if (partial_bytes > total) return ResumeStart::Discard;
    return ResumeStart::Resume;
}

RangeAnswer classify_range_answer(long status, const std::string* content_range, int64_t offset) {
    if (status == 200) return RangeAnswer::Restart;
    if (!content_range) return RangeAnswer::Invalid;
    std::string_view cr = *content_range;
    if (!cr.starts_with("bytes ")) return RangeAnswer::Invalid;
    cr.remove_prefix(6);
    if (status == 416) {
        if (!cr.starts_with("*/")) return RangeAnswer::Invalid;
        const std::string total(cr.substr(2));
        return parse_count(&total) == offset ? RangeAnswer::Complete : RangeAnswer::Invalid;
    }
    if (status == 206) {
        const std::string first(cr.substr(0, cr.find('-')));
        return cr.find('-') != std::string_view::npos && parse_count(&first) == offset
                   ? RangeAnswer::Append
                   : RangeAnswer::Invalid;
    }
    return RangeAnswer::Invalid;
}

// --- The two calls ---

HubRepoListing list_repo_files(const HubRepo& repo, const std::atomic<bool>* cancel) {
    check_repo_id(repo.id);
    const std::string endpoint = hub_endpoint(repo);
    const std::string url = endpoint + "/api/models/" + repo.id + "/revision/" +
                            percent_encode(repo.revision, false) + "?blobs=true";
    HttpRequest req;
    req.url = url;
    bool sent_token = false;
    req.headers = request_headers(url, endpoint, hub_token(repo), &sent_token);
    req.idle_timeout_s = 60;
    HttpResponse r;
    try {
        r = http_request(req, {}, cancel);
    } catch (const RemoteError& e) {
        throw wrap_transport(e, Problem::Other, "");
    }
    if (r.cancelled) return {};
    if (r.status < 200 || r.status >= 300) throw hub_error(r, url, repo, "", sent_token);
    try {
        return parse_repo_listing(r.body);
    } catch (const RemoteError& e) {
        throw HubError(Problem::Other, e.kind(), e.what());
    }
}

DownloadResult download(const HubFileRequest& req, const DownloadProgressCallback& progress,
                        const std::atomic<bool>* cancel) {
    using Stage = DownloadProgress::Stage;
    check_repo_id(req.repo.id);
    check_repo_path(req.path);
    const std::string endpoint = hub_endpoint(req.repo);
    const std::string token = hub_token(req.repo);
    DownloadResult res;
    res.path = req.dest_dir / fs::path(req.path);
    res.partial = res.path;
    res.partial += ".part";
    Reporter rep(progress);

    rep.stage(Stage::Resolving, 0, -1);
    const std::optional<HubFileMetadata> found =
        resolve_metadata(req.repo, req.path, endpoint, token, cancel);
    if (!found) {
        res.outcome = DownloadResult::Outcome::Cancelled;
        return res;
    }
    const HubFileMetadata& meta = *found;
    res.commit = meta.commit;
    const int64_t total = meta.size;

    std::error_code ec;
    fs::create_directories(res.path.parent_path(), ec);
    if (ec)
        throw HubError(Problem::Other, Kind::Refused,
                       "could not create " + res.path.parent_path().string() + ": " + ec.message());

    // A complete file from before: verified, it is the answer.
    if (total >= 0 && fs::is_regular_file(res.path, ec) &&
        int64_t(fs::file_size(res.path, ec)) == total) {
        Sha256 h;
        rep.stage(Stage::Hashing, 0, total);
        if (!hash_file(res.path, total, h, rep, cancel)) {
            res.outcome = DownloadResult::Outcome::Cancelled;
            return res;
        }
        const std::string sha = h.finish_hex();
        if (meta.sha256.empty() || sha == meta.sha256) {
            res.outcome = DownloadResult::Outcome::AlreadyPresent;
            res.size = total;
            res.sha256 = sha;
            return res;
        }
    }

    int64_t have =
        fs::is_regular_file(res.partial, ec) ? int64_t(fs::file_size(res.partial, ec)) : 0;
    ResumeStart plan = plan_resume(have, total);
    if (plan == ResumeStart::Discard) {
        fs::remove(res.partial, ec);
        have = 0;
        plan = ResumeStart::Fresh;
    }
    if (total >= 0) {
        const std::string why = disk_space_problem(free_space_of(res.path.parent_path()),
                                                   total - have, res.path.parent_path());
        if (!why.empty()) throw HubError(Problem::NoSpace, Kind::Refused, why);
    }

    Sha256 hasher;
    if (have > 0) {
        rep.stage(Stage::Hashing, 0, have);
        if (!hash_file(res.partial, have, hasher, rep, cancel)) {
            res.outcome = DownloadResult::Outcome::Cancelled;
            return res;
        }
    }
    res.resumed_from = have;
    rep.set_resumed_from(have);

    int64_t done = have;
    auto kept = [&]() -> std::string {
        if (done == 0) return "; nothing was received: try again";
        return "; " + format_bytes(done) + (total >= 0 ? " of " + format_bytes(total) : "") +
               " are kept in " + res.partial.string() + ": download again to resume";
    };
    if (plan != ResumeStart::Complete) {
        std::FILE* out = std::fopen(res.partial.c_str(), have > 0 ? "ab" : "wb");
        if (!out)
            throw HubError(Problem::Other, Kind::Refused,
                           "could not write " + res.partial.string() + ": " + std::strerror(errno));
        int write_errno = 0;
        bool bad_range = false;
        // Pinned to the commit the metadata came from, so that the bytes match its digest even
        // if the branch moves meanwhile.
        HubRepo pinned = req.repo;
        if (!meta.commit.empty()) pinned.revision = meta.commit;
        std::string url = meta.download_url == resolve_url(req.repo, req.path)
                              ? resolve_url(pinned, req.path)
                              : meta.download_url;
        rep.stage(Stage::Downloading, done, total);
        int hop = 0;
        for (;; ++hop) {
            if (hop > kMaxRedirects) {
                std::fclose(out);
                throw HubError(Problem::Other, Kind::Http,
                               "more than " + std::to_string(kMaxRedirects) +
                                   " redirects fetching " + req.path);
            }
            HttpRequest get;
            get.url = url;
            bool sent_token = false;
            get.headers = request_headers(url, endpoint, token, &sent_token);
            const int64_t offset = have;
            if (offset > 0)
                get.headers.emplace_back("Range", "bytes=" + std::to_string(offset) + "-");
            auto on_head = [&](const HttpResponse& r) {
                if (r.status < 200 || r.status >= 300) return true;
                const RangeAnswer a =
                    offset > 0 ? classify_range_answer(r.status, r.header("Content-Range"), offset)
                               : (r.status == 200 ? RangeAnswer::Append : RangeAnswer::Invalid);
                if (a == RangeAnswer::Restart) {
                    // The server ignored the Range and sends the whole file: start it over.
                    if (std::fflush(out) != 0 || ::ftruncate(fileno(out), 0) != 0 ||
                        std::fseek(out, 0, SEEK_SET) != 0) {
                        write_errno = errno;
                        return false;
                    }
                    hasher.reset();
                    have = done = 0;
                    res.resumed_from = 0;
                    rep.set_resumed_from(0);
                    rep.stage(Stage::Downloading, 0, total);
                    return true;
                }
                if (a != RangeAnswer::Append) bad_range = true;
                return !bad_range;
            };
            auto on_data = [&](std::string_view b) {
                if (cancelled(cancel)) return false;  // at once, not at curl's next poll
                if (std::fwrite(b.data(), 1, b.size(), out) != b.size()) {
                    write_errno = errno ? errno : EIO;
                    return false;
                }
                hasher.update(b);
                done += static_cast<int64_t>(b.size());
                rep.tick(done);
                return true;
            };
            HttpResponse r;
            try {
                r = http_request(get, on_data, cancel, on_head);
            } catch (const RemoteError& e) {
                std::fclose(out);
                throw wrap_transport(e, Problem::Interrupted, kept());
            }
            if (write_errno) {
                std::fclose(out);
                throw HubError(write_errno == ENOSPC ? Problem::NoSpace : Problem::Other,
                               Kind::Refused,
                               "could not write " + res.partial.string() + ": " +
                                   std::strerror(write_errno) + kept());
            }
            if (bad_range) {
                std::fclose(out);
                throw HubError(Problem::Interrupted, Kind::Http,
                               host_of(url) + " answered the request for bytes from " +
                                   std::to_string(offset) + " on with " + std::to_string(r.status) +
                                   " and Content-Range '" +
                                   (r.header("Content-Range") ? *r.header("Content-Range") : "") +
                                   "'; delete " + res.partial.string() + " to start over");
            }
            if (r.cancelled) {
                std::fclose(out);
                rep.tick(done, true);
                res.outcome = DownloadResult::Outcome::Cancelled;
                res.size = done;
                return res;
            }
            if (r.status >= 300 && r.status < 400 && !r.location.empty()) {
                url = r.location;
                continue;
            }
            if (r.status == 416 && offset > 0) {
                const RangeAnswer a = classify_range_answer(416, r.header("Content-Range"), offset);
                if (a == RangeAnswer::Complete) break;
                // The partial file is longer than what the server has: start over.
                if (std::fflush(out) != 0 || ::ftruncate(fileno(out), 0) != 0 ||
                    std::fseek(out, 0, SEEK_SET) != 0) {
                    std::fclose(out);
                    throw HubError(Problem::Other, Kind::Refused,
                                   "could not truncate " + res.partial.string());
                }
                hasher.reset();
                have = done = 0;
                res.resumed_from = 0;
                rep.set_resumed_from(0);
                continue;
            }
            if (r.status < 200 || r.status >= 300) {
                std::fclose(out);
                HubError e = hub_error(r, url, req.repo, req.path, sent_token);
                if (done > 0 && e.problem() == Problem::Other)
                    throw HubError(e.problem(), e.kind(), std::string(e.what()) + kept());
                throw e;
            }
            break;
        }
        const bool flushed = std::fflush(out) == 0 && ::fsync(fileno(out)) == 0;
        const int flush_errno = errno;
        std::fclose(out);
        if (!flushed)
            throw HubError(flush_errno == ENOSPC ? Problem::NoSpace : Problem::Other, Kind::Refused,
                           "could not write " + res.partial.string() + ": " +
                               std::strerror(flush_errno) + kept());
        rep.tick(done, true);
    }

    if (total >= 0 && done < total)
        throw HubError(Problem::Interrupted, Kind::Network,
                       "the transfer of " + req.path + " ended early" + kept());
    if (total >= 0 && done > total) {
        fs::remove(res.partial, ec);
        throw HubError(Problem::Checksum, Kind::Malformed,
                       "size mismatch for " + req.path + ": expected " + std::to_string(total) +
                           " bytes, got " + std::to_string(done) +
                           "; the partial file was deleted, download again");
    }
    res.sha256 = hasher.finish_hex();
    if (!meta.sha256.empty() && res.sha256 != meta.sha256) {
        fs::remove(res.partial, ec);
        throw HubError(Problem::Checksum, Kind::Malformed,
                       "checksum mismatch for " + req.path + ": expected sha256 " + meta.sha256 +
                           " got " + res.sha256 + "; the partial file was deleted, download again");
    }
    fs::rename(res.partial, res.path, ec);
    if (ec)
        throw HubError(Problem::Other, Kind::Refused,
                       "could not move " + res.partial.string() + " to " + res.path.string() +
                           ": " + ec.message());
    res.size = done;
    res.outcome = DownloadResult::Outcome::Downloaded;
    return res;
}

}  // namespace gb::remote
