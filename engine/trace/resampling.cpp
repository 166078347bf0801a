// Final answers, their counts, and a resampling's JSON form.
#include "engine/trace/resampling.h"

#include <algorithm>
#include <cctype>
#include <sstream>

#include "engine/core/json.h"
#include "kernels/error.h"

namespace gb {

std::string final_answer(const std::string& answer_text) {
    // The last run of digits (with separators inside it), and a minus sign right before it.
    std::string digits;
    size_t end = answer_text.size();
    while (end > 0 && !std::isdigit(static_cast<unsigned char>(answer_text[end - 1]))) --end;
    if (end > 0) {
        size_t begin = end;
        while (begin > 0) {
            const char c = answer_text[begin - 1];
            if (std::isdigit(static_cast<unsigned char>(c))) {
                --begin;
            } else if ((c == ',' || c == '_') && begin >= 2 &&
                       std::isdigit(static_cast<unsigned char>(answer_text[begin - 2]))) {
                --begin;
            } else {
                break;
            }
        }
        for (size_t i = begin; i < end; ++i)
            if (std::isdigit(static_cast<unsigned char>(answer_text[i]))) digits += answer_text[i];
        if (begin > 0 && answer_text[begin - 1] == '-') digits = "-" + digits;
        return digits;
    }
    const size_t a = answer_text.find_first_not_of(" \t\r\n");
    if (a == std::string::npos) return "";
    const size_t b = answer_text.find_last_not_of(" \t\r\n");
    return answer_text.substr(a, b - a + 1);
}

std::vector<AnswerCount> count_answers(const std::vector<std::string>& answers) {
    std::vector<AnswerCount> out;
    for (const std::string& a : answers) {
        auto it = std::find_if(out.begin(), out.end(),
                               [&](const AnswerCount& c) { return c.answer == a; });
        if (it == out.end())
            out.push_back({a, 1, 0});
        else
            ++it->count;
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const AnswerCount& x, const AnswerCount& y) { return x.count > y.count; });
    for (AnswerCount& c : out)
        c.share = answers.empty() ? 0 : static_cast<double>(c.count) / answers.size();
    return out;
}

std::string resampling_json(const ResampleResult& r) {
    std::ostringstream os;
    json::Writer w(os);
    w.begin_object();
    w.field("at", r.at);
    w.field("token", r.token);
    w.field("k", r.k);
    w.field("temperature", r.temperature);
    w.field("max_new", r.max_new);
    w.field("original_answer", r.original_answer);
    w.field("expected", r.expected);
    w.field("share", r.share);
    w.field("estimate_ms", r.estimate_ms);
    w.field("ms", r.ms);
    w.key("answers").begin_array();
    for (const AnswerCount& c : r.answers)
        w.begin_object(true)
            .field("answer", c.answer)
            .field("count", c.count)
            .field("share", c.share)
            .end_object();
    w.end_array();
    w.key("rollouts").begin_array();
    for (const Rollout& ro : r.rollouts)
        w.begin_object(true)
            .field("seed", ro.seed)
            .field("answer", ro.answer)
            .field("tokens", ro.tokens)
            .field("stop", stop_reason_name(ro.stop))
            .field("n_cached", ro.n_cached)
            .end_object();
    w.end_array();
    w.end_object();
    return os.str();
}

ResampleResult resampling_from_json(std::string_view text) {
    std::string where = "the resampling";
    try {
        const json::Value v = json::parse(text);
        ResampleResult r;
        auto num = [&](const json::Value& o, const char* k) -> const json::Value& {
            where = std::string("the resampling's ") + k;
            return o.at(k);
        };
        r.at = static_cast<int>(num(v, "at").as_int64());
        r.token = num(v, "token").as_string();
        r.k = static_cast<int>(num(v, "k").as_int64());
        r.temperature = num(v, "temperature").as_float();
        r.max_new = static_cast<int>(num(v, "max_new").as_int64());
        r.original_answer = num(v, "original_answer").as_string();
        r.expected = num(v, "expected").as_string();
        r.share = num(v, "share").as_number();
        r.estimate_ms = num(v, "estimate_ms").as_number();
        r.ms = num(v, "ms").as_number();
        for (const json::Value& a : num(v, "answers").as_array()) {
            where = "the resampling's answers";
            r.answers.push_back({a.at("answer").as_string(),
                                 static_cast<int>(a.at("count").as_int64()),
                                 a.at("share").as_number()});
        }
        for (const json::Value& a : num(v, "rollouts").as_array()) {
            where = "the resampling's rollouts";
            Rollout ro;
            ro.seed = a.at("seed").as_uint64();
            ro.answer = a.at("answer").as_string();
            ro.tokens = static_cast<int>(a.at("tokens").as_int64());
            ro.stop = stop_reason_from_name(a.at("stop").as_string());
            ro.n_cached = static_cast<int>(a.at("n_cached").as_int64());
            r.rollouts.push_back(std::move(ro));
        }
        if (r.at < 0 || r.k < 1 || static_cast<int>(r.rollouts.size()) > r.k)
            throw Error("positions, rollout counts or rollouts out of range");
        return r;
    } catch (const std::exception& e) {
        throw Error(where + " is not valid: " + e.what());
    }
}

}  // namespace gb
