// Binary trace writer and reader (layout: TRACE_FORMAT.md, "Binary form").
#include "engine/trace/trace_binary.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <map>
#include <utility>

#include "kernels/cpu/half.h"
#include "kernels/error.h"

namespace gb {

namespace {

constexpr char kMagic[8] = {'G', 'B', 'T', 'R', 'A', 'C', 'E', '\x1a'};
constexpr size_t kHeaderBytes = 16;  // magic, version, flags
constexpr size_t kCrcBytes = 4;

// CRC-32C (Castagnoli, reflected 0x82F63B78): the SSE4.2 crc32 instruction computes it 8 bytes
// at a time (a 26 MB trace in a few milliseconds, where a byte-wise table takes ~40 ms); the
// table below gives the same value on machines without it.
uint32_t crc32c(std::string_view data) {
    uint32_t c = 0xFFFFFFFFu;
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    size_t n = data.size();
#if defined(__SSE4_2__)
    uint64_t c64 = c;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t v;
        std::memcpy(&v, p, 8);
        c64 = __builtin_ia32_crc32di(c64, v);
    }
    c = static_cast<uint32_t>(c64);
    for (; n > 0; ++p, --n) c = __builtin_ia32_crc32qi(c, *p);
#else
    static const auto table = [] {
        std::array<uint32_t, 256> t{};
        for (uint32_t i = 0; i < 256; ++i) {
            uint32_t x = i;
            for (int k = 0; k < 8; ++k) x = (x & 1) ? 0x82F63B78u ^ (x >> 1) : x >> 1;
            t[i] = x;
        }
        return t;
    }();
    for (; n > 0; ++p, --n) c = table[(c ^ *p) & 0xFF] ^ (c >> 8);
#endif
    return c ^ 0xFFFFFFFFu;
}

class Out {
public:
    void bytes(const void* p, size_t n) { s_.append(static_cast<const char*>(p), n); }
    void u8(uint8_t v) { s_ += static_cast<char>(v); }
    template <class T>
    void fixed(T v) {  // little-endian, as every machine we build for stores it
        static_assert(std::is_trivially_copyable_v<T>);
        bytes(&v, sizeof v);
    }
    void varint(uint64_t v) {
        while (v >= 0x80) {
            u8(static_cast<uint8_t>(v | 0x80));
            v >>= 7;
        }
        u8(static_cast<uint8_t>(v));
    }
    void svarint(int64_t v) {  // zigzag: small negative numbers stay short
        varint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
    }
    void str(std::string_view v) {
        varint(v.size());
        bytes(v.data(), v.size());
    }
    // Expert ids: one byte each when every id fits (up to 256 experts), else two.
    void experts(const std::vector<uint16_t>& ids, int n_expert) {
        const size_t at = s_.size();
        if (n_expert <= 256) {
            s_.resize(at + ids.size());
            for (size_t i = 0; i < ids.size(); ++i) s_[at + i] = static_cast<char>(ids[i]);
        } else {
            bytes(ids.data(), ids.size() * 2);
        }
    }
    void halves(const std::vector<float>& v) {
        const size_t at = s_.size();
        s_.resize(at + 2 * v.size());
        for (size_t i = 0; i < v.size(); ++i) {
            const uint16_t h = cpu::float_to_fp16(v[i]);
            std::memcpy(&s_[at + 2 * i], &h, 2);
        }
    }
    std::string& data() { return s_; }

private:
    std::string s_;
};

class In {
public:
    In(std::string_view d, size_t pos) : d_(d), pos_(pos) {}

