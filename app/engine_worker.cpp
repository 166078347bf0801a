// EngineWorker: the engine's thread and the queued signals that carry its results to the UI.
#include "app/engine_worker.h"

#include <QMetaObject>
#include <new>

#include "app/error_text.h"

namespace gb::app {

void register_metatypes() {
    qRegisterMetaType<gb::app::ModelInfo>();
    qRegisterMetaType<gb::app::StreamToken>();
    qRegisterMetaType<gb::app::ContextUse>();
    qRegisterMetaType<std::shared_ptr<const gb::Trace>>();
}

EngineWorker::EngineWorker(std::unique_ptr<ChatEngine> engine, QObject* parent)
    : QObject(parent), engine_(std::move(engine)) {
    register_metatypes();
    thread_.setObjectName("glassbox-engine");
    context_ = new QObject;
    context_->moveToThread(&thread_);
    connect(&thread_, &QThread::finished, context_, &QObject::deleteLater);
    thread_.start();
}

EngineWorker::~EngineWorker() {
    cancel();
    thread_.quit();
    thread_.wait();
}

template <class F>
void EngineWorker::post(F&& job) {
    // Errors never cross the thread as exceptions: each job reports them as signals.
    QMetaObject::invokeMethod(context_, std::forward<F>(job), Qt::QueuedConnection);
}

void EngineWorker::load(const LoadSettings& settings) {
    emit loadStarted(QString::fromStdString(settings.path));
    post([this, settings] {
        try {
            emit modelLoaded(engine_->load(settings));
        } catch (const std::bad_alloc&) {
            emit loadFailed(QString("out of memory loading '%1': choose a smaller model or context")
                                .arg(QString::fromStdString(settings.path)));
        } catch (const std::exception& e) {
            emit loadFailed(error_text(e));
        }
    });
}

void EngineWorker::generate(quint64 request, const std::vector<ChatTurn>& turns,
                            const GenerationSettings& settings) {
    cancel_.store(false);
    busy_.store(true);
    post([this, request, turns, settings] {
        emit generationStarted(request);
        try {
            auto on_token = [&](const TokenRecord* rec, const std::string& text) {
                StreamToken t;
                if (rec) t.rec = std::make_shared<const TokenRecord>(*rec);
                t.text = text;
                emit tokenStreamed(request, std::move(t));
                return !cancel_.load();
            };
            Trace trace = engine_->generate(turns, settings, on_token, &cancel_);
            if (cancel_.load() && trace.stop_reason != StopReason::Eog)
                trace.stop_reason = StopReason::Cancelled;
            busy_.store(false);
            const std::string note = engine_->take_notice();
            if (!note.empty()) emit notice(QString::fromStdString(note));
            emit generationFinished(request, std::make_shared<const Trace>(std::move(trace)));
        } catch (const std::bad_alloc&) {
            busy_.store(false);
            emit generationFailed(
                request, "out of memory while generating: lower the context size or max tokens");
        } catch (const std::exception& e) {
            busy_.store(false);
            emit generationFailed(request, error_text(e));
        }
    });
}

void EngineWorker::compute_context_use(const std::vector<ChatTurn>& turns,
                                       const GenerationSettings& settings) {
    post([this, turns, settings] {
        try {
            emit contextUseReady(engine_->context_use(turns, settings));
        } catch (const std::exception&) {
            emit contextUseReady(ContextUse{});
        }
    });
}

}  // namespace gb::app
