// NFC: decompose, order combining marks, recompose (UAX #15), over tables generated from
// Unicode data. Text that passes the quick check is returned untouched, so ASCII and already
// composed text cost one scan.
#include "engine/tokenizer/unicode_nfc.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <tuple>
#include <vector>

#include "engine/core/utf8.h"

namespace gb {
namespace {

struct Run {
    uint32_t first, last, value;
};
struct Decomp {
    uint32_t cp;
    uint32_t len;
    std::array<uint32_t, 4> parts;
};
struct Comp {
    uint32_t first, second, composite;
};

constexpr Run kCcc[] = {
#define GB_NFC_CCC
#include "engine/tokenizer/unicode_nfc.inc"
#undef GB_NFC_CCC
};
constexpr Decomp kDecomp[] = {
#define GB_NFC_DECOMP
#include "engine/tokenizer/unicode_nfc.inc"
#undef GB_NFC_DECOMP
};
constexpr Comp kComp[] = {
#define GB_NFC_COMP
#include "engine/tokenizer/unicode_nfc.inc"
#undef GB_NFC_COMP
};
constexpr Run kCheck[] = {
#define GB_NFC_CHECK
#include "engine/tokenizer/unicode_nfc.inc"
#undef GB_NFC_CHECK
};

// Hangul syllables compose and decompose arithmetically (Unicode 3.12).
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
                   kSCount = kLCount * kNCount;

const Run* find_run(const Run* begin, const Run* end, uint32_t cp) {
    const Run* it =
        std::upper_bound(begin, end, cp, [](uint32_t c, const Run& r) { return c < r.first; });
    if (it == begin) return nullptr;
    --it;
    return cp <= it->last ? it : nullptr;
}

uint32_t ccc(uint32_t cp) {
    if (cp < 0x300) return 0;
    const Run* r = find_run(std::begin(kCcc), std::end(kCcc), cp);
    return r ? r->value : 0;
}

// One bit per 256-code-point block: does the block hold any character the quick check must
// look at? Most text (CJK, Cyrillic, emoji) lives in blocks that hold none.
struct BlockBits {
    std::array<uint64_t, 0x110000 / 256 / 64> bits{};
    BlockBits() {
        for (const Run& r : kCheck)
            for (uint32_t b = r.first >> 8; b <= r.last >> 8; ++b) bits[b >> 6] |= 1ull << (b & 63);
    }
    bool any(uint32_t cp) const { return (bits[cp >> 14] >> ((cp >> 8) & 63)) & 1; }
};
const BlockBits& block_bits() {
    static const BlockBits b;
    return b;
}

void decompose(uint32_t cp, std::vector<uint32_t>& out) {
    if (cp >= kSBase && cp < kSBase + kSCount) {
        const uint32_t s = cp - kSBase;
        out.push_back(kLBase + s / kNCount);
        out.push_back(kVBase + (s % kNCount) / kTCount);
        if (s % kTCount) out.push_back(kTBase + s % kTCount);
        return;
    }
    const Decomp* it = std::lower_bound(std::begin(kDecomp), std::end(kDecomp), cp,
                                        [](const Decomp& d, uint32_t c) { return d.cp < c; });
    if (it != std::end(kDecomp) && it->cp == cp)
        out.insert(out.end(), it->parts.begin(), it->parts.begin() + it->len);
    else
        out.push_back(cp);
}

// The primary composite of a pair, or 0.
uint32_t compose(uint32_t a, uint32_t b) {
    if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
        return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
    if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
        b < kTBase + kTCount)
        return a + (b - kTBase);
    const Comp* it =
        std::lower_bound(std::begin(kComp), std::end(kComp), std::pair{a, b},
                         [](const Comp& c, std::pair<uint32_t, uint32_t> k) {
                             return c.first != k.first ? c.first < k.first : c.second < k.second;
                         });
    return it != std::end(kComp) && it->first == a && it->second == b ? it->composite : 0;
}

// Quick-check class of a character: 0 = stable (NFC "Yes", class 0: nothing before it can
// change), 1 = a mark in canonical order so far, 2 = needs the full algorithm.
int quick_class(uint32_t cp, uint32_t& last_ccc) {
    const Run* r = cp < 0x300 || !block_bits().any(cp)
                       ? nullptr
                       : find_run(std::begin(kCheck), std::end(kCheck), cp);
    if (!r) {
        last_ccc = 0;
        return 0;
    }
    if (r->value) return 2;  // "No" or "Maybe": never in NFC, or may compose with what precedes
    const uint32_t c = ccc(cp);
    if (c != 0 && last_ccc > c) return 2;
    last_ccc = c;
    return 1;
}

}  // namespace