    [[noreturn]] void fail(const std::string& what) const {
        throw Error("trace (binary): " + what + " at byte " + std::to_string(pos_));
    }
    size_t left() const { return d_.size() - pos_; }
    void need(size_t n, const char* what) const {
        if (n > left()) fail(std::string("truncated ") + what);
    }
    uint8_t u8(const char* what) {
        need(1, what);
        return static_cast<uint8_t>(d_[pos_++]);
    }
    template <class T>
    T fixed(const char* what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, d_.data() + pos_, sizeof v);
        pos_ += sizeof v;
        return v;
    }
    uint64_t varint(const char* what) {
        uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            const uint8_t b = u8(what);
            v |= static_cast<uint64_t>(b & 0x7F) << shift;
            if (!(b & 0x80)) return v;
        }
        fail(std::string("overlong varint in ") + what);
    }
    int64_t svarint(const char* what) {
        const uint64_t u = varint(what);
        return static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
    }
    // A count of items that take at least min_bytes each: bounded by what is left, so a hostile
    // count cannot make the reader allocate more than the input's size.
    size_t count(const char* what, size_t min_bytes) {
        const uint64_t n = varint(what);
        if (n > left() / std::max<size_t>(min_bytes, 1))
            fail(std::string("impossible ") + what + " count " + std::to_string(n));
        return static_cast<size_t>(n);
    }
    // A zigzag integer that must lie in lo..hi (checked before it is narrowed).
    int64_t sbounded(const char* what, int64_t lo, int64_t hi) {
        const int64_t v = svarint(what);
        if (v < lo || v > hi)
            fail(std::string(what) + " " + std::to_string(v) + " is outside " + std::to_string(lo) +
                 ".." + std::to_string(hi));
        return v;
    }
    // The allocation budget: token texts are stored once and copied into every token that
    // uses them, so a small input could otherwise ask for terabytes. Each copy and each record
    // is charged; the budget is a fixed multiple of the input's size.
    void set_budget(size_t bytes) { budget_ = bytes; }
    void charge(size_t bytes, const char* what) {
        if (bytes > budget_)
            fail(std::string("the trace would need more memory than its size allows (") + what +
                 ")");
        budget_ -= bytes;
    }
    int64_t bounded(const char* what, int64_t lo, int64_t hi) {
        const uint64_t v = varint(what);
        if (v > static_cast<uint64_t>(hi) || static_cast<int64_t>(v) < lo)
            fail(std::string(what) + " " + std::to_string(v) + " is outside " + std::to_string(lo) +
                 ".." + std::to_string(hi));
        return static_cast<int64_t>(v);
    }
    std::string str(const char* what) {
        const size_t n = count(what, 1);
        std::string s(d_.substr(pos_, n));
        pos_ += n;
        return s;
    }
    void experts(std::vector<uint16_t>& ids, int n_expert) {
        const size_t width = n_expert <= 256 ? 1 : 2;
        need(ids.size() * width, "expert ids");
        const auto* p = reinterpret_cast<const uint8_t*>(d_.data() + pos_);
        uint16_t worst = 0;
        for (size_t i = 0; i < ids.size(); ++i) {
            ids[i] = width == 1 ? p[i] : static_cast<uint16_t>(p[2 * i] | (p[2 * i + 1] << 8));
            worst = std::max(worst, ids[i]);
        }
        if (!ids.empty() && worst >= n_expert)
            fail("expert id " + std::to_string(worst) + " is not below n_expert " +
                 std::to_string(n_expert));
        pos_ += ids.size() * width;
    }
    void halves(std::vector<float>& v, const char* what) {
        need(v.size() * 2, what);
        for (size_t i = 0; i < v.size(); ++i) {
            uint16_t h;
            std::memcpy(&h, d_.data() + pos_ + 2 * i, 2);
            v[i] = cpu::fp16_to_float(h);
        }
        pos_ += v.size() * 2;
    }
    size_t pos() const { return pos_; }

private:
    std::string_view d_;
    size_t pos_;
    size_t budget_ = SIZE_MAX;
};

constexpr int64_t kMaxI32 = 2147483647;
constexpr uint8_t kForcedBit = 0x80;  // in a token's phase byte (version 2): TokenRecord::forced
// What a trace may take in memory per byte of its binary form, plus a floor for small ones.
// A real trace's records take about 10 times its binary size (the texts and vectors of each
// token); 32 leaves room without letting a hostile one grow without bound.
constexpr size_t kBudgetPerByte = 32;
constexpr size_t kBudgetFloor = size_t{64} << 20;

// Routing weights and router probabilities are finite: NaN or infinity is a damaged record.
void check_finite(In& in, const std::vector<float>& v, const char* what) {
    for (float x : v)
        if (!std::isfinite(x)) in.fail(std::string("non-finite ") + what);
}

}  // namespace

