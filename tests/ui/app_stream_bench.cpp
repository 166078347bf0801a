// A long reply through the whole desktop app, as a reasoning model writes one: the main window
// (offscreen) with all its views, a conversation store, the engine worker and the real engine
// on a model file, generating N tokens (default 16,000) past the end-of-generation token. Prints
// tokens/s over the 256 tokens before 1k, 4k, 8k, 16k ... as the engine produced them and as
// they reached the UI thread (ChatController::streamingUpdated), and how far the UI was behind
// at each mark: the app keeps up when the two rates match and the lag stays flat. Run by hand:
//   QT_QPA_PLATFORM=offscreen build/tests/ui/app_stream_bench [MODEL] [N] [THREADS]
// Not a test: it asserts nothing.
#include <QApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QTimer>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "app/chat_controller.h"
#include "app/conversation_store.h"
#include "app/engine_worker.h"
#include "app/local_engine.h"
#include "ui/main_window.h"

int main(int argc, char** argv) {
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    QApplication app(argc, argv);
    const std::string model =
        argc > 1 ? argv[1] : GB_RESOURCES_DIR "/models/glassbox-demo-moe.gguf";
    const int n = argc > 2 ? std::atoi(argv[2]) : 16000;
    const int threads = argc > 3 ? std::atoi(argv[3]) : 0;

    gb::app::EngineWorker worker(std::make_unique<gb::app::LocalEngine>());
    gb::app::MemoryConversationStore store;
    gb::app::ChatController c(store, worker);
    gb::ui::MainWindow window(c, nullptr);
    window.resize(1400, 860);
    window.show();

    QEventLoop loop;
    QObject::connect(&c, &gb::app::ChatController::modelChanged, &loop, &QEventLoop::quit);
    QObject::connect(&c, &gb::app::ChatController::errorOccurred, [&](const QString& e) {
        std::fprintf(stderr, "error: %s\n", qPrintable(e));
        loop.quit();
    });
    gb::app::LoadSettings ls;
    ls.path = model;
    ls.n_threads = threads;
    ls.n_ctx = n + 256;
    c.load_model(ls);
    loop.exec();
    if (!c.model_loaded()) return 1;
    gb::app::GenerationSettings g = c.settings();
    g.max_tokens = n;
    g.stop_at_end = false;
    g.sampling.temperature = 1.0f;
    g.sampling.seed = 1;
    c.set_settings(g);

    // When each streamed token reached the UI thread, and when the engine made it.
    std::vector<double> ui_ms, engine_ms;
    QElapsedTimer clock;
    QObject::connect(&c, &gb::app::ChatController::streamingUpdated, [&] {
        const auto& toks = c.streaming().tokens;
        while (ui_ms.size() < toks.size()) {
            ui_ms.push_back(static_cast<double>(clock.nsecsElapsed()) / 1e6);
            engine_ms.push_back(toks[ui_ms.size() - 1]->t_ms);
        }
    });
    QObject::connect(&c, &gb::app::ChatController::streamingFinished, &loop, &QEventLoop::quit);
    clock.start();
    c.send("742*38");
    loop.exec();

    const size_t got = ui_ms.size();
    std::printf("model %s, %zu tokens reached the UI (%s); engine %.1f s, UI %.1f s\n",
                model.c_str(), got, got == static_cast<size_t>(n) ? "all" : "NOT all",
                got ? engine_ms.back() / 1000 : 0.0, got ? ui_ms.back() / 1000 : 0.0);
    // The offset between the two clocks: the engine's clock starts after the prompt; take the
    // smallest gap as the UI's lag for a token that arrived at once.
    double offset = 1e300;
    for (size_t i = 0; i < got; ++i) offset = std::min(offset, ui_ms[i] - engine_ms[i]);
    const size_t win = 256;
    std::printf("%16s %14s %14s %10s\n", "tokens", "engine tok/s", "UI tok/s", "UI lag ms");
    for (size_t mark : {1000, 2000, 4000, 8000, 12000, 16000, 24000, 32000}) {
        if (mark > got) break;
        const size_t a = mark - 1 - win, b = mark - 1;
        std::printf("%7zu..%7zu %14.1f %14.1f %10.1f\n", a + 1, b + 1,
                    win / ((engine_ms[b] - engine_ms[a]) / 1000),
                    win / ((ui_ms[b] - ui_ms[a]) / 1000), ui_ms[b] - engine_ms[b] - offset);
    }
    return 0;
}
