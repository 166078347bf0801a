// The thread pool under churn: every item of every loop runs exactly once, also when there are
// more threads than cores and loops of very different sizes follow each other (the case where a
// late worker could claim a chunk of a loop that has already moved on).
#include "kernels/cpu/thread_pool.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <string>
#include <vector>

#include "kernels/error.h"

namespace gb::cpu {
namespace {

TEST(ThreadPool, EveryItemOnceUnderChurn) {
    for (int threads : {1, 2, 3, 6}) {
        ThreadPool pool(threads);
        std::vector<std::atomic<int>> hits(5000);
        for (int iter = 0; iter < 3000; ++iter) {
            const int64_t n = (iter * 7919) % 4999 + 1;  // sizes jump around
            const int64_t chunk = iter % 3 == 0 ? 0 : (iter % 17) + 1;
            for (int64_t i = 0; i < n; ++i) hits[i].store(0, std::memory_order_relaxed);
            pool.parallel_for(
                n,
                [&](int64_t b, int64_t e, int tid) {
                    ASSERT_GE(tid, 0);
                    ASSERT_LT(tid, threads);
                    ASSERT_LE(e, n);
                    for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1, std::memory_order_relaxed);
                },
                chunk);
            for (int64_t i = 0; i < n; ++i)
                ASSERT_EQ(hits[i].load(), 1)
                    << "threads " << threads << " loop " << iter << " item " << i;
        }
    }
}

TEST(ThreadPool, EmptyAndSingleItemLoops) {
    ThreadPool pool(3);
    int calls = 0;
    pool.parallel_for(0, [&](int64_t, int64_t, int) { ++calls; });
    EXPECT_EQ(calls, 0);
    pool.parallel_for(1, [&](int64_t b, int64_t e, int) { calls += static_cast<int>(e - b); });
    EXPECT_EQ(calls, 1);
}

// When the system refuses a thread (here: an address-space limit too small for another thread's
// stack), the pool joins the threads it started and throws an error that names the count; a
// half-built pool once aborted or hung in its cleanup instead. Runs in a child process so that
// the limit does not touch the test runner; an alarm turns a hang into a failure.
TEST(ThreadPool, RefusedThreadIsAnErrorNotAHang) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        alarm(20);
        rlimit lim{};
        getrlimit(RLIMIT_AS, &lim);
        // About 64 MiB above what the process maps now: room for a few 8 MiB thread stacks.
        long pages = 0;
        if (FILE* f = std::fopen("/proc/self/statm", "r")) {
            if (std::fscanf(f, "%ld", &pages) != 1) pages = 0;
            std::fclose(f);
        }
        lim.rlim_cur = static_cast<rlim_t>(pages) * sysconf(_SC_PAGESIZE) + (64 << 20);
        if (pages == 0 || setrlimit(RLIMIT_AS, &lim) != 0) _exit(3);
        try {
            ThreadPool pool(200);
            _exit(4);  // every thread started: the limit did not bite
        } catch (const Error& e) {
            const std::string what = e.what();
            _exit(what.find("cannot start 200 CPU threads") != std::string::npos ? 0 : 5);
        } catch (...) {
            _exit(6);
        }
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status))
        << "the child died of signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0)
        << " (SIGABRT: a crash, SIGALRM: a hang)";
    EXPECT_EQ(WEXITSTATUS(status), 0) << "3: no limit, 4: no refusal, 5: wrong message, 6: other";
}

}  // namespace
}  // namespace gb::cpu
