// A fixed pool of worker threads for the CPU backend's data-parallel loops.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace gb::cpu {

// Runs fn(begin, end, thread_index) over [0, n) split in chunks taken from a shared counter.
// A decode step dispatches a few hundred small loops, so waking the workers must cost
// microseconds: workers spin briefly on a generation counter before they sleep.
// A loop is finished when all its items are done, not when every worker has checked in: when
// the machine is oversubscribed and a worker is descheduled, the caller takes its chunks and
// goes on instead of waiting a whole time slice for it.
class ThreadPool {
public:
    // n_threads: total threads, including the caller. Throws gb::Error, with every thread it
    // started joined, when the system refuses a thread.
    explicit ThreadPool(int n_threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return n_threads_; }
    // chunk: items taken at a time (0 picks n / (4 * threads), at least 1).
    void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn,
                      int64_t chunk = 0);

private:
    void worker(int index);
    void stop_workers();
    void run_chunks(uint32_t gen, int index);

    int n_threads_;
    std::vector<std::thread> threads_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::atomic<uint64_t> generation_{0};
    std::atomic<bool> stop_{false};
    // (generation << 32) | next item: a chunk is claimed by compare-exchange, which fails for a
    // worker that woke up late for a loop that has already moved on.
    std::atomic<uint64_t> next_{0};
    std::atomic<int64_t> done_{0};
    // The loop's parameters; stable while any of its chunks is unclaimed or running.
    std::atomic<int64_t> n_{0};
    std::atomic<int64_t> chunk_{1};
    std::atomic<const std::function<void(int64_t, int64_t, int)>*> fn_{nullptr};
};

}  // namespace gb::cpu
