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
    b->use_.steps += n;
    if (b->use_.steps > b->budget_.max_steps) {
        b->use_.steps = b->budget_.max_steps + 1;  // spent: what is reported, however far over
        throw BudgetExceeded("the template's work budget is spent (" +
                             std::to_string(b->budget_.max_steps) +
                             " steps): it loops, recurses or copies without end");
    }
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

}  // namespace gb::jinja
