// What the trace needs from a row of logits without keeping the row: its maximum, log-partition,
// entropy and top-N. The row form here is the reference every backend's logit_summary matches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "kernels/backend.h"

namespace gb {

// Per row: {max, log Z, entropy} with Z = sum_i exp(l_i - max), so that
// log p_i = (l_i - max) - log Z and entropy = -sum p_i log p_i (nats).
constexpr int kLogitStats = 3;

// One row of n logits. stats gets kLogitStats floats; ids / logits get the top_n largest logits,
// best first, ties to the lower id (ids -1 and NaN past the end of a row shorter than top_n).
// -inf logits have probability 0. A row with a NaN, or with no finite maximum (all -inf, or a
// +inf), has NaN stats and no top entries (all -1 / NaN).
void logit_summary_row(const float* row, int64_t n, int top_n, float* stats, int32_t* ids,
                       float* logits);

// Empty when a Backend::logit_summary call's sizes agree (top_n within 0..1024, spans of rows *
// kLogitStats and rows * top_n), else what is wrong.
std::string logit_summary_error(Act logits, int top_n, size_t n_stats, size_t n_ids, size_t n_top);

}  // namespace gb
