// Full-text search over titles, prompts, reasoning and answers, and the metadata queries
// (long reasoning, model, expert of a layer).
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/app/history/history_test_support.h"

using namespace gb;
using namespace gb::app;
using gb::test::TempDir;

namespace {

struct Fixture {
    TempDir dir;
    std::unique_ptr<HistoryStore> store =
        HistoryStore::open(dir.file("h.db"), test::fast_options());
    int64_t c1 = 0, c2 = 0, u1 = 0, r1 = 0, r2 = 0;
    Fixture() {
        c1 = store->create_conversation("Prime numbers and Euclid");
        u1 = store->add_message(c1, std::nullopt, Role::User, "Are there infinitely many primes?");
        Message m;
        m.reasoning = "Assume finitely many, multiply them all and add one; a new factor appears.";
        m.answer = "Yes: Euclid's proof shows the primes never run out.";
        m.stats.model = "deepseek-r1-distill-qwen-7b";
        m.stats.n_reasoning_tokens = 1500;
        const Trace moe = test::make_trace(3, 2, 2);  // layer 0 uses experts 0..7 over 7 tokens
        r1 = store->add_reply(c1, u1, m, &moe);
        c2 = store->create_conversation("Café recipes");
        const int64_t u2 =
            store->add_message(c2, std::nullopt, Role::User, "How do I make crème brûlée?");
        m.reasoning = "The user wants a dessert; custard, sugar, a torch.";
        m.answer = "Bake a vanilla custard, chill it, caramelise sugar on top.";
        m.stats.model = "qwen3-8b";
        m.stats.n_reasoning_tokens = 40;
        r2 = store->add_reply(c2, u2, m);
    }
};

TEST(HistorySearch, FindsEachFieldWithSnippets) {
    Fixture f;
    auto hits = f.store->search("euclid");
    // Title of c1, answer of r1 (the reasoning does not say Euclid).
    ASSERT_EQ(hits.size(), 2u);
    std::vector<SearchField> fields;
    for (const auto& h : hits) fields.push_back(h.field);
    EXPECT_NE(std::find(fields.begin(), fields.end(), kSearchTitle), fields.end());
    EXPECT_NE(std::find(fields.begin(), fields.end(), kSearchAnswer), fields.end());
    for (const auto& h : hits) {
        EXPECT_EQ(h.conversation_id, f.c1);
        EXPECT_NE(h.snippet.find("[Euclid"), std::string::npos) << h.snippet;
        EXPECT_EQ(h.conversation_title, "Prime numbers and Euclid");
    }

    hits = f.store->search("factor", kSearchReasoning);
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0].message_id, f.r1);
    EXPECT_EQ(hits[0].field, kSearchReasoning);
    EXPECT_TRUE(f.store->search("factor", kSearchAnswer | kSearchPrompt | kSearchTitle).empty());

    hits = f.store->search("infinitely", kSearchPrompt);
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0].message_id, f.u1);
}

TEST(HistorySearch, FoldsCaseAndDiacriticsAndNeedsEveryWord) {
    Fixture f;
    EXPECT_EQ(f.store->search("CREME brulee", kSearchPrompt).size(), 1u);
    EXPECT_EQ(f.store->search("cafe", kSearchTitle).size(), 1u);
    EXPECT_TRUE(f.store->search("creme euclid").empty());
    EXPECT_EQ(f.store->search("\"vanilla custard\"", kSearchAnswer).size(), 1u);
    EXPECT_TRUE(f.store->search("\"custard vanilla\"", kSearchAnswer).empty());
    EXPECT_EQ(f.store->search("caramel*", kSearchAnswer).size(), 1u);
    // FTS5 syntax in the user's text is just text, never a syntax error.
    EXPECT_NO_THROW(f.store->search("AND OR NOT ( ) : * \" {x}"));
    EXPECT_TRUE(f.store->search("   ").empty());
}

TEST(HistorySearch, IndexesAStreamedReplyWhenItEnds) {
    Fixture f;
    auto w = f.store->begin_reply(f.c1, f.u1, {});
    w.append_answer("zebra");
    w.flush();
    EXPECT_TRUE(f.store->search("zebra").empty());
    w.finish({});
    EXPECT_EQ(f.store->search("zebra").size(), 1u);
    f.store->rename_conversation(f.c2, "Zebra facts");
    EXPECT_EQ(f.store->search("zebra", kSearchTitle).size(), 1u);
    f.store->delete_conversation(f.c1);
    EXPECT_EQ(f.store->search("zebra").size(), 1u);  // only the title of c2 now
    EXPECT_TRUE(f.store->search("euclid").empty());
}

TEST(HistorySearch, MetadataQueries) {
    Fixture f;
    auto refs = f.store->replies_with_reasoning_over(1000);
    ASSERT_EQ(refs.size(), 1u);
    EXPECT_EQ(refs[0].message_id, f.r1);
    EXPECT_EQ(refs[0].n_reasoning_tokens, 1500);
    EXPECT_EQ(f.store->replies_with_reasoning_over(10).size(), 2u);

    refs = f.store->replies_by_model("qwen3-8b");
    ASSERT_EQ(refs.size(), 1u);
    EXPECT_EQ(refs[0].message_id, f.r2);
    EXPECT_EQ(refs[0].conversation_title, "Café recipes");

    // make_trace(3, 2, 2): think tokens i = 2..4, answer tokens i = 5, 6; layer l uses
    // experts (i + l) % 8 and (i + l + 1) % 8.
    EXPECT_EQ(f.store->replies_using_expert(0, 3).size(), 1u);  // think, i = 2, 3
    EXPECT_EQ(f.store->replies_using_expert(0, 0).size(), 0u);  // prompt only (i = 0)
    EXPECT_EQ(f.store->replies_using_expert(0, 0, Phase::Prompt).size(), 1u);
    EXPECT_EQ(f.store->replies_using_expert(1, 7, Phase::Answer).size(), 1u);  // i = 6
    EXPECT_EQ(f.store->replies_using_expert(1, 7, Phase::Think).size(), 0u);
    EXPECT_EQ(f.store->replies_using_expert(5, 0).size(), 0u);  // no such layer
    // The query uses the index on (layer, expert, ...), not a scan of the summary table.
    auto plan = f.store->database().prepare(
        "EXPLAIN QUERY PLAN SELECT message_id FROM expert_usage WHERE layer = 1 AND expert = 7 "
        "AND phase BETWEEN 1 AND 2");
    std::string text;
    while (plan.step()) text += plan.text(3) + "\n";
    EXPECT_NE(text.find("expert_usage_by_expert"), std::string::npos) << text;
}

}  // namespace
