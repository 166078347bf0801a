// The binary trace form: exact round trip of everything but the half-precision routing numbers,
// routing in JSON, and hostile input (truncation, corruption, impossible counts) refused with a
// clear error. Prints the size and speed of a 20,000-token MoE trace.
#include "engine/trace/trace_binary.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "engine/trace/trace.h"
#include "kernels/error.h"

namespace gb {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

Trace sample_trace(int n_tokens, int n_layers, int n_expert, int k, bool probs, uint32_t seed = 7) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    Trace t;
    t.model = "tiny-moe \xE2\x80\x94 test";
    t.backend = "cpu";
    t.precision = "precise";
    t.prompt_text = "<|im_start|>user\nHi<|im_end|>\n";
    t.stop_reason = gb::StopReason::MaxTokens;
    t.reasoning_text = "think";
    t.answer_text = "answer \xF0\x9F\xA4\x96";
    t.reasoning_complete = false;
    t.sampling.temperature = 0.7f;
    t.sampling.top_k = 40;
    t.sampling.repeat_last_n = -1;
    t.sampling.seed = 0xFEDCBA9876543210ull;
    t.n_prompt = 3;
    t.n_gen = std::max(0, n_tokens - 3);
    t.prefill_ms = 12.125;
    t.decode_ms = 1e-3;
    t.n_expert = n_expert;
    t.n_expert_used = k;
    for (int i = 0; i < n_tokens; ++i) {
        TokenRecord r;
        r.id = (i * 7919) % 150000;
        r.text = i % 5 == 0 ? std::string("\xE4\xBD")
                            : "tok" + std::to_string(r.id % 97);  // some not UTF-8
        r.phase = i < 3 ? Phase::Prompt : (i < n_tokens / 2 ? Phase::Think : Phase::Answer);
        r.logprob = i == 0 ? kNaN : -u(rng) * 5;
        r.entropy = i == 0 ? kNaN : u(rng) * 3;
        r.t_ms = i * 13.37;
        for (int j = 0; j < 3; ++j)
            r.top.push_back({r.id + j, "alt" + std::to_string(j), -u(rng) * 9});
        TokenRouting& rt = r.routing;
        rt.k = n_layers ? k : 0;
        for (int l = 0; l < n_layers; ++l) {
            rt.layers.push_back(static_cast<uint16_t>(l + 1));  // after a leading dense layer
            for (int e = 0; e < k; ++e) {
                rt.experts.push_back(static_cast<uint16_t>((i * 31 + l * 7 + e * 13) % n_expert));
                rt.weights.push_back(u(rng) * 2.5f);
            }
            if (probs)
                for (int e = 0; e < n_expert; ++e) rt.probs.push_back(u(rng) / n_expert);
        }
        t.tokens.push_back(std::move(r));
    }
    return t;
}

