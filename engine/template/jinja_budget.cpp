// The per-thread accounts of template renders; see jinja_budget.h.
#include "engine/template/jinja_budget.h"

namespace gb::jinja {

namespace {
thread_local BudgetScope* current = nullptr;

std::string mib(int64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }
}  // namespace

BudgetScope::BudgetScope(const RenderBudget& budget) : budget_(budget), outer_(current) {
    current = this;
}

BudgetScope::~BudgetScope() { current = outer_; }

void charge_steps(int64_t n) {
    BudgetScope* b = current;
    if (!b) return;
    if (n < 0 || n > b->budget_.max_steps - b->use_.steps) {
        b->use_.steps = b->budget_.max_steps + 1;  // passed (a single charge can be huge)
        throw BudgetExceeded("the template's work budget is spent (" +
                             std::to_string(b->budget_.max_steps) +
                             " steps): it loops, recurses or copies without end");
    }
    b->use_.steps += n;
}

void charge_bytes(int64_t n) {
    BudgetScope* b = current;
    if (!b) return;
    if (n < 0 || n > b->budget_.max_bytes - b->use_.bytes) {
        b->use_.bytes = b->budget_.max_bytes;
        throw BudgetExceeded("the template's memory budget is spent (" + mib(b->budget_.max_bytes) +
                             " of strings and lists in one render): its values grow without end");
    }
    b->use_.bytes += n;
}

void charge_search(size_t haystack, size_t needle) {
    const uint64_t per_position = 1 + (needle >> 4);
    const uint64_t positions = haystack >> 6;
    if (positions && per_position > (uint64_t(1) << 40) / positions) charge_steps(int64_t(1) << 40);
    charge_steps(1 + static_cast<int64_t>(positions * per_position));
}

}  // namespace gb::jinja
