// A step the backend could not run as recorded (StepNotRun from end_step, as the CUDA backend
// throws when a graph fails to instantiate) is run again by Model::forward: the same logits and
// routing as an undisturbed run, the cache advanced once. Other errors still reach the caller
// and leave the cache where it was.
#include <gtest/gtest.h>

#include "engine/model/model.h"
#include "engine/session/kv_cache.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/forwarding_backend.h"
#include "tests/test_support.h"

namespace gb {
namespace {

// Fails the end of chosen steps: with StepNotRun (nothing ran) or a plain Error.
class FlakyStep final : public test::ForwardingBackend {
public:
    FlakyStep() : ForwardingBackend(std::make_unique<cpu::CpuBackend>(2)) {}
    int begins = 0, ends = 0, aborts = 0;
    int fail_end = -1;  // the end_step call (0-based) that fails
    bool not_run = true;
    void begin_step(int64_t n) override { ++begins; }
    void abort_step() override { ++aborts; }
    void end_step() override {
        if (ends++ == fail_end) {
            if (not_run) throw StepNotRun("graph could not be instantiated (injected)");
            throw Error("device fault (injected)");
        }
    }
};

TEST(StepRetry, AStepThatDidNotRunIsRunAgain) {
    const std::string path = test::fixture("models/tiny_qwen3moe.gguf");
    RunSettings rs;
    rs.n_ctx = 64;
    rs.n_threads = 2;
    cpu::CpuBackend cpu(2);
    FlakyStep flaky;
    flaky.fail_end = 2;  // the third forward's step
    auto a = Model::load(path, cpu, rs), b = Model::load(path, flaky, rs);
    a->set_routing_capture(true);
    b->set_routing_capture(true);
    auto ca = a->new_cache(), cb = b->new_cache();
    const std::vector<int32_t> prompt = {5, 17, 300, 42};
    std::vector<float> la, lb;
    a->forward(prompt, *ca, 1, la);
    b->forward(prompt, *cb, 1, lb);
    for (int32_t t : {7, 99, 250}) {
        a->forward(std::span<const int32_t>(&t, 1), *ca, 1, la);
        b->forward(std::span<const int32_t>(&t, 1), *cb, 1, lb);
        EXPECT_EQ(la, lb);
        EXPECT_EQ(a->last_routing().experts, b->last_routing().experts);
        EXPECT_EQ(ca->n_past(), cb->n_past());
    }
    EXPECT_EQ(flaky.begins, 5);  // four forwards, one of them twice
    EXPECT_EQ(flaky.ends, 5);

    // Any other error is the caller's: the cache does not advance.
    flaky.fail_end = flaky.ends;
    flaky.not_run = false;
    const int64_t before = cb->n_past();
    const int32_t t = 3;
    EXPECT_THROW(b->forward(std::span<const int32_t>(&t, 1), *cb, 1, lb), Error);
    EXPECT_EQ(cb->n_past(), before);
}

}  // namespace
}  // namespace gb
