// The work and memory budgets of one template render. A chat template comes from a stranger's
// model file: depth limits alone leave room for exponential work (a macro calling itself twice
// per level, a list doubled 40 times and then printed or compared) and for values that grow
// quadratically (list + [x] in a long loop) or all at once ('x' | center(10**12)). Every render
// therefore counts its steps (expression nodes, statements, loop iterations, one per element
// visited when a value is copied, compared, printed or serialised, one per 64 bytes of text
// scanned, a substring search's worst case, the variables a macro call copies) and the bytes of
// every string and list it creates (before it is made, where its size is known), against totals;
// either total exceeded ends the render with an error, and the chat template layer falls back to
// the built-in format as for any template error.
//
// Every limit of the engine is here, so that one file says what a template may do.
//
// The accounts are thread-local: the engine's value operations charge the render running on the
// calling thread (outside a render nothing is counted).
#pragma once

#include <cstdint>
#include <string>

#include "kernels/error.h"

namespace gb::jinja {

// Limits that hold for every template (the parser's and the value model's).
inline constexpr size_t kMaxTemplateBytes = size_t(1) << 20;  // the largest real one: ~20 KiB
inline constexpr int kMaxParseDepth = 200;  // nested expressions and statements, at parse time
inline constexpr int64_t kMaxParseNodes = 100'000;  // syntax tree nodes (a real template: ~5k)
inline constexpr int kMaxValueDepth = 256;          // nested lists/dicts a template may build
inline constexpr int64_t kMaxRangeItems = 100'000;  // range(n)
inline constexpr size_t kMaxErrorTextBytes = 2000;  // of an error message that quotes the template
inline constexpr int64_t kMaxFormatPrecision = 100'000;  // '%.*f', '{:.Nf}' (Python: ~2**31)

// Totals for one render. Real chat templates use far less: a 400-message conversation with
// reasoning and tool calls (TemplateBudget.RealTemplatesStayFarInsideTheBudgets) takes under a
// tenth of each.
struct RenderBudget {
    int64_t max_steps = 5'000'000;          // about a second of the slowest operations
    int64_t max_bytes = int64_t(48) << 20;  // strings and list/dict cells created, in all
};

// The limits of one render (ChatTemplateOptions::limits).
struct RenderLimits {
    size_t max_output_bytes = 4u << 20;
    int64_t max_loop_iterations = 1'000'000;  // all loops of one render together
    int max_call_depth = 64;                  // nested macro, caller() and loop() calls
    RenderBudget budget;                      // total work and memory
};

struct BudgetUse {
    int64_t steps = 0;
    int64_t bytes = 0;
};

class BudgetExceeded : public Error {
public:
    explicit BudgetExceeded(const std::string& msg) : Error(msg) {}
};

// Makes `budget` the account of this thread for its lifetime (renders may nest: the outer
// account is restored after).
class BudgetScope {
public:
    explicit BudgetScope(const RenderBudget& budget);
    ~BudgetScope();
    BudgetScope(const BudgetScope&) = delete;
    BudgetScope& operator=(const BudgetScope&) = delete;
    BudgetUse use() const { return use_; }

private:
    RenderBudget budget_;
    BudgetUse use_;
    BudgetScope* outer_;
    friend void charge_steps(int64_t n);
    friend void charge_bytes(int64_t n);
};

// Charge the render running on this thread; they throw BudgetExceeded when a total is passed.
// charge_bytes is called before the bytes are allocated wherever the size is known in advance; a
// negative n stands for a size too large to compute without overflow, and always throws.
void charge_steps(int64_t n);
void charge_bytes(int64_t n);
// A substring search's worst case: one step per 64 bytes of the text for each 64 bytes of the
// needle (a 500 KB needle in a 1 MB text is 10^11 comparisons at worst, not one pass).
inline void charge_search(const std::string& text, const std::string& needle) {
    charge_steps(static_cast<int64_t>((text.size() >> 6) + 1) *
                 static_cast<int64_t>((needle.size() >> 6) + 1));
}

// A pass over `bytes` of text (copy, scan, case mapping, printing): one step per 64 bytes.
inline void charge_scan(size_t bytes) { charge_steps(1 + static_cast<int64_t>(bytes >> 6)); }
// A substring search: the worst case of a naive search is every position of the haystack times
// the needle's length, which is what is charged (a 500 KB needle in a 1 MB text is refused).
void charge_search(size_t haystack, size_t needle);

}  // namespace gb::jinja
