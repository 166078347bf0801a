// Tests of token_stats against hand-computed and numpy values, and of the trace JSON round-trip.
#include "engine/trace/trace.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "engine/core/json.h"
#include "kernels/error.h"

namespace gb {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

TEST(TokenStats, HandComputedThreeTokens) {
    // Logits [0, ln 2, ln 4] give probabilities 1/7, 2/7, 4/7.
    const std::vector<float> logits = {0.0f, static_cast<float>(std::log(2.0)),
                                       static_cast<float>(std::log(4.0))};
    const double p[3] = {1.0 / 7, 2.0 / 7, 4.0 / 7};
    const double h = -(p[0] * std::log(p[0]) + p[1] * std::log(p[1]) + p[2] * std::log(p[2]));
    for (int32_t c = 0; c < 3; ++c) {
        const TokenStats st = token_stats(logits, c, 2);
        EXPECT_NEAR(st.logprob, std::log(p[c]), 1e-6);
        EXPECT_NEAR(st.entropy, h, 1e-6);
        ASSERT_EQ(st.top.size(), 2u);
        EXPECT_EQ(st.top[0].id, 2);
        EXPECT_NEAR(st.top[0].logprob, std::log(4.0 / 7), 1e-6);
        EXPECT_EQ(st.top[1].id, 1);
        EXPECT_NEAR(st.top[1].logprob, std::log(2.0 / 7), 1e-6);
    }
}

TEST(TokenStats, UniformAndCertain) {
    const std::vector<float> uniform(8, 3.5f);
    const TokenStats u = token_stats(uniform, 5, 3);
    EXPECT_NEAR(u.logprob, -std::log(8.0), 1e-6);
    EXPECT_NEAR(u.entropy, std::log(8.0), 1e-6);
    // Ties: lower ids first.
    ASSERT_EQ(u.top.size(), 3u);
    EXPECT_EQ(u.top[0].id, 0);
    EXPECT_EQ(u.top[1].id, 1);
    EXPECT_EQ(u.top[2].id, 2);

    const std::vector<float> one_hot = {0.0f, kNegInf, kNegInf};
    const TokenStats c = token_stats(one_hot, 0, 5);
    EXPECT_EQ(c.logprob, 0.0f);
    EXPECT_EQ(c.entropy, 0.0f);
    ASSERT_EQ(c.top.size(), 3u);  // top_n clamps to the vocabulary
    EXPECT_EQ(c.top[1].logprob, kNegInf);
    // A masked token has probability 0.
    EXPECT_EQ(token_stats(one_hot, 1, 0).logprob, kNegInf);
}

TEST(TokenStats, NumericallyStable) {
    // Shifting every logit leaves the distribution unchanged; naive exp(1000) would overflow.
    const std::vector<float> a = {0, 1, 2, 3}, b = {1000, 1001, 1002, 1003};
    const TokenStats sa = token_stats(a, 1, 4), sb = token_stats(b, 1, 4);
    EXPECT_FLOAT_EQ(sa.logprob, sb.logprob);
    EXPECT_FLOAT_EQ(sa.entropy, sb.entropy);
    // A token far below the maximum keeps its log-probability instead of log(0) = -inf.
    const std::vector<float> far = {0, -200};
    EXPECT_NEAR(token_stats(far, 1, 0).logprob, -200.0, 1e-4);
    EXPECT_GE(token_stats(far, 0, 0).entropy, 0.0f);
}

TEST(TokenStats, MatchesNumpyReference) {
    // tests/engine/sample/gen_reference.py: float32 logits ((i * 7919) % 1000) / 100 - 5,
    // log-softmax and entropy in float64 with numpy.
    std::vector<float> logits(1000);
    for (int i = 0; i < 1000; ++i)
        logits[i] = static_cast<float>(((i * 7919) % 1000) / 100.0 - 5.0);
    const TokenStats st = token_stats(logits, 123, 5);
    EXPECT_NEAR(st.logprob, -14.230120730478937, 1e-5);
    EXPECT_NEAR(st.entropy, 5.604674936566158, 1e-5);
    const std::pair<int32_t, double> top5[] = {{321, -4.610120844919855},
                                               {642, -4.620120596964533},
                                               {963, -4.630120825846369},
                                               {284, -4.640120577891047},
                                               {605, -4.6501208067728825}};
    ASSERT_EQ(st.top.size(), 5u);
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(st.top[i].id, top5[i].first);
        EXPECT_NEAR(st.top[i].logprob, top5[i].second, 1e-5);
    }
}

