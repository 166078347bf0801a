// EngineWorker: runs a ChatEngine on its own QThread. Loading and generating are queued to that
// thread; every token comes back as a queued signal, so the UI thread never runs model code.
// cancel() may be called from any thread and stops a reply at the next token.
#pragma once

#include <QObject>
#include <QThread>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "app/chat_engine.h"

namespace gb::app {

// One streamed token: its record (absent for the final flush of held-back bytes) and the text
// it completes.
struct StreamToken {
    std::shared_ptr<const TokenRecord> rec;
    std::string text;
};

class EngineWorker : public QObject {
    Q_OBJECT
public:
    explicit EngineWorker(std::unique_ptr<ChatEngine> engine, QObject* parent = nullptr);
    ~EngineWorker() override;  // cancels, then waits for the thread

    void load(const LoadSettings& settings);
    void unload();  // modelUnloaded, or loadFailed with why not
    void generate(quint64 request, const std::vector<ChatTurn>& turns,
                  const GenerationSettings& settings);
    // A branch of a stored reply (ChatEngine::branch), streamed and finished like a reply.
    void branch(quint64 request, std::shared_ptr<const Trace> parent, int at, int32_t token,
                const GenerationSettings& settings);
    // The logit lens at `position` of tokens (and over a span): lensReady or lensFailed.
    void lens(quint64 request, std::vector<int32_t> tokens, int position, int top_k, int span_first,
              int span_count);
    // A cut reply carried on from where it stopped (ChatEngine::continue_reply), streamed and
    // finished like a reply.
    void continue_reply(quint64 request, std::shared_ptr<const Trace> parent,
                        const GenerationSettings& settings);
    // A stored reply's prompt with an edited thought (ChatEngine::continue_thought), streamed
    // and finished like a reply.
    void continue_thought(quint64 request, std::shared_ptr<const Trace> parent, std::string thought,
                          const GenerationSettings& settings);
    // A stored reply run again (ChatEngine::reproduce): reproduced or generationFailed.
    void reproduce(quint64 request, std::shared_ptr<const Trace> recorded);
    // A stored reply's probabilities from the given precision mode (ChatEngine::rescore):
    // rescored or rescoreFailed.
    void rescore(quint64 request, std::shared_ptr<const Trace> reply, bool precise);
    // Rollouts of a stored reply from generated position `at` (ChatEngine::resample):
    // resampleProgress after each, then resampled, or resampleFailed; cancel() stops it with
    // the rollouts done so far.
    void resample(quint64 request, std::shared_ptr<const Trace> parent, int at,
                  const gb::ResampleOptions& options);
    void compute_context_use(const std::vector<ChatTurn>& turns,
                             const GenerationSettings& settings);
    void cancel() {
        cancel_.store(true);
        std::lock_guard<std::mutex> lock(choice_mu_);
        choice_cv_.notify_all();
    }
    // Closes the reasoning of the reply being generated (its next token is the model's
    // end-of-thinking marker); nothing when it is not thinking.
    void stop_thinking() { stop_thinking_.store(true); }
    // Step mode: while on, each sampled token waits for choose() (choiceNeeded says what is
    // offered); cancel() ends the wait and the reply.
    void set_step_mode(bool on) { step_mode_.store(on); }
    bool step_mode() const { return step_mode_.load(); }
    void choose(int32_t token);
    bool busy() const { return busy_.load(); }

signals:
    void loadStarted(QString path);
    void modelLoaded(gb::app::ModelInfo info);
    void modelUnloaded();
    void loadFailed(QString error);
    void generationStarted(quint64 request);
    void tokenStreamed(quint64 request, gb::app::StreamToken token);
    void generationFinished(quint64 request, std::shared_ptr<const gb::Trace> trace);
    void generationFailed(quint64 request, QString error);
    void reproduced(quint64 request, std::shared_ptr<const gb::Trace> trace);
    // Step mode: the token at `position` waits for a choice among `top`; `sampled` is the
    // sampler's pick.
    void choiceNeeded(quint64 request, int position, std::vector<gb::Alternative> top,
                      int32_t sampled);
    void lensReady(quint64 request, std::shared_ptr<const gb::app::ChatEngine::Lens> lens);
    void lensFailed(quint64 request, QString error);
    void rescored(quint64 request, std::shared_ptr<const gb::Trace> trace);
    void rescoreFailed(quint64 request, QString error);
    void resampleProgress(quint64 request, int done, int k);
    void resampled(quint64 request, std::shared_ptr<const gb::ResampleResult> result);
    void resampleFailed(quint64 request, QString error);
    void notice(QString text);  // from ChatEngine::take_notice()
    void contextUseReady(gb::app::ContextUse use);

private:
    template <class F>
    void post(F&& job);
    // Runs one reply on the engine's thread: run(on_token, controls) makes it; its tokens and
    // its end come back as signals.
    void stream(quint64 request,
                std::function<Trace(const TokenCallback&, const RunControls&)> run);

    std::unique_ptr<ChatEngine> engine_;  // used on thread_ only
    QThread thread_;
    QObject* context_ = nullptr;  // lives in thread_: queued jobs run there
    std::atomic<bool> cancel_{false};
    std::atomic<bool> stop_thinking_{false};
    std::atomic<bool> step_mode_{false};
    std::mutex choice_mu_;
    std::condition_variable choice_cv_;
    int32_t choice_ = -1;  // the pick handed over by choose(); -1: none yet
    std::atomic<bool> busy_{false};
};

void register_metatypes();

}  // namespace gb::app

Q_DECLARE_METATYPE(gb::app::ModelInfo)
Q_DECLARE_METATYPE(gb::app::StreamToken)
Q_DECLARE_METATYPE(gb::app::ContextUse)
Q_DECLARE_METATYPE(std::shared_ptr<const gb::Trace>)
Q_DECLARE_METATYPE(std::vector<gb::Alternative>)
Q_DECLARE_METATYPE(std::shared_ptr<const gb::app::ChatEngine::Lens>)
Q_DECLARE_METATYPE(std::shared_ptr<const gb::ResampleResult>)
