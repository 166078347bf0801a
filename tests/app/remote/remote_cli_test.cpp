// glassbox-cli run --remote against the scripted loopback server: the reply streams to stdout
// as a local one does (reasoning, the answer rule, the answer), the trace file holds the
// server's tokens with their probabilities, the key comes from the named environment variable
// and reaches the server only; a cut stream exits 1 with the reason and keeps the trace; bad
// use is refused with what is wrong.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "engine/trace/trace.h"
#include "tests/app/remote/loopback_server.h"
#include "tests/cli_runner.h"
#include "tests/test_support.h"

using gb::test::LoopbackServer;

namespace {

using Result = gb::test::CliResult;
Result cli(const std::string& args) { return gb::test::run_cli(args); }

const std::string kHead =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
std::string chunk(const std::string& json) { return "data: " + json + "\n\n"; }

TEST(RemoteCli, RunStreamsAndKeepsTheTrace) {
    const bool cut = false;
    LoopbackServer server([&](LoopbackServer::Conn& c, const LoopbackServer::Request&) {
        c.send(
            kHead +
            chunk(
                R"({"choices":[{"delta":{"reasoning":"Seven sixes"},"logprobs":{"content":[{"token":"Seven","logprob":-0.25,"top_logprobs":[{"token":"Seven","logprob":-0.25},{"token":"Six","logprob":-1.75}]},{"token":" sixes","logprob":-0.5,"top_logprobs":[]}]}}]})") +
            chunk(
                R"({"choices":[{"delta":{"content":"42"},"logprobs":{"content":[{"token":"42","logprob":-0.125,"top_logprobs":[]}]},"finish_reason":"stop"}]})") +
            chunk(R"({"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3}})") +
            "data: [DONE]\n\n");
    });
    (void)cut;
    const auto dir = std::filesystem::temp_directory_path() /
                     ("gb_remote_cli_trace_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    const std::string trace_path = (dir / "r.json").string();
    setenv("GB_TEST_REMOTE_KEY", "sk-from-env", 1);
    const Result r = cli("run --remote " + server.url("/v1") +
                         " --api-key-env GB_TEST_REMOTE_KEY -m served-model -p 6*7 --temp 0.5 "
                         "--seed 3 -n 50 --trace " +
                         trace_path);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("Seven sixes"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("--- answer ---\n42"), std::string::npos) << r.out;
    EXPECT_NE(r.err.find("served-model: 3 records, 7 prompt tokens"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("reasoning from reasoning"), std::string::npos) << r.err;
    const gb::Trace t = gb::read_json(gb::test::read_file(trace_path));
    EXPECT_EQ(t.model, "served-model");
    EXPECT_EQ(t.reasoning_text, "Seven sixes");
    EXPECT_EQ(t.answer_text, "42");
    ASSERT_EQ(t.n_gen, 3);
    EXPECT_FLOAT_EQ(t.tokens[0].top[1].logprob, -1.75f);
    EXPECT_EQ(t.sampling.seed, 3u);
    EXPECT_EQ(gb::test::read_file(trace_path).find("sk-from-env"), std::string::npos);
    const auto seen = server.requests();
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_NE(seen[0].head.find("Authorization: Bearer sk-from-env"), std::string::npos);
    EXPECT_NE(seen[0].body.find("\"model\":\"served-model\""), std::string::npos) << seen[0].body;
    EXPECT_NE(seen[0].body.find("\"max_tokens\":50"), std::string::npos) << seen[0].body;
    std::filesystem::remove_all(dir);
}

TEST(RemoteCli, ACutStreamExitsOneAndSaysWhy) {
    LoopbackServer server([&](LoopbackServer::Conn& c, const LoopbackServer::Request&) {
        c.send(kHead + chunk(R"({"choices":[{"delta":{"content":"partial"}}]})") +
               chunk(R"({"error":{"message":"engine died"}})"));
    });
    const Result r = cli("run --remote " + server.url("/v1") + " -m m -p hi");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.out.find("partial"), std::string::npos) << r.out;
    EXPECT_NE(r.err.find("engine died"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("what arrived is kept"), std::string::npos) << r.err;
}

TEST(RemoteCli, BadUseIsRefused) {
    LoopbackServer server([&](LoopbackServer::Conn& c, const LoopbackServer::Request&) {
        c.send(
            "HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n"
            R"({"error":{"message":"invalid key"}})");
    });
    unsetenv("GB_TEST_NO_SUCH_KEY");
    for (const auto& [args, expect] : {
             std::pair<std::string, std::string>{"run --remote " + server.url("/v1") + " -p hi",
                                                 "the served model's name"},
             {"run --remote " + server.url("/v1") + " -m m -p hi --think-budget 3",
              "--think-budget is not available with --remote"},
             {"run --remote " + server.url("/v1") + " -m m -p hi --api-key-env GB_TEST_NO_SUCH_KEY",
              "GB_TEST_NO_SUCH_KEY"},
             {"run --remote " + server.url("/v1") + " -m m -p hi", "check the API key"},
             {"run --remote ftp://127.0.0.1/ -m m -p hi", "not an http or https URL"},
         }) {
        const Result r = cli(args);
        EXPECT_NE(r.code, 0) << args;
        EXPECT_NE(r.err.find(expect), std::string::npos) << args << " -> " << r.err;
    }
}

}  // namespace

