// The work and memory budgets of one template render. A chat template comes from a stranger's
// model file: depth limits alone leave room for exponential work (a macro calling itself twice
// per level, a list doubled 40 times and then printed or compared) and for values that grow
// quadratically (list + [x] in a long loop) or all at once ('x' | center(10**12)). Every render
// therefore counts its steps (expression nodes, statements, loop iterations, and one per element
// visited when a value is copied, compared, printed or serialised) and the bytes of every string
// and list it creates, against totals; either total exceeded ends the render with an error, and
// the chat template layer falls back to the built-in format as for any template error.
//
// The accounts are thread-local: the engine's value operations charge the render running on the
// calling thread (outside a render nothing is counted).
#pragma once

#include <cstdint>
#include <string>

#include "kernels/error.h"

namespace gb::jinja {

// Totals for one render. Real chat templates use far less: the longest conversation in
// tests/engine/template/chat_budget_test.cpp takes well under a tenth of each.
struct RenderBudget {
    int64_t max_steps = 5'000'000;           // under a second of the slowest operations
    int64_t max_bytes = int64_t(128) << 20;  // strings and list/dict cells created, in all
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

}  // namespace gb::jinja