bool same_float(float a, float b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

void expect_same(const Trace& a, const Trace& b, float routing_rel_tol) {
    EXPECT_EQ(a.model, b.model);
    EXPECT_EQ(a.backend, b.backend);
    EXPECT_EQ(a.precision, b.precision);
    EXPECT_EQ(a.prompt_text, b.prompt_text);
    EXPECT_EQ(a.stop_reason, b.stop_reason);
    EXPECT_EQ(a.reasoning_text, b.reasoning_text);
    EXPECT_EQ(a.answer_text, b.answer_text);
    EXPECT_EQ(a.reasoning_complete, b.reasoning_complete);
    EXPECT_EQ(a.sampling.temperature, b.sampling.temperature);
    EXPECT_EQ(a.sampling.top_k, b.sampling.top_k);
    EXPECT_EQ(a.sampling.repeat_last_n, b.sampling.repeat_last_n);
    EXPECT_EQ(a.sampling.seed, b.sampling.seed);
    EXPECT_EQ(a.n_prompt, b.n_prompt);
    EXPECT_EQ(a.n_gen, b.n_gen);
    EXPECT_EQ(a.prefill_ms, b.prefill_ms);
    EXPECT_EQ(a.decode_ms, b.decode_ms);
    EXPECT_EQ(a.n_expert, b.n_expert);
    EXPECT_EQ(a.n_expert_used, b.n_expert_used);
    EXPECT_EQ(a.n_cached, b.n_cached);
    EXPECT_EQ(a.interventions, b.interventions);
    ASSERT_EQ(a.tokens.size(), b.tokens.size());
    for (size_t i = 0; i < a.tokens.size(); ++i) {
        const TokenRecord &x = a.tokens[i], &y = b.tokens[i];
        ASSERT_EQ(x.id, y.id) << i;
        ASSERT_EQ(x.text, y.text) << i;
        ASSERT_EQ(x.phase, y.phase) << i;
        ASSERT_EQ(x.forced, y.forced) << i;
        ASSERT_TRUE(same_float(x.logprob, y.logprob)) << i;
        ASSERT_TRUE(same_float(x.entropy, y.entropy)) << i;
        ASSERT_EQ(x.t_ms, y.t_ms) << i;
        ASSERT_EQ(x.top.size(), y.top.size()) << i;
        for (size_t j = 0; j < x.top.size(); ++j) {
            ASSERT_EQ(x.top[j].id, y.top[j].id);
            ASSERT_EQ(x.top[j].text, y.top[j].text);
            ASSERT_TRUE(same_float(x.top[j].logprob, y.top[j].logprob));
        }
        {
            const TokenRouting &p = x.routing, &q = y.routing;
            ASSERT_EQ(p.layers, q.layers) << i;
            ASSERT_EQ(p.k, q.k) << i;
            ASSERT_EQ(p.experts, q.experts) << i;
            ASSERT_EQ(p.weights.size(), q.weights.size());
            for (size_t e = 0; e < p.weights.size(); ++e)
                ASSERT_NEAR(p.weights[e], q.weights[e],
                            routing_rel_tol * std::abs(p.weights[e]) + 1e-7f);
            ASSERT_EQ(p.probs.size(), q.probs.size());
            for (size_t e = 0; e < p.probs.size(); ++e)
                ASSERT_NEAR(p.probs[e], q.probs[e], routing_rel_tol * std::abs(p.probs[e]) + 1e-7f);
        }
    }
}

std::string error_of(std::string_view bytes) {
    try {
        read_binary(bytes);
    } catch (const Error& e) {
        return e.what();
    }
    return "no error";
}

// Rewrites the trailing CRC so that a deliberately inconsistent body reaches the parser.
void fix_crc(std::string& b) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i + 4 < b.size(); ++i) {
        c ^= static_cast<unsigned char>(b[i]);
        for (int k = 0; k < 8; ++k) c = (c & 1) ? 0x82F63B78u ^ (c >> 1) : c >> 1;  // CRC-32C
    }
    c ^= 0xFFFFFFFFu;
    std::memcpy(b.data() + b.size() - 4, &c, 4);
}

TEST(TraceBinary, RoundTripsEverything) {
    const Trace t = sample_trace(40, 3, 16, 4, /*probs=*/true);
    const std::string b = write_binary(t);
    // Half floats: relative error at most 2^-11.
    expect_same(t, read_binary(b), 1.0f / 2048);
    EXPECT_EQ(write_binary(read_binary(b)), b);  // stable once rounded
}

TEST(TraceBinary, DenseTraceAndEmptyTrace) {
    Trace dense = sample_trace(10, 0, 0, 0, false);
    expect_same(dense, read_binary(write_binary(dense)), 0);
    const Trace empty;
    expect_same(empty, read_binary(write_binary(empty)), 0);
}

TEST(TraceJson, RoutingRoundTripsExactly) {
    const Trace t = sample_trace(12, 2, 8, 2, /*probs=*/true);
    std::ostringstream out;
    write_json(t, out);
    EXPECT_NE(out.str().find("\"routing\":{\"layers\":[1,2],\"experts\":[["), std::string::npos)
        << out.str().substr(0, 3000);
    expect_same(t, read_json(out.str()), 0);
}

TEST(TraceJson, RoutingErrorsNameTheField) {
    const Trace t = sample_trace(4, 1, 8, 2, false);
    std::ostringstream out;
    write_json(t, out);
    const std::string good = out.str();
    auto err = [](const std::string& s) -> std::string {
        try {
            read_json(s);
        } catch (const Error& e) {
            return e.what();
        }
        return "no error";
    };
    std::string bad = good;
    const size_t ne = bad.find("\"n_expert\": 8");
    ASSERT_NE(ne, std::string::npos) << good.substr(0, 800);
    bad.replace(ne, 13, "\"n_expert\": 2");
    EXPECT_NE(err(bad).find("tokens[0].routing.experts[0]["), std::string::npos) << err(bad);
    EXPECT_NE(err(bad).find("is outside 0..1"), std::string::npos) << err(bad);
    bad = good;
    const size_t w = bad.find("\"weights\":[[");
    bad.insert(w + 12, "0.5,");
    EXPECT_NE(err(bad).find("tokens[0].routing.weights[0] has 3 entries, expected 2"),
              std::string::npos)
        << err(bad);
    bad = good;
    bad.replace(bad.find("\"layers\":[1]"), 12, "\"layers\":[1,2]");
    EXPECT_NE(err(bad).find("tokens[0].routing.experts has 1 rows for 2 layers"), std::string::npos)
        << err(bad);
}