bool is_nfc_quick(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    uint32_t last_ccc = 0;
    for (size_t i = 0; i < s.size();) {
        if (p[i] < 0x80) {
            ++i;
            last_ccc = 0;
            continue;
        }
        const utf8::Seq q = utf8::next(s, i);
        i += q.len;
        if (quick_class(q.cp, last_ccc) == 2) return false;
    }
    return true;
}

namespace {

// The full algorithm on a stretch that starts and ends at stable characters.
void nfc_span(std::string_view s, std::string& out) {
    // 1. Full canonical decomposition.
    std::vector<uint32_t> cps;
    cps.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        const utf8::Seq q = utf8::next(s, i);
        i += q.len;
        decompose(q.kind == utf8::Seq::Valid ? q.cp : 0xFFFD, cps);
    }
    // 2. Canonical ordering: each run of marks sorted stably by combining class.
    std::vector<uint32_t> cls(cps.size());
    for (size_t i = 0; i < cps.size(); ++i) cls[i] = ccc(cps[i]);
    for (size_t i = 0; i < cps.size();) {
        if (cls[i] == 0) {
            ++i;
            continue;
        }
        size_t j = i;
        while (j < cps.size() && cls[j] != 0) ++j;
        if (j - i > 1) {
            std::vector<std::pair<uint32_t, uint32_t>> run;
            for (size_t k = i; k < j; ++k) run.emplace_back(cls[k], cps[k]);
            std::stable_sort(run.begin(), run.end(),
                             [](const auto& a, const auto& b) { return a.first < b.first; });
            for (size_t k = i; k < j; ++k) std::tie(cls[k], cps[k]) = run[k - i];
        }
        i = j;
    }
    // 3. Canonical composition: each character joins the last starter unless a character in
    // between has a class >= its own (it is blocked) or is a starter.
    size_t out_n = 0;
    size_t starter = SIZE_MAX;  // index in the output of the last starter
    uint32_t last_cls = 0;
    for (size_t i = 0; i < cps.size(); ++i) {
        const uint32_t cp = cps[i], c = cls[i];
        // Not blocked: adjacent to the starter, or every character in between (all marks, as
        // a starter would have become the new one) has a lower class.
        if (starter != SIZE_MAX && (out_n == starter + 1 || last_cls < c)) {
            if (const uint32_t composite = compose(cps[starter], cp)) {
                cps[starter] = composite;
                continue;
            }
        }
        if (c == 0) starter = out_n;
        last_cls = c;
        cps[out_n] = cp;
        cls[out_n] = c;
        ++out_n;
    }
    for (size_t i = 0; i < out_n; ++i) utf8::append(out, cps[i]);
}

}  // namespace

std::string nfc(std::string_view s) {
    // Only the stretches around characters that fail the quick check go through the full
    // algorithm: from the last stable character before one to the next stable one after it.
    std::string out;
    out.reserve(s.size());
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    size_t copied = 0,
           stable = 0;  // output up to `copied`; last stable character starts at `stable`
    uint32_t last_ccc = 0;
    for (size_t i = 0; i < s.size();) {
        if (p[i] < 0x80) {
            stable = i++;
            last_ccc = 0;
            continue;
        }
        const utf8::Seq q = utf8::next(s, i);
        const int k = quick_class(q.cp, last_ccc);
        if (k == 0) stable = i;
        i += q.len;
        if (k != 2) continue;
        size_t end = i;
        for (uint32_t dummy = 0; end < s.size();) {
            if (p[end] < 0x80) break;
            const utf8::Seq r = utf8::next(s, end);
            dummy = 0;
            if (quick_class(r.cp, dummy) == 0) break;
            end += r.len;
        }
        const size_t start = std::max(stable, copied);
        out.append(s.substr(copied, start - copied));
        nfc_span(s.substr(start, end - start), out);
        copied = stable = i = end;
        last_ccc = 0;
    }
    out.append(s.substr(copied));
    return out;
}

}  // namespace gb
