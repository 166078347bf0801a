// Worker pool with spin-then-sleep wake-up; see thread_pool.h.
#include "kernels/cpu/thread_pool.h"

#include <algorithm>
#include <cassert>
#include <string>
#include <system_error>
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define GB_CPU_RELAX() _mm_pause()
#else
#define GB_CPU_RELAX() std::this_thread::yield()
#endif

#include "kernels/error.h"

namespace gb::cpu {

namespace {
constexpr int kSpinIterations = 1 << 14;  // tens of microseconds before a worker sleeps
constexpr uint64_t kIndexMask = 0xffffffffull;
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
    try {
        for (int i = 1; i < n_threads_; ++i) threads_.emplace_back([this, i] { worker(i); });
    } catch (const std::system_error& e) {
        // The system refused a thread (its limit on threads or memory): the ones already running
        // are stopped and joined here, since no destructor runs for a half-built pool.
        const size_t started = threads_.size() + 1;
        stop_workers();
        throw Error("cannot start " + std::to_string(n_threads_) + " CPU threads (the system " +
                    "refused thread " + std::to_string(started + 1) + ": " + e.what() +
                    "); choose fewer threads");
    }
}

ThreadPool::~ThreadPool() { stop_workers(); }

void ThreadPool::stop_workers() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_.store(true);
        generation_.fetch_add(1);
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
}

void ThreadPool::run_chunks(uint32_t gen, int index) {
    for (;;) {
        uint64_t v = next_.load(std::memory_order_acquire);
        if ((v >> 32) != gen) return;  // this loop is over
        // Seq-cst loads: seeing a newer loop's parameters implies seeing the close that preceded
        // them, so the compare-exchange below then fails instead of claiming a bogus range.
        const int64_t n = n_.load();
        const int64_t chunk = chunk_.load();
        const int64_t begin = static_cast<int64_t>(v & kIndexMask);
        if (begin >= n) return;
        const int64_t end = std::min(n, begin + chunk);
        if (!next_.compare_exchange_weak(v, (v & ~kIndexMask) | static_cast<uint64_t>(end),
                                         std::memory_order_acq_rel))
            continue;
        // Claimed: the loop cannot finish, so its parameters stay valid until done_ is bumped.
        (*fn_.load(std::memory_order_relaxed))(begin, end, index);
        done_.fetch_add(end - begin, std::memory_order_acq_rel);
    }
}

void ThreadPool::worker(int index) {
    uint64_t seen = 0;
    for (;;) {
        uint64_t gen = generation_.load(std::memory_order_acquire);
        for (int spin = 0; gen == seen && spin < kSpinIterations; ++spin) {
            GB_CPU_RELAX();
            gen = generation_.load(std::memory_order_acquire);
        }
        if (gen == seen) {
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait(lock, [&] { return generation_.load() != seen; });
            gen = generation_.load();
        }
        seen = gen;
        if (stop_.load()) return;
        run_chunks(static_cast<uint32_t>(gen), index);
    }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn,
                              int64_t chunk) {
    if (n <= 0) return;
    assert(n < static_cast<int64_t>(kIndexMask));
    if (chunk <= 0) chunk = std::max<int64_t>(1, n / (4 * n_threads_));
    if (n_threads_ == 1 || n <= chunk) {
        fn(0, n, 0);
        return;
    }
    // The previous loop is complete, but a late worker may still hold its (gen, n) and would
    // claim [n, ...) with our new parameters: close the old generation first, so that its
    // compare-exchange fails.
    next_.store(next_.load() | kIndexMask);
    fn_.store(&fn);
    chunk_.store(chunk);
    n_.store(n);
    done_.store(0);
    uint32_t gen;
    {
        std::lock_guard<std::mutex> lock(mu_);
        gen = static_cast<uint32_t>(generation_.load() + 1);
        next_.store(static_cast<uint64_t>(gen) << 32, std::memory_order_release);
        generation_.fetch_add(1, std::memory_order_acq_rel);
    }
    cv_.notify_all();
    run_chunks(gen, 0);
    while (done_.load(std::memory_order_acquire) != n) GB_CPU_RELAX();
}

}  // namespace gb::cpu
