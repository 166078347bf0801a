// A writer process streaming a reply is killed with SIGKILL at random moments, 50 times, on one
// database: it must stay intact (integrity_check), every completed message must be exactly as
// written, and the interrupted reply must be marked incomplete, missing at most about the last
// second of its text.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <random>

#include "tests/app/history/history_test_support.h"

using namespace gb;
using namespace gb::app;
using gb::test::TempDir;

namespace {

constexpr int kRuns = 50;
constexpr int kMaxTokens = 1 << 16;

// What the writer tells the test, through memory shared across fork(): no system calls on
// the writer's path, so the kill can land anywhere.
struct Shared {
    std::atomic<int64_t> completed_id;  // the finished reply of this run, once finish() returned
    std::atomic<int64_t> streaming_id;  // the reply being streamed
    std::atomic<int> n_appended;        // tokens whose append_answer() has returned
    int64_t t_ns[kMaxTokens];           // when each token's append returned (CLOCK_MONOTONIC)
};

int64_t mono_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

std::string token(int run, int j) {
    return "r" + std::to_string(run) + "w" + std::to_string(j) + " ";
}
std::string completed_text(int run) {
    std::string s;
    for (int j = 0; j < 20; ++j) s += token(run, j);
    return s;
}

[[noreturn]] void writer(const std::string& path, int run, Shared* sh) {
    try {
        HistoryOptions opt;
        opt.flush_interval_ms = 20;
        auto store = HistoryStore::open(path, opt);
        const int64_t c = store->create_conversation("run " + std::to_string(run));
        const int64_t u =
            store->add_message(c, std::nullopt, Role::User, "prompt " + std::to_string(run));
        {
            auto w = store->begin_reply(c, u, {});
            for (int j = 0; j < 20; ++j) w.append_answer(token(run, j));
            w.finish({});
            sh->completed_id.store(w.id());
        }
        auto w = store->begin_reply(c, u, {});
        sh->streaming_id.store(w.id());
        for (int j = 0; j < kMaxTokens; ++j) {
            w.append_answer(token(run, j));
            sh->t_ns[j] = mono_ns();
            sh->n_appended.store(j + 1);
            const timespec pause{0, 100000};  // 0.1 ms per token
            nanosleep(&pause, nullptr);
        }
    } catch (...) {
        _exit(3);
    }
    _exit(0);
}

TEST(HistoryCrash, KilledWriterLosesAtMostTheLastSecond) {
    TempDir dir;
    const std::string path = dir.file("h.db");
    auto* sh = static_cast<Shared*>(
        mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(sh, MAP_FAILED);
    std::mt19937 rng(12345);
    std::vector<std::pair<int64_t, std::string>> completed;  // every finished reply so far
    int interrupted = 0, max_lost_tokens = 0;
    double max_lost_ms = 0;
    for (int run = 0; run < kRuns; ++run) {
        sh->completed_id.store(0);
        sh->streaming_id.store(0);
        sh->n_appended.store(0);
        const pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) writer(path, run, sh);
        // Some kills land while opening or finishing the first reply, most while streaming.
        const int delay_us = std::uniform_int_distribution<int>(1000, 120000)(rng);
        usleep(static_cast<useconds_t>(delay_us));
        kill(pid, SIGKILL);
        const int64_t kill_ns = mono_ns();
        int status = 0;
        waitpid(pid, &status, 0);
        ASSERT_TRUE(WIFSIGNALED(status))
            << "run " << run << ": the writer ended by itself, status " << status;

        OpenReport report;
        auto store = HistoryStore::open(path, {}, &report);
        ASSERT_EQ(store->integrity_check(), "ok") << "run " << run;
        if (const int64_t id = sh->completed_id.load())
            completed.emplace_back(id, completed_text(run));
        for (const auto& [id, text] : completed) {
            const Message m = store->load_message(id);
            ASSERT_EQ(m.status, MessageStatus::Complete) << "run " << run << " message " << id;
            ASSERT_EQ(m.answer, text) << "run " << run << " message " << id;
        }
        if (const int64_t id = sh->streaming_id.load()) {
            ++interrupted;
            const Message m = store->load_message(id);
            EXPECT_EQ(m.status, MessageStatus::Incomplete) << "run " << run;
            const int n = sh->n_appended.load();
            // The saved text is exactly the first k tokens.
            std::string expect;
            int k = 0;
            while (expect.size() < m.answer.size() && k < kMaxTokens) expect += token(run, k++);
            ASSERT_EQ(m.answer, expect) << "run " << run;
            ASSERT_LE(k, n + 1) << "run " << run;  // +1: killed after saving, before counting
            if (k < n) {
                // Token k was appended (and not saved) at t_ns[k]: within about a second of the
                // kill.
                const double lost_ms = static_cast<double>(kill_ns - sh->t_ns[k]) / 1e6;
                EXPECT_LT(lost_ms, 1000.0) << "run " << run << ": " << (n - k) << " tokens lost";
                max_lost_ms = std::max(max_lost_ms, lost_ms);
                max_lost_tokens = std::max(max_lost_tokens, n - k);
            }
        }
    }
    munmap(sh, sizeof(Shared));
    auto store = HistoryStore::open(path);
    EXPECT_EQ(store->integrity_check(), "ok");
    EXPECT_GE(interrupted, kRuns / 2);  // most kills did land mid-stream
    std::printf(
        "  %d runs, %d killed mid-stream, %zu completed replies intact; worst loss %d tokens, "
        "%.0f ms of text\n",
        kRuns, interrupted, completed.size(), max_lost_tokens, max_lost_ms);
}

}  // namespace
