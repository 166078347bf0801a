// History store benchmark (issue 6): 10,000 conversations stored, then time listing them and
// opening one whose reply has a 20,000-token trace. Prints numbers; asserts nothing.
// Usage: history_bench [--db PATH] [--conversations N] [--trace-tokens N] [--moe-layers L]
//                      [--experts E] [--k K] [--keep]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>

#include "app/history/history_store.h"

using namespace gb;
using namespace gb::app;
using Clock = std::chrono::steady_clock;

static double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// The best of `reps` runs: the first run also measures the page cache warming up, which is
// reported separately.
template <class F>
static void timed(const char* what, int reps, F&& f) {
    double first = 0, best = 1e30;
    for (int r = 0; r < reps; ++r) {
        const auto t0 = Clock::now();
        f();
        const double ms = ms_since(t0);
        if (r == 0) first = ms;
        best = std::min(best, ms);
    }
    std::printf("  %-52s first %8.2f ms   best of %d %8.2f ms\n", what, first, reps, best);
}

static Trace make_trace(int n_tokens, int moe_layers, int n_expert, int k) {
    std::mt19937 rng(7);
    Trace t;
    t.model = "bench-model";
    t.backend = "cpu";
    t.prompt_text = "<|im_start|>user\nExplain the proof.<|im_end|>\n<|im_start|>assistant\n";
    t.n_prompt = 16;
    t.n_gen = n_tokens - t.n_prompt;
    t.n_expert = moe_layers ? n_expert : 0;
    t.n_expert_used = moe_layers ? k : 0;
    t.tokens.resize(static_cast<size_t>(n_tokens));
    for (int i = 0; i < n_tokens; ++i) {
        TokenRecord& r = t.tokens[static_cast<size_t>(i)];
        r.id = static_cast<int32_t>(rng() % 150000);
        r.text = " tok" + std::to_string(r.id % 5000);
        r.phase =
            i < t.n_prompt ? Phase::Prompt : (i < n_tokens * 3 / 4 ? Phase::Think : Phase::Answer);
        r.logprob = -static_cast<float>(rng() % 1000) / 300.0f;
        r.entropy = static_cast<float>(rng() % 1000) / 250.0f;
        r.t_ms = i * 12.5;
        for (int a = 0; a < 5; ++a)
            r.top.push_back({static_cast<int32_t>(rng() % 150000), "alt", r.logprob - a});
        if (moe_layers) {
            r.routing.k = k;
            for (int l = 0; l < moe_layers; ++l) {
                r.routing.layers.push_back(static_cast<uint16_t>(l));
                for (int j = 0; j < k; ++j) {
                    r.routing.experts.push_back(
                        static_cast<uint16_t>(rng() % static_cast<unsigned>(n_expert)));
                    r.routing.weights.push_back(1.0f / static_cast<float>(k));
                }
            }
        }
    }
    return t;
}

