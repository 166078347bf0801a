// JSON export / import (an import of an export is the same conversation, traces included)
// and Markdown export.
#include "app/history/history_export.h"

#include <gtest/gtest.h>

#include "engine/core/json.h"
#include "engine/session/interventions.h"
#include "engine/trace/trace_binary.h"
#include "tests/app/history/history_test_support.h"

using namespace gb;
using namespace gb::app;
using gb::test::TempDir;

namespace {

// A conversation with a system prompt, an edit and a regeneration (three branches), one
// traced MoE reply, an incomplete reply, and text that JSON must escape.
int64_t make_conversation(HistoryStore& store) {
    const int64_t c = store.create_conversation("Export \"me\"\n€ 😀", "qwen3-moe",
                                                R"({"top_k":20,"seed":18446744073709551615})");
    store.set_pinned(c, true);
    const int64_t sys = store.add_message(c, std::nullopt, Role::System, "You are terse.");
    const int64_t u1 = store.add_message(c, sys, Role::User, "Line one\nline two\t\\ \x01");
    Message r;
    r.reasoning = "because";
    r.answer = "it is so";
    r.stats = {2,
               3,
               2,
               12.5,
               160.0,
               62.3,
               "cuda",
               "NVIDIA H200",
               "qwen3-moe",
               "deadbeef",
               gb::StopReason::Eog,
               "precise"};
    r.repro.sampler = SamplerSettings{};
    r.repro.sampler->seed = 0xffffffffffffffffull;
    r.repro.sampler->temperature = 0.1f;
    r.repro.system_prompt = "You are terse.";
    r.repro.rendered_prompt = "<|system|>You are terse.<|user|>Line one";
    r.repro.chat_template = "{% for m in messages %}{{ m.content }}{% endfor %}";
    r.repro.engine_version = "0.1.0";
    const Trace trace = test::make_trace(3, 2, 2);
    store.add_reply(c, u1, r, &trace);
    Message partial;
    partial.answer = "cut o";
    partial.status = MessageStatus::Incomplete;
    const int64_t a2 = store.add_reply(c, u1, partial);
    store.add_message(c, sys, Role::User, "An edited question");
    store.set_current_leaf(c, a2);
    return c;
}

void expect_same(const Conversation& a, const Conversation& b, HistoryStore& sa, HistoryStore& sb) {
    EXPECT_EQ(a.info.title, b.info.title);
    EXPECT_EQ(a.info.model, b.info.model);
    EXPECT_EQ(a.info.settings_json, b.info.settings_json);
    EXPECT_EQ(a.info.created_ms, b.info.created_ms);
    EXPECT_EQ(a.info.updated_ms, b.info.updated_ms);
    EXPECT_EQ(a.info.pinned, b.info.pinned);
    ASSERT_EQ(a.messages.size(), b.messages.size());
    // Ids differ; the shape is compared through positions.
    auto index_of = [](const Conversation& c, std::optional<int64_t> id) -> int {
        if (!id) return -1;
        for (size_t i = 0; i < c.messages.size(); ++i)
            if (c.messages[i].id == *id) return static_cast<int>(i);
        return -2;
    };
    EXPECT_EQ(index_of(a, a.info.current_leaf), index_of(b, b.info.current_leaf));
    for (size_t i = 0; i < a.messages.size(); ++i) {
        const Message& x = a.messages[i];
        const Message& y = b.messages[i];
        EXPECT_EQ(index_of(a, x.parent_id), index_of(b, y.parent_id)) << i;
        EXPECT_EQ(x.role, y.role);
        EXPECT_EQ(x.content, y.content);
        EXPECT_EQ(x.reasoning, y.reasoning);
        EXPECT_EQ(x.answer, y.answer);
        EXPECT_EQ(x.status, y.status);
        EXPECT_EQ(x.created_ms, y.created_ms);
        EXPECT_EQ(x.stats, y.stats);
        EXPECT_EQ(x.repro, y.repro);
        EXPECT_EQ(x.has_trace, y.has_trace);
        if (x.has_trace) {
            EXPECT_EQ(write_binary(*sa.load_trace(x.id)), write_binary(*sb.load_trace(y.id)));
            EXPECT_EQ(sa.expert_usage(x.id), sb.expert_usage(y.id));
        }
        // Bookmarks travel with their reply (ids differ, the rest does not).
        auto ma = sa.bookmarks(x.id), mb = sb.bookmarks(y.id);
        ASSERT_EQ(ma.size(), mb.size()) << i;
        for (size_t k = 0; k < ma.size(); ++k) {
            EXPECT_EQ(ma[k].token, mb[k].token);
            EXPECT_EQ(ma[k].note, mb[k].note);
            EXPECT_EQ(ma[k].created_ms, mb[k].created_ms);
        }
        // So do resamplings, their results unchanged.
        auto ra = sa.resamplings(x.id), rb = sb.resamplings(y.id);
        ASSERT_EQ(ra.size(), rb.size()) << i;
        for (size_t k = 0; k < ra.size(); ++k) {
            EXPECT_EQ(ra[k].at, rb[k].at);
            EXPECT_EQ(ra[k].k, rb[k].k);
            EXPECT_EQ(ra[k].result_json, rb[k].result_json);
            EXPECT_EQ(ra[k].created_ms, rb[k].created_ms);
        }
    }
}

TEST(HistoryExport, ImportOfAnExportIsTheSameConversation) {
    TempDir dir;
    auto a = HistoryStore::open(dir.file("a.db"), test::fast_options());
    const int64_t c = make_conversation(*a);
    const int64_t reply = a->load_conversation(c).messages[2].id;
    a->add_bookmark(reply, 4, "the fork, \"quoted\"", 1700000000123);
    a->add_bookmark(reply, 1, "");
    gb::ResampleResult run;
    run.at = 2;
    run.k = 2;
    run.temperature = 0.8f;
    run.original_answer = "57290";
    run.rollouts = {{11, "57290", 9, gb::StopReason::Eog, 40}, {12, "57280", 7}};
    run.answers = gb::count_answers({"57290", "57280"});
    run.share = 0.5;
    a->add_resampling(reply, gb::resampling_json(run), 1700000000456);
    const std::string text = export_json(*a, {c});
    // It is JSON with the documented top level, and the trace is an embedded trace document.
    const json::Value doc = json::parse(text);
    EXPECT_EQ(doc.at("format").as_string(), "glassbox-history");
    EXPECT_EQ(doc.at("version").as_int64(), 1);
    const auto& msgs = doc.at("conversations").at(size_t{0}).at("messages").as_array();
    ASSERT_EQ(msgs.size(), 5u);
    EXPECT_EQ(msgs[2].at("trace").at("format").as_string(), "glassbox-trace");
    EXPECT_EQ(msgs[2].at("sampler").at("seed").as_uint64(), 0xffffffffffffffffull);
    ASSERT_EQ(msgs[2].at("bookmarks").as_array().size(), 2u);
    EXPECT_EQ(msgs[2].at("bookmarks").at(size_t{1}).at("note").as_string(), "the fork, \"quoted\"");
    ASSERT_EQ(msgs[2].at("resamplings").as_array().size(), 1u);
    EXPECT_EQ(msgs[2]
                  .at("resamplings")
                  .at(size_t{0})
                  .at("result")
                  .at("rollouts")
                  .at(size_t{1})
                  .at("answer")
                  .as_string(),
              "57280");

    auto b = HistoryStore::open(dir.file("b.db"), test::fast_options());
    const auto ids = import_json(*b, text);
    ASSERT_EQ(ids.size(), 1u);
    expect_same(a->load_conversation(c), b->load_conversation(ids[0]), *a, *b);
    // And exporting the import gives the same text, byte for byte.
    EXPECT_EQ(export_json(*b, {ids[0]}), text);
    // The imported texts are searchable.
    EXPECT_EQ(b->search("edited").size(), 1u);
}

TEST(HistoryExport, ExportsEverythingAndImportsIntoAStoreWithData) {
    TempDir dir;
    auto a = HistoryStore::open(dir.file("a.db"), test::fast_options());
    make_conversation(*a);
    a->create_conversation("empty one");
    const std::string all = export_json(*a);
    auto b = HistoryStore::open(dir.file("b.db"), test::fast_options());
    b->create_conversation("already here");
    const auto ids = import_json(*b, all);
    EXPECT_EQ(ids.size(), 2u);
    EXPECT_EQ(b->count_conversations(), 3);
    EXPECT_EQ(export_json(*b, ids), all);
    // Without traces: smaller, and the import has no trace.
    const std::string light = export_json(*a, {}, false);
    EXPECT_LT(light.size(), all.size());
    const auto ids2 = import_json(*b, light);
    for (const auto& m : b->load_conversation(ids2.back()).messages) EXPECT_FALSE(m.has_trace);
}

TEST(HistoryExport, BadImportsNameTheFieldAndImportNothing) {
    TempDir dir;
    auto a = HistoryStore::open(dir.file("a.db"), test::fast_options());
    const int64_t c = make_conversation(*a);
    const std::string good = export_json(*a, {c});
    auto b = HistoryStore::open(dir.file("b.db"), test::fast_options());
    auto expect_invalid = [&](const std::string& text, const std::string& needle) {
        try {
            import_json(*b, text);
            ADD_FAILURE() << "accepted: " << needle;
        } catch (const HistoryError& e) {
            EXPECT_EQ(e.kind(), HistoryError::Kind::Invalid);
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
        }
        EXPECT_EQ(b->count_conversations(), 0);
    };
    expect_invalid("not json", "history import: file");
    expect_invalid(R"({"format":"glassbox-trace","version":1})", "glassbox-history");
    expect_invalid(R"({"format":"glassbox-history","version":9,"conversations":[]})", "version 9");
    auto replace = [&](const std::string& from, const std::string& to) {
        std::string s = good;
        const size_t at = s.find(from);
        EXPECT_NE(at, std::string::npos) << from;
        return s.replace(at, from.size(), to);
    };
    expect_invalid(replace("\"role\":\"user\"", "\"role\":\"robot\""), "messages[1]");
    expect_invalid(replace("\"parent\":2", "\"parent\":7"), "messages[2].parent");
    expect_invalid(replace("\"glassbox-trace\"", "\"other\""), "messages[2].trace");
    // Bookmarks: on a user message, a negative token, a note over the limit.
    const std::string mark = ",\"bookmarks\":[{\"token\":%T,\"note\":\"%N\",\"created_ms\":1}]";
    auto with_mark = [&](const std::string& after, const std::string& token,
                         const std::string& note) {
        std::string m = mark;
        m.replace(m.find("%T"), 2, token);
        m.replace(m.find("%N"), 2, note);
        return replace(after, after + m);
    };
    expect_invalid(with_mark("\"content\":\"You are terse.\"", "0", ""),
                   "only replies carry bookmarks");
    expect_invalid(with_mark("\"engine_version\":\"0.1.0\"}", "-1", ""), "bookmarks[0].token");
    expect_invalid(with_mark("\"engine_version\":\"0.1.0\"}", "1", std::string(70000, 'x')),
                   "bookmarks[0].note");
    // Resamplings: on a user message, a result that is not one.
    expect_invalid(replace("\"content\":\"You are terse.\"",
                           "\"content\":\"You are terse.\",\"resamplings\":[]"),
                   "only replies carry resamplings");
    expect_invalid(replace("\"engine_version\":\"0.1.0\"}",
                           "\"engine_version\":\"0.1.0\"},\"resamplings\":[{\"created_ms\":1,"
                           "\"result\":{\"at\":-4}}]"),
                   "resamplings[0].result");
}

TEST(HistoryExport, MarkdownShowsTheCurrentBranch) {
    TempDir dir;
    auto a = HistoryStore::open(dir.file("a.db"), test::fast_options());
    const int64_t c = make_conversation(*a);
    std::string md = export_markdown(*a, c);
    EXPECT_EQ(md.rfind("# Export \"me\"", 0), 0u) << md;
    EXPECT_NE(md.find("## System\n\nYou are terse."), std::string::npos) << md;
    EXPECT_NE(md.find("cut o"), std::string::npos);               // the current leaf
    EXPECT_EQ(md.find("An edited question"), std::string::npos);  // another branch
    EXPECT_NE(md.find("incomplete"), std::string::npos);
    const Conversation conv = a->load_conversation(c);
    a->set_current_leaf(c, conv.messages[2].id);
    md = export_markdown(*a, c);
    EXPECT_NE(md.find("<details><summary>Reasoning (3 tokens)</summary>\n\nbecause"),
              std::string::npos)
        << md;
    EXPECT_NE(md.find("62.3 tok/s"), std::string::npos) << md;
}

}  // namespace
