// glassbox-cli download REPO FILE: one model file from the Hugging Face hub (or a mirror), with
// progress on stderr, resumed when a partial file is there, verified against the hub's sha256;
// --list shows the repo's files with sizes instead.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/remote/hub_download.h"
#include "engine/core/utf8.h"
#include "kernels/error.h"

namespace gb::cli {

namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_sigint(int) { g_interrupted.store(true); }

// Progress on stderr: one line rewritten in place on a terminal, a line every few seconds (and
// at each stage) otherwise, e.g. in a log.
class ProgressLine {
public:
    explicit ProgressLine(std::string name)
        : name_(std::move(name)), tty_(isatty(fileno(stderr)) != 0) {}
    void operator()(const remote::DownloadProgress& p) {
        using Stage = remote::DownloadProgress::Stage;
        if (p.stage == Stage::Resolving) return;
        const auto now = std::chrono::steady_clock::now();
        const bool new_stage = p.stage != stage_;
        const bool end = p.total >= 0 && p.done == p.total;
        if (!tty_ && !new_stage && !end && now - last_ < std::chrono::seconds(2)) return;
        if (!tty_ && end && printed_end_ && !new_stage) return;
        stage_ = p.stage;
        last_ = now;
        printed_end_ = end;
        std::string line = p.stage == Stage::Hashing ? "checking " : "";
        line += name_ + ": " + remote::format_bytes(p.done);
        if (p.total >= 0) {
            char pct[16];
            std::snprintf(pct, sizeof pct, " (%.0f%%)",
                          p.total > 0 ? 100.0 * double(p.done) / double(p.total) : 100.0);
            line += " of " + remote::format_bytes(p.total) + pct;
        }
        if (p.bytes_per_s > 0) {
            line += ", " + remote::format_bytes(static_cast<int64_t>(p.bytes_per_s)) + "/s";
            if (p.total > p.done && p.stage == Stage::Downloading) {
                const long s = static_cast<long>(double(p.total - p.done) / p.bytes_per_s);
                char eta[32];
                std::snprintf(eta, sizeof eta, ", %ld:%02ld left", s / 60, s % 60);
                line += eta;
            }
        }
        if (p.stage == Stage::Downloading && p.resumed_from > 0 && !tty_)
            line += ", resumed at " + remote::format_bytes(p.resumed_from);
        if (tty_) {
            std::fprintf(stderr, "\r\033[K%s", line.c_str());
            open_ = true;
        } else {
            std::fprintf(stderr, "%s\n", line.c_str());
        }
        std::fflush(stderr);
    }
    // Ends the in-place line before anything else is printed.
    void done() {
        if (open_) std::fputc('\n', stderr);
        open_ = false;
    }

private:
    std::string name_;
    bool tty_;
    bool open_ = false;
    bool printed_end_ = false;
    remote::DownloadProgress::Stage stage_ = remote::DownloadProgress::Stage::Resolving;
    std::chrono::steady_clock::time_point last_{};
};

int list_files(const remote::HubRepo& repo) {
    const remote::HubRepoListing l = remote::list_repo_files(repo, &g_interrupted);
    std::printf("%s at %s%s%s\n", utf8::printable(repo.id).c_str(),
                utf8::printable(repo.revision).c_str(), l.commit.empty() ? "" : " = ",
                utf8::printable(l.commit).c_str());
    for (const remote::HubFileInfo& f : l.files)
        std::printf("%10s  %s%s\n", f.size >= 0 ? remote::format_bytes(f.size).c_str() : "?",
                    utf8::printable(f.path).c_str(), f.lfs ? "" : "  (no sha256 published)");
    return 0;
}

}  // namespace

int download_command(const std::vector<std::string>& argv) {
    const Args args(argv, {"--revision", "--dir", "--endpoint", "--token-env"}, {"--list"});
    const auto& pos = args.positional();
    const bool list = args.has("--list");
    if (pos.empty() || pos.size() > 2 || (!list && pos.size() != 2))
        throw Error(
            "usage: glassbox-cli download REPO FILE [--revision REV] [--dir DIR] "
            "[--endpoint URL] [--token-env VAR], or download REPO --list");
    remote::HubRepo repo;
    repo.id = pos[0];
    repo.revision = args.str("--revision", "main");
    repo.endpoint = args.str("--endpoint");
    if (args.has("--token-env")) {
        const std::string var = args.str("--token-env");
        const char* t = std::getenv(var.c_str());
        if (!t || !*t) throw Error("--token-env " + var + ": the environment variable is not set");
        repo.token = t;
    }
    // Ctrl-C stops the transfer and keeps the partial file for the next run.
    std::signal(SIGINT, on_sigint);
    std::signal(SIGTERM, on_sigint);
    if (list) {
        try {
            return list_files(repo);
        } catch (const remote::RemoteError& e) {
            throw Error(e.what());
        }
    }
    remote::HubFileRequest req;
    req.repo = repo;
    req.path = pos[1];
    req.dest_dir = args.has("--dir") ? std::filesystem::path(args.str("--dir"))
                                     : remote::default_download_dir(repo.id);
    ProgressLine line(req.path);
    remote::DownloadResult r;
    try {
        r = remote::download(
            req, [&](const remote::DownloadProgress& p) { line(p); }, &g_interrupted);
    } catch (const remote::RemoteError& e) {
        line.done();
        throw Error(e.what());
    }
    line.done();
    using Outcome = remote::DownloadResult::Outcome;
    if (r.outcome == Outcome::Cancelled) {
        std::error_code ec;
        if (std::filesystem::exists(r.partial, ec))
            std::fprintf(stderr,
                         "download stopped: %s kept in %s; run the same command to resume\n",
                         remote::format_bytes(
                             static_cast<int64_t>(std::filesystem::file_size(r.partial, ec)))
                             .c_str(),
                         utf8::printable(r.partial.string()).c_str());
        else
            std::fprintf(stderr, "download stopped before any byte was saved\n");
        return 130;
    }
    std::fprintf(stderr, "%s %s (%s, sha256 %s%s%s)\n",
                 r.outcome == Outcome::AlreadyPresent ? "already there:" : "saved",
                 utf8::printable(r.path.string()).c_str(), remote::format_bytes(r.size).c_str(),
                 r.sha256.c_str(), r.commit.empty() ? "" : ", commit ",
                 utf8::printable(r.commit).c_str());
    std::printf("%s\n", r.path.c_str());
    return 0;
}

}  // namespace gb::cli
