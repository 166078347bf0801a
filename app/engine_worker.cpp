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
    qRegisterMetaType<std::vector<gb::Alternative>>();
    qRegisterMetaType<std::shared_ptr<const gb::app::ChatEngine::Lens>>();
    qRegisterMetaType<std::shared_ptr<const gb::ResampleResult>>();
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

void EngineWorker::unload() {
    post([this] {
        try {
            engine_->unload();
            emit modelUnloaded();
        } catch (const std::exception& e) {
            emit loadFailed(error_text(e));
        }
    });
}

void EngineWorker::generate(quint64 request, const std::vector<ChatTurn>& turns,
                            const GenerationSettings& settings) {
    stream(request,
           [this, turns, settings](const TokenCallback& on_token, const RunControls& controls) {
               return engine_->generate(turns, settings, on_token, controls);
           });
}

void EngineWorker::branch(quint64 request, std::shared_ptr<const Trace> parent, int at,
                          int32_t token, const GenerationSettings& settings) {
    stream(request, [this, parent, at, token, settings](const TokenCallback& on_token,
                                                        const RunControls& controls) {
        return engine_->branch(*parent, at, token, settings, on_token, controls);
    });
}

void EngineWorker::continue_reply(quint64 request, std::shared_ptr<const Trace> parent,
                                  const GenerationSettings& settings) {
    stream(request,
           [this, parent, settings](const TokenCallback& on_token, const RunControls& controls) {
               return engine_->continue_reply(*parent, settings, on_token, controls);
           });
}

void EngineWorker::continue_thought(quint64 request, std::shared_ptr<const Trace> parent,
                                    std::string thought, const GenerationSettings& settings) {
    stream(request, [this, parent, thought = std::move(thought), settings](
                        const TokenCallback& on_token, const RunControls& controls) {
        return engine_->continue_thought(*parent, thought, settings, on_token, controls);
    });
}

void EngineWorker::stream(quint64 request,
                          std::function<Trace(const TokenCallback&, const RunControls&)> run) {
    cancel_.store(false);
    stop_thinking_.store(false);
    busy_.store(true);
    post([this, request, run = std::move(run)] {
        emit generationStarted(request);
        try {
            auto on_token = [&](const TokenRecord* rec, const std::string& text) {
                StreamToken t;
                if (rec) t.rec = std::make_shared<const TokenRecord>(*rec);
                t.text = text;
                emit tokenStreamed(request, std::move(t));
                return !cancel_.load();
            };
            RunControls controls{&cancel_, &stop_thinking_, {}};
            if (step_mode_.load())
                controls.choose = [this, request](int position, const std::vector<Alternative>& top,
                                                  int32_t sampled) {
                    {
                        std::lock_guard<std::mutex> lock(choice_mu_);
                        choice_ = -1;
                    }
                    emit choiceNeeded(request, position, top, sampled);
                    std::unique_lock<std::mutex> lock(choice_mu_);
                    choice_cv_.wait(lock, [this] { return choice_ >= 0 || cancel_.load(); });
                    return choice_ >= 0 ? choice_ : sampled;  // a cancel: the reply stops next
                };
            Trace trace = run(on_token, controls);
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

void EngineWorker::choose(int32_t token) {
    std::lock_guard<std::mutex> lock(choice_mu_);
    choice_ = token;
    choice_cv_.notify_all();
}

void EngineWorker::lens(quint64 request, std::vector<int32_t> tokens, int position, int top_k,
                        int span_first, int span_count) {
    post([this, request, tokens = std::move(tokens), position, top_k, span_first, span_count] {
        try {
            auto l = std::make_shared<const ChatEngine::Lens>(
                engine_->lens(tokens, position, top_k, span_first, span_count));
            emit lensReady(request, std::move(l));
        } catch (const std::bad_alloc&) {
            emit lensFailed(request, "out of memory reading the layers");
        } catch (const std::exception& e) {
            emit lensFailed(request, error_text(e));
        }
    });
}

void EngineWorker::reproduce(quint64 request, std::shared_ptr<const Trace> recorded) {
    cancel_.store(false);
    busy_.store(true);
    post([this, request, recorded] {
        try {
            RunControls controls;
            controls.cancel = &cancel_;
            Trace t = engine_->reproduce(*recorded, controls);
            busy_.store(false);
            emit reproduced(request, std::make_shared<const Trace>(std::move(t)));
        } catch (const std::exception& e) {
            busy_.store(false);
            emit generationFailed(request, error_text(e));
        }
    });
}

void EngineWorker::rescore(quint64 request, std::shared_ptr<const Trace> reply, bool precise) {
    cancel_.store(false);
    busy_.store(true);
    post([this, request, reply, precise] {
        try {
            RunControls controls;
            controls.cancel = &cancel_;
            Trace t = engine_->rescore(*reply, precise, controls);
            busy_.store(false);
            emit rescored(request, std::make_shared<const Trace>(std::move(t)));
        } catch (const std::exception& e) {
            busy_.store(false);
            emit rescoreFailed(request, error_text(e));
        }
    });
}

void EngineWorker::resample(quint64 request, std::shared_ptr<const Trace> parent, int at,
                            const gb::ResampleOptions& options) {
    cancel_.store(false);
    busy_.store(true);
    post([this, request, parent, at, options] {
        try {
            auto r = std::make_shared<const ResampleResult>(engine_->resample(
                *parent, at, options,
                [&](int done) { emit resampleProgress(request, done, options.k); },
                RunControls{&cancel_, nullptr, {}}));
            busy_.store(false);
            emit resampled(request, std::move(r));
        } catch (const std::bad_alloc&) {
            busy_.store(false);
            emit resampleFailed(request, "out of memory during the rollouts");
        } catch (const std::exception& e) {
            busy_.store(false);
            emit resampleFailed(request, error_text(e));
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