TEST(TokenStats, BadArguments) {
    const std::vector<float> logits = {0, 1};
    EXPECT_THROW(token_stats(logits, 2, 1), Error);
    EXPECT_THROW(token_stats(logits, -1, 1), Error);
    EXPECT_THROW(token_stats(logits, 0, -1), Error);
    EXPECT_TRUE(std::isnan(token_stats(std::vector<float>{0, NAN}, 0, 1).logprob));
}

Trace sample_trace() {
    Trace t;
    t.model = "tiny \"model\"";
    t.backend = "cpu";
    t.prompt_text = "line 1\nline 2\ttab \x01 \xe4\xbd";
    t.sampling.temperature = 0.7f;
    t.sampling.top_k = 20;
    t.sampling.top_p = 0.9f;
    t.sampling.min_p = 0.0f;
    t.sampling.repeat_penalty = 1.1f;
    t.sampling.repeat_last_n = -1;
    t.sampling.frequency_penalty = 0.25f;
    t.sampling.presence_penalty = -0.5f;
    t.sampling.seed = std::numeric_limits<uint64_t>::max();  // not representable as a double
    t.prefill_ms = 12.345678901234;
    t.decode_ms = 1e-3;
    t.n_prompt = 2;
    t.n_gen = 3;
    t.stop_reason = gb::StopReason::MaxTokens;
    t.reasoning_text = "step 1\nstep \"2\"";
    t.answer_text = "\xe4\xbd\xa0";
    t.reasoning_complete = false;

    TokenRecord bos;
    bos.id = 1;
    bos.text = "<s>";
    bos.phase = Phase::Prompt;  // unscored: logprob/entropy stay NaN
    t.tokens.push_back(bos);
    TokenRecord p;
    p.id = 15043;
    p.text = "\"quoted\"\\";
    p.phase = Phase::Prompt;
    p.logprob = -3.25f;
    p.entropy = 4.5f;
    p.t_ms = 10.0;
    t.tokens.push_back(p);
    TokenRecord a;
    a.id = 100;
    a.text = "\xe4\xbd";  // the first two bytes of a three-byte character
    a.phase = Phase::Think;
    a.logprob = -0.1234567f;
    a.entropy = 1.0e-7f;
    a.t_ms = 20.5;
    a.top = {{100, "\xe4\xbd", -0.1234567f}, {7, "\x80\xff", -2.5f}, {8, "ok\u2028", -3.0f}};
    t.tokens.push_back(a);
    TokenRecord b;
    b.id = 101;
    b.text = "\xa0";  // the last byte of that character
    b.phase = Phase::Answer;
    b.logprob = 0.0f;
    b.entropy = 0.0f;
    b.t_ms = 31.0;
    t.tokens.push_back(b);
    TokenRecord c;
    c.id = 2;
    c.text = std::string("\x00\x1f\x7f", 3);
    c.phase = Phase::Answer;
    c.logprob = kNegInf;  // cannot be written: comes back as NaN (null)
    c.entropy = 2.0f;
    c.t_ms = 40.0;
    t.tokens.push_back(c);
    return t;
}

bool same_float(float a, float b) {
    return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b) ||
           (std::isnan(a) && std::isnan(b));
}

