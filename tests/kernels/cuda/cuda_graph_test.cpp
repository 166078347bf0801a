// CudaBackend's decode-step graphs (begin_step / end_step / abort_step) on a toy decoder step that
// calls every op a real decode step calls (embedding, norm, projections, RoPE with host freq
// factors, KV store, attention, two MoE layers with routing, combine, output head): with graphs
// on it must give the same logits and routing, bit for bit, as the same backend with graphs off
// (the same kernels run in the same order on the same inputs), while launching one graph per
// step. Also: a step aborted half-way, an op that throws mid-capture, a host copy inside a step
// (the capture falls back to running op by op), prompt steps (never captured), and the
// GLASSBOX_CUDA_GRAPHS switch. Skips without a CUDA device.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/error.h"
#include "tests/kernels/cpu/random_weights.h"
#include "tests/kernels/cuda/cuda_test_support.h"

#ifdef GLASSBOX_HAVE_CUDA
#include "kernels/cuda/cuda_backend.h"

namespace gb {
namespace {

using test::normal_floats;

constexpr int64_t kVocab = 96, kEmbd = 256, kHead = 4, kHeadKv = 2, kHeadDim = 64, kFf = 128;
constexpr int64_t kExperts = 16, kCtx = 64;
constexpr int kUsed = 4;

// Host copies of the toy model's weights, shared by every backend under test.
struct HostWeights {
    std::vector<uint8_t> embd, norm, wq, wk, wv, router, gate, up, down, out;
    std::vector<float> freq_factors;
    HostWeights() {
        embd = test::random_weights(TensorType::Q8_0, kVocab, kEmbd, 1);
        norm = test::random_weights(TensorType::F32, 1, kEmbd, 2);
        wq = test::random_weights(TensorType::Q4_K, kHead * kHeadDim, kEmbd, 3);
        wk = test::random_weights(TensorType::Q6_K, kHeadKv * kHeadDim, kEmbd, 4);
        wv = test::random_weights(TensorType::F16, kHeadKv * kHeadDim, kEmbd, 5);
        router = test::random_weights(TensorType::F32, kExperts, kEmbd, 6);
        gate = test::random_weights(TensorType::Q4_K, kExperts * kFf, kEmbd, 7);
        up = test::random_weights(TensorType::Q5_0, kExperts * kFf, kEmbd, 8);
        down = test::random_weights(TensorType::Q6_K, kExperts * kEmbd, kFf, 9);
        out = test::random_weights(TensorType::Q8_0, kVocab, kEmbd, 10);
        for (int i = 0; i < kHeadDim / 2; ++i) freq_factors.push_back(1.0f + 0.25f * (i % 4));
    }
};

// The toy model bound to one backend, with its activations and KV cache.
struct Toy {
    Backend& be;
    Weight embd, norm, wq, wk, wv, router, gate, up, down, out;
    Act x, h, q, k, v, att, lg, g, u, dn, moe_out, logits;
    KvLayer cache;
    RopeParams rp;
    RouterParams route;

