// The hub download's pure parts, each against what the hub sends (shapes taken from its client,
// huggingface_hub): URLs and names, a HEAD answer's metadata, the model API's file list, the
// hub's refusals in words, the free-space check, the resume decision and the answer to a Range
// request; then one download against a loopback server for the progress a UI sees, a cancel
// that keeps the partial file and the resume that completes it.
#include "app/remote/hub_download.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/app/remote/loopback_server.h"
#include "tests/test_support.h"

using namespace gb::remote;
using gb::test::error_of;
using gb::test::LoopbackServer;
namespace fs = std::filesystem;

namespace {

HttpResponse answer(long status, std::vector<std::pair<std::string, std::string>> headers,
                    std::string body = "", std::string location = "") {
    HttpResponse r;
    r.status = status;
    r.headers = std::move(headers);
    r.body = std::move(body);
    r.location = std::move(location);
    return r;
}

HubRepo repo(std::string id = "Qwen/Qwen3-0.6B-GGUF") {
    HubRepo r;
    r.endpoint = "https://huggingface.co";
    r.id = std::move(id);
    return r;
}

const char* kSha = "a6132be1008b099517b2804dd48a5ad1215016530fffaeb374a43af6e799fb03";

}  // namespace

TEST(HubNames, ResolveUrlEncodesRevisionAndPath) {
    HubRepo r = repo();
    EXPECT_EQ(resolve_url(r, "Qwen3-0.6B-Q8_0.gguf"),
              "https://huggingface.co/Qwen/Qwen3-0.6B-GGUF/resolve/main/Qwen3-0.6B-Q8_0.gguf");
    r.revision = "refs/pr/1";
    EXPECT_EQ(resolve_url(r, "q4 k/model+1.gguf"),
              "https://huggingface.co/Qwen/Qwen3-0.6B-GGUF/resolve/refs%2Fpr%2F1/q4%20k/"
              "model%2B1.gguf");
    r.endpoint = "http://mirror.local:8080/";
    r.revision = "main";
    EXPECT_EQ(resolve_url(r, "a.gguf"),
              "http://mirror.local:8080/Qwen/Qwen3-0.6B-GGUF/resolve/main/a.gguf");
}

TEST(HubNames, EndpointAndTokenFromTheEnvironment) {
    HubRepo r;
    r.id = "a/b";
    ::setenv("HF_ENDPOINT", "http://hf-mirror.example/", 1);
    ::setenv("HF_TOKEN", "hf_env", 1);
    EXPECT_EQ(hub_endpoint(r), "http://hf-mirror.example");
    EXPECT_EQ(hub_token(r), "hf_env");
    r.endpoint = "https://other.example";
    r.token = "hf_given";
    EXPECT_EQ(hub_endpoint(r), "https://other.example");
    EXPECT_EQ(hub_token(r), "hf_given");
    ::unsetenv("HF_ENDPOINT");
    ::unsetenv("HF_TOKEN");
    r = HubRepo{};
    EXPECT_EQ(hub_endpoint(r), "https://huggingface.co");
    EXPECT_EQ(hub_token(r), "");
}

