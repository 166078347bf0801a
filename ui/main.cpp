// glassbox: the desktop app. Usage: glassbox [--model PATH] [--ctx N] [--threads N] [--cache-type
// T]
// [--synthetic] [--history FILE | --no-history] [--screenshots DIR [--prompt TEXT]]
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QIcon>
#include <QStandardPaths>
#include <QTimer>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "app/chat_controller.h"
#include "app/conversation_store.h"
#include "app/engine_switch.h"
#include "app/engine_worker.h"
#include "app/error_text.h"
#include "app/gpu_monitor.h"
#include "app/history_conversation_store.h"
#include "app/local_engine.h"
#include "app/platform/data_paths.h"
#include "app/remote_engine.h"
#include "app/synthetic_engine.h"
#include "ui/demo_tour.h"
#include "ui/library_dialog.h"
#include "ui/main_window.h"
#include "ui/model_dialog.h"
#include "ui/theme.h"

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setOrganizationName("Glassbox");
    QApplication::setApplicationName("Glassbox");
    // The icon (resources/icons): the SVG, and PNGs for sizes it would blur and for a Qt
    // without its SVG plugin; glassbox.desktop ties the windows to the installed launcher.
    QIcon icon(":/icons/glassbox.svg");
    for (int px : {16, 24, 32, 48, 256}) icon.addFile(QString(":/icons/glassbox-%1.png").arg(px));
    QApplication::setWindowIcon(icon);
    QGuiApplication::setDesktopFileName("glassbox");
    QCommandLineParser cli;
    cli.setApplicationDescription("Chat with reasoning models and see inside them.");
    cli.addHelpOption();
    cli.addOption({{"m", "model"}, "Load this GGUF file or checkpoint folder at start.", "path"});
    cli.addOption({"ctx", "Context size in tokens.", "n", "4096"});
    cli.addOption({"threads", "CPU threads (0: all).", "n", "0"});
    cli.addOption(
        {"cache-type", "What the KV cache holds: f16, bf16, q8_0 or f32.", "type", "f16"});
    cli.addOption(
        {"backend", "Where the model runs: cpu, or cuda where built with it.", "name", "cpu"});
    cli.addOption(
        {"cpu-layers",
         "With --backend cuda: run the model's first N layers on the CPU (auto: as few as fit).",
         "n", "auto"});
    cli.addOption({"remote",
                   "Use a model served by an inference server (vLLM, SGLang, llama-server, "
                   "Ollama, an OpenAI-compatible API) at this API root, e.g. "
                   "http://127.0.0.1:8000/v1.",
                   "url"});
    cli.addOption(
        {"remote-model", "With --remote: the served model (default: the only one).", "name"});
    cli.addOption(
        {"api-key-env", "With --remote: the environment variable that holds the API key.", "var"});
    cli.addOption({"history", "The conversation history database.", "file"});
    cli.addOption({"no-history", "Keep conversations in memory only."});
    cli.addOption(
        {"synthetic", "Use the synthetic engine (no model needed; for demos and tests)."});
    cli.addOption(
        {"screenshots", "Drive a chat, save a screenshot of each panel to DIR, then quit.", "dir"});
    cli.addOption({"prompt", "The prompt --screenshots sends.", "text",
                   "Why is the sky blue? Answer briefly."});
    cli.addOption({"theme", "Colours: system (follow the desktop), light or dark.", "name"});
    cli.addPositionalArgument("model", "A model to open (as --model; what a file manager passes).",
                              "[model]");
    cli.process(app);
    if (cli.isSet("theme") && cli.value("theme") != "system" && cli.value("theme") != "light" &&
        cli.value("theme") != "dark") {
        std::fprintf(stderr, "glassbox: --theme must be system, light or dark, got '%s'\n",
                     qPrintable(cli.value("theme")));
        return 2;
    }
    // Our demo models: installed beside the app, or the source tree's (app/platform).
    const QString bundled_models = QString::fromStdString(gb::app::demo_models_dir());
    gb::ui::apply_theme(app, cli.isSet("theme") ? gb::ui::theme_mode_from_name(cli.value("theme"))
                                                : gb::ui::theme_mode_setting());

    // Model files run in this process; a server's models through the remote engine.
    const bool synthetic = cli.isSet("synthetic");
    auto engine = std::make_unique<gb::app::EngineSwitch>(
        [synthetic]() -> std::unique_ptr<gb::app::ChatEngine> {
            if (!synthetic) return std::make_unique<gb::app::LocalEngine>();
            gb::app::SyntheticOptions o;
            o.tokens_per_second = 60;
            return std::make_unique<gb::app::SyntheticEngine>(o);
        },
        [] { return std::make_unique<gb::app::RemoteEngine>(); });
    gb::app::EngineWorker worker(std::move(engine));
    // Conversations live in SQLite; if the database cannot be used (another instance holds it,
    // a newer version wrote it), the app still runs, in memory, and says why.
    std::unique_ptr<gb::app::ConversationStore> store;
    QString store_note;
    if (!cli.isSet("no-history")) {
        QString path = cli.value("history");
        if (path.isEmpty()) {
            const QString dir = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
            QDir().mkpath(dir);
            path = dir + "/history.sqlite";
        }
        try {
            std::string note;
            store = gb::app::HistoryConversationStore::open(path.toStdString(), &note);
            store_note = QString::fromStdString(note);
        } catch (const std::exception& e) {
            store_note = QString(
                             "History not available (%1): this session's conversations are kept in "
                             "memory only.")
                             .arg(gb::app::error_text(e));
        }
    }
    if (!store) store = std::make_unique<gb::app::MemoryConversationStore>();
    gb::app::ChatController controller(*store, worker);
    gb::app::GpuMonitor monitor;
    gb::ui::MainWindow window(controller, &monitor);
    if (!store_note.isEmpty())
        QTimer::singleShot(0, &controller, [&] { emit controller.errorOccurred(store_note); });
    // The last run's size and layout; a screenshot tour always uses the same size.
    if (cli.isSet("screenshots") || !window.restore_layout()) window.resize(1400, 860);
    window.show();

    gb::app::LoadSettings load;
    load.path = cli.value("model").toStdString();
    if (load.path.empty() && !cli.positionalArguments().isEmpty())
        load.path = cli.positionalArguments().first().toStdString();
    if (load.path.empty() && cli.isSet("synthetic")) load.path = "synthetic";
    if (cli.isSet("remote")) {
        load.remote.base_url = cli.value("remote").toStdString();
        load.remote.model = cli.value("remote-model").toStdString();
        if (cli.isSet("api-key-env")) {
            const QByteArray key = qgetenv(cli.value("api-key-env").toUtf8().constData());
            if (key.isEmpty()) {
                std::fprintf(stderr, "glassbox: --api-key-env: $%s is not set\n",
                             qPrintable(cli.value("api-key-env")));
                std::exit(2);
            }
            load.remote.api_key = key.toStdString();
        }
        load.path = load.remote.base_url;
    }
    // Numbers are checked before they narrow (a --threads of 4294967296 once became 0, "all").
    auto number = [&](const char* name, long long lo, long long hi) {
        bool ok = false;
        const long long v = cli.value(name).toLongLong(&ok);
        if (!ok || v < lo || v > hi) {
            std::fprintf(stderr, "glassbox: --%s must be an integer in %lld..%lld, got '%s'\n",
                         name, lo, hi, qPrintable(cli.value(name)));
            std::exit(2);
        }
        return v;
    };
    load.n_ctx = number("ctx", 0, 1LL << 22);
    load.n_threads = static_cast<int>(number("threads", 0, INT_MAX));  // the engine checks more
    load.backend = cli.value("backend").toStdString();
    load.n_cpu_layers = cli.value("cpu-layers") == "auto" ? -1 : number("cpu-layers", 0, 1LL << 20);
    load.cache_type = cli.value("cache-type").toStdString();
    if (load.cache_type != "f16" && load.cache_type != "bf16" && load.cache_type != "q8_0" &&
        load.cache_type != "f32") {
        std::fprintf(stderr, "glassbox: --cache-type must be f16, bf16, q8_0 or f32, got '%s'\n",
                     load.cache_type.c_str());
        std::exit(2);
    }
    std::unique_ptr<gb::ui::DemoTour> tour;
    if (cli.isSet("screenshots")) {
        tour = std::make_unique<gb::ui::DemoTour>(window, controller, cli.value("screenshots"),
                                                  cli.value("prompt"));
        QObject::connect(tour.get(), &gb::ui::DemoTour::done, &app,
                         [](int code) { QApplication::exit(code); });
        tour->start();
    }
    // With no model named, the last one loaded (or, the first time, our demo reasoning model),
    // unless the library's "load the last model" is off.
    window.set_bundled_models_dir(bundled_models);
    if (load.path.empty() && !cli.isSet("screenshots") && gb::ui::auto_load_last_model()) {
        QString last;
        for (const QString& p : gb::ui::recent_models())
            if (QFileInfo::exists(p)) {
                last = p;
                break;
            }
        if (last.isEmpty() && gb::ui::recent_models().isEmpty())
            last = bundled_models + "/glassbox-demo-moe.gguf";
        if (QFileInfo::exists(last)) load.path = last.toStdString();
    }
    if (!load.path.empty()) controller.load_model(load);
    return app.exec();
}
