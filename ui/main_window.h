// MainWindow: the history sidebar, the chat, and the side panels (token inspector, routing,
// hardware, settings + context), with the actions and shortcuts declared in one place.
// Errors from anywhere below appear in a banner; nothing here runs model code.
#pragma once

#include <QFont>
#include <QMainWindow>
#include <QPalette>
#include <map>
#include <memory>
#include <vector>

#include "app/chat_controller.h"
#include "app/conversation_list_model.h"
#include "app/gpu_monitor.h"
#include "app/inspected_reply.h"
#include "app/message_list_model.h"
#include "app/server_monitor.h"

class QAction;
class QFrame;
class QSplitter;
class QLabel;
class QTabWidget;
class QTimer;

namespace gb::ui {

class ChatView;
class LensDialog;
class ResampleDialog;
class GpuDashboard;
class HistorySidebar;
class RoutingView;
class SettingsPanel;
class ReasoningMapView;
class ExpertAnalyticsView;
class ModelAnatomyView;
class CompareDialog;
class ReplayBar;
class TokenInspector;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    enum Panel {
        InspectorPanel,
        ReasoningPanel,
        RoutingPanel,
        ExpertsPanel,
        HardwarePanel,
        SettingsPanelTab,
        AnatomyPanel
    };
    MainWindow(gb::app::ChatController& controller, gb::app::GpuMonitor* monitor,
               QWidget* parent = nullptr);

    ChatView* chat() const { return chat_; }
    HistorySidebar* sidebar() const { return sidebar_; }
    LensDialog* lens_dialog() const { return lens_; }
    ResampleDialog* resample_dialog() const { return resample_; }
    // A new branch of a stored reply whose reasoning starts with `thought` (what "Edit
    // thought" under a reply does after its dialog).
    void edit_thought_of(qint64 message_id, const QString& thought);
    // A stored reply's trace; null (and the error shown) when it cannot be read.
    std::shared_ptr<const gb::Trace> stored_trace(qint64 message_id);
    QAction* step_mode_action() const { return step_mode_action_; }
    // What the last "Run again" found (status bar text).
    QString last_reproduce() const { return last_reproduce_; }
    TokenInspector* inspector() const { return inspector_; }
    RoutingView* routing() const { return routing_; }
    ReasoningMapView* reasoning_map() const { return reasoning_map_; }
    ExpertAnalyticsView* experts() const { return experts_; }
    ModelAnatomyView* anatomy() const { return anatomy_; }
    GpuDashboard* dashboard() const { return dashboard_; }
    SettingsPanel* settings() const { return settings_; }
    QTabWidget* panels() const { return tabs_; }
    gb::app::ConversationListModel* conversations() const { return conversations_; }
    // The reply the inspector, routing view and dashboard show (live or stored).
    gb::app::InspectedReply* reply() const { return reply_; }
    QString error_text() const;  // the banner's text while it shows
    void close_banner();         // what its × does
    void show_panel(Panel p);
    // Opens the compare dialog with the inspected reply as A (non-modal; it deletes itself).
    CompareDialog* open_compare();
    // Presenter view (teaching): large fonts, high contrast, sidebar, menus and status hidden.
    void set_presenter(bool on);
    void refresh_bookmarks();  // the inspected stored reply's, from the history
    bool presenter() const { return presenter_; }
    ReplayBar* replay_bar() const { return replay_bar_; }
    void inspect(qint64 message_id);  // loads off the UI thread; the panels follow reply()
    void open_server_dialog();
    void open_model_dialog();
    // Model > Model library: the models folder and the bundled demo models.
    class LibraryDialog* open_library();
    void set_bundled_models_dir(const QString& dir) { bundled_models_ = dir; }
    // The window's geometry, splitter sizes and which side parts show, kept in QSettings
    // between runs; restore_layout is false when there was nothing to restore.
    bool restore_layout();
    void save_layout() const;
    void set_sidebar_shown(bool on);  // View > Show the conversation list (Ctrl+Shift+H)
    void set_panels_shown(bool on);   // View > Show the side panels (Ctrl+J)
    int chat_width() const;

protected:
    void closeEvent(QCloseEvent* e) override;
    void resizeEvent(QResizeEvent* e) override;

private:
    static constexpr int kChatMinWidth = 320;
    static constexpr int kChatWantWidth = 520;
    void fit_chat();
    QSplitter* split_ = nullptr;
    QWidget* right_ = nullptr;
    QString bundled_models_;
    QAction* show_sidebar_ = nullptr;
    QAction* show_panels_ = nullptr;
    void create_actions();
    void show_error(const QString& message, bool is_error = true);
    void update_status();

    gb::app::ChatController& c_;
    gb::app::ConversationListModel* conversations_ = nullptr;
    gb::app::MessageListModel* messages_ = nullptr;
    HistorySidebar* sidebar_ = nullptr;
    ChatView* chat_ = nullptr;
    TokenInspector* inspector_ = nullptr;
    RoutingView* routing_ = nullptr;
    ReasoningMapView* reasoning_map_ = nullptr;
    ExpertAnalyticsView* experts_ = nullptr;
    ModelAnatomyView* anatomy_ = nullptr;
    ReplayBar* replay_bar_ = nullptr;
    bool presenter_ = false;
    bool thinking_stopped_ = false;
    QAction* step_mode_action_ = nullptr;  // "Stop thinking" was pressed for the reply streaming
    QString last_reproduce_;
    LensDialog* lens_ = nullptr;          // made on first use
    ResampleDialog* resample_ = nullptr;  // made on first use
    void open_resample(int index);        // the inspector's token index
    void refresh_resamplings();           // the dialog's list, from the store
    quint64 lens_request_ = 0;
    quint64 rescore_request_ = 0;  // the latest "Compare precise" and its reply
    qint64 rescore_message_ = 0;
    QString lens_token_;
    std::vector<QAction*> step_actions_;  // Page Down / Page Up: only while replaying
    qint64 bookmarks_key() const;         // the stored reply whose bookmarks apply (0: none)
    qint64 bookmarks_shown_for_ = -1;     // the reply whose bookmarks the map lists
    QFont normal_font_;
    std::map<QWidget*, QFont> presenter_fonts_;  // the chat's own fonts before presenter view
    QPalette normal_palette_;
    GpuDashboard* dashboard_ = nullptr;
    gb::app::ServerMonitor* server_monitor_ = nullptr;
    void watch_server();  // the hardware view follows a remote model's server
    SettingsPanel* settings_ = nullptr;
    QTabWidget* tabs_ = nullptr;
    QFrame* banner_ = nullptr;
    QLabel* error_ = nullptr;
    QLabel* model_label_ = nullptr;
    QString loading_;
    gb::app::InspectedReply* reply_ = nullptr;
};

}  // namespace gb::ui
