// glassbox-cli end to end on the tiny llama fixture: inspect, run with a trace, bench, and errors
// (stderr + non-zero exit).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "engine/core/json.h"
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/session/interventions.h"
#include "engine/trace/trace.h"
#include "engine/trace/trace_binary.h"
#include "tests/cli_runner.h"
#include "tests/test_support.h"

namespace {

using Result = gb::test::CliResult;
Result cli(const std::string& args) { return gb::test::run_cli(args); }

const std::string kTiny = gb::test::fixture("models/tiny_llama.gguf");

TEST(Cli, InspectReportsTheModel) {
    Result r = cli("inspect " + kTiny + " --tensors");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("architecture:    llama"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("layers:          3"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("blk.2.ffn_down.weight"), std::string::npos);
    EXPECT_NE(r.out.find("memory needed"), std::string::npos);
    EXPECT_NE(r.out.find("quant mix:       F32: "), std::string::npos) << r.out;
}

TEST(Cli, RunWritesATraceWithAlternatives) {
    const gb::test::TempPath trace_path("cli_test_trace.json");
    Result r =
        cli("run -m " + kTiny + " -p 'hello world' -n 6 --temp 0 -t 1 -c 64 --trace " + trace_path);
    ASSERT_EQ(r.code, 0) << r.err;
    std::ifstream in(trace_path);
    std::stringstream ss;
    ss << in.rdbuf();
    gb::Trace t = gb::read_json(ss.str());
    EXPECT_EQ(t.n_gen, 6);
    int generated = 0;
    for (const auto& tok : t.tokens) {
        if (tok.phase == gb::Phase::Prompt) continue;
        ++generated;
        EXPECT_EQ(tok.top.size(), 5u);
        EXPECT_EQ(tok.top[0].id, tok.id) << "greedy picks the top alternative";
        EXPECT_LE(tok.logprob, 0.0f);
        EXPECT_GE(tok.entropy, 0.0f);
    }
    EXPECT_EQ(generated, 6);
}

// A full disk is an error, not an empty file and exit status 0: the trace file (a device that is
// always full, and a regular file over the size limit, which is then removed), the text view and
// --stream-jsonl on standard output.
TEST(Cli, RunToAFullDiskFailsAndLeavesNoPartialTrace) {
    const std::string run = "run -m " + kTiny + " -p 'hello world' -n 6 --temp 0 -t 1 -c 64 ";
    Result r = cli(run + "--trace /dev/full");
    EXPECT_NE(r.code, 0);
    EXPECT_NE(r.err.find("writing trace file '/dev/full' failed: No space left on device"),
              std::string::npos)
        << r.err;
    EXPECT_TRUE(std::filesystem::exists("/dev/full"));
    r = cli(run + "--trace /dev/full/x.gbtrace");
    EXPECT_NE(r.code, 0);
    EXPECT_NE(r.err.find("cannot write trace file '/dev/full/x.gbtrace': Not a directory"),
              std::string::npos)
        << r.err;

    // A regular file that stops growing after 1 KiB (ulimit -f; SIGXFSZ ignored, so the write
    // fails with EFBIG as on a full disk).
    const gb::test::TempPath path("cli_full.json");
    const std::string cmd = "sh -c \"trap '' XFSZ; ulimit -f 1; exec " + std::string(GB_CLI_PATH) +
                            " " + run + "--trace " + path + "\" 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    ASSERT_TRUE(p);
    std::string out;
    std::array<char, 4096> buf;
    for (size_t n; (n = fread(buf.data(), 1, buf.size(), p)) > 0;) out.append(buf.data(), n);
    const int status = pclose(p);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << out;
    EXPECT_NE(out.find("writing trace file '" + path +
                       "' failed: File too large (the partial "
                       "file was removed)"),
              std::string::npos)
        << out;
    EXPECT_FALSE(std::filesystem::exists(path.str()));

    for (const char* mode : {"", "--stream-jsonl "}) {
        r = cli(run + mode + ">/dev/full");
        EXPECT_NE(r.code, 0) << mode;
        EXPECT_NE(r.err.find("writing the reply to standard output failed: No space left on "
                             "device"),
                  std::string::npos)
            << mode << r.err;
    }
}

// An MoE model: the trace carries every token's experts, in JSON and in the binary form alike,
// --routing summarises them, and inspect reports the experts (also of the HF checkpoint).
TEST(Cli, MoeRoutingGoesIntoTheTraceInBothForms) {
    const std::string moe = gb::test::fixture("models/tiny_qwen3moe.gguf");
    const auto dir = std::filesystem::temp_directory_path();
    const std::string json_path =
        (dir / ("gb_cli_moe_" + std::to_string(getpid()) + ".json")).string();
    const std::string bin_path =
        (dir / ("gb_cli_moe_" + std::to_string(getpid()) + ".gbtrace")).string();
    const std::string common =
        "run -m " + moe + " -p 'hello' -n 8 --temp 0 -t 1 -c 64 --router-probs ";
    Result a = cli(common + "--routing --trace " + json_path);
    ASSERT_EQ(a.code, 0) << a.err;
    EXPECT_NE(a.err.find("[routing: top-2 of 8 experts in 2 MoE layers"), std::string::npos)
        << a.err;
    Result b = cli(common + "--trace " + bin_path);
    ASSERT_EQ(b.code, 0) << b.err;
    std::ifstream jf(json_path), bf(bin_path, std::ios::binary);
    std::stringstream js, bs;
    js << jf.rdbuf();
    bs << bf.rdbuf();
    const gb::Trace tj = gb::read_json(js.str());
    const gb::Trace tb = gb::read_binary(bs.str());
    EXPECT_EQ(tj.n_expert, 8);
    EXPECT_EQ(tj.n_expert_used, 2);
    ASSERT_EQ(tj.tokens.size(), tb.tokens.size());
    for (size_t i = 0; i < tj.tokens.size(); ++i) {
        const gb::TokenRouting &x = tj.tokens[i].routing, &y = tb.tokens[i].routing;
        EXPECT_EQ(x.layers, (std::vector<uint16_t>{0, 1})) << i;
        EXPECT_EQ(x.experts, y.experts) << i;
        ASSERT_EQ(x.probs.size(), 16u) << i;
        ASSERT_EQ(y.weights.size(), x.weights.size());
        for (size_t j = 0; j < x.weights.size(); ++j)
            EXPECT_NEAR(x.weights[j], y.weights[j], 1e-3f);
    }
    std::filesystem::remove(json_path);
    std::filesystem::remove(bin_path);

    for (const std::string& target : {moe, gb::test::fixture("models/hf/tiny_qwen3moe")}) {
        Result in = cli("inspect " + target);
        ASSERT_EQ(in.code, 0) << in.err;
        EXPECT_NE(in.out.find("experts:         8 per MoE layer, 2 routed per token"),
                  std::string::npos)
            << in.out;
        EXPECT_NE(in.out.find("active params:"), std::string::npos) << in.out;
    }
    Result dense = cli("run -m " + kTiny + " -p 'hi' -n 2 --temp 0 -t 1 -c 64 --routing");
    ASSERT_EQ(dense.code, 0) << dense.err;
    EXPECT_NE(dense.err.find("the model is dense, it has no experts"), std::string::npos)
        << dense.err;
}

// --stream-jsonl: stdout is one JSON object per generated token, in order, each the token the
// trace file holds (same id, text, phase, probabilities and, on an MoE model, the experts of
// every MoE layer), and nothing else.
TEST(Cli, StreamJsonlPrintsEveryTokenWithItsRouting) {
    const std::string moe = gb::test::fixture("models/tiny_qwen3moe.gguf");
    const gb::test::TempPath trace_path("cli_jsonl.json");
    Result r = cli("run -m " + moe +
                   " -p 'hello' -n 8 --temp 0 -t 1 -c 64 --stream-jsonl --trace " + trace_path);
    ASSERT_EQ(r.code, 0) << r.err;
    std::ifstream tf(trace_path);
    std::stringstream ts;
    ts << tf.rdbuf();
    const gb::Trace t = gb::read_json(ts.str());
    std::vector<const gb::TokenRecord*> generated;
    for (const auto& tok : t.tokens)
        if (tok.phase != gb::Phase::Prompt) generated.push_back(&tok);
    ASSERT_EQ(generated.size(), 8u);

    std::istringstream lines(r.out);
    std::string line;
    size_t n = 0;
    while (std::getline(lines, line)) {
        ASSERT_LT(n, generated.size()) << "more lines than tokens: " << line;
        const gb::TokenRecord& want = *generated[n++];
        const gb::json::Value v = gb::json::parse(line);
        EXPECT_EQ(v.at("id").as_int64(), want.id) << line;
        // Bytes that are not whole UTF-8 go as U+FFFD in "text" and exactly in "text_hex".
        if (const gb::json::Value* hex = v.find("text_hex")) {
            std::string bytes;
            for (size_t i = 0; i + 1 < hex->as_string().size(); i += 2)
                bytes += static_cast<char>(std::stoi(hex->as_string().substr(i, 2), nullptr, 16));
            EXPECT_EQ(bytes, want.text) << line;
        } else {
            EXPECT_EQ(v.at("text").as_string(), want.text) << line;
        }
        EXPECT_EQ(v.at("phase").as_string(), gb::phase_name(want.phase)) << line;
        EXPECT_NEAR(v.at("logprob").as_number(), want.logprob, 1e-5) << line;
        EXPECT_EQ(v.at("top").as_array().size(), 5u) << line;
        const gb::json::Value& routing = v.at("routing");
        ASSERT_EQ(routing.at("layers").as_array().size(), 2u) << "every MoE layer: " << line;
        ASSERT_FALSE(want.routing.empty());
        for (size_t layer = 0; layer < 2; ++layer) {
            const auto& row = routing.at("experts").at(layer).as_array();
            ASSERT_EQ(row.size(), 2u) << line;
            for (size_t j = 0; j < 2; ++j)
                EXPECT_EQ(row[j].as_int64(), want.routing.experts_of(layer)[j]) << line;
        }
    }
    EXPECT_EQ(n, generated.size());
}

TEST(Cli, SameSeedSameOutput) {
    const std::string args =
        "run -m " + kTiny +
        " -p 'abc' -n 12 --temp 3 --top-k 0 --top-p 1 --min-p 0 -t 1 -c 64 --seed 42";
    Result a = cli(args), b = cli(args), c = cli(args + "3");
    ASSERT_EQ(a.code, 0) << a.err;
    EXPECT_EQ(a.out, b.out);
    EXPECT_NE(a.out, c.out) << "seed 423 gave the same text as seed 42";
}

// A prompt that ends inside <think> makes the whole reply reasoning: hidden on request, and the
// cut-off is reported.
TEST(Cli, ReasoningIsShownApartAndCanBeHidden) {
    const std::string base = "run -m " + gb::test::fixture("models/tiny_qwen3.gguf") +
                             " -p '<think>' -n 5 --temp 0 -t 1 -c 64";
    Result shown = cli(base), hidden = cli(base + " --hide-reasoning");
    ASSERT_EQ(shown.code, 0) << shown.err;
    ASSERT_EQ(hidden.code, 0) << hidden.err;
    EXPECT_GT(shown.out.size(), 1u);
    EXPECT_EQ(hidden.out, "\n");
    EXPECT_NE(shown.err.find("stopped inside the reasoning"), std::string::npos) << shown.err;
}

// --chat renders the file's own template. Here the template writes the BOS text itself and the
// file also asks for a BOS: the prompt must still start with exactly one.
TEST(Cli, ChatUsesTheTemplateWithOneBos) {
    gb::GgufFile src = gb::GgufFile::open(kTiny);
    gb::GgufWriter w;
    for (const auto& kv : src.metadata()) w.set(kv.key, kv.value);
    w.set("tokenizer.ggml.add_bos_token", gb::GgufValue::boolean(true));
    w.set(
        "tokenizer.chat_template",
        gb::GgufValue::str("{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}\n"
                           "{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}"));
    for (const auto& t : src.tensors())
        w.add_tensor(t.name, t.type, t.dims, src.tensor_data(t), t.n_bytes);
    const gb::test::TempPath model("cli_test_chat.gguf");
    w.write(model);
    const gb::test::TempPath trace_path("cli_test_chat.json");
    Result r =
        cli("run -m " + model + " --chat -p hi -n 2 --temp 0 -t 1 -c 64 --trace " + trace_path);
    ASSERT_EQ(r.code, 0) << r.err;
    std::ifstream in(trace_path);
    std::stringstream ss;
    ss << in.rdbuf();
    gb::Trace t = gb::read_json(ss.str());
    EXPECT_EQ(t.prompt_text, "<s>[user] hi\n[assistant] ");
    ASSERT_GE(t.tokens.size(), 2u);
    EXPECT_EQ(t.tokens[0].id, 510) << "the prompt starts with BOS";
    EXPECT_NE(t.tokens[1].id, 510) << "and with only one";
}

TEST(Cli, ChatWithoutTemplateFallsBackVisibly) {
    Result r = cli("run -m " + kTiny + " --chat -p hi -n 2 --temp 0 -t 1 -c 64");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("no chat template"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("ChatML"), std::string::npos) << r.err;
}

// A template that fails falls back to the family's built-in format (Qwen3 here, from
// general.architecture) with a warning naming the error and the format.
TEST(Cli, BrokenTemplateFallsBackToTheFamilyFormat) {
    gb::GgufFile src = gb::GgufFile::open(gb::test::fixture("models/tiny_qwen3.gguf"));
    gb::GgufWriter w;
    for (const auto& kv : src.metadata()) w.set(kv.key, kv.value);
    w.set("tokenizer.chat_template",
          gb::GgufValue::str("{% for m in messages %}{{ m.content | nosuchfilter }}{% endfor %}"));
    for (const auto& t : src.tensors())
        w.add_tensor(t.name, t.type, t.dims, src.tensor_data(t), t.n_bytes);
    const gb::test::TempPath model("cli_test_broken.gguf");
    w.write(model);
    const gb::test::TempPath trace_path("cli_test_broken.json");
    Result r =
        cli("run -m " + model +
            " --chat --no-thinking --system 'Be brief.' -p hi -n 1 --temp 0 -t 1 -c 128 --trace " +
            trace_path);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("nosuchfilter"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("template:1:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("built-in Qwen3 format"), std::string::npos) << r.err;
    std::ifstream in(trace_path);
    std::stringstream ss;
    ss << in.rdbuf();
    gb::Trace t = gb::read_json(ss.str());
    EXPECT_EQ(t.prompt_text,
              "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
              "<|im_start|>assistant\n<think>\n\n</think>\n\n");
}

// The tiny models' vocabulary (tools/gen_tiny_models.py) gives ids 0..255 to the 256 byte
// symbols, so a lone byte that no merge joins is its own byte value.
TEST(Cli, TokenizePrintsIdsAndSpeed) {
    Result r = cli("tokenize -m " + kTiny + " -p ' ' --no-special");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "32\n") << "the space byte is id 32";
    Result b = cli("tokenize -m " + kTiny + " -p 'hello hello' --bench 2");
    ASSERT_EQ(b.code, 0) << b.err;
    EXPECT_NE(b.out.find("MB/s: "), std::string::npos) << b.out;
    Result e = cli("tokenize -m " + kTiny);
    EXPECT_NE(e.code, 0);
    EXPECT_NE(e.err.find("needs a text"), std::string::npos) << e.err;

    // A file cut off inside its tensor data (a partial download) still has its vocabulary:
    // tokenize gives the same ids, inspect shows the metadata and says the data is missing.
    const gb::test::TempPath cut("cli_cut.gguf");
    std::filesystem::copy_file(kTiny, cut.str(), std::filesystem::copy_options::overwrite_existing);
    std::filesystem::resize_file(cut.str(), std::filesystem::file_size(kTiny) - 4096);
    Result full = cli("tokenize -m " + kTiny + " -p 'hello world'");
    Result part = cli("tokenize -m " + cut + " -p 'hello world'");
    ASSERT_EQ(part.code, 0) << part.err;
    EXPECT_EQ(part.out, full.out);
    Result in = cli("inspect " + cut);
    ASSERT_EQ(in.code, 0) << in.err;
    EXPECT_NE(in.out.find("tensor data:     MISSING"), std::string::npos) << in.out;
    EXPECT_NE(cli("run -m " + cut + " -p hi -n 1").code, 0);
}

TEST(Cli, BenchPrintsSpeeds) {
    Result r = cli("bench -m " + kTiny + " -t 1 -p 16 -n 8 -r 1");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("pp16: "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("tg8: "), std::string::npos) << r.out;
}

// Speed at depth: each test starts after D tokens already in the cache, and reports the median
// of its runs with their range.
TEST(Cli, BenchMeasuresAtDepths) {
    Result r = cli("bench -m " + kTiny + " -t 1 -p 8 -n 4 -r 2 -d 0,16");
    ASSERT_EQ(r.code, 0) << r.err;
    for (const char* line : {"pp8: ", "tg4: ", "pp8 @ d16: ", "tg4 @ d16: "})
        EXPECT_NE(r.out.find(line), std::string::npos) << line << " in " << r.out;
    EXPECT_NE(r.out.find("(median of 2, range "), std::string::npos) << r.out;
    for (const char* bad : {"-d 1,x", "-d -5", "-d 99999999999", "-d 4,,8", "-d ''"}) {
        Result b = cli("bench -m " + kTiny + " -t 1 -p 8 -n 4 -r 1 " + bad);
        EXPECT_NE(b.code, 0) << bad;
        EXPECT_NE(b.err.find("-d expects depths in tokens"), std::string::npos) << bad << b.err;
    }
}

TEST(Cli, BenchTraceCostComparesTraceOffAndOn) {
    Result r = cli("bench -m " + kTiny + " -t 1 -p 8 -n 16 -r 1 --trace-cost");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("trace cost (top-5 summary; dense model"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("  off "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("  on "), std::string::npos) << r.out;
}

TEST(Cli, ErrorsGoToStderrWithNonZeroExit) {
    struct Case {
        std::string args, expect;
    } cases[] = {
        {"inspect /nonexistent/model.gguf", "/nonexistent/model.gguf"},
        {"inspect " + gb::test::fixture("models/tiny_llama.json"), "tiny_llama.json"},
        {"run -m " + kTiny, "needs a prompt"},
        {"run -m " + kTiny + " -p x --temp -1", "temperature"},
        {"run -m " + kTiny + " -p x -c 8", "context length"},
        {"run -m " + kTiny + " -p x --bogus", "unknown option --bogus"},
        {"run -m " + kTiny + " -p x --cpu-layers 1", "they need the cuda backend"},
        {"run -m " + kTiny + " -p x --cpu-layers -2",
         "--cpu-layers must be a number of layers >= 0, or auto"},
        {"run -m " + kTiny + " -p x --cpu-layers many", "got 'many'"},
        {"bench -m " + kTiny + " --cpu-layers 1", "they need the cuda backend"},
        {"run -m " + kTiny + " -p x --backend vulkan",
         "unknown backend 'vulkan' (choose cpu or cuda)"},
        {"frobnicate", "unknown command"},
        // Integers are range-checked before narrowing: 2^32 used to wrap to 0 tokens / no top-k.
        {"run -m " + kTiny + " -p x -n 4294967296", "option -n must be in 0..2147483647"},
        {"run -m " + kTiny + " -p x --top-k 4294967296", "option --top-k must be in"},
        {"run -m " + kTiny + " -p x -n 99999999999999999999999", "option -n must be in"},
        {"run -m " + kTiny + " -p x --seed -1", "--seed expects a non-negative integer"},
        {"run -m " + kTiny + " -p x --seed 18446744073709551616", "--seed must be at most"},
        {"run -m " + kTiny + " -p x --top-n 1000", "option --top-n must be in 0..100"},
        {"run -m " + kTiny + " -p x -b 0", "option -b must be in"},
        // A thread count that cannot be run is refused before a thread starts (it deadlocked).
        {"run -m " + kTiny + " -p x -t 1024", "threads"},
        {"run -m " + kTiny + " -p x -t -3", "threads"},
        {"bench -m " + kTiny + " -p 0", "option -p must be in"},
        {"bench -m " + kTiny + " -r 4294967297", "option -r must be in"},
    };
    for (const auto& c : cases) {
        Result r = cli(c.args);
        EXPECT_NE(r.code, 0) << c.args;
        EXPECT_TRUE(r.out.empty()) << c.args << " printed on stdout: " << r.out;
        EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.args << " -> " << r.err;
    }
}

}  // namespace

namespace {

std::filesystem::path write_temp(const std::string& name, const std::string& text) {
    const auto p = std::filesystem::temp_directory_path() /
                   ("gb_cli_" + std::to_string(getpid()) + "_" + name);
    std::ofstream(p, std::ios::binary) << text;
    return p;
}

}  // namespace

// convert --metadata adds a model card (name, description, licence) to the written file, and
// refuses a card that is not a JSON object of scalars or that would change how the model runs.
TEST(Cli, ConvertWritesAModelCard) {
    const std::string ckpt = gb::test::fixture("models/hf/tiny_qwen3");
    const auto card = write_temp("card.json",
                                 "{\"general.name\": \"my-model\", \"general.description\": "
                                 "\"line one\\nline two \\u00e9\", \"general.license\": \"MIT\", "
                                 "\"my.count\": 7, \"my.scale\": 0.5, \"my.flag\": true}");
    const auto out = write_temp("card.gguf", "");
    Result r = cli("convert " + ckpt + " " + out.string() + " --metadata " + card.string());
    ASSERT_EQ(r.code, 0) << r.err;
    const gb::GgufFile f = gb::GgufFile::open(out.string());
    EXPECT_EQ(f.get_string("general.name"), "my-model");
    EXPECT_EQ(f.get_string("general.description"), "line one\nline two \xc3\xa9");
    EXPECT_EQ(f.get_string("general.license"), "MIT");
    EXPECT_EQ(f.get_int("my.count"), 7);
    EXPECT_EQ(f.get_float("my.scale"), 0.5);
    EXPECT_EQ(f.get_bool("my.flag"), true);
    EXPECT_EQ(f.get_string("general.architecture"), "qwen3");

    const std::pair<const char*, const char*> bad[] = {
        {"[1, 2]", "expects a JSON object"},
        {"{\"general.name\": ", "json"},
        {"{\"qwen3.block_count\": 99}", "set by the checkpoint itself"},
        {"{\"general.architecture\": \"llama\"}", "set by the checkpoint itself"},
        {"{\"x\": [1]}", "only strings, numbers and booleans"},
        {"{\"\": \"empty\"}", "is empty"},
    };
    for (const auto& [text, why] : bad) {
        const auto p = write_temp("bad.json", text);
        Result b = cli("convert " + ckpt + " " + out.string() + " --metadata " + p.string());
        EXPECT_NE(b.code, 0) << text;
        EXPECT_NE(b.err.find(why), std::string::npos) << text << " -> " << b.err;
        std::filesystem::remove(p);
    }
    Result missing = cli("convert " + ckpt + " " + out.string() + " --metadata /nonexistent.json");
    EXPECT_NE(missing.code, 0);
    EXPECT_NE(missing.err.find("cannot open: No such file"), std::string::npos) << missing.err;
    std::filesystem::remove(card);
    std::filesystem::remove(out);
}

// convert rewrites a GGUF file with its matrices in a block type (the tokenizer and metadata
// as they were, vectors F32), and the result runs; a GGUF without --type, or a type the tool
// cannot write, is refused by name.
TEST(Cli, ConvertRequantisesAGgufFile) {
    const auto out = write_temp("requant.gguf", "");
    Result r = cli("convert " + kTiny + " " + out.string() + " --type q4_1");
    ASSERT_EQ(r.code, 0) << r.err;
    const gb::GgufFile in = gb::GgufFile::open(kTiny), f = gb::GgufFile::open(out.string());
    EXPECT_EQ(f.get_string("general.architecture"), "llama");
    EXPECT_EQ(f.get_int("general.file_type"), 3);  // llama.cpp's MOSTLY_Q4_1
    for (const gb::GgufTensorInfo& t : f.tensors())
        EXPECT_EQ(t.type, t.dims.size() == 1 ? gb::TensorType::F32 : gb::TensorType::Q4_1)
            << t.name;
    EXPECT_EQ(f.tensors().size(), in.tensors().size());
    Result run = cli("run -m " + out.string() + " -p 'hello world' -n 4 --temp 0 -t 1 -c 64");
    EXPECT_EQ(run.code, 0) << run.err;
    Result no_type = cli("convert " + kTiny + " " + out.string());
    EXPECT_NE(no_type.code, 0);
    EXPECT_NE(no_type.err.find("needs --type"), std::string::npos) << no_type.err;
    Result bad = cli("convert " + kTiny + " " + out.string() + " --type q3_k");
    EXPECT_NE(bad.code, 0);
    EXPECT_NE(bad.err.find("q3_k"), std::string::npos) << bad.err;
    std::filesystem::remove(out);
}

// --precise: the trace says so; rescore gives the other mode's numbers for the same tokens and
// says how far they moved; --precise with another cache type, or --precise with --fast, is a
// contradiction named as such.
TEST(Cli, PreciseRunAndRescore) {
    const auto q = write_temp("precise_q4.gguf", "");
    ASSERT_EQ(cli("convert " + kTiny + " " + q.string() + " --type q4_0").code, 0);
    const auto fast = write_temp("fast.json", ""), precise = write_temp("precise.json", ""),
               rescored = write_temp("rescored.json", "");
    const std::string run = "run -m " + q.string() + " -p 'hello world' -n 8 --temp 0 -t 1 -c 64 ";
    Result a = cli(run + "--trace " + fast.string());
    ASSERT_EQ(a.code, 0) << a.err;
    Result b = cli(run + "--precise --trace " + precise.string());
    ASSERT_EQ(b.code, 0) << b.err;
    auto slurp = [](const std::filesystem::path& p) {
        std::ifstream in(p);
        std::stringstream ss;
        ss << in.rdbuf();
        return gb::read_json(ss.str());
    };
    EXPECT_EQ(slurp(fast).precision, "fast");
    EXPECT_EQ(slurp(precise).precision, "precise");

    Result r = cli("rescore " + fast.string() + " -m " + q.string() + " -t 1 --trace " +
                   rescored.string());
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("rescored 8 generated tokens in precise mode"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("most likely token changed at"), std::string::npos) << r.out;
    const gb::Trace t = slurp(rescored), f = slurp(fast);
    EXPECT_EQ(t.precision, "precise");
    EXPECT_EQ(gb::generated_precision(t), "fast");
    ASSERT_EQ(t.tokens.size(), f.tokens.size());
    for (size_t i = 0; i < t.tokens.size(); ++i) EXPECT_EQ(t.tokens[i].id, f.tokens[i].id);

    Result contradiction = cli(run + "--precise --cache-type f16");
    EXPECT_NE(contradiction.code, 0);
    EXPECT_NE(contradiction.err.find("--precise keeps the KV cache in f32"), std::string::npos)
        << contradiction.err;
    Result both = cli("rescore " + fast.string() + " -m " + q.string() + " --precise --fast");
    EXPECT_NE(both.code, 0);
    EXPECT_NE(both.err.find("contradict"), std::string::npos) << both.err;
    for (const auto& p : {q, fast, precise, rescored}) std::filesystem::remove(p);
}

// A named pipe (or any non-regular file) as an input used to block forever in open(): now it is
// refused at once, naming what it is.
TEST(Cli, NonRegularFilesAreRefusedWithoutBlocking) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("gb_cli_fifo_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    const auto fifo = dir / "model.gguf";
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    std::filesystem::create_directories(dir / "hf");  // a checkpoint folder whose config is a FIFO
    ASSERT_EQ(mkfifo((dir / "hf" / "config.json").c_str(), 0600), 0);
    struct Case {
        std::string args, expect;
    } cases[] = {
        {"inspect " + fifo.string(), "is a named pipe (FIFO), not a regular file"},
        {"run -m " + fifo.string() + " -p x", "is a named pipe (FIFO), not a regular file"},
        {"inspect " + (dir / "hf").string(), "config.json: is a named pipe (FIFO)"},
        {"inspect /dev/zero", "is a character device, not a regular file"},
        {"tokenize -m " + kTiny + " -f " + fifo.string(), "named pipe"},
    };
    for (const auto& c : cases) {
        Result r = cli(c.args);
        EXPECT_NE(r.code, 0) << c.args;
        EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.args << " -> " << r.err;
    }
    std::filesystem::remove_all(dir);
}

// Metadata is a stranger's text: inspect shows escape sequences, BEL and NUL as visible \xNN
// instead of sending them to the terminal (which would retitle it, clear it or worse).
TEST(Cli, InspectNeverPrintsTerminalControls) {
    gb::GgufFile src = gb::GgufFile::open(kTiny);
    gb::GgufWriter w;
    for (const auto& kv : src.metadata()) w.set(kv.key, kv.value);
    w.set("general.name", gb::GgufValue::str("evil\x1b]0;pwned\x07\x1b[2J"));
    w.set("general.\x1b[31mred", gb::GgufValue::str(std::string("nul\0cut", 7)));
    w.set("tokenizer.chat_template", gb::GgufValue::str("{{ '\x1b[1m' }}\x9b"
                                                        "1m"));
    for (const auto& t : src.tensors())
        w.add_tensor(t.name, t.type, t.dims, src.tensor_data(t), t.n_bytes);
    const auto path = std::filesystem::temp_directory_path() /
                      ("gb_cli_escape_" + std::to_string(getpid()) + ".gguf");
    w.write(path.string());
    Result r = cli("inspect " + path.string() + " --all-metadata");
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find('\x07'), std::string::npos);
    EXPECT_EQ(r.out.find('\0'), std::string::npos);
    EXPECT_NE(r.out.find("evil\\x1b]0;pwned\\x07\\x1b[2J"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("general.\\x1b[31mred"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("nul\\x00cut"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\\x9b1m"), std::string::npos) << r.out;  // ill-formed byte, shown
    std::filesystem::remove(path);
}

// analyze: a greedy reply of the demo MoE model, written by run in both forms, gives the same
// analysis from either (routing weights are half floats in the binary form, but analyze does
// not use them), step times aside (two runs); the text form names the parts; bad input is
// refused with the file and the problem.
TEST(Cli, AnalyzeReadsBothTraceFormsAndRefusesBadInput) {
    const std::string moe = std::string(GB_RESOURCES_DIR) + "/models/glassbox-demo-moe.gguf";
    const auto dir = std::filesystem::temp_directory_path();
    const std::string stem = (dir / ("gb_cli_analyze_" + std::to_string(getpid()))).string();
    for (const char* ext : {".json", ".gbtrace"}) {
        Result r = cli("run -m " + moe + " -p 742*38 --chat -n 400 --temp 0 -t 1 -c 512 --trace " +
                       stem + ext);
        ASSERT_EQ(r.code, 0) << r.err;
    }
    Result a = cli("analyze " + stem + ".json --json");
    Result b = cli("analyze " + stem + ".gbtrace --json");
    ASSERT_EQ(a.code, 0) << a.err;
    ASSERT_EQ(b.code, 0) << b.err;
    const std::regex times("\"t_ms\":[-+.e0-9]+");
    EXPECT_EQ(std::regex_replace(a.out, times, "t"), std::regex_replace(b.out, times, "t"));
    const gb::json::Value v = gb::json::parse(a.out);
    EXPECT_EQ(v.at("format").as_string(), "glassbox-analysis");
    EXPECT_GT(v.at("reasoning").at("n_reasoning").as_int64(), 50);
    EXPECT_EQ(v.at("moe").at("layers").as_array().size(), 3u);
    Result html = cli("analyze " + stem + ".json --html " + stem + ".html");
    ASSERT_EQ(html.code, 0) << html.err;
    {
        std::ifstream page(stem + ".html");
        std::stringstream ss;
        ss << page.rdbuf();
        EXPECT_EQ(ss.str().rfind("<!DOCTYPE html>", 0), 0u);
    }
    std::filesystem::remove(stem + ".html");
    Result text = cli("analyze " + stem + ".json");
    ASSERT_EQ(text.code, 0) << text.err;
    for (const char* part : {"reasoning:", "fork tokens", "steps:", "confidence (DeepConf",
                             "loop: none", "experts: 3 MoE layers", "most frequent paths"})
        EXPECT_NE(text.out.find(part), std::string::npos) << part << "\n" << text.out;

    // A truncated trace, a binary trace with a flipped byte, a file that is not a trace.
    std::ifstream in(stem + ".json", std::ios::binary);
    std::stringstream whole;
    whole << in.rdbuf();
    const auto cut = write_temp("cut.json", whole.str().substr(0, whole.str().size() / 2));
    std::ifstream bin_in(stem + ".gbtrace", std::ios::binary);
    std::stringstream bin;
    bin << bin_in.rdbuf();
    std::string flipped = bin.str();
    flipped[flipped.size() / 2] ^= 0x55;
    const auto bad_bin = write_temp("flipped.gbtrace", flipped);
    struct Case {
        std::string args, expect;
    } cases[] = {
        {"analyze", "analyze takes one trace file"},
        {"analyze /nonexistent/reply.json", "/nonexistent/reply.json"},
        {"analyze " + cut.string(), cut.string()},
        {"analyze " + bad_bin.string(), "checksum"},
        {"analyze " + moe, "glassbox-demo-moe.gguf"},
        {"analyze " + stem + ".json --bogus", "unknown option --bogus"},
    };
    for (const auto& c : cases) {
        Result r = cli(c.args);
        EXPECT_NE(r.code, 0) << c.args;
        EXPECT_TRUE(r.out.empty()) << c.args << " printed on stdout: " << r.out;
        EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.args << " -> " << r.err;
    }
    for (const char* ext : {".json", ".gbtrace"}) std::filesystem::remove(stem + ext);
    std::filesystem::remove(cut);
    std::filesystem::remove(bad_bin);
}

// compare: two real replies of the demo MoE model (tests/fixtures/analysis), in text and JSON,
// and the errors of a missing or extra argument.
TEST(Cli, CompareAlignsTwoReplies) {
    const std::string a = gb::test::fixture("analysis/moe_mul.json");
    const std::string b = gb::test::fixture("analysis/moe_sub.json");
    Result text = cli("compare " + a + " " + b);
    ASSERT_EQ(text.code, 0) << text.err;
    for (const char* part : {"aligned: ", "first divergence at row", "log-probability B - A",
                             "expert loads (relative load B - A)", "layer   3: moved"})
        EXPECT_NE(text.out.find(part), std::string::npos) << part << "\n" << text.out;
    Result self = cli("compare " + a + " " + a);
    ASSERT_EQ(self.code, 0) << self.err;
    EXPECT_NE(self.out.find("the same token for token"), std::string::npos) << self.out;
    Result json = cli("compare " + a + " " + b + " --json");
    ASSERT_EQ(json.code, 0) << json.err;
    const gb::json::Value v = gb::json::parse(json.out);
    EXPECT_EQ(v.at("format").as_string(), "glassbox-comparison");
    EXPECT_TRUE(v.at("loads_comparable").as_bool());
    for (const auto& [args, expect] :
         {std::pair<std::string, std::string>{"compare " + a, "compare takes two trace files"},
          {"compare " + a + " /nonexistent/b.json", "/nonexistent/b.json"},
          {"compare " + a + " " + b + " " + a, "compare takes two trace files"}}) {
        Result r = cli(args);
        EXPECT_NE(r.code, 0) << args;
        EXPECT_NE(r.err.find(expect), std::string::npos) << args << " -> " << r.err;
    }
}

// branch, reproduce and --think-budget on the demo reasoning model, end to end through files.
TEST(Cli, BranchReproduceAndThinkBudget) {
    const std::string demo = GB_RESOURCES_DIR "/models/glassbox-demo-moe.gguf";
    const auto dir =
        std::filesystem::temp_directory_path() / ("gb_cli_branch_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    const std::string parent = (dir / "parent.json").string();
    Result run = cli("run -m " + demo + " --chat -p 742*38 --temp 0.7 --seed 5 -n 400 --trace " +
                     parent + " --quiet");
    ASSERT_EQ(run.code, 0) << run.err;
    const gb::Trace p = gb::read_json(gb::test::read_file(parent));
    ASSERT_GT(p.n_gen, 20);
    // Reproduce: the same tokens, exit status 0; in JSON too.
    Result rep = cli("reproduce " + parent + " -m " + demo);
    ASSERT_EQ(rep.code, 0) << rep.out << rep.err;
    EXPECT_NE(rep.out.find("identical: all " + std::to_string(p.n_gen) + " generated tokens"),
              std::string::npos)
        << rep.out;
    // Branch at 10 with the second alternative: kept prefix, the new token, recorded as such.
    const gb::TokenRecord& at10 = p.tokens[static_cast<size_t>(p.n_prompt + 10)];
    ASSERT_GE(at10.top.size(), 2u);
    const int32_t other = at10.top[1].id;
    const std::string branch = (dir / "branch.gbtrace").string();
    Result br = cli("branch " + parent + " -m " + demo + " --at 10 --token " +
                    std::to_string(other) + " -n 50 --trace " + branch);
    ASSERT_EQ(br.code, 0) << br.err;
    EXPECT_NE(br.err.find("branch at generated token 10"), std::string::npos) << br.err;
    const gb::Trace b = gb::read_binary(gb::test::read_file(branch));
    ASSERT_GE(b.n_gen, 11);
    for (int i = 0; i < 10; ++i)
        EXPECT_EQ(b.tokens[static_cast<size_t>(b.n_prompt + i)].id,
                  p.tokens[static_cast<size_t>(p.n_prompt + i)].id);
    EXPECT_EQ(b.tokens[static_cast<size_t>(b.n_prompt + 10)].id, other);
    EXPECT_TRUE(b.tokens[static_cast<size_t>(b.n_prompt + 10)].forced);
    ASSERT_EQ(b.interventions.size(), 1u);
    EXPECT_EQ(b.interventions[0].kind, "branch");
    EXPECT_EQ(b.interventions[0].replaced, at10.id);
    // The branch reproduces too, its start and all.
    Result rb = cli("reproduce " + branch + " -m " + demo + " --json");
    ASSERT_EQ(rb.code, 0) << rb.out << rb.err;
    EXPECT_TRUE(gb::json::parse(rb.out).at("identical").as_bool());
    // A changed token in the recorded reply is found where it is: exit status 1.
    gb::Trace edited = p;
    edited.tokens[static_cast<size_t>(p.n_prompt + 7)].id = other;
    const std::string edited_path = (dir / "edited.json").string();
    {
        std::ofstream f(edited_path);
        gb::write_json(edited, f);
    }
    Result diff = cli("reproduce " + edited_path + " -m " + demo);
    EXPECT_EQ(diff.code, 1);
    EXPECT_NE(diff.out.find("differs at generated token 7"), std::string::npos) << diff.out;
    // Thinking budget: the reasoning closes after 25 tokens and the trace says so.
    const std::string capped = (dir / "capped.json").string();
    Result tb = cli("run -m " + demo +
                    " --chat -p 742*38 --temp 0 -n 400 --think-budget 25 "
                    "--quiet --trace " +
                    capped);
    ASSERT_EQ(tb.code, 0) << tb.err;
    const gb::Trace c = gb::read_json(gb::test::read_file(capped));
    ASSERT_EQ(c.interventions.size(), 1u);
    EXPECT_EQ(c.interventions[0].kind, "think-budget");
    EXPECT_EQ(c.interventions[0].value, 25);
    EXPECT_TRUE(c.reasoning_complete);
    // Resample: 3 rollouts at two positions, each keeping the reply's tokens before it; the
    // counts are the rollouts' answers, the share that of the reply's own answer.
    Result rs = cli("resample " + parent + " -m " + demo + " --at 0," +
                    std::to_string(p.n_gen - 3) + " -k 3 --temp 1.2 --json");
    ASSERT_EQ(rs.code, 0) << rs.err;
    EXPECT_NE(rs.err.find("resampling 2 position(s) x 3 rollouts"), std::string::npos) << rs.err;
    const gb::json::Value rj = gb::json::parse(rs.out);
    EXPECT_EQ(rj.at("format").as_string(), "glassbox-resample");
    const std::string original = gb::final_answer(p.answer_text);
    EXPECT_EQ(rj.at("original_answer").as_string(), original);
    ASSERT_EQ(rj.at("positions").as_array().size(), 2u);
    for (const gb::json::Value& pos : rj.at("positions").as_array()) {
        const auto& rollouts = pos.at("rollouts").as_array();
        ASSERT_EQ(rollouts.size(), 3u);
        int same = 0, counted = 0;
        for (const gb::json::Value& ro : rollouts) same += ro.at("answer").as_string() == original;
        for (const gb::json::Value& c : pos.at("answers").as_array())
            counted += static_cast<int>(c.at("count").as_int64());
        EXPECT_EQ(counted, 3);
        EXPECT_NEAR(pos.at("share").as_number(), same / 3.0, 1e-12);
        EXPECT_FLOAT_EQ(pos.at("temperature").as_float(), 1.2f);
        // Rollouts after the first take the reply's prefix from the first one's cache.
        EXPECT_GE(rollouts[2].at("n_cached").as_int64(), p.n_prompt + pos.at("at").as_int64() - 1);
    }
    // Bad input names the problem.
    for (const auto& [args, expect] :
         {std::pair<std::string, std::string>{
              "branch " + parent + " -m " + demo + " --at 9999 --token 1", "outside the reply's"},
          {"resample " + parent + " -m " + demo + " --at 9999 -k 2", "--at expects"},
          {"resample " + parent + " -m " + demo + " --at 3 -k 0", "-k"},
          {"resample " + parent + " -m " + demo + " -k 2", "needs --at"},
          {"branch " + parent + " -m " + demo + " --token 1", "needs --at"},
          {"branch " + parent + " --at 1 --token 1", "a model is needed"},
          {"reproduce /nonexistent.json -m " + demo, "/nonexistent.json"},
          {"run -m " + demo + " -p x --think-budget -3", "--think-budget"}}) {
        Result r = cli(args);
        EXPECT_NE(r.code, 0) << args;
        EXPECT_NE(r.err.find(expect), std::string::npos) << args << " -> " << r.err;
    }
    std::filesystem::remove_all(dir);
}

// lens: the last layer is the model's own distribution (the trace's recorded probability of the
// token); JSON and text; a span; bad input.
TEST(Cli, LensReadsEveryLayer) {
    const std::string demo = GB_RESOURCES_DIR "/models/glassbox-demo-moe.gguf";
    const auto dir =
        std::filesystem::temp_directory_path() / ("gb_cli_lens_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    const std::string trace = (dir / "t.json").string();
    ASSERT_EQ(
        cli("run -m " + demo + " --chat -p 12+34 --temp 0 -n 60 --quiet --trace " + trace).code, 0);
    const gb::Trace t = gb::read_json(gb::test::read_file(trace));
    const int at = 20;
    Result r = cli("lens -m " + demo + " --trace " + trace + " --at " + std::to_string(at) +
                   " --top-k 3 --json");
    ASSERT_EQ(r.code, 0) << r.err;
    const gb::json::Value v = gb::json::parse(r.out);
    const gb::TokenRecord& tok = t.tokens[static_cast<size_t>(t.n_prompt + at)];
    EXPECT_EQ(v.at("target").as_int64(), tok.id);
    const auto& layers = v.at("layers").as_array();
    ASSERT_EQ(layers.size(), 4u);  // the demo model's layers
    // The trace recorded the model's own log-probability of the token: the last layer's.
    EXPECT_NEAR(layers.back().at("target_logprob").as_number(), tok.logprob, 2e-3);
    Result text = cli("lens -m " + demo + " -p \"The answer is\" --top-k 2");
    ASSERT_EQ(text.code, 0) << text.err;
    EXPECT_NE(text.out.find("logit lens at position"), std::string::npos) << text.out;
    Result span = cli("lens -m " + demo + " --trace " + trace + " --at 1 --span 2:8 --json");
    ASSERT_EQ(span.code, 0) << span.err;
    const gb::json::Value s = gb::json::parse(span.out);
    EXPECT_EQ(s.at("prob").as_array().size(), 4u);
    EXPECT_EQ(s.at("prob").as_array()[0].as_array().size(), 6u);
    for (const auto& [args, expect] :
         {std::pair<std::string, std::string>{"lens -m " + demo, "lens reads -p TEXT"},
          {"lens -m " + demo + " --trace " + trace + " --at 9999", "outside the reply's"},
          {"lens -m " + demo + " -p hi --span 5", "--span expects"},
          {"lens -m " + demo + " -p hi --top-k 0", "--top-k"}}) {
        Result e = cli(args);
        EXPECT_NE(e.code, 0) << args;
        EXPECT_NE(e.err.find(expect), std::string::npos) << args << " -> " << e.err;
    }
    std::filesystem::remove_all(dir);
}

// --disable-experts / --force-experts on the demo MoE model: no token goes to the switched-off
// expert in any layer; the forced one is first in its layer; bad specs fail before generating.
TEST(Cli, SteerExperts) {
    const std::string demo = GB_RESOURCES_DIR "/models/glassbox-demo-moe.gguf";
    const auto dir =
        std::filesystem::temp_directory_path() / ("gb_cli_steer_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    const std::string trace = (dir / "s.json").string();
    Result r = cli("run -m " + demo +
                   " --chat -p 742*38 --temp 0 -n 80 --quiet "
                   "--disable-experts '*:3' --force-experts '2:9' --trace " +
                   trace);
    ASSERT_EQ(r.code, 0) << r.err;
    const gb::Trace t = gb::read_json(gb::test::read_file(trace));
    ASSERT_EQ(t.interventions.size(), 1u);
    EXPECT_EQ(t.interventions[0].spec, "disable *:3; force 2:9");
    int rows = 0;
    for (const gb::TokenRecord& tok : t.tokens)
        for (size_t row = 0; row < tok.routing.n_layers(); ++row) {
            for (uint16_t e : tok.routing.experts_of(row)) EXPECT_NE(e, 3);
            if (tok.routing.layers[row] == 2) {
                EXPECT_EQ(tok.routing.experts_of(row)[0], 9);
                ++rows;
            }
        }
    EXPECT_EQ(rows, static_cast<int>(t.tokens.size()));
    for (const auto& [args, expect] :
         {std::pair<std::string, std::string>{"--disable-experts 0:1", "dense layer"},
          {"--force-experts '*:99'", "expert 99 does not exist"},
          {"--disable-experts 2:1 --force-experts 2:1", "both switched off and forced on"}}) {
        Result e = cli("run -m " + demo + " -p hi -n 2 " + args);
        EXPECT_NE(e.code, 0) << args;
        EXPECT_NE(e.err.find(expect), std::string::npos) << args << " -> " << e.err;
    }
    std::filesystem::remove_all(dir);
}
