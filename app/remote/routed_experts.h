// Routed experts as inference servers return them, decoded and matched to a reply's tokens.
//
// vLLM (--enable-return-routed-experts, non-streaming replies only): choices[i].routed_experts,
// base64 of a NumPy .npy file (uint8, uint16 or int32) of shape (rows, layers, top_k); older
// versions (0.21) a plain [tokens][layers][top_k] list of the generated tokens.
// SGLang (--enable-return-routed-experts and the request's return_routed_experts): sglext
// .routed_experts, base64 of raw int32 with no header, logically (rows, layers, top_k): the
// reader has to know two of the three.
// In both, a row is one position of prompt + reply as it went through the model, the last
// generated token excepted (it never did), and the layer axis covers every decoder layer: a
// dense layer's rows are zeros. Qt-free; every size is checked (the data comes off the network).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/trace/trace.h"

namespace gb::remote {

struct RoutedExperts {
    int64_t rows = 0, layers = 0, k = 0;
    std::vector<int32_t> ids;  // rows x layers x k
    // The rows are the generated tokens, first to last (vLLM 0.21's lists), rather than
    // positions ending just before the last generated token.
    bool rows_are_reply = false;
    bool empty() const { return rows == 0; }
    int32_t at(int64_t row, int64_t layer, int64_t j) const {
        return ids[static_cast<size_t>((row * layers + layer) * k + j)];
    }
};

// What a reply carried, undecoded: which encoding and the text (base64) or decoded lists.
struct RoutedExpertsPayload {
    enum class Format { None, Npy, RawInt32, Lists };
    Format format = Format::None;
    std::string base64;   // Npy and RawInt32
    RoutedExperts lists;  // Lists
    std::string where;    // the field it came in, e.g. "choices[0].routed_experts"
};

// Standard base64 (padding optional, no whitespace). gb::Error naming the bad character.
std::string base64_decode(std::string_view text);

// A .npy file (versions 1-3, C order, little-endian or single-byte integers) of 3 dimensions.
// gb::Error naming what is wrong.
RoutedExperts decode_npy(std::string_view bytes);

// Raw little-endian int32 of `rows` rows; the rest of the shape from `layers` (> 0), or when
// that is 0 from `k` (> 0). gb::Error when the sizes do not divide.
RoutedExperts decode_raw_int32(std::string_view bytes, int64_t rows, int64_t layers, int64_t k);

// What matching did.
struct RoutingMatch {
    int tokens = 0;       // records that got routing
    int n_expert = 0;     // the highest expert id seen + 1 (a lower bound on the model's count)
    int moe_layers = 0;   // layers with a non-zero entry (the rest are taken as dense)
    std::string problem;  // why nothing was matched, in words; empty when all went well
};

// Puts the routing of each generated token into its record: reply[i] gets the row of its own
// pass through the model (the last token has none: it was never run). `reply` must be the
// reply's tokens, one record per token; layers whose rows are all zero are left out as dense.
// The weights stay empty: the servers do not send them.
RoutingMatch match_routing(const RoutedExperts& re, std::vector<TokenRecord>& reply);

// Decodes what a reply carried. prompt_tokens (from usage; -1 unknown) and layers (the
// model's decoder layers; 0 unknown) are needed for SGLang's raw form. gb::Error when it
// cannot be decoded, naming why.
RoutedExperts decode_payload(const RoutedExpertsPayload& p, int64_t n_reply, int64_t prompt_tokens,
                             int64_t layers);

}  // namespace gb::remote
