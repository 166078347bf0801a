// Base64, .npy and raw int32 routed-expert arrays, and their rows matched to reply tokens.
#include "app/remote/routed_experts.h"

#include <algorithm>
#include <cstring>

#include "kernels/error.h"

namespace gb::remote {

namespace {

// At most this many ids (a 671B model's 61 layers x top-8 over 128k positions is 62M).
constexpr int64_t kMaxIds = int64_t{1} << 28;

int b64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;  // standard and URL-safe alphabets
    if (c == '/' || c == '_') return 63;
    return -1;
}

std::string shape_text(int64_t a, int64_t b, int64_t c) {
    return "(" + std::to_string(a) + ", " + std::to_string(b) + ", " + std::to_string(c) + ")";
}

void check_shape(int64_t rows, int64_t layers, int64_t k, const std::string& what) {
    if (rows < 0 || layers <= 0 || k <= 0 || layers > 65535 || k > 65535 ||
        rows > kMaxIds / (layers * k))
        throw Error(what + ": an impossible routed-experts shape " + shape_text(rows, layers, k));
}

}  // namespace

std::string base64_decode(std::string_view text) {
    while (!text.empty() && text.back() == '=') text.remove_suffix(1);
    if (text.size() % 4 == 1)
        throw Error("base64: " + std::to_string(text.size()) + " characters cannot be whole bytes");
    std::string out;
    out.reserve(text.size() / 4 * 3 + 2);
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        const int v = b64_value(text[i]);
        if (v < 0)
            throw Error("base64: character " + std::to_string(static_cast<unsigned char>(text[i])) +
                        " at " + std::to_string(i) + " is not base64");
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xFF);
        }
    }
    return out;
}

RoutedExperts decode_npy(std::string_view b) {
    static constexpr char kMagic[] = "\x93NUMPY";
    if (b.size() < 10 || std::memcmp(b.data(), kMagic, 6) != 0)
        throw Error(".npy: no NumPy header (" + std::to_string(b.size()) + " bytes)");
    const int major = static_cast<unsigned char>(b[6]);
    size_t header_len = 0, off = 0;
    if (major == 1) {
        header_len = static_cast<unsigned char>(b[8]) | (static_cast<unsigned char>(b[9]) << 8);
        off = 10;
    } else if (major == 2 || major == 3) {
        if (b.size() < 12) throw Error(".npy: truncated header");
        for (int i = 3; i >= 0; --i)
            header_len = (header_len << 8) | static_cast<unsigned char>(b[8 + i]);
        off = 12;
    } else {
        throw Error(".npy: format version " + std::to_string(major) + " is not known");
    }
    if (header_len > b.size() - off) throw Error(".npy: the header runs past the data");
    const std::string_view h = b.substr(off, header_len);
    const std::string_view data = b.substr(off + header_len);
    // The header is a Python dict literal: {'descr': '<u2', 'fortran_order': False, 'shape': (..),
    // }
    auto value_of = [&](std::string_view key) {
        const size_t at = h.find(key);
        if (at == std::string_view::npos)
            throw Error(".npy: the header has no " + std::string(key));
        size_t p = h.find(':', at + key.size());
        if (p == std::string_view::npos) throw Error(".npy: a malformed header");
        ++p;
        while (p < h.size() && h[p] == ' ') ++p;
        return h.substr(p);
    };
    std::string_view descr = value_of("'descr'");
    if (descr.empty() || (descr[0] != '\'' && descr[0] != '"'))
        throw Error(".npy: a malformed descr");
    descr = descr.substr(
        1, descr.find(descr[0], 1) == std::string_view::npos ? 0 : descr.find(descr[0], 1) - 1);
    int width = 0;
    bool is_signed = false;
    if (descr == "|u1" || descr == "u1" || descr == "<u1") {
        width = 1;
    } else if (descr == "|i1" || descr == "<i1") {
        width = 1, is_signed = true;
    } else if (descr == "<u2") {
        width = 2;
    } else if (descr == "<i2") {
        width = 2, is_signed = true;
    } else if (descr == "<i4") {
        width = 4, is_signed = true;
    } else if (descr == "<u4") {
        width = 4;
    } else if (descr == "<i8") {
        width = 8, is_signed = true;
    } else {
        throw Error(".npy: element type '" + std::string(descr) +
                    "' is not an integer type routed experts come in");
    }
    if (value_of("'fortran_order'").substr(0, 5) != "False")
        throw Error(".npy: Fortran-ordered data is not read");
    std::string_view shape = value_of("'shape'");
    if (shape.empty() || shape[0] != '(') throw Error(".npy: a malformed shape");
    const size_t close = shape.find(')');
    if (close == std::string_view::npos) throw Error(".npy: a malformed shape");
    shape = shape.substr(1, close - 1);
    std::vector<int64_t> dims;
    size_t p = 0;
    while (p < shape.size()) {
        while (p < shape.size() && (shape[p] == ' ' || shape[p] == ',')) ++p;
        if (p >= shape.size()) break;
        int64_t v = 0;
        size_t digits = 0;
        while (p < shape.size() && shape[p] >= '0' && shape[p] <= '9' && digits < 12) {
            v = v * 10 + (shape[p++] - '0');
            ++digits;
        }
        if (digits == 0 || (p < shape.size() && shape[p] != ',' && shape[p] != ' '))
            throw Error(".npy: a malformed shape");
        dims.push_back(v);
    }
    if (dims.size() != 3)
        throw Error(".npy: routed experts have 3 dimensions (rows, layers, top-k), not " +
                    std::to_string(dims.size()));
    RoutedExperts re;
    re.rows = dims[0], re.layers = dims[1], re.k = dims[2];
    if (re.rows == 0) return re;
    check_shape(re.rows, re.layers, re.k, ".npy");
    const int64_t n = re.rows * re.layers * re.k;
    if (static_cast<int64_t>(data.size()) != n * width)
        throw Error(".npy: " + std::to_string(data.size()) + " data bytes for shape " +
                    shape_text(re.rows, re.layers, re.k) + " of " + std::to_string(width) +
                    "-byte integers");
    re.ids.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        const auto* q = reinterpret_cast<const unsigned char*>(data.data()) + i * width;
        uint64_t u = 0;
        for (int j = width - 1; j >= 0; --j) u = (u << 8) | q[j];
        int64_t v = static_cast<int64_t>(u);
        if (is_signed && width < 8 && (u >> (8 * width - 1)) & 1) v -= int64_t{1} << (8 * width);
        if (v < 0 || v > 65535)
            throw Error(".npy: expert id " + std::to_string(v) + " at element " +
                        std::to_string(i) + " is out of range");
        re.ids[static_cast<size_t>(i)] = static_cast<int32_t>(v);
    }
    return re;
}

