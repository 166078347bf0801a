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
class ThreadPool {
public:
    explicit ThreadPool(int n_threads);  // total threads, including the caller
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return n_threads_; }
    // chunk: items taken at a time (0 picks n / (4 * threads), at least 1).
    void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn,
                      int64_t chunk = 0);

private:
    void worker(int index);
    void run_chunks(int index);

    int n_threads_;
    std::vector<std::thread> threads_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> pending_{0};
    std::atomic<bool> stop_{false};
    std::atomic<int64_t> next_{0};
    int64_t n_ = 0;
    int64_t chunk_ = 1;
    const std::function<void(int64_t, int64_t, int)>* fn_ = nullptr;
};

}  // namespace gb::cpu
