// Model files from the Hugging Face hub (or a mirror speaking its protocol): a repository's file
// list with sizes and digests, and a download of one file that resumes, checks free space first,
// verifies the size and sha256 the hub publishes, and only then puts the file in place. Qt-free
// and blocking: the app calls it from a worker thread with a cancel flag and a progress callback.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "app/remote/chat_stream.h"  // RemoteError
#include "app/remote/http.h"

namespace gb::remote {

// A repository at a revision. Empty endpoint: $HF_ENDPOINT, else https://huggingface.co. Empty
// token: $HF_TOKEN (none when unset). The token goes only to the endpoint's own host (scheme,
// host and port), never to a host a redirect leads to (the CDN).
struct HubRepo {
    std::string endpoint;
    std::string id;                 // "owner/name" (a few old repos have no owner: "gpt2")
    std::string revision = "main";  // a branch, tag or commit
    std::string token;
};

// One file of a repository, to be downloaded into dest_dir (under its path in the repo, so
// "q4/model.gguf" lands in dest_dir/q4/model.gguf).
struct HubFileRequest {
    HubRepo repo;
    std::string path;
    std::filesystem::path dest_dir;
};

// A file as the hub's model API lists it.
struct HubFileInfo {
    std::string path;
    int64_t size = -1;  // bytes of the file itself (for LFS files, of the content, not the pointer)
    std::string sha256;   // LFS files only (the hub publishes no sha256 for small git files)
    std::string blob_id;  // the git blob id
    bool lfs = false;
};

struct HubRepoListing {
    std::string commit;  // the revision resolved to a commit
    // GGUF files first, then the rest; each group by path.
    std::vector<HubFileInfo> files;
};

// What the hub says about one file before its bytes are fetched (a HEAD on its resolve URL).
struct HubFileMetadata {
    std::string commit;        // X-Repo-Commit
    std::string etag;          // X-Linked-Etag, else ETag, without quotes or W/
    std::string sha256;        // the etag when it is a sha256 (LFS files), else empty
    int64_t size = -1;         // X-Linked-Size, else Content-Length of a direct answer
    std::string download_url;  // where the bytes are: a redirect's target, else the resolve URL
};

struct DownloadProgress {
    enum class Stage {
        Resolving,    // asking the hub for the file's size and digest
        Hashing,      // reading back bytes already on disk (a partial or complete file)
        Downloading,  // receiving bytes
    };
    Stage stage = Stage::Resolving;
    int64_t done = 0;          // bytes of the file on disk or hashed so far, resumed bytes included
    int64_t total = -1;        // the file's size; -1 while unknown
    double bytes_per_s = 0;    // over the last few seconds of this stage
    int64_t resumed_from = 0;  // bytes that were already on disk when this transfer started
};
// Called at most about ten times a second, and once at the end of each stage; on the calling
// thread (the worker's), so the app forwards it with a queued signal.
using DownloadProgressCallback = std::function<void(const DownloadProgress&)>;

struct DownloadResult {
    enum class Outcome {
        Downloaded,      // the file is now at `path`, verified
        AlreadyPresent,  // `path` held the verified file already: nothing fetched
        Cancelled,       // stopped by the cancel flag; the partial file is kept for a resume
    };
    Outcome outcome = Outcome::Downloaded;
    std::filesystem::path path;     // the final file
    std::filesystem::path partial;  // path + ".part"
    int64_t size = 0;
    std::string sha256;  // of the file's bytes, computed here
    std::string commit;
    int64_t resumed_from = 0;  // bytes taken over from an earlier partial download
};

// A hub download that failed, with what went wrong for a UI to act on. kind() is the
// RemoteError kind (Http for the hub's refusals, Network/Timeout for transfers).
class HubError : public RemoteError {
public:
    enum class Problem {
        NotFound,     // no such repo, revision or file (the message says which)
        NeedsToken,   // private or gated repo and no token, or the token was refused
        NeedsAccess,  // gated repo: the token's account must request access on the hub
        NoSpace,      // not enough free disk space (checked before downloading)
        Checksum,     // size or sha256 not what the hub published: the partial file is deleted
        Interrupted,  // the transfer stopped early: the partial file is kept, rerun to resume
        Other,
    };
    HubError(Problem p, Kind k, const std::string& what) : RemoteError(k, what), problem_(p) {}
    Problem problem() const { return problem_; }

private:
    Problem problem_;
};

// The files of a repository at its revision with sizes and (LFS) sha256, from the hub's model
// API (/api/models/{id}/revision/{rev}?blobs=true). Throws HubError.
HubRepoListing list_repo_files(const HubRepo& repo, const std::atomic<bool>* cancel = nullptr);

// Downloads one file: metadata first (size, sha256, commit), then a free-space check, then the
// bytes into `<file>.part` (resumed with a Range request when a partial file is there), hashed
// as they arrive, verified and renamed into place. Cancel keeps the partial file. Throws HubError
// (a dropped connection: Interrupted, and the partial file stays).
DownloadResult download(const HubFileRequest& req, const DownloadProgressCallback& progress = {},
                        const std::atomic<bool>* cancel = nullptr);

// Where downloads go by default: $XDG_DATA_HOME/glassbox/models, else
// ~/.local/share/glassbox/models; and one repository's folder under it (owner/name).
std::filesystem::path default_models_dir();
std::filesystem::path default_download_dir(std::string_view repo_id);

// --- The pieces above, exposed for tests and for a UI that shows them. ---

// The endpoint in use (see HubRepo), without a trailing '/'; the token in use.
std::string hub_endpoint(const HubRepo& repo);
std::string hub_token(const HubRepo& repo);

// Throws HubError (Other, kind Refused) for a repo id or file path that could leave its place: ids
// are [A-Za-z0-9._-] names, one optional '/'; paths are relative, without empty, "." or ".."
// segments, backslashes or control bytes.
void check_repo_id(std::string_view id);
void check_repo_path(std::string_view path);

// {endpoint}/{id}/resolve/{revision}/{path}, the revision and each path segment percent-encoded.
std::string resolve_url(const HubRepo& repo, std::string_view path);
std::string percent_encode(std::string_view s, bool keep_slash);

// The metadata a HEAD answer carries (its status, headers, and the redirect target curl
// resolved); request_url is where the HEAD went.
HubFileMetadata parse_file_metadata(const HttpResponse& head, const std::string& request_url);

// "https://host:443" for comparing where a URL points (scheme, lowercased host, port).
std::string origin_of(std::string_view url);

// The model API's JSON (siblings with rfilename, size, blobId, lfs.sha256/lfs.size) as a
// listing, sorted as HubRepoListing says. Throws RemoteError Malformed naming what is wrong.
HubRepoListing parse_repo_listing(std::string_view json_text);

// A refusal from the hub in plain words, from its X-Error-Code / X-Error-Message headers and
// JSON {"error": ...} body: no repo, no revision, no file, gated (token needed, or access to
// request), invalid token. Never contains the token.
HubError hub_error(const HttpResponse& r, const std::string& url, const HubRepo& repo,
                   std::string_view path, bool sent_token);

// Free space: "" when `free_bytes` holds `needed_bytes` plus a margin, else the refusal naming
// both figures (MB/GB) and the folder. The margin keeps the disk from being filled to the
// last byte.
std::string disk_space_problem(int64_t free_bytes, int64_t needed_bytes,
                               const std::filesystem::path& dir);
constexpr int64_t kDiskMarginBytes = 64ll << 20;

// The free space of the filesystem holding `dir`. Test hook: $GLASSBOX_TEST_FREE_BYTES, when
// set, is taken as the figure (so a test can see the refusal without filling a disk).
int64_t free_space_of(const std::filesystem::path& dir);

// What to do with the bytes already in `<file>.part` (partial_bytes; 0 when there is none)
// given the file's size (-1: unknown).
enum class ResumeStart {
    Fresh,     // nothing usable on disk: download from byte 0
    Resume,    // ask for the rest with Range: bytes=partial_bytes-
    Complete,  // the partial file has every byte: verify it without a request
    Discard,   // larger than the file: delete it and start over
};
ResumeStart plan_resume(int64_t partial_bytes, int64_t total);

// How a server answered a Range request for bytes from `offset` on: Append (206 whose
// Content-Range starts at offset), Restart (200: the server ignored the Range and sends the whole
// file), Complete (416 and Content-Range "bytes */N" with N == offset: nothing was missing),
// Invalid (anything else: a 206 at another offset, a 416 for a smaller file).
enum class RangeAnswer { Append, Restart, Complete, Invalid };
RangeAnswer classify_range_answer(long status, const std::string* content_range, int64_t offset);

// 1536 -> "1.5 KB", 734003200 -> "734 MB", 4.3e9 -> "4.3 GB" (decimal units, as the hub shows).
std::string format_bytes(int64_t n);

}  // namespace gb::remote
