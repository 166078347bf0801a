// ChatController: the conversations and what happens to them. It keeps the current
// conversation's message tree and the branch on show, sends turns to the EngineWorker, builds
// the streamed reply from its tokens, and stores finished replies with their traces.
#pragma once

#include <QObject>
#include <QString>
#include <memory>
#include <optional>
#include <vector>

#include "app/chat_types.h"
#include "app/conversation_store.h"
#include "app/engine_worker.h"

namespace gb::app {

// The reply being generated, as the chat view and the inspector show it while it streams.
struct StreamingReply {
    bool active = false;
    std::optional<int64_t> parent;
    std::string reasoning, answer;  // text so far (markers included as streamed: see phase)
    int n_reasoning = 0, n_answer = 0;
    double first_ms = -1, think_end_ms = 0, last_ms = 0;
    std::vector<std::shared_ptr<const TokenRecord>> tokens;
};

class ChatController : public QObject {
    Q_OBJECT
public:
    ChatController(ConversationStore& store, EngineWorker& worker, QObject* parent = nullptr);

    ConversationStore& store() { return store_; }
    EngineWorker& worker() { return worker_; }

    // Conversations.
    int64_t current_conversation() const { return conv_; }
    int64_t new_conversation();
    void select_conversation(int64_t id);
    void rename_conversation(int64_t id, const QString& title);
    void delete_conversation(int64_t id);
    void set_pinned(int64_t id, bool pinned);

    // The messages on show, root first, and the reply being streamed after them.
    const std::vector<StoredMessage>& path() const { return path_; }
    // Every message of the current conversation, every branch, oldest first.
    const std::vector<StoredMessage>& messages() const { return all_; }
    const StreamingReply& streaming() const { return streaming_; }
    // Siblings of a message (same parent, same role), oldest first, and its position among them.
    std::vector<int64_t> siblings(int64_t message_id) const;
    // A reply streams or rollouts run: the engine is taken.
    bool busy() const { return streaming_.active || resample_request_ != 0; }
    bool resampling() const { return resample_request_ != 0; }

    // Chatting. Each starts a reply; while one is streaming they report an error instead.
    // send refuses (false, the error emitted, nothing stored) while no model is ready, so that
    // no user turn is left without its reply; the view keeps the text.
    bool send(const QString& text);
    // Ctrl+R: a new reply to the last user turn, whether it has replies or not (a turn left
    // without one, e.g. when the engine failed, gets its first).
    void regenerate_last();
    void edit(int64_t user_message_id, const QString& text);  // a new branch from the same parent
    void regenerate(int64_t assistant_message_id);            // a new reply to the same user turn
    void switch_branch(int64_t message_id, int delta);        // show the previous / next sibling
    void stop();                                              // cancels the streamed reply
    // Closes the streamed reply's reasoning now: the answer follows (nothing when not thinking).
    void stop_thinking();
    // Step mode (classroom): each next token waits for choose() (the worker's choiceNeeded
    // offers the alternatives). Not stored; it applies to the replies that start after it.
    void set_step_mode(bool on) { worker_.set_step_mode(on); }
    bool step_mode() const { return worker_.step_mode(); }
    void choose(int32_t token) { worker_.choose(token); }
    // A new reply beside a stored one (a sibling, like regenerate): its first `at` generated
    // tokens kept, `token` at position `at`, then the model continues. `trace` is that reply's
    // stored trace (the inspector has it).
    void branch_from(int64_t assistant_message_id, std::shared_ptr<const Trace> trace, int at,
                     int32_t token);
    // A new reply beside a stored one whose reasoning starts with `thought` (the user's edit
    // of that reply's thought): the model thinks on from there and answers.
    void edit_thought(int64_t assistant_message_id, std::shared_ptr<const Trace> trace,
                      const QString& thought);
    // A reply that was cut short (stopped, a dropped connection) carried on from where it
    // stopped, as a new sibling reply that starts with its tokens.
    void continue_reply(int64_t assistant_message_id, std::shared_ptr<const Trace> trace);
    // Runs a stored reply again from its recorded prompt, settings and seed; reproduced says
    // whether every token came out the same (or where the first difference is).
    void reproduce(int64_t assistant_message_id, std::shared_ptr<const Trace> trace);
    // Forking paths: opt.k rollouts of a stored reply from its generated position `at` (the
    // engine's resample), one after another; resampleProgress while they run. The result is
    // kept with the reply (the store's resamplings) and resampleFinished hands it over; stop()
    // ends the rollouts and keeps those done. Refused (errorOccurred) while the engine is busy.
    void resample(int64_t assistant_message_id, std::shared_ptr<const Trace> trace, int at,
                  const ResampleOptions& opt);