namespace {

// A raw completion: the prompt as written goes to /v1/completions, the completions API's
// parallel log-probability lists come back as records, and a prompt that opens <think> starts
// the reply in its reasoning; a routing request and an unknown server kind are checked.
TEST(RemoteCli, ARawCompletionGoesToTheCompletionsApi) {
    LoopbackServer server([&](LoopbackServer::Conn& c, const LoopbackServer::Request&) {
        c.send(
            kHead +
            chunk(
                R"({"choices":[{"text":"Add.","logprobs":{"tokens":["Add","."],"token_logprobs":[-0.5,-0.25],"top_logprobs":[{"Add":-0.5,"Sum":-1.5},{".":-0.25}]}}]})") +
            chunk(
                R"({"choices":[{"text":"</think>42","logprobs":{"tokens":["</think>","42"],"token_logprobs":[-0.1,-0.2],"top_logprobs":[{"</think>":-0.1},{"42":-0.2}]},"finish_reason":"stop"}]})") +
            "data: [DONE]\n\n");
    });
    const auto dir = std::filesystem::temp_directory_path() /
                     ("gb_remote_cli_completion_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    const std::string trace_path = (dir / "c.json").string();
    const Result r =
        cli("run --remote " + server.url("/v1") +
            " --completion --server-kind vllm -m m -p '<think>\n' --trace " + trace_path);
    ASSERT_EQ(r.code, 0) << r.err;
    const auto seen = server.requests();
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].head.rfind("POST /v1/completions ", 0), 0u) << seen[0].head;
    EXPECT_NE(seen[0].body.find(R"("prompt":"<think>\n")"), std::string::npos) << seen[0].body;
    EXPECT_NE(seen[0].body.find(R"("logprobs":5)"), std::string::npos) << seen[0].body;
    EXPECT_EQ(seen[0].body.find("messages"), std::string::npos);
    const gb::Trace t = gb::read_json(gb::test::read_file(trace_path));
    EXPECT_EQ(t.prompt_text, "<think>\n");
    ASSERT_EQ(t.n_gen, 4);
    EXPECT_EQ(t.tokens[0].phase, gb::Phase::Think);
    EXPECT_EQ(t.tokens[0].top[1].text, "Sum");
    EXPECT_EQ(t.reasoning_text, "Add.");
    EXPECT_EQ(t.answer_text, "42");
    std::filesystem::remove_all(dir);
    const Result bad = cli("run --remote " + server.url("/v1") + " --server-kind tgi -m m -p x");
    EXPECT_EQ(bad.code, 1) << bad.err;
    EXPECT_NE(bad.err.find("--server-kind tgi: expected vllm, sglang"), std::string::npos)
        << bad.err;
}

}  // namespace