    Toy(Backend& b, const HostWeights& w) : be(b) {
        auto up_w = [&](const std::vector<uint8_t>& d, TensorType t, int64_t rows, int64_t cols,
                        const char* name, int64_t n_mat = 1) {
            return be.upload(Weight{t, d.data(), rows, cols, name, n_mat});
        };
        embd = up_w(w.embd, TensorType::Q8_0, kVocab, kEmbd, "token_embd");
        norm = up_w(w.norm, TensorType::F32, 1, kEmbd, "norm");
        wq = up_w(w.wq, TensorType::Q4_K, kHead * kHeadDim, kEmbd, "wq");
        wk = up_w(w.wk, TensorType::Q6_K, kHeadKv * kHeadDim, kEmbd, "wk");
        wv = up_w(w.wv, TensorType::F16, kHeadKv * kHeadDim, kEmbd, "wv");
        router = up_w(w.router, TensorType::F32, kExperts, kEmbd, "router");
        gate = up_w(w.gate, TensorType::Q4_K, kFf, kEmbd, "gate_exps", kExperts);
        up = up_w(w.up, TensorType::Q5_0, kFf, kEmbd, "up_exps", kExperts);
        down = up_w(w.down, TensorType::Q6_K, kEmbd, kFf, "down_exps", kExperts);
        out = up_w(w.out, TensorType::Q8_0, kVocab, kEmbd, "output");
        const int64_t n = 4;  // rows for prompt steps
        x = be.alloc(n, kEmbd);
        h = be.alloc(n, kEmbd);
        q = be.alloc(n, kHead * kHeadDim);
        k = be.alloc(n, kHeadKv * kHeadDim);
        v = be.alloc(n, kHeadKv * kHeadDim);
        att = be.alloc(n, kHead * kHeadDim);
        lg = be.alloc(n, kExperts);
        g = be.alloc(n * kUsed, kFf);
        u = be.alloc(n * kUsed, kFf);
        dn = be.alloc(n * kUsed, kEmbd);
        moe_out = be.alloc(n, kEmbd);
        logits = be.alloc(n, kVocab);
        cache.k = be.alloc_kv(kCtx, kHeadKv * kHeadDim, TensorType::F16);  // the default cache
        cache.v = be.alloc_kv(kCtx, kHeadKv * kHeadDim, TensorType::F16);
        rp.n_dims = kHeadDim;
        rp.freq_base = 10000.0f;
        rp.neox = true;
        rp.freq_factors = w.freq_factors.data();  // a host array: uploaded by every rope call
        route.n_expert = kExperts;
        route.n_used = kUsed;
        route.norm_topk = true;
    }

    // What one step hands back to the host.
    struct Out {
        std::vector<float> logits;
        std::vector<int32_t> ids[2];
        std::vector<float> weights[2], probs[2];
    };

    // The ops of one step over tokens at positions pos0.. (no begin/end: the caller's).
    // midway(0) is called after attention, midway(1) after the first MoE layer's routing.
    void ops(const std::vector<int32_t>& tokens, int64_t pos0, Out& o,
             const std::function<void(int)>& midway = {}) {
        const int64_t n = static_cast<int64_t>(tokens.size());
        std::vector<int32_t> pos(tokens.size());
        for (int64_t i = 0; i < n; ++i) pos[i] = static_cast<int32_t>(pos0 + i);
        Act xv = x.view(n, kEmbd), hv = h.view(n, kEmbd), qv = q.view(n, q.cols),
            kv = k.view(n, k.cols), vv = v.view(n, v.cols), av = att.view(n, att.cols);
        be.get_rows(embd, tokens, xv);
        be.rmsnorm(xv, norm, 1e-5f, hv);
        be.matmul(wq, hv, qv);
        be.matmul(wk, hv, kv);
        be.matmul(wv, hv, vv);
        be.rope(qv, kHead, kHeadDim, pos, rp);
        be.rope(kv, kHeadKv, kHeadDim, pos, rp);
        be.kv_store(cache, kv, vv, pos0);
        be.attention(qv, cache, kHead, kHeadKv, kHeadDim, pos0, 0.125f, av);
        be.add(xv, av);
        if (midway) midway(0);
        for (int l = 0; l < 2; ++l) {  // two MoE layers, each with its own host spans
            o.ids[l].assign(n * kUsed, -1);
            o.weights[l].assign(n * kUsed, -1.0f);
            o.probs[l].assign(l == 0 ? n * kExperts : 0, -1.0f);
            Act lv = lg.view(n, kExperts), gv = g.view(n * kUsed, kFf), uv = u.view(n * kUsed, kFf),
                dv = dn.view(n * kUsed, kEmbd), mo = moe_out.view(n, kEmbd);
            be.rmsnorm(xv, norm, 1e-5f, hv);
            be.matmul(router, hv, lv);
            be.moe_route(lv, Weight{}, route, o.ids[l], o.weights[l], o.probs[l]);
            if (midway && l == 0) midway(1);
            be.moe_matmul(gate, hv, o.ids[l], kUsed, gv);
            be.moe_matmul(up, hv, o.ids[l], kUsed, uv);
            be.swiglu(gv, uv, gv);
            be.moe_matmul(down, gv, o.ids[l], kUsed, dv);
            be.moe_combine(dv, o.weights[l], kUsed, mo);
            be.add(xv, mo);
        }
        be.rmsnorm(xv, norm, 1e-5f, hv);
        be.matmul(out, hv, logits.view(n, kVocab));
    }

