// Layers split between the CPU and a device backend (RunSettings::n_cpu_layers): the same logits,
// tokens and routing as the transformers reference and as an unsplit run, every op given only
// memory of its own backend, and a model too big for the device refused with the split that fits.
//
// Both sides are stood in for by MemoryFence: the CPU kernels run behind a backend that owns its
// memory separately (to_device / to_host copy) and throws when an op receives an activation,
// weight or frequency table it did not allocate or upload. A forward that hands the GPU a CPU
// pointer (or the reverse) fails here as it would on a real GPU, where it is an illegal address.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "engine/model/model.h"
#include "engine/session/kv_cache.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/error.h"
#include "tests/engine/model/model_test_support.h"
#include "tests/test_support.h"

namespace gb {
namespace {

class MemoryFence final : public Backend {
public:
    // host: stands in for the CPU side (computes in host memory) instead of a device.
    explicit MemoryFence(std::optional<int64_t> free_bytes = std::nullopt, bool host = false)
        : free_(free_bytes), host_(host) {}
    ~MemoryFence() override {
        for (auto& [p, a] : acts_) cpu_.release(a);
    }

    std::string name() const override { return "fenced"; }
    bool host_memory() const override { return host_; }
    int64_t uploaded_bytes() const { return uploaded_; }
    int64_t ops() const { return ops_; }

    Act alloc(int64_t rows, int64_t cols) override {
        Act a = cpu_.alloc(rows, cols);
        acts_[a.data] = a;
        return a;
    }
    void release(Act& a) override {
        auto it = acts_.find(a.data);
        if (it == acts_.end())
            throw Error("fenced: release of memory this backend did not allocate");
        cpu_.release(it->second);
        acts_.erase(it);
        a = Act{};
    }
    Weight upload(const Weight& host) override {
        if (!host.data) return host;
        const size_t bytes =
            row_bytes(host.type, host.cols) * static_cast<size_t>(host.rows * host.n_mat);
        auto& buf = weights_.emplace_back(bytes + 64);
        auto* p = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) &
                                             ~uintptr_t{63});
        std::memcpy(p, host.data, bytes);
        spans_[p] = bytes;
        uploaded_ += static_cast<int64_t>(bytes);
        Weight d = host;
        d.data = p;
        return d;
    }
    void to_device(const float* host, Act dst) override {
        own(dst, "to_device");
        std::memcpy(dst.data, host, sizeof(float) * dst.size());
    }
    void to_host(Act src, float* host) override {
        own(src, "to_host");
        std::memcpy(host, src.data, sizeof(float) * src.size());
    }
    std::optional<int64_t> free_memory_bytes() override { return free_; }

