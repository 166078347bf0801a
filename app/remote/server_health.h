// Server health from an inference server's own endpoints: the Prometheus text of /metrics
// (vLLM: on by default; SGLang: --enable-metrics; llama-server: --metrics) and llama-server's
// /slots, read into the few figures the hardware view charts: requests running and waiting,
// KV-cache use, generation throughput. What a server does not report stays unknown (-1).
// Qt-free; the app polls it on a thread of its own.
#pragma once

#include <atomic>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "app/remote/remote_chat.h"

namespace gb::remote {

// One sample line of the Prometheus text format: name{labels} value.
struct MetricSample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

// Every sample of a /metrics body; comment lines are skipped. gb::Error naming the line for
// one that is not a sample (a body that is not Prometheus text).
std::vector<MetricSample> parse_prometheus(std::string_view text);

struct ServerHealth {
    double running = -1;                // requests being generated
    double waiting = -1;                // requests queued
    double kv_usage = -1;               // KV cache in use, 0..1
    double gen_tps = -1;                // generated tokens per second, over all requests
    double gen_tokens_total = -1;       // counter: generated tokens since the server started
    double prompt_tokens_total = -1;    // counter: prompt tokens
    int n_slots = -1, slots_busy = -1;  // llama-server's /slots
    bool any() const {
        return running >= 0 || waiting >= 0 || kv_usage >= 0 || gen_tps >= 0 ||
               gen_tokens_total >= 0 || n_slots >= 0;
    }
};

// The figures of `kind` from its samples; samples labelled with another model_name than
// `model` (when given) are left out; the rest are summed (requests, tokens) or the largest
// taken (KV-cache use).
ServerHealth health_from_metrics(ServerKind kind, const std::vector<MetricSample>& samples,
                                 const std::string& model = {});

// llama-server's /slots JSON: slot count and those processing. gb::Error when it is not a list.
void health_from_slots(std::string_view json, ServerHealth& h);

// One poll: GET {root}/metrics (and /slots for llama-server), with short timeouts. Throws
// RemoteError saying why there is nothing (no metrics endpoint: "start SGLang with
// --enable-metrics", an HTTP error).
ServerHealth poll_health(const RemoteServer& server, const std::string& model,
                         const std::atomic<bool>* cancel = nullptr);

// Generation throughput from two polls' counters when the server gives no rate gauge.
void fill_rate(ServerHealth& now, const ServerHealth& before, double seconds_between);

}  // namespace gb::remote
