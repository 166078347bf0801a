// Helpers for the history store tests: a fresh temporary directory per test, and small traces
// (with MoE routing) built by hand so every expected count is known.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "app/history/history_store.h"
#include "engine/trace/trace.h"

namespace gb::test {

// A directory removed at the end of the test.
class TempDir {
public:
    TempDir() {
        static int n = 0;
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        // A parameterised test's name has a '/' ("Name/3"): one directory, not two levels.
        std::string name = info ? info->name() : "x";
        std::replace(name.begin(), name.end(), '/', '_');
        path_ = std::filesystem::temp_directory_path() /
                ("gb_history_" + name + "_" + std::to_string(getpid()) + "_" + std::to_string(++n));
        std::filesystem::remove_all(path_);
        std::filesystem::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    std::string file(const std::string& name) const { return (path_ / name).string(); }
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

// Options for tests: fsync is irrelevant to what they check and slow on some disks.
inline app::HistoryOptions fast_options() {
    app::HistoryOptions o;
    o.synchronous_full = false;
    return o;
}

// A reply of n_think reasoning tokens then n_answer answer tokens after two prompt tokens.
// With moe_layers > 0, token i of layer l goes to experts (i + l) % n_expert and
// (i + l + 1) % n_expert with weights 0.75 and 0.25 (exact in half precision).
inline Trace make_trace(int n_think, int n_answer, int moe_layers = 0, int n_expert = 8) {
    Trace t;
    t.model = "tiny-moe";
    t.backend = "cpu";
    t.sampling.seed = 0xfedcba9876543210ull;
    t.sampling.temperature = 0.6f;
    t.prompt_text = "<|user|>Why?<|assistant|>";
    t.n_prompt = 2;
    t.n_gen = n_think + n_answer;
    t.prefill_ms = 12.5;
    t.decode_ms = 80.25;
    t.stop_reason = gb::StopReason::Eog;
    t.reasoning_text = "because";
    t.answer_text = "it is so";
    t.n_expert = moe_layers ? n_expert : 0;
    t.n_expert_used = moe_layers ? 2 : 0;
    const int n = 2 + n_think + n_answer;
    for (int i = 0; i < n; ++i) {
        TokenRecord r;
        r.id = 100 + i;
        r.text = "t" + std::to_string(i);
        r.phase = i < 2 ? Phase::Prompt : (i < 2 + n_think ? Phase::Think : Phase::Answer);
        if (i > 0) {
            r.logprob = -0.5f * static_cast<float>(i % 3);
            r.entropy = 0.25f;
            r.top.push_back({r.id, r.text, r.logprob});
        }
        r.t_ms = i * 2.0;
        if (moe_layers) {
            r.routing.k = 2;
            for (int l = 0; l < moe_layers; ++l) {
                r.routing.layers.push_back(static_cast<uint16_t>(l));
                r.routing.experts.push_back(static_cast<uint16_t>((i + l) % n_expert));
                r.routing.experts.push_back(static_cast<uint16_t>((i + l + 1) % n_expert));
                r.routing.weights.push_back(0.75f);
                r.routing.weights.push_back(0.25f);
            }
        }
        t.tokens.push_back(std::move(r));
    }
    return t;
}

}  // namespace gb::test