    void get_rows(const Weight& t, std::span<const int32_t> ids, Act out) override {
        own(t, "get_rows"), own(out, "get_rows");
        cpu_.get_rows(t, ids, out);
    }
    void rmsnorm(Act x, const Weight& w, float eps, Act out) override {
        own(x, "rmsnorm"), own(w, "rmsnorm"), own(out, "rmsnorm");
        cpu_.rmsnorm(x, w, eps, out);
    }
    void matmul(const Weight& w, Act x, Act out) override {
        own(w, "matmul"), own(x, "matmul"), own(out, "matmul");
        cpu_.matmul(w, x, out);
    }
    void add_bias(Act x, const Weight& b) override {
        own(x, "add_bias"), own(b, "add_bias");
        cpu_.add_bias(x, b);
    }
    void add(Act x, Act y) override {
        own(x, "add"), own(y, "add");
        cpu_.add(x, y);
    }
    void swiglu(Act g, Act u, Act out) override {
        own(g, "swiglu"), own(u, "swiglu"), own(out, "swiglu");
        cpu_.swiglu(g, u, out);
    }
    void rope(Act x, int n_heads, int head_dim, std::span<const int32_t> pos,
              const RopeParams& p) override {
        own(x, "rope");
        if (p.freq_factors)
            own_bytes(p.freq_factors, p.n_dims / 2 * sizeof(float), "rope freq_factors");
        cpu_.rope(x, n_heads, head_dim, pos, p);
    }
    void kv_store(KvLayer& c, Act k, Act v, int64_t pos0) override {
        own(c.k, "kv_store"), own(c.v, "kv_store"), own(k, "kv_store"), own(v, "kv_store");
        cpu_.kv_store(c, k, v, pos0);
    }
    void set_row_invariant(bool on) override {
        Backend::set_row_invariant(on);
        cpu_.set_row_invariant(on);
    }
    void kv_copy(const KvLayer& s, KvLayer& d, int64_t rows) override {
        own(s.k, "kv_copy"), own(s.v, "kv_copy"), own(d.k, "kv_copy"), own(d.v, "kv_copy");
        cpu_.kv_copy(s, d, rows);
    }
    void attention(Act q, const KvLayer& c, int nh, int nkv, int hd, int64_t pos0, float scale,
                   Act out) override {
        own(q, "attention"), own(c.k, "attention"), own(c.v, "attention"), own(out, "attention");
        cpu_.attention(q, c, nh, nkv, hd, pos0, scale, out);
    }
    void mla_attention(Act q, const Weight& kb, const Weight& vb, const KvLayer& c,
                       const MlaShape& s, int64_t pos0, float scale, Act out) override {
        own(q, "mla"), own(kb, "mla"), own(vb, "mla"), own(c.k, "mla"), own(c.v, "mla");
        own(out, "mla");
        cpu_.mla_attention(q, kb, vb, c, s, pos0, scale, out);
    }
    void moe_route(Act logits, const Weight& bias, const RouterParams& p, std::span<int32_t> ids,
                   std::span<float> w, std::span<float> probs,
                   const Weight& steer = Weight{}) override {
        own(logits, "moe_route");
        if (bias) own(bias, "moe_route");
        if (steer) own(steer, "moe_route");
        cpu_.moe_route(logits, bias, p, ids, w, probs, steer);
    }
    void moe_matmul(const Weight& w, Act x, std::span<const int32_t> ids, int n_used,
                    Act out) override {
        own(w, "moe_matmul"), own(x, "moe_matmul"), own(out, "moe_matmul");
        cpu_.moe_matmul(w, x, ids, n_used, out);
    }
    void moe_combine(Act y, std::span<const float> w, int n_used, Act out) override {
        own(y, "moe_combine"), own(out, "moe_combine");
        cpu_.moe_combine(y, w, n_used, out);
    }

private:
    void own_bytes(const void* p, size_t bytes, const char* op) {
        ++ops_;
        const auto* b = static_cast<const uint8_t*>(p);
        auto a = acts_.upper_bound(const_cast<float*>(reinterpret_cast<const float*>(b)));
        if (a != acts_.begin()) {
            const Act& act = std::prev(a)->second;
            const auto* lo = reinterpret_cast<const uint8_t*>(act.data);
            if (b >= lo && b + bytes <= lo + sizeof(float) * std::max<int64_t>(1, act.size()))
                return;
        }
        auto w = spans_.upper_bound(const_cast<uint8_t*>(b));
        if (w != spans_.begin()) {
            const auto* lo = std::prev(w)->first;
            if (b >= lo && b + bytes <= lo + std::prev(w)->second) return;
        }
        throw Error(std::string("fenced ") + op + ": given memory this backend does not own (" +
                    std::to_string(bytes) + " bytes)");
    }
    void own(Act a, const char* op) {
        if (a.size() > 0) own_bytes(a.data, sizeof(float) * a.size(), op);
    }
    void own(const Weight& w, const char* op) {
        if (w.data) own_bytes(w.data, row_bytes(w.type, w.cols) * w.rows, op);
    }
    void own(const KvTensor& t, const char* op) {
        if (t.data) own_bytes(t.data, t.bytes(), op);
    }

    cpu::CpuBackend cpu_{2};
    std::optional<int64_t> free_;
    bool host_ = false;
    std::map<float*, Act> acts_;
    std::map<uint8_t*, size_t> spans_;
    std::vector<std::vector<uint8_t>> weights_;
    int64_t uploaded_ = 0;
    int64_t ops_ = 0;
};

struct Greedy {
    std::vector<float> logits;  // prompt's last position, then each decode step's
    std::vector<int32_t> tokens;
    std::vector<int32_t> experts;
};

// The prompt, then 6 greedy steps.
Greedy run(Model& m, const std::vector<int32_t>& prompt) {
    Greedy r;
    auto cache = m.new_cache();
    m.set_routing_capture(true);
    std::vector<float> lg;
    m.forward(prompt, *cache, 1, lg);
    for (int s = 0; s < 6; ++s) {
        r.logits.insert(r.logits.end(), lg.begin(), lg.end());
        const auto& rt = m.last_routing();
        r.experts.insert(r.experts.end(), rt.experts.begin(), rt.experts.end());
        const auto t = static_cast<int32_t>(std::max_element(lg.begin(), lg.end()) - lg.begin());
        r.tokens.push_back(t);
        m.forward(std::span<const int32_t>(&t, 1), *cache, 1, lg);
    }
    return r;
}

class LayerSplit : public ::testing::TestWithParam<const char*> {};

TEST_P(LayerSplit, EverySplitMatchesTheReferenceAndTheUnsplitRun) {
    const std::string name = GetParam();
    const std::string path = test::fixture("models/" + name + ".gguf");
    const json::Value ref = test::load_json(test::fixture("models/" + name + ".json"));
    RunSettings rs;
    rs.kv_type = TensorType::F32;  // the references compute in float32
    rs.n_ctx = 64;
    rs.n_threads = 2;
    cpu::CpuBackend cpu(2);
    auto whole = Model::load(path, cpu, rs);
    const int64_t n_layer = whole->config().n_layer;
    const std::vector<int32_t> prompt = test::json_ints(ref.at("prompt_ids"));
    const Greedy base = run(*whole, prompt);

    for (int64_t k : {int64_t{0}, int64_t{1}, n_layer - 1, n_layer}) {
        SCOPED_TRACE(name + " with " + std::to_string(k) + " CPU layers");
        MemoryFence device;
        MemoryFence host(std::nullopt, true);
        RunSettings split = rs;
        split.n_cpu_layers = k;
        auto m = Model::load(path, device, split, &host);
        m->set_routing_capture(true);
        // Against transformers (prompt and greedy steps, routing), then against the unsplit run:
        // the same kernels on the same inputs, so the numbers are identical.
        test::expect_golden_run(*m, ref, name + " split " + std::to_string(k));
        const Greedy r = run(*m, prompt);
        EXPECT_EQ(r.tokens, base.tokens);
        EXPECT_EQ(r.experts, base.experts);
        ASSERT_EQ(r.logits.size(), base.logits.size());
        for (size_t i = 0; i < r.logits.size(); ++i)
            ASSERT_EQ(r.logits[i], base.logits[i]) << "logit " << i;
        EXPECT_GT(device.ops(), 0);  // the output head at least ran on the device
        if (k > 0) EXPECT_GT(host.ops(), 0);
    }
}