TEST(TraceJson, RoundTrip) {
    const Trace t = sample_trace();
    std::ostringstream os;
    write_json(t, os);
    const std::string text = os.str();
    const Trace r = read_json(text);

    EXPECT_EQ(r.model, t.model);
    EXPECT_EQ(r.backend, t.backend);
    EXPECT_EQ(r.prompt_text, "line 1\nline 2\ttab \x01 \xef\xbf\xbd");  // not a token: U+FFFD
    EXPECT_EQ(r.sampling.temperature, t.sampling.temperature);
    EXPECT_EQ(r.sampling.top_k, t.sampling.top_k);
    EXPECT_EQ(r.sampling.top_p, t.sampling.top_p);
    EXPECT_EQ(r.sampling.min_p, t.sampling.min_p);
    EXPECT_EQ(r.sampling.repeat_penalty, t.sampling.repeat_penalty);
    EXPECT_EQ(r.sampling.repeat_last_n, t.sampling.repeat_last_n);
    EXPECT_EQ(r.sampling.frequency_penalty, t.sampling.frequency_penalty);
    EXPECT_EQ(r.sampling.presence_penalty, t.sampling.presence_penalty);
    EXPECT_EQ(r.sampling.seed, t.sampling.seed);
    EXPECT_EQ(r.prefill_ms, t.prefill_ms);
    EXPECT_EQ(r.decode_ms, t.decode_ms);
    EXPECT_EQ(r.n_prompt, t.n_prompt);
    EXPECT_EQ(r.n_gen, t.n_gen);
    EXPECT_EQ(r.stop_reason, t.stop_reason);
    EXPECT_EQ(r.reasoning_text, t.reasoning_text);
    EXPECT_EQ(r.answer_text, t.answer_text);
    EXPECT_EQ(r.reasoning_complete, false);
    ASSERT_EQ(r.tokens.size(), t.tokens.size());
    for (size_t i = 0; i < t.tokens.size(); ++i) {
        const TokenRecord &want = t.tokens[i], &got = r.tokens[i];
        SCOPED_TRACE("token " + std::to_string(i));
        EXPECT_EQ(got.id, want.id);
        EXPECT_EQ(got.text, want.text);  // raw bytes, even partial UTF-8
        EXPECT_EQ(got.phase, want.phase);
        if (std::isinf(want.logprob))
            EXPECT_TRUE(std::isnan(got.logprob));
        else
            EXPECT_TRUE(same_float(got.logprob, want.logprob)) << got.logprob;
        EXPECT_TRUE(same_float(got.entropy, want.entropy));
        EXPECT_EQ(got.t_ms, want.t_ms);
        ASSERT_EQ(got.top.size(), want.top.size());
        for (size_t j = 0; j < want.top.size(); ++j) {
            EXPECT_EQ(got.top[j].id, want.top[j].id);
            EXPECT_EQ(got.top[j].text, want.top[j].text);
            EXPECT_TRUE(same_float(got.top[j].logprob, want.top[j].logprob));
        }
    }
}

TEST(TraceJson, LayoutIsVersionedStrictJsonWithOneTokenPerLine) {
    const Trace t = sample_trace();
    std::ostringstream os;
    write_json(t, os);
    const std::string text = os.str();
    const json::Value v = json::parse(text);  // strict: valid UTF-8, no raw control bytes
    EXPECT_EQ(v.as_object()[0].first, "format");
    EXPECT_EQ(v.at("format").as_string(), "glassbox-trace");
    EXPECT_EQ(v.at("version").as_int64(), 1);
    EXPECT_EQ(v.at("sampling").at("seed").as_uint64(), std::numeric_limits<uint64_t>::max());
    EXPECT_TRUE(v.at("tokens").at(0).at("logprob").is_null());
    EXPECT_EQ(v.at("tokens").at(2).at("text").as_string(), "\xef\xbf\xbd");
    EXPECT_EQ(v.at("tokens").at(2).at("text_hex").as_string(), "e4bd");
    EXPECT_EQ(v.at("tokens").at(1).find("text_hex"), nullptr);  // only when needed
    EXPECT_NE(
        text.find(
            "\n    {\"id\":100,\"text\":\"\\ufffd\",\"text_hex\":\"e4bd\",\"phase\":\"think\","),
        std::string::npos)
        << text;
    EXPECT_NE(text.find("\"text\":\"\\u0000\\u001f\\u007f\""), std::string::npos);
    EXPECT_NE(text.find("\"logprob\":null"), std::string::npos);
    EXPECT_EQ(text.back(), '\n');
}

TEST(TraceJson, EmptyTrace) {
    std::ostringstream os;
    write_json(Trace{}, os);
    const Trace r = read_json(os.str());
    EXPECT_TRUE(r.tokens.empty());
    EXPECT_EQ(r.sampling.temperature, SamplerSettings{}.temperature);
}