std::string write_binary(const Trace& t) {
    Out o;
    o.bytes(kMagic, sizeof kMagic);
    o.fixed<uint32_t>(kTraceBinaryVersion);
    o.fixed<uint32_t>(0);  // flags, none defined yet
    const std::string stop = stop_reason_name(t.stop_reason);
    for (const std::string* s :
         {&t.model, &t.backend, &t.prompt_text, &stop, &t.reasoning_text, &t.answer_text})
        o.str(*s);
    o.u8(t.reasoning_complete ? 1 : 0);
    const SamplerSettings& s = t.sampling;
    o.fixed<float>(s.temperature);
    o.svarint(s.top_k);
    o.fixed<float>(s.top_p);
    o.fixed<float>(s.min_p);
    o.fixed<float>(s.repeat_penalty);
    o.svarint(s.repeat_last_n);
    o.fixed<float>(s.frequency_penalty);
    o.fixed<float>(s.presence_penalty);
    o.fixed<uint64_t>(s.seed);
    o.svarint(t.n_prompt);
    o.svarint(t.n_gen);
    o.fixed<double>(t.prefill_ms);
    o.fixed<double>(t.decode_ms);
    o.varint(static_cast<uint64_t>(std::max(t.n_expert, 0)));
    o.varint(static_cast<uint64_t>(std::max(t.n_expert_used, 0)));
    // Version 2: the reused prefix and the interventions.
    o.varint(static_cast<uint64_t>(std::max(t.n_cached, 0)));
    o.varint(t.interventions.size());
    for (const Intervention& i : t.interventions) {
        o.str(i.kind);
        o.svarint(i.at);
        o.svarint(i.token);
        o.svarint(i.replaced);
        o.svarint(i.value);
        o.str(i.spec);
    }
    // Version 3: where it ran, what a server reported.
    o.str(t.device);
    const ServerUsage& u = t.server_usage;
    for (int64_t v :
         {u.prompt_tokens, u.completion_tokens, u.reasoning_tokens, u.cached_prompt_tokens})
        o.svarint(v);
    o.fixed<double>(u.prompt_ms);
    o.fixed<double>(u.generate_ms);
    // Version 4: how it was computed.
    o.str(t.precision);

    // Distinct (id, text) pairs once; tokens and alternatives refer to them by index.
    std::map<std::pair<int32_t, std::string_view>, uint32_t> index;
    std::vector<std::pair<int32_t, std::string_view>> table;
    auto intern = [&](int32_t id, const std::string& text) {
        auto [it, added] = index.try_emplace({id, text}, static_cast<uint32_t>(table.size()));
        if (added) table.emplace_back(id, text);
        return it->second;
    };
    for (const TokenRecord& r : t.tokens) {
        intern(r.id, r.text);
        for (const Alternative& a : r.top) intern(a.id, a.text);
    }
    o.varint(table.size());
    for (const auto& [id, text] : table) {
        o.svarint(id);
        o.str(text);
    }

    o.varint(t.tokens.size());
    for (const TokenRecord& r : t.tokens) {
        o.varint(index.at({r.id, r.text}));
        o.u8(static_cast<uint8_t>(static_cast<uint8_t>(r.phase) | (r.forced ? kForcedBit : 0)));
        o.fixed<float>(r.logprob);
        o.fixed<float>(r.entropy);
        o.fixed<double>(r.t_ms);
        o.varint(r.top.size());
        for (const Alternative& a : r.top) {
            o.varint(index.at({a.id, a.text}));
            o.fixed<float>(a.logprob);
        }
        // Routing: layer count, k, then the layer indices, the [layers x k] expert ids, the
        // weights and the [layers x n_expert] probabilities (count 0 when not recorded).
        const TokenRouting& rt = r.routing;
        const size_t rows = rt.n_layers(), k = rows ? static_cast<size_t>(rt.k) : 0;
        if (rt.experts.size() != rows * k ||
            (!rt.weights.empty() && rt.weights.size() != rows * k) ||
            (!rt.probs.empty() && rt.probs.size() != rows * static_cast<size_t>(t.n_expert)))
            throw Error("trace (binary): a token's routing arrays do not match its " +
                        std::to_string(rows) + " layers x " + std::to_string(k) + " experts");
        o.varint(rows);
        if (rows == 0) continue;
        o.varint(k);
        for (uint16_t l : rt.layers) o.varint(l);
        o.experts(rt.experts, t.n_expert);
        o.varint(rt.weights.size());  // version 3: 0 when the weights are not known
        o.halves(rt.weights);
        o.varint(rt.probs.size());
        o.halves(rt.probs);
    }
    o.fixed<uint32_t>(crc32c(o.data()));
    return std::move(o.data());
}