// A routing row must hold 1..n_expert experts: anything else would be stored, then refused by
// the binary reader when the reply is opened again.
TEST(TraceJson, RoutingRowWidthIsBetweenOneAndNExpert) {
    std::ostringstream out;
    write_json(sample_trace(4, 1, 2, 2, false), out);
    const std::string good = out.str();
    auto err = [](const std::string& s) -> std::string {
        try {
            const Trace t = read_json(s);
            read_binary(write_binary(t));
        } catch (const Error& e) {
            return e.what();
        }
        return "no error";
    };
    ASSERT_EQ(err(good), "no error");
    std::string wide = good;
    wide.insert(wide.find("\"experts\":[[") + 12, "0,");
    wide.insert(wide.find("\"weights\":[[") + 12, "0.5,");
    EXPECT_NE(err(wide).find("tokens[0].routing.experts has rows of 3 experts; a routed token has "
                             "1..2"),
              std::string::npos)
        << err(wide);
    std::string empty = good;
    const size_t e = empty.find("\"experts\":[[");
    empty.replace(e, empty.find("]]", e) + 2 - e, "\"experts\":[[]]");
    const size_t w = empty.find("\"weights\":[[");
    empty.replace(w, empty.find("]]", w) + 2 - w, "\"weights\":[[]]");
    EXPECT_NE(err(empty).find("has rows of 0 experts"), std::string::npos) << err(empty);
    // Found by trace_json_fuzz: a weight beyond half range read, then could not be stored.
    std::string big = good;
    const size_t w0 = big.find("\"weights\":[[") + 12;
    big.replace(w0, big.find(',', w0) - w0, "655360.25");
    EXPECT_NE(err(big).find("tokens[0].routing.weights[0][0] = 655360.250000 is beyond the "
                            "half-float range"),
              std::string::npos)
        << err(big);
}

TEST(TraceBinary, RefusesWhatIsNotATrace) {
    EXPECT_NE(error_of("").find("not a Glassbox binary trace"), std::string::npos);
    EXPECT_NE(error_of("GBTRACE\x1a").find("too short"), std::string::npos);
    std::string b = write_binary(sample_trace(5, 1, 8, 2, false));
    std::string newer = b;
    newer[8] = 9;
    EXPECT_NE(error_of(newer).find("format version 9 was written by a newer Glassbox"),
              std::string::npos)
        << error_of(newer);
    std::string other = b;
    other[0] = 'X';
    EXPECT_NE(error_of(other).find("bad magic"), std::string::npos);
}

TEST(TraceBinary, EveryTruncationAndEveryFlippedByteIsRefused) {
    const std::string b = write_binary(sample_trace(6, 2, 8, 2, true));
    for (size_t n = 0; n < b.size(); ++n)
        EXPECT_NE(error_of(std::string_view(b).substr(0, n)), "no error") << n;
    for (size_t i = 0; i < b.size(); ++i) {
        std::string c = b;
        c[i] = static_cast<char>(c[i] ^ 0x20);
        EXPECT_NE(error_of(c), "no error") << "byte " << i;
    }
}

TEST(TraceBinary, InconsistentBodyWithAValidChecksumIsRefused) {
    // One token, one routing layer, two of 8 experts; then corrupt single bytes and re-sign.
    Trace t = sample_trace(1, 1, 8, 2, false);
    t.model = t.backend = t.prompt_text = t.reasoning_text = t.answer_text = t.precision = "";
    t.stop_reason = StopReason::None;
    const std::string b = write_binary(t);
    ASSERT_NO_THROW(read_binary(b));
    int refused = 0;
    for (size_t i = 16; i + 4 < b.size(); ++i) {
        for (int v : {0x00, 0x7F, 0xFF}) {
            std::string c = b;
            c[i] = static_cast<char>(v);
            fix_crc(c);
            try {
                read_binary(c);  // some changes are still valid traces (a different float)
            } catch (const Error& e) {
                ++refused;
                EXPECT_NE(std::string(e.what()).find("trace (binary): "), std::string::npos)
                    << e.what();
            }
        }
    }
    EXPECT_GT(refused, 10);
    // A huge count is refused before anything is allocated.
    std::string huge = b;
    const size_t table_count_at = 16 + 6 + 1 + 4 + 1 + 4 + 4 + 4 + 1 + 4 + 4 + 8 + 1 + 1 + 8 + 8 +
                                  1 + 1 + 1 + 1 + 1 + 4 + 16 + 1;
    ASSERT_EQ(static_cast<unsigned char>(huge[table_count_at]), 4u);  // distinct (id, text) pairs
    huge.replace(table_count_at, 1, std::string("\xff\xff\xff\xff\x0f", 5));
    fix_crc(huge);
    EXPECT_NE(error_of(huge).find("impossible text table count"), std::string::npos)
        << error_of(huge);
}