INSTANTIATE_TEST_SUITE_P(Tiny, LayerSplit,
                         ::testing::Values("tiny_llama3_rope", "tiny_qwen2", "tiny_qwen3moe",
                                           "tiny_deepseek_v3", "tiny_deepseek_lite"));

// A device with too little memory: the error names the sizes and the number of CPU layers that
// fits; loading with that number then succeeds and puts no more than the free memory there.
TEST(LayerSplit, TooBigForTheDeviceSuggestsTheSplitThatFits) {
    const std::string path = test::fixture("models/tiny_qwen2.gguf");
    RunSettings rs;
    rs.kv_type = TensorType::F32;  // the references compute in float32
    rs.n_ctx = 64;
    rs.n_batch = 8;
    int64_t all = 0;
    {
        MemoryFence probe(int64_t{1} << 40);
        auto m = Model::load(path, probe, rs);
        all = probe.uploaded_bytes();
    }
    ASSERT_GT(all, 0);
    // No headroom for half the weights: needs layers on the CPU. The fenced backend reserves no
    // scratch, so free memory is weights + KV + activations at most.
    MemoryFence small(all / 2);
    std::string msg;
    try {
        Model::load(path, small, rs);
    } catch (const Error& e) {
        msg = e.what();
    }
    ASSERT_NE(msg.find("fenced memory"), std::string::npos) << msg;
    const auto at = msg.find("--cpu-layers ");
    ASSERT_NE(at, std::string::npos) << msg;
    const int k = std::stoi(msg.substr(at + 13));
    RunSettings split = rs;
    split.n_cpu_layers = k;
    cpu::CpuBackend host(2);
    MemoryFence device(all / 2);
    auto m = Model::load(path, device, split, &host);
    EXPECT_LE(device.uploaded_bytes(), all / 2);
    // One layer fewer on the CPU would not have fitted: the suggestion is the smallest.
    split.n_cpu_layers = k - 1;
    MemoryFence tight(all / 2);
    EXPECT_THROW(Model::load(path, tight, split, &host), Error);

    // Auto picks that same split by itself, and none when everything fits or there is no device
    // memory to fit (a backend computing in host memory).
    RunSettings autos = rs;
    autos.n_cpu_layers = RunSettings::kAutoCpuLayers;
    MemoryFence half(all / 2);
    auto a = Model::load(path, half, autos, &host);
    EXPECT_EQ(a->settings().n_cpu_layers, k);
    EXPECT_LE(half.uploaded_bytes(), all / 2);
    MemoryFence roomy(int64_t{1} << 40);
    EXPECT_EQ(Model::load(path, roomy, autos, &host)->settings().n_cpu_layers, 0);
    EXPECT_EQ(Model::load(path, roomy, autos)->settings().n_cpu_layers, 0);  // no host needed
    cpu::CpuBackend cpu(1);
    EXPECT_EQ(Model::load(path, cpu, autos)->settings().n_cpu_layers, 0);
    // Nothing fits even with every layer on the CPU (the head and activations stay on the
    // device): refused with the sizes.
    MemoryFence tiny(1024);
    EXPECT_THROW(Model::load(path, tiny, autos, &host), Error);
}

TEST(LayerSplit, BadSplitsAreRefusedByName) {
    const std::string path = test::fixture("models/tiny_llama.gguf");
    RunSettings rs;
    rs.kv_type = TensorType::F32;  // the references compute in float32
    rs.n_ctx = 64;
    MemoryFence device;
    cpu::CpuBackend host(1);
    rs.n_cpu_layers = 1;
    try {
        Model::load(path, device, rs);
        FAIL() << "no host backend";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("needs a CPU backend"), std::string::npos) << e.what();
    }
    MemoryFence other;
    try {
        Model::load(path, device, rs, &other);
        FAIL() << "host backend not in host memory";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("host memory"), std::string::npos) << e.what();
    }
    rs.n_cpu_layers = 99;
    try {
        Model::load(path, device, rs, &host);
        FAIL() << "more CPU layers than layers";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("CPU layers 99 is out of range"), std::string::npos)
            << e.what();
    }
}

}  // namespace
}  // namespace gb
