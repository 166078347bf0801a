// Names of the history enums, the message tree walk, sampler settings as JSON.
#include "app/history/history_types.h"

#include <cmath>
#include <limits>
#include <sstream>
#include <unordered_map>

#include "engine/core/json.h"
#include "engine/trace/resampling.h"

namespace gb::app {

const char* kind_name(HistoryError::Kind k) {
    switch (k) {
        case HistoryError::Kind::Corrupt: return "corrupt";
        case HistoryError::Kind::NotOurs: return "not ours";
        case HistoryError::Kind::TooNew: return "too new";
        case HistoryError::Kind::Locked: return "locked";
        case HistoryError::Kind::DiskFull: return "disk full";
        case HistoryError::Kind::Io: return "io";
        case HistoryError::Kind::NotFound: return "not found";
        case HistoryError::Kind::Invalid: return "invalid";
    }
    return "?";
}

const char* role_name(Role r) {
    switch (r) {
        case Role::System: return "system";
        case Role::User: return "user";
        case Role::Assistant: return "assistant";
    }
    return "?";
}

Role role_from_name(const std::string& s) {
    if (s == "system") return Role::System;
    if (s == "user") return Role::User;
    if (s == "assistant") return Role::Assistant;
    throw HistoryError(HistoryError::Kind::Invalid, "history: unknown role '" + s + "'");
}

const char* status_name(MessageStatus s) {
    switch (s) {
        case MessageStatus::Complete: return "complete";
        case MessageStatus::Incomplete: return "incomplete";
        case MessageStatus::Streaming: return "streaming";
    }
    return "?";
}

MessageStatus status_from_name(const std::string& s) {
    if (s == "complete") return MessageStatus::Complete;
    if (s == "incomplete") return MessageStatus::Incomplete;
    if (s == "streaming") return MessageStatus::Streaming;
    throw HistoryError(HistoryError::Kind::Invalid, "history: unknown message status '" + s + "'");
}

static bool same_sampler(const SamplerSettings& a, const SamplerSettings& b) {
    return a.temperature == b.temperature && a.top_k == b.top_k && a.top_p == b.top_p &&
           a.min_p == b.min_p && a.repeat_penalty == b.repeat_penalty &&
           a.repeat_last_n == b.repeat_last_n && a.frequency_penalty == b.frequency_penalty &&
           a.presence_penalty == b.presence_penalty && a.seed == b.seed;
}

bool Reproduction::operator==(const Reproduction& o) const {
    if (sampler.has_value() != o.sampler.has_value()) return false;
    if (sampler && !same_sampler(*sampler, *o.sampler)) return false;
    return system_prompt == o.system_prompt && rendered_prompt == o.rendered_prompt &&
           chat_template == o.chat_template && engine_version == o.engine_version;
}

const Message* Conversation::find(int64_t id) const {
    for (const Message& m : messages)
        if (m.id == id) return &m;
    return nullptr;
}

std::vector<const Message*> Conversation::branch(std::optional<int64_t> leaf) const {
    std::vector<const Message*> out;
    if (!leaf) leaf = info.current_leaf;
    // Bounded by the message count, so a cycle in a damaged file cannot loop forever.
    for (const Message* m = leaf ? find(*leaf) : nullptr; m && out.size() <= messages.size();
         m = m->parent_id ? find(*m->parent_id) : nullptr)
        out.push_back(m);
    return {out.rbegin(), out.rend()};
}

std::string tree_damage(const Conversation& c) {
    std::unordered_map<int64_t, size_t> index;
    for (size_t i = 0; i < c.messages.size(); ++i) index.emplace(c.messages[i].id, i);
    std::vector<std::string> problems;
    auto note = [&](std::string p) {
        if (problems.size() < 8) problems.push_back(std::move(p));
    };
    for (const Message& m : c.messages)
        if (m.parent_id && !index.count(*m.parent_id))
            note("message " + std::to_string(m.id) + " has parent " + std::to_string(*m.parent_id) +
                 ", which is not a message of this conversation");
    // Each message walks up until it meets a root, a dangling parent or a message already
    // walked; meeting one on its own walk is a cycle. Every message is walked once.
    enum : char { kNew, kOnWalk, kDone };
    std::vector<char> state(c.messages.size(), kNew);
    std::vector<bool> on_cycle(c.messages.size(), false);
    std::vector<size_t> walk;
    for (size_t start = 0; start < c.messages.size(); ++start) {
        walk.clear();
        size_t i = start;
        for (;;) {
            if (state[i] == kDone) break;
            if (state[i] == kOnWalk) {
                // The cycle is the part of this walk from i on.
                std::string ids;
                size_t n = 0;
                for (size_t k = walk.size(); k-- > 0;) {
                    on_cycle[walk[k]] = true;
                    ++n;
                    if (walk[k] == i) break;
                }
                for (size_t k = walk.size() - n; k < walk.size() && k < walk.size() - n + 6; ++k)
                    ids += std::to_string(c.messages[walk[k]].id) + " -> ";
                ids += n > 6 ? "... (" + std::to_string(n) + " messages)"
                             : std::to_string(c.messages[i].id);
                note(n == 1 ? "message " + std::to_string(c.messages[i].id) + " is its own parent"
                            : "the parents of messages form a cycle: " + ids);
                break;
            }
            state[i] = kOnWalk;
            walk.push_back(i);
            const Message& m = c.messages[i];
            if (!m.parent_id) break;
            const auto it = index.find(*m.parent_id);
            if (it == index.end()) break;
            i = it->second;
        }
        for (size_t k : walk) state[k] = kDone;
    }
    if (c.info.current_leaf) {
        const auto it = index.find(*c.info.current_leaf);
        if (it == index.end())
            note("current_leaf " + std::to_string(*c.info.current_leaf) +
                 " is not a message of this conversation");
        else if (on_cycle[it->second])
            note("current_leaf " + std::to_string(*c.info.current_leaf) + " lies on a cycle");
    }
    std::string out;
    for (const std::string& p : problems) out += (out.empty() ? "" : "; ") + p;
    return out;
}

std::string sampler_to_json(const SamplerSettings& s) {
    std::ostringstream out;
    json::Writer w(out);
    w.begin_object()
        .field("temperature", s.temperature)
        .field("top_k", s.top_k)
        .field("top_p", s.top_p)
        .field("min_p", s.min_p)
        .field("repeat_penalty", s.repeat_penalty)
        .field("repeat_last_n", s.repeat_last_n)
        .field("frequency_penalty", s.frequency_penalty)
        .field("presence_penalty", s.presence_penalty)
        .field("seed", s.seed)
        .end_object();
    return out.str();
}

SamplerSettings sampler_from_json(std::string_view text) {
    return sampler_from_json(json::parse(text));
}

// Every float finite and within float range (a value beyond it would read as infinity), every
// integer within int before it is narrowed.
SamplerSettings sampler_from_json(const json::Value& v) {
    auto real = [&](const char* key) {
        const float f = v.at(key).as_float();
        if (!std::isfinite(f))
            throw HistoryError(HistoryError::Kind::Invalid,
                               std::string("sampler.") + key + " is not a finite float");
        return f;
    };
    auto integer = [&](const char* key, int64_t lo) {
        const int64_t i = v.at(key).as_int64();
        if (i < lo || i > std::numeric_limits<int>::max())
            throw HistoryError(
                HistoryError::Kind::Invalid,
                std::string("sampler.") + key + " " + std::to_string(i) + " is out of range");
        return static_cast<int>(i);
    };
    SamplerSettings s;
    s.temperature = real("temperature");
    s.top_k = integer("top_k", 0);
    s.top_p = real("top_p");
    s.min_p = real("min_p");
    s.repeat_penalty = real("repeat_penalty");
    s.repeat_last_n = integer("repeat_last_n", -1);
    s.frequency_penalty = real("frequency_penalty");
    s.presence_penalty = real("presence_penalty");
    s.seed = v.at("seed").as_uint64();
    return s;
}

std::pair<int, int> check_resampling(std::string_view result_json) {
    if (result_json.size() > kMaxResamplingJson)
        throw HistoryError(HistoryError::Kind::Invalid,
                           "history: a resampling of " + std::to_string(result_json.size()) +
                               " bytes is over the limit of " + std::to_string(kMaxResamplingJson));
    try {
        const ResampleResult r = resampling_from_json(result_json);
        return {r.at, r.k};
    } catch (const gb::Error& e) {
        throw HistoryError(HistoryError::Kind::Invalid, std::string("history: ") + e.what());
    }
}

}  // namespace gb::app