std::string varint(uint64_t v) {
    std::string out;
    for (; v >= 0x80; v >>= 7) out += static_cast<char>(v | 0x80);
    return out + static_cast<char>(v);
}

// A trace with every string empty and no experts: its header fields lie at known offsets.
Trace bare_trace(int n_tokens) {
    Trace t;
    t.sampling.repeat_last_n = -1;  // one byte, as every field before the text table
    for (int i = 0; i < n_tokens; ++i) t.tokens.push_back(TokenRecord{});
    return t;
}
constexpr size_t kNPromptAt = 16 + 6 + 1 + 4 + 1 + 4 + 4 + 4 + 1 + 4 + 4 + 8;
// n_prompt, n_gen, the two times, n_expert, n_expert_used, n_cached, interventions
// ... n_gen, prefill_ms, decode_ms, n_expert, n_expert_used, n_cached, interventions; then
// (version 3) device and the server usage (four svarints, two doubles); (version 4) precision.
constexpr size_t kTableAt = kNPromptAt + 1 + 1 + 8 + 8 + 1 + 1 + 1 + 1 + 1 + 4 + 16 + 1;

TEST(TraceBinary, IntegersAreRangeCheckedBeforeNarrowing) {
    const std::string b = write_binary(bare_trace(1));
    ASSERT_EQ(b[kNPromptAt], 0);
    // n_prompt = 2^32 + 5 would read as 5 once narrowed to int.
    std::string c = b;
    c.replace(kNPromptAt, 1, varint((uint64_t{1} << 32) + 5 << 1));
    fix_crc(c);
    EXPECT_NE(error_of(c).find("n_prompt 4294967301 is outside 0..2147483647"), std::string::npos)
        << error_of(c);
    // A negative token count.
    c = b;
    c.replace(kNPromptAt + 1, 1, varint(3));  // zigzag -2
    fix_crc(c);
    EXPECT_NE(error_of(c).find("n_gen -2 is outside"), std::string::npos) << error_of(c);
}

TEST(TraceBinary, ATextSharedByManyTokensCannotAskForUnboundedMemory) {
    // 200,000 tokens that all use one text table entry, whose text is made 1 MiB long: a few
    // MB of input that would be 200 GB once every token holds its copy.
    std::string b = write_binary(bare_trace(200000));
    ASSERT_EQ(b.substr(kTableAt, 3), std::string("\x01\x00\x00", 3));
    b.replace(kTableAt + 2, 1, varint(1 << 20) + std::string(1 << 20, 'x'));
    fix_crc(b);
    EXPECT_NE(error_of(b).find("more memory than its size allows (token texts)"), std::string::npos)
        << error_of(b);
    // The same text for a few tokens is fine.
    std::string small = write_binary(bare_trace(3));
    small.replace(kTableAt + 2, 1, varint(1 << 20) + std::string(1 << 20, 'x'));
    fix_crc(small);
    EXPECT_EQ(read_binary(small).tokens.at(2).text.size(), size_t{1} << 20);
}

TEST(TraceBinary, NonFiniteRoutingWeightsAreRefused) {
    Trace t = sample_trace(4, 2, 8, 2, true);
    t.tokens[2].routing.weights[1] = kNaN;
    EXPECT_NE(error_of(write_binary(t)).find("non-finite expert weight"), std::string::npos)
        << error_of(write_binary(t));
    t = sample_trace(4, 2, 8, 2, true);
    t.tokens[3].routing.probs[5] = std::numeric_limits<float>::infinity();
    EXPECT_NE(error_of(write_binary(t)).find("non-finite router probability"), std::string::npos);
}

