// The thread pool under churn: every item of every loop runs exactly once, also when there are
// more threads than cores and loops of very different sizes follow each other (the case where a
// late worker could claim a chunk of a loop that has already moved on).
#include "kernels/cpu/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

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

}  // namespace
}  // namespace gb::cpu