Trace read_binary(std::string_view d) {
    if (d.size() < kHeaderBytes + kCrcBytes || std::memcmp(d.data(), kMagic, sizeof kMagic) != 0)
        throw Error("trace (binary): not a Glassbox binary trace (bad magic or too short: " +
                    std::to_string(d.size()) + " bytes)");
    In head(d, sizeof kMagic);
    const uint32_t version = head.fixed<uint32_t>("version");
    if (version == 0 || version > kTraceBinaryVersion)
        throw Error("trace (binary): format version " + std::to_string(version) +
                    (version == 0 ? " is invalid"
                                  : " was written by a newer Glassbox (this one reads up to " +
                                        std::to_string(kTraceBinaryVersion) + ")"));
    const uint32_t flags = head.fixed<uint32_t>("flags");
    if (flags != 0) head.fail("unknown flags " + std::to_string(flags));
    uint32_t stored_crc;
    std::memcpy(&stored_crc, d.data() + d.size() - kCrcBytes, kCrcBytes);
    const std::string_view body = d.substr(0, d.size() - kCrcBytes);
    if (crc32c(body) != stored_crc)
        throw Error("trace (binary): checksum mismatch (the data is corrupt or truncated; " +
                    std::to_string(d.size()) + " bytes)");

    In in(body, kHeaderBytes);
    in.set_budget(kBudgetFloor + kBudgetPerByte * d.size());
    Trace t;
    std::string stop;
    for (std::string* s :
         {&t.model, &t.backend, &t.prompt_text, &stop, &t.reasoning_text, &t.answer_text})
        *s = in.str("string");
    try {
        t.stop_reason = stop_reason_from_name(stop);
    } catch (const Error& e) {
        throw Error(std::string("trace (binary): ") + e.what());
    }
    t.reasoning_complete = in.u8("reasoning_complete") != 0;
    SamplerSettings& s = t.sampling;
    s.temperature = in.fixed<float>("sampling");
    s.top_k = static_cast<int>(in.sbounded("top_k", 0, kMaxI32));
    s.top_p = in.fixed<float>("sampling");
    s.min_p = in.fixed<float>("sampling");
    s.repeat_penalty = in.fixed<float>("sampling");
    s.repeat_last_n = static_cast<int>(in.sbounded("repeat_last_n", -1, kMaxI32));
    s.frequency_penalty = in.fixed<float>("sampling");
    s.presence_penalty = in.fixed<float>("sampling");
    s.seed = in.fixed<uint64_t>("seed");
    t.n_prompt = static_cast<int>(in.sbounded("n_prompt", 0, kMaxI32));
    t.n_gen = static_cast<int>(in.sbounded("n_gen", 0, kMaxI32));
    t.prefill_ms = in.fixed<double>("prefill_ms");
    t.decode_ms = in.fixed<double>("decode_ms");
    t.n_expert = static_cast<int>(in.bounded("n_expert", 0, 65535));
    t.n_expert_used = static_cast<int>(in.bounded("n_expert_used", 0, t.n_expert));
    if (version >= 2) {
        t.n_cached = static_cast<int>(in.bounded("n_cached", 0, kMaxI32));
        const size_t n_interventions = in.count("intervention", 6);
        in.charge(n_interventions * sizeof(Intervention), "interventions");
        t.interventions.resize(n_interventions);
        for (Intervention& i : t.interventions) {
            i.kind = in.str("intervention kind");
            i.at = static_cast<int>(in.sbounded("intervention position", -1, kMaxI32));
            i.token = static_cast<int32_t>(in.sbounded("intervention token", -1, kMaxI32));
            i.replaced = static_cast<int32_t>(in.sbounded("intervention token", -1, kMaxI32));
            i.value = static_cast<int>(in.sbounded("intervention value", -kMaxI32, kMaxI32));
            i.spec = in.str("intervention spec");
        }
    }
    if (version >= 3) {
        t.device = in.str("device");
        ServerUsage& u = t.server_usage;
        for (int64_t* v :
             {&u.prompt_tokens, &u.completion_tokens, &u.reasoning_tokens, &u.cached_prompt_tokens})
            *v = in.sbounded("server usage", -1, int64_t{1} << 50);
        u.prompt_ms = in.fixed<double>("server usage");
        u.generate_ms = in.fixed<double>("server usage");
    }
    if (version >= 4) t.precision = in.str("precision");

    const size_t n_table = in.count("text table", 2);
    in.charge(n_table * sizeof(std::pair<int32_t, std::string>), "text table");
    std::vector<std::pair<int32_t, std::string>> table(n_table);
    for (auto& [id, text] : table) {
        const int64_t v = in.svarint("token id");
        // -1: a token whose id is not known (a remote server that sends only its text).
        if (v < -1 || v > kMaxI32) in.fail("token id " + std::to_string(v) + " out of range");
        id = static_cast<int32_t>(v);
        text = in.str("token text");
    }
    auto entry = [&](const char* what) -> const std::pair<int32_t, std::string>& {
        const uint64_t i = in.varint(what);
        if (i >= table.size())
            in.fail(std::string(what) + " " + std::to_string(i) + " is not in the text table");
        return table[static_cast<size_t>(i)];
    };

    const size_t n_tokens = in.count("token", 18);
    in.charge(n_tokens * sizeof(TokenRecord), "tokens");
    t.tokens.resize(n_tokens);
    for (TokenRecord& r : t.tokens) {
        const auto& [id, text] = entry("token");
        in.charge(text.size(), "token texts");
        r.id = id;
        r.text = text;
        uint8_t phase = in.u8("phase");
        if (version >= 2) {
            r.forced = (phase & kForcedBit) != 0;
            phase &= static_cast<uint8_t>(~kForcedBit);
        }
        if (phase > static_cast<uint8_t>(Phase::Answer))
            in.fail("unknown phase " + std::to_string(phase));
        r.phase = static_cast<Phase>(phase);
        r.logprob = in.fixed<float>("logprob");
        r.entropy = in.fixed<float>("entropy");
        r.t_ms = in.fixed<double>("t_ms");
        const size_t n_top = in.count("alternative", 5);
        in.charge(n_top * sizeof(Alternative), "alternatives");
        r.top.resize(n_top);
        for (Alternative& a : r.top) {
            const auto& [aid, atext] = entry("alternative");
            in.charge(atext.size(), "alternative texts");
            a.id = aid;
            a.text = atext;
            a.logprob = in.fixed<float>("alternative logprob");
        }
        TokenRouting& rt = r.routing;
        const size_t rows = in.count("routing layer", 1);
        if (rows == 0) continue;
        if (t.n_expert == 0) in.fail("routing in a trace without experts");
        const size_t k = static_cast<size_t>(in.bounded("experts per layer", 1, t.n_expert));
        if (rows * k > in.left() / 2)
            in.fail("impossible routing size " + std::to_string(rows) + " x " + std::to_string(k));
        in.charge(rows * (2 + k * 6), "routing");
        rt.k = static_cast<int>(k);
        rt.layers.resize(rows);
        for (uint16_t& l : rt.layers) l = static_cast<uint16_t>(in.bounded("layer", 0, 65535));
        rt.experts.resize(rows * k);
        in.experts(rt.experts, t.n_expert);
        const size_t n_weights = version >= 3 ? in.count("expert weight", 2) : rows * k;
        if (n_weights != 0 && n_weights != rows * k)
            in.fail(std::to_string(n_weights) + " expert weights for " + std::to_string(rows) +
                    " layers x " + std::to_string(k) + " experts");
        rt.weights.resize(n_weights);
        in.halves(rt.weights, "expert weights");
        check_finite(in, rt.weights, "expert weight");
        const size_t n_probs = in.count("router probability", 2);
        if (n_probs != 0 && n_probs != rows * static_cast<size_t>(t.n_expert))
            in.fail(std::to_string(n_probs) + " router probabilities for " + std::to_string(rows) +
                    " layers of " + std::to_string(t.n_expert) + " experts");
        in.charge(n_probs * sizeof(float), "router probabilities");
        rt.probs.resize(n_probs);
        in.halves(rt.probs, "router probabilities");
        check_finite(in, rt.probs, "router probability");
    }
    if (in.left() != 0)
        in.fail(std::to_string(in.left()) + " unexpected bytes after the last token");
    return t;
}

}  // namespace gb