TEST(HubNames, RepoIdsAndPathsThatCouldEscapeAreRefused) {
    for (const char* ok : {"Qwen/Qwen3-0.6B-GGUF", "gpt2", "unsloth/DeepSeek-R1-GGUF", "a_b/c.d"})
        EXPECT_EQ(error_of([&] { check_repo_id(ok); }), "no error") << ok;
    for (const char* bad : {"", "a/b/c", "../x", "a/..", "a//b", "/a", "a b/c", "a/b?x=1", "a/b#c"})
        EXPECT_NE(error_of([&] { check_repo_id(bad); }).find("not a repo id"), std::string::npos)
            << bad;
    for (const char* ok : {"model.gguf", "Q4_K_M/model-00001-of-00002.gguf", "a b+c.gguf"})
        EXPECT_EQ(error_of([&] { check_repo_path(ok); }), "no error") << ok;
    for (const char* bad : {"", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a\\b", "a\nb"})
        EXPECT_NE(error_of([&] { check_repo_path(bad); }).find("not a file path"),
                  std::string::npos)
            << bad;
}

TEST(HubNames, OriginsCompareSchemeHostAndPort) {
    EXPECT_EQ(origin_of("https://HuggingFace.co/x/y"), "https://huggingface.co:443");
    EXPECT_EQ(origin_of("https://huggingface.co:443"), "https://huggingface.co:443");
    EXPECT_EQ(origin_of("http://127.0.0.1:8080/a?b"), "http://127.0.0.1:8080");
    EXPECT_EQ(origin_of("http://user:pw@host/a"), "http://host:80");
    EXPECT_EQ(origin_of("http://[::1]:9/a"), "http://[::1]:9");
    EXPECT_NE(origin_of("https://cdn-lfs.hf.co/x"), origin_of("https://huggingface.co/x"));
    EXPECT_NE(origin_of("http://huggingface.co/x"), origin_of("https://huggingface.co/x"));
}

TEST(HubNames, DefaultFolders) {
    ::setenv("XDG_DATA_HOME", "/data/x", 1);
    EXPECT_EQ(default_models_dir(), fs::path("/data/x/glassbox/models"));
    EXPECT_EQ(default_download_dir("Qwen/Qwen3-0.6B-GGUF"),
              fs::path("/data/x/glassbox/models/Qwen/Qwen3-0.6B-GGUF"));
    ::unsetenv("XDG_DATA_HOME");
    ::setenv("HOME", "/home/u", 1);
    EXPECT_EQ(default_models_dir(), fs::path("/home/u/.local/share/glassbox/models"));
}

TEST(HubMetadata, AnLfsFileRedirectsToTheCdn) {
    const std::string cdn = "https://cas-bridge.xethub.hf.co/xet-bridge-us/abc?X-Amz-Signature=1";
    const HubFileMetadata m =
        parse_file_metadata(answer(302,
                                   {{"Content-Length", "1363"},
                                    {"X-Repo-Commit", "b8ac7ba8b6ce6ed7b3e2d29eaf6ac3b4d8d6e3e1"},
                                    {"x-linked-etag", std::string("\"") + kSha + "\""},
                                    {"X-Linked-Size", "639446688"},
                                    {"ETag", "\"old\""},
                                    {"Location", cdn}},
                                   "", cdn),
                            "https://huggingface.co/r/resolve/main/f.gguf");
    EXPECT_EQ(m.commit, "b8ac7ba8b6ce6ed7b3e2d29eaf6ac3b4d8d6e3e1");
    EXPECT_EQ(m.sha256, kSha);
    EXPECT_EQ(m.size, 639446688);
    EXPECT_EQ(m.download_url, cdn);
}

TEST(HubMetadata, ASmallGitFileIsAnsweredDirectly) {
    const HubFileMetadata m =
        parse_file_metadata(answer(200, {{"Content-Length", "727"},
                                         {"ETag", "W/\"4a2e2b8d1b5c5f0c3d2c1e0f9a8b7c6d5e4f3a2b\""},
                                         {"X-Repo-Commit", "c0ffee"}}),
                            "https://huggingface.co/r/resolve/main/config.json");
    EXPECT_EQ(m.etag, "4a2e2b8d1b5c5f0c3d2c1e0f9a8b7c6d5e4f3a2b");
    EXPECT_EQ(m.sha256, "");  // a git blob id, not a sha256
    EXPECT_EQ(m.size, 727);
    EXPECT_EQ(m.download_url, "https://huggingface.co/r/resolve/main/config.json");
    // A redirect's Content-Length is its own body's, not the file's.
    const HubFileMetadata r =
        parse_file_metadata(answer(302, {{"Content-Length", "50"}}, "", "https://cdn/x"), "u");
    EXPECT_EQ(r.size, -1);
    EXPECT_EQ(r.download_url, "https://cdn/x");
}

TEST(HubListing, SiblingsWithBlobs) {
    // The shape of GET /api/models/{repo}/revision/main?blobs=true.
    const std::string json = std::string(R"({"_id":"66","id":"o/r","sha":"deadbeef","private":false,
        "gated":false,"siblings":[
        {"rfilename":".gitattributes","blobId":"a1","size":1519},
        {"rfilename":"README.md","blobId":"b2","size":20},
        {"rfilename":"r-Q8_0.gguf","blobId":"c3","size":639446688,
         "lfs":{"sha256":")") +
                             kSha + R"(","size":639446688,"pointerSize":135}},
        {"rfilename":"Q4/r-Q4_K_M.GGUF","blobId":"d4","size":484220320,
         "lfs":{"sha256":")" +
                             kSha + R"(","size":484220320,"pointerSize":135}}]})";
    const HubRepoListing l = parse_repo_listing(json);
    EXPECT_EQ(l.commit, "deadbeef");
    ASSERT_EQ(l.files.size(), 4u);
    EXPECT_EQ(l.files[0].path, "Q4/r-Q4_K_M.GGUF");
    EXPECT_EQ(l.files[1].path, "r-Q8_0.gguf");
    EXPECT_EQ(l.files[2].path, ".gitattributes");
    EXPECT_EQ(l.files[3].path, "README.md");
    EXPECT_EQ(l.files[1].size, 639446688);
    EXPECT_EQ(l.files[1].sha256, kSha);
    EXPECT_TRUE(l.files[1].lfs);
    EXPECT_FALSE(l.files[3].lfs);
    EXPECT_EQ(l.files[3].size, 20);
    EXPECT_EQ(l.files[3].sha256, "");
    // Without blobs=true the hub sends names only.
    const HubRepoListing names = parse_repo_listing(R"({"siblings":[{"rfilename":"a.gguf"}]})");
    EXPECT_EQ(names.files.at(0).size, -1);
}