    // A whole step as a forward pass runs it.
    Out step(const std::vector<int32_t>& tokens, int64_t pos0) {
        Out o;
        be.begin_step(static_cast<int64_t>(tokens.size()));
        ops(tokens, pos0, o);
        be.end_step();
        o.logits.resize(tokens.size() * kVocab);
        be.to_host(logits.view(static_cast<int64_t>(tokens.size()), kVocab), o.logits.data());
        return o;
    }
};

void expect_same(const Toy::Out& got, const Toy::Out& want, const std::string& where) {
    EXPECT_EQ(got.logits, want.logits) << where << ": logits";
    for (int l = 0; l < 2; ++l) {
        EXPECT_EQ(got.ids[l], want.ids[l]) << where << ": experts of MoE layer " << l;
        EXPECT_EQ(got.weights[l], want.weights[l]) << where << ": weights of MoE layer " << l;
        EXPECT_EQ(got.probs[l], want.probs[l]) << where << ": probs of MoE layer " << l;
    }
}

cuda::CudaBackendOptions with_graphs(bool on) {
    cuda::CudaBackendOptions o;
    o.graphs = on;
    return o;
}

int32_t argmax(const std::vector<float>& v) {
    return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

class CudaGraphStep : public ::testing::Test {
protected:
    void SetUp() override {
        if (const char* v = std::getenv("GLASSBOX_CUDA_GRAPHS")) saved_ = v, had_ = true;
        unsetenv("GLASSBOX_CUDA_GRAPHS");
    }
    void TearDown() override {
        if (had_)
            setenv("GLASSBOX_CUDA_GRAPHS", saved_.c_str(), 1);
        else
            unsetenv("GLASSBOX_CUDA_GRAPHS");
    }
    std::string saved_;
    bool had_ = false;
    HostWeights w_;
};

TEST_F(CudaGraphStep, DecodeMatchesEagerBitForBitWithOneGraphPerStep) {
    GB_REQUIRE_CUDA();
    cuda::CudaBackend graphed(with_graphs(true)), eager(with_graphs(false));
    ASSERT_TRUE(graphed.graphs_enabled());
    ASSERT_FALSE(eager.graphs_enabled());
    Toy a(graphed, w_), b(eager, w_);
    // A 3-token prompt (never captured), then greedy decode.
    const std::vector<int32_t> prompt = {5, 17, 42};
    expect_same(a.step(prompt, 0), b.step(prompt, 0), "prompt");
    EXPECT_EQ(graphed.graph_launches(), 0) << "a prompt step must not be captured";
    Toy::Out last = b.step({prompt.back()}, 3);
    expect_same(a.step({prompt.back()}, 3), last, "decode step 0");
    const int n_steps = 24;
    for (int s = 1; s < n_steps; ++s) {
        const int32_t tok = argmax(last.logits);
        Toy::Out want = b.step({tok}, 3 + s);
        expect_same(a.step({tok}, 3 + s), want, "decode step " + std::to_string(s));
        last = want;
        if (HasFailure()) break;
    }
    std::printf("graphs: %lld launches, %lld updates, %lld instantiations, %lld fallbacks\n",
                static_cast<long long>(graphed.graph_launches()),
                static_cast<long long>(graphed.graph_updates()),
                static_cast<long long>(graphed.graph_instantiations()),
                static_cast<long long>(graphed.graph_fallbacks()));
    // The prompt sized the scratch buffers, so at most the first decode step may fall back.
    EXPECT_GE(graphed.graph_launches(), n_steps - 1);
    EXPECT_GE(graphed.graph_instantiations(), 1);
    EXPECT_EQ(graphed.graph_updates() + graphed.graph_instantiations(), graphed.graph_launches());
    // Every step records the same kernels and copies with new parameters (token, position,
    // attention length): the executable graph is updated in place, not rebuilt.
    EXPECT_GE(graphed.graph_updates(), graphed.graph_launches() - 2)
        << "cudaGraphExecUpdate refused the step's graph: every step instantiates afresh";
    EXPECT_EQ(eager.graph_launches() + eager.graph_fallbacks(), 0);
}

TEST_F(CudaGraphStep, AbortedStepLeavesTheBackendUsable) {
    GB_REQUIRE_CUDA();
    cuda::CudaBackend graphed(with_graphs(true)), eager(with_graphs(false));
    Toy a(graphed, w_), b(eager, w_);
    for (int s = 0; s < 4; ++s) expect_same(a.step({s + 1}, s), b.step({s + 1}, s), "warm-up");
    const int64_t launches = graphed.graph_launches();
    // Half a step, then abort (as a cancelled forward does); the same on both backends, since
    // an eager backend has run the ops (e.g. written the KV cache row) by then.
    for (Toy* t : {&a, &b}) {
        Toy::Out o;
        t->be.begin_step(1);
        t->be.get_rows(t->embd, std::vector<int32_t>{7}, t->x.view(1, kEmbd));
        t->be.rmsnorm(t->x.view(1, kEmbd), t->norm, 1e-5f, t->h.view(1, kEmbd));
        std::vector<int32_t> ids(kUsed);
        std::vector<float> wts(kUsed);
        t->be.matmul(t->router, t->h.view(1, kEmbd), t->lg.view(1, kExperts));
        t->be.moe_route(t->lg.view(1, kExperts), Weight{}, t->route, ids, wts, {});
        t->be.abort_step();
    }
    EXPECT_EQ(graphed.graph_launches(), launches) << "an aborted step must not be launched";
    EXPECT_FALSE(graphed.broken());
    // The stream is usable at once (not left capturing), and later steps still match.
    std::vector<float> xh(kEmbd);
    graphed.to_host(a.x.view(1, kEmbd), xh.data());
    for (int s = 4; s < 10; ++s)
        expect_same(a.step({s + 1}, s), b.step({s + 1}, s),
                    "after abort, step " + std::to_string(s));
    EXPECT_GT(graphed.graph_launches(), launches + 4);
}

TEST_F(CudaGraphStep, AnOpThatThrowsMidCaptureEndsTheCapture) {
    GB_REQUIRE_CUDA();
    cuda::CudaBackend graphed(with_graphs(true)), eager(with_graphs(false));
    Toy a(graphed, w_), b(eager, w_);
    for (int s = 0; s < 3; ++s) expect_same(a.step({s + 2}, s), b.step({s + 2}, s), "warm-up");
    graphed.begin_step(1);
    graphed.get_rows(a.embd, std::vector<int32_t>{3}, a.x.view(1, kEmbd));
    EXPECT_THROW(graphed.add(a.x.view(1, kEmbd), a.q.view(1, 8)), Error);  // mismatched shapes
    EXPECT_FALSE(graphed.broken()) << "a bad argument is not a sticky error";
    EXPECT_THROW(graphed.end_step(), Error) << "a step whose op threw has no defined outputs";
    graphed.abort_step();
    for (int s = 3; s < 8; ++s)
        expect_same(a.step({s + 2}, s), b.step({s + 2}, s),
                    "after the error, step " + std::to_string(s));
}

TEST_F(CudaGraphStep, AHostCopyInsideAStepFallsBackAndStaysCorrect) {
    GB_REQUIRE_CUDA();
    cuda::CudaBackend graphed(with_graphs(true)), eager(with_graphs(false));
    Toy a(graphed, w_), b(eager, w_);
    for (int s = 0; s < 3; ++s) expect_same(a.step({s + 9}, s), b.step({s + 9}, s), "warm-up");
    const int64_t fallbacks = graphed.graph_fallbacks();
    // Outside the step's rules (to_host between begin and end): the capture ends, what was
    // recorded runs (and the routing recorded so far reaches its host spans), the rest of the
    // step runs op by op; the results are unchanged.
    for (int where : {0, 1}) {
        SCOPED_TRACE("host copy at point " + std::to_string(where));
        const int64_t pos = 3 + where;
        std::vector<float> mid_a(kEmbd), mid_b(kEmbd);
        Toy::Out oa, ob;
        for (auto [t, mid, o] : {std::tuple{&a, &mid_a, &oa}, std::tuple{&b, &mid_b, &ob}}) {
            t->be.begin_step(1);
            t->ops({11 + where}, pos, *o, [&, t = t, mid = mid](int at) {
                if (at == where) t->be.to_host(t->x.view(1, kEmbd), mid->data());
            });
            t->be.end_step();
            o->logits.resize(kVocab);
            t->be.to_host(t->logits.view(1, kVocab), o->logits.data());
        }
        EXPECT_EQ(mid_a, mid_b);
        expect_same(oa, ob, "step with a host copy");
    }
    EXPECT_EQ(graphed.graph_fallbacks(), fallbacks + 2);
    for (int s = 5; s < 9; ++s)
        expect_same(a.step({s + 9}, s), b.step({s + 9}, s),
                    "after the fallback, step " + std::to_string(s));
}

// Issue 13: routing stays on the device until the step ends, graphs or not. With graphs off a
// decode step runs op by op, yet its two MoE layers' routing comes back with one wait (at
// end_step), where the same ops outside a step wait once per layer; the results are the same
// bits, and a step of a few tokens defers too.
TEST_F(CudaGraphStep, WithoutGraphsADecodeStepWaitsForItsRoutingOnce) {
    GB_REQUIRE_CUDA();
    cuda::CudaBackend stepped(with_graphs(false)), loose(with_graphs(false));
    Toy a(stepped, w_), b(loose, w_);
    auto unstepped = [&](const std::vector<int32_t>& tokens, int64_t pos0) {
        Toy::Out o;
        b.ops(tokens, pos0, o);  // no begin_step / end_step: every op on its own
        o.logits.resize(tokens.size() * kVocab);
        loose.to_host(b.logits.view(static_cast<int64_t>(tokens.size()), kVocab), o.logits.data());
        return o;
    };
    const std::vector<int32_t> prompt = {4, 33, 61};  // 3 tokens: a decode-shaped step
    int64_t before = stepped.result_waits();
    expect_same(a.step(prompt, 0), unstepped(prompt, 0), "3-token step");
    EXPECT_EQ(stepped.result_waits() - before, 1) << "a few-token step defers its routing too";
    Toy::Out last;
    for (int s = 0; s < 8; ++s) {
        const int32_t tok = s == 0 ? prompt.back() : argmax(last.logits);
        before = stepped.result_waits();
        const int64_t loose_before = loose.result_waits();
        last = a.step({tok}, 3 + s);
        expect_same(last, unstepped({tok}, 3 + s), "decode step " + std::to_string(s));
        EXPECT_EQ(stepped.result_waits() - before, 1) << "step " << s;
        EXPECT_EQ(loose.result_waits() - loose_before, 2) << "one wait per MoE layer outside";
    }
    EXPECT_EQ(stepped.graph_launches() + stepped.graph_fallbacks(), 0);
    // A host copy inside the step (outside the rules) brings the routing so far back first.
    Toy::Out mid;
    std::vector<float> xh(kEmbd);
    stepped.begin_step(1);
    a.ops({9}, 11, mid, [&](int at) {
        if (at == 1) {
            stepped.to_host(a.x.view(1, kEmbd), xh.data());
            EXPECT_NE(mid.ids[0][0], -1) << "layer 0's routing reached its host span";
        }
    });
    stepped.end_step();
    mid.logits.resize(kVocab);
    stepped.to_host(a.logits.view(1, kVocab), mid.logits.data());
    expect_same(mid, unstepped({9}, 11), "step with a host copy");
}

TEST_F(CudaGraphStep, TheEnvironmentSwitchesGraphs) {
    GB_REQUIRE_CUDA();
    setenv("GLASSBOX_CUDA_GRAPHS", "0", 1);
    {
        cuda::CudaBackend off;  // the option says on, the environment off
        EXPECT_FALSE(off.graphs_enabled());
        Toy t(off, w_);
        for (int s = 0; s < 4; ++s) t.step({s}, s);
        EXPECT_EQ(off.graph_launches() + off.graph_fallbacks(), 0);
    }
    setenv("GLASSBOX_CUDA_GRAPHS", "1", 1);
    {
        cuda::CudaBackend on(with_graphs(false));
        EXPECT_TRUE(on.graphs_enabled());
        Toy t(on, w_);
        for (int s = 0; s < 4; ++s) t.step({s}, s);
        // A fresh backend's first decode step grows its scratch buffers mid-capture: it falls
        // back (runs what it recorded, then the rest op by op); the others run as graphs. Each
        // step is one or the other.
        EXPECT_EQ(on.graph_launches() + on.graph_fallbacks(), 4);
        EXPECT_GE(on.graph_launches(), 2);
    }
}

}  // namespace
}  // namespace gb

#else  // built without the CUDA backend

TEST(CudaGraphStep, BuiltWithoutCuda) { GTEST_SKIP() << "no CUDA device: built without CUDA"; }

#endif