int main(int argc, char** argv) {
    std::string db = (std::filesystem::temp_directory_path() /
                      ("gb_history_bench_" + std::to_string(getpid()) + ".db"))
                         .string();
    int n_conv = 10000, n_trace = 20000, moe_layers = 48, n_expert = 128, k = 8;
    bool keep = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
        if (a == "--db")
            db = next();
        else if (a == "--conversations")
            n_conv = std::atoi(next().c_str());
        else if (a == "--trace-tokens")
            n_trace = std::atoi(next().c_str());
        else if (a == "--moe-layers")
            moe_layers = std::atoi(next().c_str());
        else if (a == "--experts")
            n_expert = std::atoi(next().c_str());
        else if (a == "--k")
            k = std::atoi(next().c_str());
        else if (a == "--keep")
            keep = true;
        else {
            std::fprintf(stderr,
                         "usage: %s [--db PATH] [--conversations N] [--trace-tokens N] "
                         "[--moe-layers L] [--experts E] [--k K] [--keep]\n",
                         argv[0]);
            return 2;
        }
    }
    for (const char* s : {"", "-wal", "-shm", ".lock"}) std::filesystem::remove(db + s);
    std::printf(
        "history_bench: %s, %d conversations, one reply with a %d-token trace (%d MoE layers, "
        "top-%d of %d)\n",
        db.c_str(), n_conv, n_trace, moe_layers, k, n_expert);

    int64_t big_id = 0, big_reply = 0;
    {
        HistoryOptions bulk;
        bulk.synchronous_full = false;  // bulk load; the timings below use the default options
        auto store = HistoryStore::open(db, bulk);
        const auto t0 = Clock::now();
        const std::string reasoning(600, 'r'), answer(300, 'a');
        for (int base = 0; base < n_conv; base += 1000) {
            store->batch([&] {
                for (int i = base; i < std::min(n_conv, base + 1000); ++i) {
                    const int64_t c = store->create_conversation(
                        "Conversation " + std::to_string(i) + " about topic " +
                            std::to_string(i % 97),
                        i % 3 ? "qwen3-8b" : "deepseek-r1-distill-qwen-7b");
                    const int64_t u = store->add_message(c, std::nullopt, Role::User,
                                                         "Question number " + std::to_string(i));
                    Message r;
                    r.reasoning =
                        "Let me think about question " + std::to_string(i) + ". " + reasoning;
                    r.answer = "The answer is " + std::to_string(i) + ". " + answer;
                    r.stats.model = i % 3 ? "qwen3-8b" : "deepseek-r1-distill-qwen-7b";
                    r.stats.n_reasoning_tokens = 100 + i % 900;
                    r.stats.n_answer_tokens = 50;
                    store->add_reply(c, u, r);
                }
            });
        }
        std::printf("  %-52s %8.0f ms\n", "insert conversations (user + reply each)", ms_since(t0));
        const Trace trace = make_trace(n_trace, moe_layers, n_expert, k);
        big_id = store->create_conversation("The conversation with the long trace");
        const int64_t u =
            store->add_message(big_id, std::nullopt, Role::User, "Explain the proof.");
        Message r;
        r.reasoning = trace.reasoning_text;
        r.answer = "Done.";
        const auto t1 = Clock::now();
        big_reply = store->add_reply(big_id, u, r, &trace);
        std::printf("  %-52s %8.0f ms\n", "store the traced reply (encode, zstd, usage summary)",
                    ms_since(t1));
        auto st = store->database().prepare(
            "SELECT raw_size, length(data) FROM traces WHERE message_id = ?");
        st.args(big_reply);
        if (st.step())
            std::printf("  trace blob: %.1f MB binary -> %.1f MB zstd\n", st.i64(0) / 1e6,
                        st.i64(1) / 1e6);
    }
    std::printf("  database file: %.1f MB\n", std::filesystem::file_size(db) / 1e6);

    std::unique_ptr<HistoryStore> store;
    timed("open (quick_check, WAL, pragmas)", 1, [&] { store = HistoryStore::open(db); });
    size_t n = 0;
    timed("list conversations: first page (50)", 20,
          [&] { n = store->list_conversations(0, 50).size(); });
    timed("list conversations: all", 5, [&] { n = store->list_conversations().size(); });
    std::printf("    (%zu listed)\n", n);
    Conversation c;
    timed("open the conversation with the traced reply", 20,
          [&] { c = store->load_conversation(big_id); });
    std::vector<std::optional<Trace>> traces;  // kept, so freeing one is not timed
    timed("load its trace (blob, zstd, decode)", 3,
          [&] { traces.push_back(store->load_trace(big_reply)); });
    std::printf("    (%zu tokens)\n", traces.back() ? traces.back()->tokens.size() : 0);
    timed("search \"topic 42\" (all fields)", 5, [&] { n = store->search("topic 42").size(); });
    timed("replies with reasoning over 800 tokens (first 100)", 5,
          [&] { n = store->replies_with_reasoning_over(800).size(); });
    timed("replies by model (first 100)", 5,
          [&] { n = store->replies_by_model("qwen3-8b").size(); });
    timed("replies using expert 17 of layer 3", 5,
          [&] { n = store->replies_using_expert(3, 17).size(); });
    store.reset();
    if (!keep)
        for (const char* s : {"", "-wal", "-shm", ".lock"}) std::filesystem::remove(db + s);
    return 0;
}