RoutedExperts decode_raw_int32(std::string_view bytes, int64_t rows, int64_t layers, int64_t k) {
    if (bytes.size() % 4 != 0)
        throw Error("routed experts: " + std::to_string(bytes.size()) +
                    " bytes are not whole int32 values");
    const int64_t n = static_cast<int64_t>(bytes.size() / 4);
    RoutedExperts re;
    if (n == 0) return re;
    if (rows <= 0 || n % rows != 0)
        throw Error("routed experts: " + std::to_string(n) + " values do not divide into " +
                    std::to_string(rows) + " positions");
    const int64_t per_row = n / rows;
    if (layers > 0) {
        k = per_row / layers;
    } else if (k > 0) {
        layers = per_row / k;
    } else {
        throw Error("routed experts: " + std::to_string(per_row) +
                    " values per position, layers x top-k, and neither is known: set the model's "
                    "layer count in the connection");
    }
    if (layers <= 0 || k <= 0 || layers * k != per_row)
        throw Error("routed experts: " + std::to_string(per_row) + " values per position are not " +
                    std::to_string(std::max<int64_t>(layers, 0)) + " layers x top-k");
    check_shape(rows, layers, k, "routed experts");
    re.rows = rows, re.layers = layers, re.k = k;
    re.ids.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        uint32_t u;
        std::memcpy(&u, bytes.data() + 4 * i, 4);
        const auto v = static_cast<int32_t>(u);  // little-endian hosts only (as the servers)
        if (v < 0 || v > 65535)
            throw Error("routed experts: expert id " + std::to_string(v) + " at element " +
                        std::to_string(i) + " is out of range");
        re.ids[static_cast<size_t>(i)] = v;
    }
    return re;
}

RoutedExperts decode_payload(const RoutedExpertsPayload& p, int64_t n_reply, int64_t prompt_tokens,
                             int64_t layers) {
    switch (p.format) {
        case RoutedExpertsPayload::Format::None: return {};
        case RoutedExpertsPayload::Format::Lists: return p.lists;
        case RoutedExpertsPayload::Format::Npy: return decode_npy(base64_decode(p.base64));
        case RoutedExpertsPayload::Format::RawInt32: {
            if (prompt_tokens < 0)
                throw Error(
                    "routed experts: the server gave no prompt token count, which its "
                    "raw routed experts need to be read");
            return decode_raw_int32(base64_decode(p.base64), prompt_tokens + n_reply - 1, layers,
                                    0);
        }
    }
    return {};
}

RoutingMatch match_routing(const RoutedExperts& re, std::vector<TokenRecord>& reply) {
    RoutingMatch m;
    if (re.empty() || reply.empty()) return m;
    const int64_t n = static_cast<int64_t>(reply.size());
    // Row of reply token i: the rows end with the next-to-last generated token.
    const int64_t first = re.rows_are_reply ? 0 : re.rows - (n - 1);
    if (re.rows_are_reply ? re.rows != n && re.rows != n - 1 : first < 0) {
        m.problem = std::to_string(re.rows) + " routed positions cannot hold the " +
                    std::to_string(n) + " tokens of the reply";
        return m;
    }
    std::vector<uint16_t> moe;  // layers with anything but zeros
    for (int64_t l = 0; l < re.layers; ++l) {
        bool any = false;
        for (int64_t r = 0; r < re.rows && !any; ++r)
            for (int64_t j = 0; j < re.k && !any; ++j) any = re.at(r, l, j) != 0;
        if (any) moe.push_back(static_cast<uint16_t>(l));
    }
    m.moe_layers = static_cast<int>(moe.size());
    for (int32_t e : re.ids) m.n_expert = std::max(m.n_expert, e + 1);  // prompt rows count too
    if (moe.empty()) {
        m.problem = "the routed experts are all zero (no MoE layer ran)";
        return m;
    }
    for (int64_t i = 0; i < n; ++i) {
        const int64_t row = first + i;
        if (row < 0 || row >= re.rows) continue;
        TokenRouting& rt = reply[static_cast<size_t>(i)].routing;
        rt = {};
        rt.layers = moe;
        rt.k = static_cast<int>(re.k);
        rt.experts.reserve(moe.size() * static_cast<size_t>(re.k));
        for (uint16_t l : moe)
            for (int64_t j = 0; j < re.k; ++j) {
                const int32_t e = re.at(row, l, j);
                rt.experts.push_back(static_cast<uint16_t>(e));
            }
        ++m.tokens;
    }
    return m;
}

}  // namespace gb::remote
