// The remote engine through the app (ChatController, EngineWorker, EngineSwitch, the SQLite
// history) against scripted servers on loopback: a reply with reasoning, probabilities and
// usage stored with its server; a reply cut by a dropped connection kept as "error" and carried
// on by Continue (the request the server gets holds the reply so far); a thinking budget that
// closes the reasoning by asking again; routed experts from a vLLM whole reply and an SGLang
// stream matched to tokens as NumPy says (fixtures/remote/make_routed_experts.py); refusals and
// load errors in words; the API key in no stored byte.
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <fstream>
#include <sstream>

#include "app/chat_controller.h"
#include "app/engine_switch.h"
#include "app/history_conversation_store.h"
#include "app/remote_engine.h"
#include "app/synthetic_engine.h"
#include "engine/core/json.h"
#include "tests/app/remote/loopback_server.h"

using namespace gb;
using namespace gb::app;
using gb::test::LoopbackServer;

namespace {

const char* kKey = "sk-remote-test-0123456789";

std::string chunk(const std::string& json) { return "data: " + json + "\n\n"; }
const std::string kSseHead =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
const std::string kThink =
    R"({"choices":[{"delta":{"reasoning_content":"6 times 7"},"logprobs":{"content":[{"token":"6","logprob":-0.1,"top_logprobs":[{"token":"6","logprob":-0.1},{"token":"Six","logprob":-2.5}]},{"token":" times 7","logprob":-0.2,"top_logprobs":[]}]}}]})";
const std::string kAnswer =
    R"({"choices":[{"delta":{"content":"42"},"logprobs":{"content":[{"token":"42","logprob":-0.05,"top_logprobs":[{"token":"42","logprob":-0.05}]}]},"finish_reason":"stop"}]})";
const std::string kUsage =
    R"({"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"completion_tokens_details":{"reasoning_tokens":2}}})";

std::string json_response(const std::string& body, int status = 200) {
    return "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : " Error") +
           "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\nConnection: close\r\n\r\n" + body;
}

// A vLLM-like server: the model list, /version, and chat replies from `chat` (called with the
// request body and the number of chat requests so far).
struct FakeServer {
    std::function<void(LoopbackServer::Conn&, const std::string& body, int n)> chat;
    std::string owner = "vllm";
    int chats = 0;
    LoopbackServer server{[this](LoopbackServer::Conn& c, const LoopbackServer::Request& r) {
        if (r.head.rfind("GET /v1/models", 0) == 0) {
            c.send(json_response(R"({"object":"list","data":[{"id":"deepseek-r1","owned_by":")" +
                                 owner + R"(","max_model_len":32768}]})"));
        } else if (r.head.rfind("GET /version", 0) == 0) {
            c.send(json_response(R"({"version":"0.11.0"})"));
        } else if (r.head.rfind("POST /v1/chat/completions", 0) == 0) {
            chat(c, r.body, ++chats);
        } else {
            c.send(json_response(R"({"detail":"Not Found"})", 404));
        }
    }};
    std::vector<std::string> chat_bodies() {
        std::vector<std::string> out;
        for (const auto& r : server.requests())
            if (r.head.rfind("POST", 0) == 0) out.push_back(r.body);
        return out;
    }
    LoadSettings load() const {
        LoadSettings s;
        s.remote.base_url = server.url("/v1");
        s.remote.model = "deepseek-r1";
        s.remote.api_key = kKey;
        s.path = s.remote.base_url;
        return s;
    }
};

std::unique_ptr<ChatEngine> switcher() {
    return std::make_unique<EngineSwitch>([] { return std::make_unique<SyntheticEngine>(); },
                                          [] { return std::make_unique<RemoteEngine>(); });
}

struct Rig {
    explicit Rig(const QString& db)
        : store(HistoryConversationStore::open(db.toStdString())),
          worker(switcher()),
          c(*store, worker) {}
    std::unique_ptr<ConversationStore> store;
    EngineWorker worker;
    ChatController c;
    bool load(const LoadSettings& s) {
        QSignalSpy changed(&c, &ChatController::modelChanged);
        c.load_model(s);
        return changed.wait(10000) && c.model_loaded();
    }
    bool reply() {
        QSignalSpy done(&c, &ChatController::streamingFinished);
        return done.wait(15000);
    }
};