TEST(TraceBinary, SizeAndSpeedOfALongMoeTrace) {
    // 20,000 tokens routed to 8 of 128 experts in 48 layers (Qwen3-30B-A3B's shape), top-5
    // alternatives. Printed, not asserted: the history store's budget is checked by its benchmark.
    Trace t = sample_trace(20000, 48, 128, 8, false);
    for (auto& r : t.tokens) r.top.resize(5, r.top.back());
    const auto t0 = std::chrono::steady_clock::now();
    const std::string b = write_binary(t);
    const auto t1 = std::chrono::steady_clock::now();
    const Trace back = read_binary(b);
    const auto t2 = std::chrono::steady_clock::now();
    std::ostringstream js;
    write_json(t, js);
    const auto ms = [](auto a, auto b) {
        return std::chrono::duration<double, std::milli>(b - a).count();
    };
    std::printf(
        "20000-token MoE trace: binary %.1f MB (write %.0f ms, read %.0f ms), JSON %.1f MB\n",
        b.size() / 1e6, ms(t0, t1), ms(t1, t2), js.str().size() / 1e6);
    EXPECT_EQ(back.tokens.size(), t.tokens.size());
    EXPECT_LT(b.size(), js.str().size() / 3);
}

// Version 2 keeps the forced tokens, the reused prefix and the interventions, in both forms.
TEST(TraceBinary, InterventionsAndForcedTokensRoundTrip) {
    Trace t = sample_trace(40, 2, 8, 2, false);
    t.n_cached = 17;
    t.tokens[5].forced = true;
    t.tokens[39].forced = true;
    t.interventions = {{"branch", 2, 1234, 99, 0, ""},
                       {"think-budget", 20, -1, -1, 16, ""},
                       {"steer", -1, -1, -1, 0, "disable 3:5,7; force *:12"}};
    const Trace b = read_binary(write_binary(t));
    expect_same(t, b, 1.0f / 2048);
    std::ostringstream json;
    write_json(t, json);
    const Trace j = read_json(json.str());
    expect_same(t, j, 1e-6f);
    // Absent when there is nothing to say: a plain reply's JSON has none of the new fields.
    std::ostringstream plain;
    write_json(sample_trace(5, 0, 0, 0, false), plain);
    EXPECT_EQ(plain.str().find("\"forced\""), std::string::npos);
    EXPECT_EQ(plain.str().find("\"interventions\""), std::string::npos);
    EXPECT_EQ(plain.str().find("\"n_cached\""), std::string::npos);
}

// Files written before version 2 (tests/fixtures/traces/README.md) still read: the binary one as
// the JSON one of the same reply says, with nothing forced and no interventions.
TEST(TraceBinary, ReadsVersionOneFiles) {
    auto slurp = [](const char* name) {
        std::ifstream f(std::string(GB_FIXTURES_DIR "/traces/") + name, std::ios::binary);
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
    };
    const std::string bin = slurp("demo_moe_v1.gbtrace");
    ASSERT_GT(bin.size(), 16u);
    uint32_t version = 0;
    std::memcpy(&version, bin.data() + 8, 4);
    ASSERT_EQ(version, 1u);
    const Trace b = read_binary(bin);
    Trace j = read_json(slurp("demo_moe_v1.json"));
    // The two files come from two runs of the same greedy reply: everything but the times is
    // the same.
    j.prefill_ms = b.prefill_ms;
    j.decode_ms = b.decode_ms;
    ASSERT_EQ(j.tokens.size(), b.tokens.size());
    for (size_t i = 0; i < j.tokens.size(); ++i) j.tokens[i].t_ms = b.tokens[i].t_ms;
    EXPECT_EQ(b.n_gen, 40);
    EXPECT_GT(b.n_expert, 0);
    expect_same(j, b, 1.0f / 2048);
    for (const TokenRecord& r : b.tokens) EXPECT_FALSE(r.forced);
    EXPECT_TRUE(b.interventions.empty());
    EXPECT_EQ(b.n_cached, 0);
    EXPECT_EQ(b.precision, "");  // not recorded before version 4
}

// The precision mode survives both forms, and JSON leaves the field out when it is not known.
TEST(TraceJson, PrecisionRoundTripsAndIsOptional) {
    Trace t = sample_trace(5, 0, 0, 0, false);
    for (const char* mode : {"fast", "precise", ""}) {
        t.precision = mode;
        std::ostringstream out;
        write_json(t, out);
        EXPECT_EQ(read_json(out.str()).precision, mode);
        EXPECT_EQ(read_binary(write_binary(t)).precision, mode);
        EXPECT_EQ(out.str().find("\"precision\"") != std::string::npos, *mode != '\0') << mode;
    }
}

}  // namespace
}  // namespace gb
