// A history database damaged the ways a crafted or broken file can be, built through the real
// store and then edited with foreign keys off: a cycle of parents, a self-parent, a dangling
// parent, a dangling current_leaf, a zstd-bomb trace blob, next to conversations that are fine.
// Used by the store's hostile-input tests and the app-level damage test (no gtest, no Qt).
#pragma once

#include <zstd.h>

#include <cstdint>
#include <string>

#include "app/history/history_store.h"

namespace gb::test {

struct DamagedHistory {
    int64_t good = 0;      // user -> assistant (with a trace) -> user; fine
    int64_t good2 = 0;     // one user message; fine
    int64_t cycle = 0;     // messages a -> b -> a (a's parent is b)
    int64_t self = 0;      // a message that is its own parent
    int64_t dangling = 0;  // a message whose parent does not exist
    int64_t leaf = 0;      // current_leaf points at no message
    int64_t bomb = 0;      // a sound tree whose reply's trace blob is a zstd bomb
    int64_t cycle_a = 0, cycle_b = 0, self_id = 0, dangling_id = 0, bomb_reply = 0;
    int64_t good_reply = 0;
};

inline std::string zstd_of_zeros(size_t n) {
    const std::string zeros(n, '\0');
    std::string out(ZSTD_compressBound(n), '\0');
    out.resize(ZSTD_compress(out.data(), out.size(), zeros.data(), n, 3));
    return out;
}

inline Trace small_trace() {
    Trace t;
    t.model = "tiny";
    t.backend = "cpu";
    t.n_prompt = 1;
    t.n_gen = 2;
    for (int i = 0; i < 3; ++i) {
        TokenRecord r;
        r.id = 10 + i;
        r.text = "t" + std::to_string(i);
        r.phase = i == 0 ? Phase::Prompt : Phase::Answer;
        t.tokens.push_back(r);
    }
    return t;
}

inline DamagedHistory make_damaged_history(const std::string& path) {
    DamagedHistory d;
    {
        app::HistoryOptions o;
        o.synchronous_full = false;
        auto s = app::HistoryStore::open(path, o);
        const Trace trace = small_trace();
        auto conversation = [&](const char* title, int n) {
            const int64_t c = s->create_conversation(title);
            std::optional<int64_t> parent;
            std::vector<int64_t> ids;
            for (int i = 0; i < n; ++i) {
                if (i % 2 == 0) {
                    parent =
                        s->add_message(c, parent, app::Role::User, "question " + std::to_string(i));
                } else {
                    app::Message m;
                    m.answer = "answer " + std::to_string(i);
                    parent = s->add_reply(c, parent, m, &trace);
                }
                ids.push_back(*parent);
            }
            return std::pair{c, ids};
        };
        auto [good, good_ids] = conversation("good", 3);
        d.good = good;
        d.good_reply = good_ids[1];
        d.good2 = conversation("good too", 1).first;
        auto [cycle, cycle_ids] = conversation("cycle", 2);
        d.cycle = cycle;
        d.cycle_a = cycle_ids[0];
        d.cycle_b = cycle_ids[1];
        auto [self, self_ids] = conversation("self", 1);
        d.self = self;
        d.self_id = self_ids[0];
        auto [dangling, dangling_ids] = conversation("dangling", 2);
        d.dangling = dangling;
        d.dangling_id = dangling_ids[1];
        d.leaf = conversation("leaf", 2).first;
        auto [bomb, bomb_ids] = conversation("bomb", 2);
        d.bomb = bomb;
        d.bomb_reply = bomb_ids[1];
    }
    app::sql::Db db(path, false);  // foreign keys are off on a raw connection
    auto run = [&](const std::string& sql, int64_t a, int64_t b) {
        db.prepare(sql).args(a, b).run();
    };
    run("UPDATE messages SET parent_id = ? WHERE id = ?", d.cycle_b, d.cycle_a);
    run("UPDATE messages SET parent_id = ? WHERE id = ?", d.self_id, d.self_id);
    run("UPDATE messages SET parent_id = ? WHERE id = ?", 999999, d.dangling_id);
    run("UPDATE conversations SET current_leaf = ? WHERE id = ?", 888888, d.leaf);
    // 3.5 GiB of zeros claimed by a blob of 64 MiB of zeros (a few KB).
    db.prepare("UPDATE traces SET raw_size = ?, data = ? WHERE message_id = ?")
        .args(int64_t{7} << 29)
        .bind_blob(2, zstd_of_zeros(size_t{64} << 20))
        .bind(3, d.bomb_reply)
        .run();
    return d;
}

}  // namespace gb::test