std::string read_error(const std::string& text) {
    try {
        read_json(text);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(TraceJson, ErrorsNameTheField) {
    std::ostringstream os;
    write_json(sample_trace(), os);
    const std::string good = os.str();
    auto replaced = [&](const std::string& from, const std::string& to) {
        std::string s = good;
        const size_t at = s.find(from);
        EXPECT_NE(at, std::string::npos) << from;
        return s.replace(at, from.size(), to);
    };
    EXPECT_EQ(read_error(good), "");
    EXPECT_EQ(read_error("[1]"), "trace: the document must be an object, found an array");
    EXPECT_EQ(read_error("{\"format\":\"x\"}"),
              "trace: not a Glassbox trace (\"format\" is not \"glassbox-trace\")");
    EXPECT_NE(read_error(replaced("\"version\": 1", "\"version\": 2")).find("newer Glassbox"),
              std::string::npos);
    EXPECT_EQ(read_error(replaced("\"logprob\":-3.25", "\"logprob\":\"x\"")),
              "trace: tokens[1].logprob: expected a number, found a string");
    EXPECT_EQ(read_error(replaced("\"phase\":\"think\"", "\"phase\":\"musing\"")),
              "trace: tokens[2].phase: unknown token phase \"musing\" (expected prompt, think or "
              "answer)");
    EXPECT_EQ(read_error(replaced("{\"id\":7,", "{\"id\":-7,")),
              "trace: tokens[2].top[1].id = -7 is outside -1..2147483647");
    EXPECT_EQ(read_error(replaced("\"text_hex\":\"e4bd\"", "\"text_hex\":\"e4b\"")),
              "trace: tokens[2].text_hex has an odd length");
    EXPECT_EQ(read_error(replaced("\"stop_reason\": \"max tokens\",", "")),
              "trace: stop_reason is missing");
    EXPECT_EQ(
        read_error(replaced("\"stop_reason\": \"max tokens\"", "\"stop_reason\": \"tired\"")),
        "trace: stop_reason: unknown stop reason \"tired\" (expected eog, max tokens, context "
        "full, stopped, cancelled, error or empty)");
    EXPECT_EQ(read_error(replaced("\"top_k\":20", "\"top_k\":20.5")),
              "trace: sampling.top_k: expected an integer in range, found 20.5");
    EXPECT_EQ(read_error(good.substr(0, 40)).rfind("trace: json: ", 0), 0u);
    EXPECT_EQ(read_error(replaced("\"reasoning_complete\": false", "\"reasoning_complete\": 0")),
              "trace: reasoning_complete: expected a boolean, found a number");
}

// A float beyond float range would read as infinity: refused, naming the field.
TEST(TraceJson, FloatsBeyondFloatRangeAreRefused) {
    std::ostringstream os;
    write_json(sample_trace(), os);
    const std::string good = os.str();
    auto replaced = [&](const std::string& from, const std::string& to) {
        std::string s = good;
        const size_t at = s.find(from);
        EXPECT_NE(at, std::string::npos) << from;
        return s.replace(at, from.size(), to);
    };
    EXPECT_EQ(read_error(replaced("\"logprob\":-3.25", "\"logprob\":-1e39")),
              "trace: tokens[1].logprob: is not a finite float");
    EXPECT_EQ(read_error(replaced("\"top_p\":", "\"top_p\":4e38,\"x\":")),
              "trace: sampling.top_p: is not a finite float");
    // The largest float itself is fine.
    EXPECT_EQ(read_error(replaced("\"logprob\":-3.25", "\"logprob\":-3.4028235e38")), "");
}

TEST(TraceJson, FilesWithoutTheReplySplitStillRead) {
    // Version-1 files written before reasoning_text/answer_text/reasoning_complete existed.
    std::ostringstream os;
    write_json(sample_trace(), os);
    std::string text = os.str();
    for (const std::string field :
         {"\"reasoning_text\"", "\"answer_text\"", "\"reasoning_complete\""}) {
        const size_t at = text.find(field);
        ASSERT_NE(at, std::string::npos) << field;
        text.erase(at, text.find('\n', at) + 1 - at);
    }
    ASSERT_EQ(text.find("reasoning"), std::string::npos);
    const Trace r = read_json(text);
    EXPECT_EQ(r.reasoning_text, "");
    EXPECT_EQ(r.answer_text, "");
    EXPECT_TRUE(r.reasoning_complete);
    EXPECT_EQ(r.stop_reason, gb::StopReason::MaxTokens);
}

TEST(TraceJson, FormatDocExampleReadsAndWritesBackIdentically) {
    // Keeps TRACE_FORMAT.md honest: its example is exactly what write_json produces.
    std::ifstream f(std::string(GB_FIXTURES_DIR) + "/../../engine/trace/TRACE_FORMAT.md");
    ASSERT_TRUE(f) << "TRACE_FORMAT.md not found";
    std::stringstream ss;
    ss << f.rdbuf();
    const std::string md = ss.str();
    const size_t begin = md.find("```json\n");
    ASSERT_NE(begin, std::string::npos);
    const size_t end = md.find("```", begin + 8);
    const std::string example = md.substr(begin + 8, end - begin - 8);
    const Trace t = read_json(example);
    EXPECT_EQ(t.tokens.at(2).text, "\xe4\xbd");
    std::ostringstream os;
    write_json(t, os);
    EXPECT_EQ(os.str(), example);
}

}  // namespace
}  // namespace gb