std::string read_fixture(const std::string& name) {
    std::ifstream f(std::string(GB_FIXTURES_DIR) + "/remote/" + name, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

}  // namespace

class RemoteEngineTest : public QObject {
    Q_OBJECT
private slots:
    void a_remote_reply_is_stored_with_its_server_and_never_its_key() {
        QTemporaryDir dir;
        const QString db = dir.filePath("history.sqlite");
        FakeServer fake;
        fake.chat = [](LoopbackServer::Conn& c, const std::string&, int) {
            c.send(kSseHead + chunk(kThink) + chunk(kAnswer) + chunk(kUsage) + "data: [DONE]\n\n");
        };
        {
            Rig rig(db);
            QVERIFY(rig.load(fake.load()));
            const ModelInfo& info = rig.c.model();
            QVERIFY(info.remote);
            QCOMPARE(info.name, std::string("deepseek-r1"));
            QCOMPARE(info.n_ctx_train, int64_t{32768});
            QVERIFY2(info.server.rfind("vLLM 0.11.0 at 127.0.0.1:", 0) == 0, info.server.c_str());
            rig.c.send("6*7?");
            QVERIFY(rig.reply());
            const StoredMessage& m = rig.c.path().back();
            QCOMPARE(m.content, std::string("42"));
            QCOMPARE(m.reasoning, std::string("6 times 7"));
            QVERIFY(m.complete);
            const auto t = rig.c.store().trace(m.id);
            QVERIFY(t);
            QVERIFY(t->backend.rfind("remote 127.0.0.1:", 0) == 0);
            QCOMPARE(t->device, info.server);
            QCOMPARE(t->server_usage.prompt_tokens, int64_t{9});
            QCOMPARE(t->server_usage.reasoning_tokens, int64_t{2});
            QCOMPARE(t->n_gen, 3);
            QCOMPARE(t->tokens[0].top.size(), size_t{2});
            QCOMPARE(t->tokens[0].top[1].text, std::string("Six"));
            // The request asked for what the inspector shows, with the bearer key.
            const auto bodies = fake.chat_bodies();
            QCOMPARE(bodies.size(), size_t{1});
            QVERIFY(bodies[0].find("\"top_logprobs\":8") != std::string::npos);
            QVERIFY(bodies[0].find("\"enable_thinking\":true") != std::string::npos);
            bool bearer = false;
            for (const auto& r : fake.server.requests())
                bearer |=
                    r.head.find(std::string("Authorization: Bearer ") + kKey) != std::string::npos;
            QVERIFY(bearer);
        }
        // No byte of the database (and its WAL) holds the key.
        for (const QString& f : QDir(dir.path()).entryList(QDir::Files)) {
            QFile file(dir.filePath(f));
            QVERIFY(file.open(QIODevice::ReadOnly));
            QVERIFY2(!file.readAll().contains(kKey), qPrintable(f));
        }
    }

    void a_cut_reply_is_kept_and_continue_carries_it_on() {
        QTemporaryDir dir;
        FakeServer fake;
        fake.chat = [](LoopbackServer::Conn& c, const std::string&, int n) {
            if (n == 1)  // the connection drops inside the reasoning
                c.send(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: "
                    "9999\r\n\r\n" +
                    chunk(kThink));
            else
                c.send(
                    kSseHead +
                    chunk(
                        R"({"choices":[{"delta":{"reasoning_content":" is 42."},"logprobs":{"content":[{"token":" is 42.","logprob":-0.3,"top_logprobs":[]}]}}]})") +
                    chunk(kAnswer) + "data: [DONE]\n\n");
        };
        Rig rig(dir.filePath("h.sqlite"));
        QVERIFY(rig.load(fake.load()));
        QSignalSpy notices(&rig.worker, &EngineWorker::notice);
        rig.c.send("6*7?");
        QVERIFY(rig.reply());
        const StoredMessage cut = rig.c.path().back();
        QVERIFY(!cut.complete);
        QCOMPARE(cut.stop_reason, StopReason::Error);
        QCOMPARE(cut.reasoning, std::string("6 times 7"));
        QVERIFY(notices.count() > 0 || notices.wait(2000));
        const QString note = notices.last().at(0).toString();
        QVERIFY2(note.contains("cut short") && note.contains("dropped"), qPrintable(note));

        rig.c.continue_reply(cut.id, rig.c.store().trace(cut.id));
        QVERIFY(rig.reply());
        const StoredMessage done = rig.c.path().back();
        QVERIFY(done.id != cut.id);
        QVERIFY(done.complete);
        QVERIFY2(done.reasoning == "6 times 7 is 42.", done.reasoning.c_str());
        QCOMPARE(done.content, std::string("42"));
        const auto t = rig.c.store().trace(done.id);
        QCOMPARE(t->n_gen, 4);  // the cut reply's two records, then two more
        QCOMPARE(t->tokens[1].text, std::string(" times 7"));
        QCOMPARE(t->interventions.front().kind, std::string("continue"));
        // The server was handed the reply so far, to carry on.
        const auto bodies = fake.chat_bodies();
        QCOMPARE(bodies.size(), size_t{2});
        const json::Value req = json::parse(bodies[1]);
        QVERIFY(req.at("continue_final_message").as_bool());
        QVERIFY(!req.at("add_generation_prompt").as_bool());
        const auto& msgs = req.at("messages").as_array();
        QCOMPARE(msgs.back().at("role").as_string(), std::string("assistant"));
        QCOMPARE(msgs.back().at("content").as_string(), std::string("<think>\n6 times 7"));
        QCOMPARE(msgs[msgs.size() - 2].at("content").as_string(), std::string("6*7?"));
    }

    void a_thinking_budget_closes_the_reasoning_and_asks_again() {
        FakeServer fake;
        fake.chat = [](LoopbackServer::Conn& c, const std::string&, int n) {
            if (n == 1)
                c.send(kSseHead + chunk(kThink) + chunk(kAnswer) + "data: [DONE]\n\n");
            else
                c.send(kSseHead + chunk(kAnswer) + "data: [DONE]\n\n");
        };
        RemoteEngine e;
        e.load(fake.load());
        GenerationSettings s;
        s.think_budget = 1;
        std::vector<std::string> seen;
        const Trace t = e.generate({{"user", "6*7?", ""}}, s,
                                   [&](const TokenRecord* r, const std::string& text) {
                                       if (r) seen.push_back(text);
                                       return true;
                                   },
                                   {});
        // "6", the forced close, "42": the second token of the reasoning never came in.
        QCOMPARE(t.n_gen, 3);
        QVERIFY(t.tokens[1].forced);
        QCOMPARE(t.interventions.size(), size_t{1});
        QCOMPARE(t.interventions[0].kind, std::string("think-budget"));
        QCOMPARE(t.interventions[0].at, 1);
        QCOMPARE(t.reasoning_text, std::string("6"));
        QCOMPARE(t.answer_text, std::string("42"));
        QVERIFY(t.reasoning_complete);
        QCOMPARE(seen.size(), size_t{3});
        const auto bodies = fake.chat_bodies();
        QCOMPARE(bodies.size(), size_t{2});
        const json::Value req = json::parse(bodies[1]);
        QCOMPARE(req.at("messages").as_array().back().at("content").as_string(),
                 std::string("<think>\n6\n</think>\n\n"));
        QCOMPARE(req.at("max_tokens").as_int64(), int64_t{1024 - 2});
    }

    void what_needs_the_models_insides_is_refused_in_words() {
        FakeServer fake;
        fake.chat = [](LoopbackServer::Conn& c, const std::string&, int) {
            c.send(kSseHead + chunk(kAnswer) + "data: [DONE]\n\n");
        };
        RemoteEngine e;
        e.load(fake.load());
        auto error_of = [](auto&& f) {
            try {
                f();
            } catch (const std::exception& ex) {
                return std::string(ex.what());
            }
            return std::string("no error");
        };
        RunControls step;
        step.choose = [](int, const std::vector<Alternative>&, int32_t s) { return s; };
        QVERIFY(error_of([&] {
                    e.generate({{"user", "hi", ""}}, {}, {}, step);
                }).find("step mode needs a local model") != std::string::npos);
        GenerationSettings steer;
        steer.disable_experts = "3:5";
        QVERIFY(error_of([&] {
                    e.generate({{"user", "hi", ""}}, steer, {}, {});
                }).find("expert steering needs a local model") != std::string::npos);
        const Trace t = e.generate({{"user", "hi", ""}}, {}, {}, {});
        QVERIFY(error_of([&] { e.branch(t, 0, 5, {}, {}, {}); }).find("needs a local model") !=
                std::string::npos);
        QVERIFY(error_of([&] {
                    e.lens({1, 2}, 1, 5, 0, 1);
                }).find("logit lens needs a local") != std::string::npos);
        // A local reply cannot be continued by a server.
        Trace local = t;
        local.backend = "cpu";
        QVERIFY(error_of([&] { e.continue_reply(local, {}, {}, {}); }).find("local model") !=
                std::string::npos);
        // Re-run: the same messages and seed again.
        const Trace again = e.reproduce(t, {});
        QCOMPARE(again.answer_text, t.answer_text);
        QVERIFY(fake.chat_bodies().back().find("\"max_tokens\":1") != std::string::npos);
    }

    void load_errors_name_the_problem() {
        RemoteEngine e;
        auto error_of = [&](const LoadSettings& s) {
            try {
                e.load(s);
            } catch (const std::exception& ex) {
                return std::string(ex.what());
            }
            return std::string("no error");
        };
        LoadSettings s;
        s.remote.base_url = "ftp://example.org/v1";
        QVERIFY(error_of(s).find("must start with http:// or https://") != std::string::npos);
        FakeServer fake;
        s = fake.load();
        s.remote.model = "qwen3-moe";
        const std::string unlisted = error_of(s);
        QVERIFY2(
            unlisted.find("has no model \"qwen3-moe\"; it serves deepseek-r1") != std::string::npos,
            unlisted.c_str());
        LoopbackServer refuses([](LoopbackServer::Conn& c, const LoopbackServer::Request&) {
            c.send(json_response(R"({"error":{"message":"Incorrect API key provided"}})", 401));
        });
        s.remote.base_url = refuses.url("/v1");
        const std::string denied = error_of(s);
        QVERIFY2(denied.find("cannot be used") != std::string::npos &&
                     denied.find("Incorrect API key") != std::string::npos &&
                     denied.find(kKey) == std::string::npos,
                 denied.c_str());
        QVERIFY(!e.loaded());
        // A failed switch keeps the model that was loaded.
        EngineSwitch sw([] { return std::make_unique<SyntheticEngine>(); },
                        [] { return std::make_unique<RemoteEngine>(); });
        LoadSettings local;
        local.path = "synthetic";
        sw.load(local);
        QVERIFY_THROWS_EXCEPTION(std::exception, sw.load(s));
        QVERIFY(sw.loaded() && !sw.remote());
        sw.load(fake.load());
        QVERIFY(sw.remote() && sw.info().remote);
    }

    void routed_experts_land_on_their_tokens_as_numpy_says() {
        const json::Value fx = json::parse(read_fixture("routed_experts.json"));
        auto check = [&](const Trace& t, const json::Value& expected, const char* what) {
            const auto& ex = expected.as_array();
            QCOMPARE(t.tokens.size(), ex.size());
            for (size_t i = 0; i < ex.size(); ++i) {
                const TokenRouting& rt = t.tokens[i].routing;
                if (ex[i].is_null()) {
                    QVERIFY2(rt.empty(), what);  // the last token never went through
                    continue;
                }
                std::vector<uint16_t> layers, experts;
                for (const auto& l : ex[i].at("layers").as_array())
                    layers.push_back(static_cast<uint16_t>(l.as_int64()));
                for (const auto& row : ex[i].at("experts").as_array())
                    for (const auto& e : row.as_array())
                        experts.push_back(static_cast<uint16_t>(e.as_int64()));
                QCOMPARE(rt.layers, layers);
                QCOMPARE(rt.experts, experts);
                QVERIFY(rt.weights.empty());  // not sent, not invented
            }
        };
        // vLLM: asked for whole, with the routing in the choice.
        const std::string vllm_body = json::to_text(fx.at("vllm_reply").at("body"));
        FakeServer v;
        v.chat = [&](LoopbackServer::Conn& c, const std::string&, int) {
            c.send(json_response(vllm_body));
        };
        RemoteEngine e;
        LoadSettings s = v.load();
        s.remote.routed_experts = true;
        e.load(s);
        const Trace t = e.generate({{"user", "?", ""}}, {}, {}, {});
        QVERIFY(v.chat_bodies().back().find("\"stream\":false") != std::string::npos);
        check(t, fx.at("vllm_reply").at("expected"), "vllm");
        QCOMPARE(t.n_expert_used, 2);
        QCOMPARE(t.n_expert, static_cast<int>(fx.at("vllm_reply").at("n_expert_seen").as_int64()));
        // SGLang: streamed, raw int32 at the end; the layer count comes from the connection.
        FakeServer g;
        g.owner = "sglang";
        const std::string sse = fx.at("sglang_stream").at("sse").as_string();
        g.chat = [&](LoopbackServer::Conn& c, const std::string&, int) { c.send(kSseHead + sse); };
        RemoteEngine e2;
        s = g.load();
        s.remote.routed_experts = true;
        s.remote.n_layer = fx.at("sglang_stream").at("layers").as_int64();
        e2.load(s);
        const Trace t2 = e2.generate({{"user", "?", ""}}, {}, {}, {});
        QVERIFY(g.chat_bodies().back().find("\"return_routed_experts\":true") != std::string::npos);
        check(t2, fx.at("sglang_stream").at("expected"), "sglang");
        // Without the layer count the routing cannot be read, and the user is told why.
        RemoteEngine e3;
        s.remote.n_layer = 0;
        e3.load(s);
        const Trace t3 = e3.generate({{"user", "?", ""}}, {}, {}, {});
        QVERIFY(t3.tokens[0].routing.empty());
        const std::string note = e3.take_notice();
        QVERIFY2(note.find("layer count") != std::string::npos, note.c_str());
    }
};

QTEST_GUILESS_MAIN(RemoteEngineTest)
#include "remote_engine_qtest.moc"