TEST(HubListing, MalformedAnswersAreNamed) {
    auto err = [](const std::string& j) { return error_of([&] { parse_repo_listing(j); }); };
    EXPECT_NE(err("<html>").find("the hub's file list is not as expected"), std::string::npos);
    EXPECT_NE(err(R"({"id":"x"})").find("no siblings list"), std::string::npos);
    EXPECT_NE(err(R"({"siblings":[{"size":3}]})").find("rfilename"), std::string::npos);
    EXPECT_NE(err(R"({"siblings":[{"rfilename":"a","lfs":{"sha256":"xyz","size":1}}]})")
                  .find("not 64 hex digits"),
              std::string::npos);
}

TEST(HubErrors, InPlainWords) {
    const HubRepo r = repo("o/r");
    const std::string url = "https://huggingface.co/o/r/resolve/main/f.gguf";
    auto err = [&](long status, std::vector<std::pair<std::string, std::string>> h, bool sent_token,
                   std::string body = "") {
        return hub_error(answer(status, std::move(h), std::move(body)), url, r, "f.gguf",
                         sent_token);
    };
    HubError e = err(404, {{"X-Error-Code", "EntryNotFound"}}, false);
    EXPECT_EQ(e.problem(), HubError::Problem::NotFound);
    EXPECT_NE(std::string(e.what()).find("no file f.gguf in repo o/r at revision main"),
              std::string::npos);
    e = err(401, {{"X-Error-Code", "RepoNotFound"}, {"X-Error-Message", "Repository not found"}},
            false);
    EXPECT_EQ(e.problem(), HubError::Problem::NotFound);
    EXPECT_NE(std::string(e.what()).find("no repo o/r"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("a token"), std::string::npos);
    e = err(404, {{"X-Error-Code", "RevisionNotFound"}}, true);
    EXPECT_NE(std::string(e.what()).find("no revision main in repo o/r"), std::string::npos);
    e = err(401, {{"X-Error-Code", "GatedRepo"}}, false);
    EXPECT_EQ(e.problem(), HubError::Problem::NeedsToken);
    EXPECT_NE(std::string(e.what()).find("request access at https://huggingface.co/o/r"),
              std::string::npos);
    e = err(403, {{"X-Error-Code", "GatedRepo"}}, true);
    EXPECT_EQ(e.problem(), HubError::Problem::NeedsAccess);
    EXPECT_NE(std::string(e.what()).find("not been granted access"), std::string::npos);
    e = err(401, {{"X-Error-Message", "Invalid credentials in Authorization header"}}, true);
    EXPECT_EQ(e.problem(), HubError::Problem::NeedsToken);
    EXPECT_NE(std::string(e.what()).find("refused the token"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("Invalid credentials"), std::string::npos);
    e = err(503, {}, false, R"({"error":"maintenance"})");
    EXPECT_NE(std::string(e.what()).find("server error (HTTP 503; the hub says: maintenance)"),
              std::string::npos);
    // A 404 from a CDN host is not the hub's "no file" (the hub said the file exists).
    e = hub_error(answer(404, {}), "https://cdn.example/x", r, "f.gguf", false);
    EXPECT_EQ(e.problem(), HubError::Problem::Other);
}

TEST(HubDecisions, DiskSpaceNamesBothFigures) {
    EXPECT_EQ(disk_space_problem(10'000'000'000, 4'300'000'000, "/m"), "");
    const std::string p = disk_space_problem(500'000'000, 4'300'000'000, "/m");
    EXPECT_NE(p.find("not enough disk space in /m"), std::string::npos) << p;
    EXPECT_NE(p.find("4.3 GB"), std::string::npos) << p;
    EXPECT_NE(p.find("500 MB"), std::string::npos) << p;
    // The margin: exactly the bytes needed is not enough.
    EXPECT_NE(disk_space_problem(4'300'000'000, 4'300'000'000, "/m"), "");
    EXPECT_EQ(disk_space_problem(4'300'000'000 + kDiskMarginBytes, 4'300'000'000, "/m"), "");
    EXPECT_EQ(disk_space_problem(0, 0, "/m"), "");  // nothing left to fetch
    ::setenv("GLASSBOX_TEST_FREE_BYTES", "1234", 1);
    EXPECT_EQ(free_space_of("/"), 1234);
    ::unsetenv("GLASSBOX_TEST_FREE_BYTES");
    EXPECT_GT(free_space_of(fs::temp_directory_path() / "not" / "made" / "yet"), 0);
}

TEST(HubDecisions, ResumePlan) {
    EXPECT_EQ(plan_resume(0, 100), ResumeStart::Fresh);
    EXPECT_EQ(plan_resume(40, 100), ResumeStart::Resume);
    EXPECT_EQ(plan_resume(100, 100), ResumeStart::Complete);
    EXPECT_EQ(plan_resume(150, 100), ResumeStart::Discard);
    EXPECT_EQ(plan_resume(40, -1), ResumeStart::Resume);
}

TEST(HubDecisions, AnswersToARangeRequest) {
    const std::string ok = "bytes 40-99/100", other = "bytes 0-99/100", whole = "bytes */40",
                      small = "bytes */30";
    EXPECT_EQ(classify_range_answer(206, &ok, 40), RangeAnswer::Append);
    EXPECT_EQ(classify_range_answer(206, &other, 40), RangeAnswer::Invalid);
    EXPECT_EQ(classify_range_answer(206, nullptr, 40), RangeAnswer::Invalid);
    EXPECT_EQ(classify_range_answer(200, nullptr, 40), RangeAnswer::Restart);
    EXPECT_EQ(classify_range_answer(416, &whole, 40), RangeAnswer::Complete);
    EXPECT_EQ(classify_range_answer(416, &small, 40), RangeAnswer::Invalid);
}

TEST(HubDecisions, ByteCounts) {
    EXPECT_EQ(format_bytes(0), "0 bytes");
    EXPECT_EQ(format_bytes(999), "999 bytes");
    EXPECT_EQ(format_bytes(1536), "1.5 KB");
    EXPECT_EQ(format_bytes(734'003'200), "734 MB");
    EXPECT_EQ(format_bytes(4'300'000'000), "4.3 GB");
    EXPECT_EQ(format_bytes(120'000'000'000), "120 GB");
}

// A mirror that serves the file itself (no CDN), with the sha256 as its ETag, honouring Range.
TEST(HubDownload, ProgressCancelAndResume) {
    const std::string body(200000, 'x');
    // hashlib.sha256(b"x" * 200000).hexdigest()
    const std::string sha = "91e3faafd322bcdf160f3f0ce886acb092b9b9e2a1e8526b40f21a8898a8700b";
    auto serve = [&](LoopbackServer::Conn& c, const LoopbackServer::Request& q) {
        const bool head = q.head.rfind("HEAD ", 0) == 0;
        size_t from = 0;
        if (const size_t at = q.head.find("Range: bytes="); at != std::string::npos)
            from = std::stoul(q.head.substr(at + 13));
        std::string h = from ? "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes " +
                                   std::to_string(from) + "-199999/200000\r\n"
                             : "HTTP/1.1 200 OK\r\n";
        h += "ETag: \"" + sha + "\"\r\nX-Repo-Commit: c0ffee\r\nContent-Length: " +
             std::to_string(body.size() - from) + "\r\nConnection: close\r\n\r\n";
        c.send(h);
        if (head) return;
        for (size_t at = from; at < body.size(); at += 20000) {
            if (!c.send(body.substr(at, 20000))) return;
            c.pause_ms(30);  // progress is reported every 100 ms: a few reports come
        }
    };
    LoopbackServer server(serve);
    const fs::path dir = fs::temp_directory_path() / "gb_hub_download_test";
    fs::remove_all(dir);
    HubFileRequest req;
    req.repo.endpoint = server.url();
    req.repo.id = "o/r";
    req.repo.token = "hf_t";
    req.path = "m.gguf";
    req.dest_dir = dir;

    std::atomic<bool> cancel{false};
    std::vector<DownloadProgress> seen;
    DownloadResult r = download(
        req,
        [&](const DownloadProgress& p) {
            seen.push_back(p);
            if (p.done >= 60000) cancel = true;
        },
        &cancel);
    EXPECT_EQ(r.outcome, DownloadResult::Outcome::Cancelled);
    ASSERT_TRUE(fs::exists(dir / "m.gguf.part"));
    const auto kept = static_cast<int64_t>(fs::file_size(dir / "m.gguf.part"));
    EXPECT_GE(kept, 60000);
    EXPECT_LT(kept, 200000);
    EXPECT_FALSE(fs::exists(dir / "m.gguf"));
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.front().stage, DownloadProgress::Stage::Resolving);
    EXPECT_EQ(seen.back().stage, DownloadProgress::Stage::Downloading);
    EXPECT_EQ(seen.back().total, 200000);

    cancel = false;
    seen.clear();
    r = download(
        req, [&](const DownloadProgress& p) { seen.push_back(p); }, &cancel);
    EXPECT_EQ(r.outcome, DownloadResult::Outcome::Downloaded);
    EXPECT_EQ(r.resumed_from, kept);
    EXPECT_EQ(r.sha256, sha);
    EXPECT_EQ(r.commit, "c0ffee");
    EXPECT_FALSE(fs::exists(dir / "m.gguf.part"));
    std::ifstream in(dir / "m.gguf", std::ios::binary);
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), body);
    int64_t last = -1;
    bool hashed = false;
    for (const DownloadProgress& p : seen) {
        hashed |= p.stage == DownloadProgress::Stage::Hashing;
        if (p.stage == DownloadProgress::Stage::Downloading) {
            EXPECT_GE(p.done, last);
            EXPECT_EQ(p.resumed_from, kept);
            last = p.done;
        }
    }
    EXPECT_TRUE(hashed);  // the kept bytes were read back into the digest
    EXPECT_EQ(last, 200000);
    const auto reqs = server.requests();
    ASSERT_GE(reqs.size(), 4u);
    EXPECT_NE(reqs.back().head.find("Range: bytes=" + std::to_string(kept) + "-"),
              std::string::npos);
    // Same origin as the endpoint: the token goes along; pinned to the commit.
    EXPECT_NE(reqs.back().head.find("Authorization: Bearer hf_t"), std::string::npos);
    EXPECT_NE(reqs.back().head.find("/o/r/resolve/c0ffee/m.gguf"), std::string::npos);
    fs::remove_all(dir);
}
