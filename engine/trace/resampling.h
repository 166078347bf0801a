// What a resampling at one position of a reply found (forking paths): the rollouts' final
// answers, how they are distributed, and its JSON form, which the CLI prints and the history
// keeps. The rollouts themselves run in engine/session/interventions.h (resample_at).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/trace/trace.h"

namespace gb {

// The answer a reply gives, for counting: the last integer of its answer text ("The answer is
// 28196." gives "28196"; thousands separators dropped), else the whole answer, trimmed.
std::string final_answer(const std::string& answer_text);

// The answers of a set of rollouts, most frequent first (ties in first-seen order).
struct AnswerCount {
    std::string answer;
    int count = 0;
    double share = 0;
    bool operator==(const AnswerCount&) const = default;
};
std::vector<AnswerCount> count_answers(const std::vector<std::string>& answers);

struct Rollout {
    uint64_t seed = 0;
    std::string answer;  // final_answer of its answer text
    int tokens = 0;      // generated after the position
    StopReason stop = StopReason::None;
    int n_cached = 0;  // tokens its generator took from the cache
    bool operator==(const Rollout&) const = default;
};
struct ResampleResult {
    int at = 0;         // generated position resampled from
    std::string token;  // the reply's token there ("" at the end)
    int k = 0;          // rollouts asked for; rollouts.size() < k when stopped early
    float temperature = 0;
    int max_new = 0;
    std::string original_answer;  // the reply's own final answer
    std::string expected;         // as asked ("" when none)
    std::vector<AnswerCount> answers;
    std::vector<Rollout> rollouts;
    // The share of rollouts that gave the expected answer (the original when none was given).
    double share = 0;
    double estimate_ms = 0, ms = 0;
    bool operator==(const ResampleResult&) const = default;
};
// The result as one JSON object (the CLI's --json "positions" entries, the history's column),
// and back; resampling_from_json throws gb::Error naming the field that is missing or wrong.
std::string resampling_json(const ResampleResult& r);
ResampleResult resampling_from_json(std::string_view json);

}  // namespace gb