    // Per-conversation settings (sampling, system prompt, reasoning policy).
    const GenerationSettings& settings() const { return settings_; }
    void set_settings(const GenerationSettings& s);

    // The model.
    // What the last load_model asked for (a remote model's server and key, in memory only).
    const LoadSettings& load_settings() const { return load_settings_; }
    void load_model(const LoadSettings& settings);
    // Frees the loaded model (a reply being written is stopped first); modelChanged follows.
    void unload_model();
    const ModelInfo& model() const { return model_; }
    bool model_loaded() const { return model_loaded_; }
    // Between modelLoading and modelChanged: a load is under way.
    bool model_loading() const { return loading_; }
    const ContextUse& context_use() const { return context_; }
    void refresh_context_use();

signals:
    void conversationsChanged();
    void currentConversationChanged(qint64 id);
    void pathChanged();  // the branch on show changed (not while streaming)
    void streamingStarted();
    void streamingUpdated();  // new tokens in streaming()
    void streamingFinished(qint64 message_id);
    // The result of reproduce(): identical, or the first difference in words; the new trace.
    void reproduced(qint64 message_id, bool identical, QString summary,
                    std::shared_ptr<const gb::Trace> again);
    void resampleProgress(qint64 message_id, int done, int k);
    // stored_id: the resampling's id in the store (0 when no rollout finished or the store
    // failed, which errorOccurred then says).
    void resampleFinished(qint64 message_id, qint64 stored_id,
                          std::shared_ptr<const gb::ResampleResult> result);
    void resampleFailed(qint64 message_id, QString error);
    void modelLoading(QString path);
    void modelChanged();
    void contextUseChanged();
    void settingsChanged();
    void errorOccurred(QString message);   // shown in the window, never fatal
    void noticeOccurred(QString message);  // worth knowing, not an error (template fallback)

private:
    void load_current();
    QString busy_text() const;  // why a reply cannot start now
    QString no_model_text() const;
    void start_reply(std::optional<int64_t> parent);
    void begin_reply(std::optional<int64_t> parent);  // the streaming state of a new reply
    // Whether a stored reply can be re-run now (says why not); then, for a new sibling of it,
    // the path to its user turn and the streaming state (its parent; nullopt: refused).
    bool can_rerun(const std::shared_ptr<const Trace>& trace);
    std::optional<int64_t> begin_sibling(int64_t assistant_message_id,
                                         const std::shared_ptr<const Trace>& trace);
    std::vector<ChatTurn> turns_to(std::optional<int64_t> leaf) const;
    const StoredMessage* find(int64_t id) const;
    int64_t deepest_leaf(int64_t from) const;
    std::vector<StoredMessage> path_to(std::optional<int64_t> leaf) const;
    void on_token(quint64 request, const StreamToken& t);
    void on_finished(quint64 request, std::shared_ptr<const Trace> trace);
    void on_failed(quint64 request, const QString& error);

    ConversationStore& store_;
    EngineWorker& worker_;
    int64_t conv_ = 0;
    std::vector<StoredMessage> all_;   // every message of the conversation
    std::vector<StoredMessage> path_;  // the branch on show
    GenerationSettings settings_;
    StreamingReply streaming_;
    quint64 request_ = 0;
    int64_t reproduce_id_ = 0;                      // the reply being run again, and
    std::shared_ptr<const Trace> reproduce_trace_;  // its trace (null: none)
    quint64 resample_request_ = 0;                  // the rollouts running (0: none)
    int64_t resample_id_ = 0;                       // for this reply
    ModelInfo model_;
    bool model_loaded_ = false;
    bool loading_ = false;
    ContextUse context_;
    LoadSettings load_settings_;
};

}  // namespace gb::app
