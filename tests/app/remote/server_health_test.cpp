// Server health: the Prometheus text of vLLM, SGLang and llama-server (in their own metric
// names and label shapes) read into requests, KV-cache use and throughput; other models'
// samples left out; a rate from two polls' counters; llama-server's /slots; a server without
// /metrics (SGLang not started with --enable-metrics) and a body that is not Prometheus text
// explained in words; the poll against a loopback server.
#include "app/remote/server_health.h"

#include <gtest/gtest.h>

#include <cmath>

#include "kernels/error.h"
#include "tests/app/remote/loopback_server.h"
#include "tests/test_support.h"

using namespace gb;
using namespace gb::remote;
using test::LoopbackServer;

namespace {

const char* kVllm =
    R"(# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="deepseek-ai/DeepSeek-R1"} 3.0
vllm:num_requests_running{engine="1",model_name="deepseek-ai/DeepSeek-R1"} 2.0
vllm:num_requests_running{engine="0",model_name="other"} 40.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="deepseek-ai/DeepSeek-R1"} 1.0
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="deepseek-ai/DeepSeek-R1"} 0.25
vllm:kv_cache_usage_perc{engine="1",model_name="deepseek-ai/DeepSeek-R1"} 0.5
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{engine="0",model_name="deepseek-ai/DeepSeek-R1"} 12000.0
vllm:generation_tokens_created{engine="0",model_name="deepseek-ai/DeepSeek-R1"} 1.7e+09
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="deepseek-ai/DeepSeek-R1"} 7.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="deepseek-ai/DeepSeek-R1"} NaN
)";

const char* kSglang = R"(# HELP sglang:num_running_reqs The number of running requests.
# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{model_name="qwen3-moe",tp_rank="0",pp_rank="0"} 7.0
sglang:num_queue_reqs{model_name="qwen3-moe",tp_rank="0",pp_rank="0"} 0.0
sglang:token_usage{model_name="qwen3-moe",tp_rank="0",pp_rank="0"} 0.125
sglang:gen_throughput{model_name="qwen3-moe",tp_rank="0",pp_rank="0"} 812.5
sglang:generation_tokens_total{is_streaming="true",model_name="qwen3-moe"} 4000.0
)";

const char* kLlama = R"(# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.
# TYPE llamacpp:prompt_tokens_total counter
llamacpp:prompt_tokens_total 120
llamacpp:tokens_predicted_total 900
# TYPE llamacpp:predicted_tokens_seconds gauge
llamacpp:predicted_tokens_seconds 41.5
llamacpp:requests_processing 1
llamacpp:requests_deferred 0
)";

using gb::test::error_of;

}  // namespace

TEST(ServerHealth, PrometheusTextIsParsed) {
    const auto s = parse_prometheus(kVllm);
    ASSERT_EQ(s.size(), 10u);
    EXPECT_EQ(s[0].name, "vllm:num_requests_running");
    EXPECT_EQ(s[0].labels.at("model_name"), "deepseek-ai/DeepSeek-R1");
    EXPECT_EQ(s[0].value, 3.0);
    EXPECT_EQ(s[8].labels.at("le"), "+Inf");
    EXPECT_TRUE(std::isnan(s[9].value));
    const auto esc = parse_prometheus("m{a=\"x\\\"y\\\\z\\n\",} 1e3 1700000000000\n");
    EXPECT_EQ(esc[0].labels.at("a"), "x\"y\\z\n");
    EXPECT_EQ(esc[0].value, 1000.0);
    EXPECT_NE(error_of([] {
                  parse_prometheus("<html>Not found</html>");
              }).find("metrics line 1 does not start with a metric name"),
              std::string::npos);
    EXPECT_NE(error_of([] { parse_prometheus("ok 1\nm{a=\"b\" 2\n"); }).find("metrics line 2"),
              std::string::npos);
    EXPECT_NE(error_of([] { parse_prometheus("m twelve\n"); }).find("'twelve' is not a number"),
              std::string::npos);
}

TEST(ServerHealth, EachServersNamesGiveTheSameFigures) {
    const ServerHealth v =
        health_from_metrics(ServerKind::Vllm, parse_prometheus(kVllm), "deepseek-ai/DeepSeek-R1");
    EXPECT_EQ(v.running, 5.0);  // both engines; the other model's 40 left out
    EXPECT_EQ(v.waiting, 1.0);
    EXPECT_EQ(v.kv_usage, 0.5);  // the fuller engine
    EXPECT_EQ(v.gen_tokens_total, 12000.0);
    EXPECT_EQ(v.gen_tps, -1.0);  // vLLM has no rate gauge: from two polls
    const ServerHealth g = health_from_metrics(ServerKind::Sglang, parse_prometheus(kSglang));
    EXPECT_EQ(g.running, 7.0);
    EXPECT_EQ(g.waiting, 0.0);
    EXPECT_EQ(g.kv_usage, 0.125);
    EXPECT_EQ(g.gen_tps, 812.5);
    const ServerHealth l = health_from_metrics(ServerKind::LlamaServer, parse_prometheus(kLlama));
    EXPECT_EQ(l.running, 1.0);
    EXPECT_EQ(l.gen_tps, 41.5);
    EXPECT_EQ(l.kv_usage, -1.0);  // not reported by current llama-server
    // A server of unknown kind is read by the names it uses.
    EXPECT_EQ(health_from_metrics(ServerKind::Generic, parse_prometheus(kSglang)).running, 7.0);
    // The rate from two polls of a counter.
    ServerHealth before = v, now = v;
    now.gen_tokens_total = 12500;
    fill_rate(now, before, 2.0);
    EXPECT_EQ(now.gen_tps, 250.0);
    // llama-server's slots.
    ServerHealth h;
    health_from_slots(R"([{"id":0,"is_processing":true},{"id":1,"is_processing":false}])", h);
    EXPECT_EQ(h.n_slots, 2);
    EXPECT_EQ(h.slots_busy, 1);
    EXPECT_THROW(health_from_slots(R"({"error":"no slots"})", h), Error);
}

TEST(ServerHealth, PollSaysWhyThereAreNoFigures) {
    LoopbackServer server([](LoopbackServer::Conn& c, const LoopbackServer::Request& r) {
        const bool metrics = r.head.rfind("GET /metrics", 0) == 0;
        const bool slots = r.head.rfind("GET /slots", 0) == 0;
        const std::string body = metrics ? kLlama
                                 : slots ? R"([{"id":0,"is_processing":true}])"
                                         : "not found";
        c.send(std::string("HTTP/1.1 ") + (metrics || slots ? "200 OK" : "404 Not Found") +
               "\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\nConnection: close\r\n\r\n" + body);
    });
    RemoteServer s;
    s.base_url = server.url("/v1");
    s.kind = ServerKind::LlamaServer;
    const ServerHealth h = poll_health(s, "");
    EXPECT_EQ(h.gen_tps, 41.5);
    EXPECT_EQ(h.slots_busy, 1);
    LoopbackServer none([](LoopbackServer::Conn& c, const LoopbackServer::Request&) {
        c.send("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    });
    s.base_url = none.url("/v1");
    s.kind = ServerKind::Sglang;
    EXPECT_NE(error_of([&] { poll_health(s, ""); }).find("start SGLang with --enable-metrics"),
              std::string::npos);
    s.kind = ServerKind::Ollama;
    EXPECT_NE(error_of([&] { poll_health(s, ""); }).find("Ollama has no metrics"),
              std::string::npos);
}
