// ReasoningMapView: the shape of a whole reply at a glance. A sparkline of entropy and of the
// chosen token's probability over every generated token, the fork tokens (entropy at or above
// the reply's 80th percentile of reasoning entropy) marked and clickable, the reasoning's steps
// with their tokens, time and mean entropy, DeepConf confidence with its least confident window
// shaded, a loop alarm, and a meter of reasoning against answer. The numbers are
// gb::map_reasoning's (engine/trace/trace_analysis.h), the same as glassbox-cli analyze prints.
#pragma once

#include <QWidget>
#include <memory>

#include "app/history/history_types.h"
#include "engine/trace/trace.h"
#include "engine/trace/trace_analysis.h"

class QLabel;
class QListWidget;
class QProgressBar;
class QPushButton;
class QStackedWidget;
class QTableWidget;

namespace gb::ui {

class SparklineWidget;

class ReasoningMapView : public QWidget {
    Q_OBJECT
public:
    explicit ReasoningMapView(QWidget* parent = nullptr);
    void set_trace(std::shared_ptr<const Trace> trace);
    void trace_grew();             // the trace given to set_trace() has more tokens
    void select_token(int index);  // a token index into the trace; marks it on the sparkline

    const ReasoningMap& map() const { return map_; }
    // The inspected reply's bookmarks; enabled: it is a stored reply (bookmarks need its id).
    void set_bookmarks(const std::vector<gb::app::Bookmark>& marks, bool enabled);
    QListWidget* bookmarks_list() const { return bookmarks_; }
    // Asks for a note and emits bookmarkRequested for the selected token (the button).
    void bookmark_selected();
    int selected_token() const { return selected_; }
    bool showing_placeholder() const;
    QString summary_text() const;
    QString loop_text() const;  // empty when no loop was found
    QString meter_text() const;
    QString token_text() const;  // the selected token's line
    SparklineWidget* sparkline() const { return spark_; }
    QTableWidget* steps_table() const { return steps_; }
    QListWidget* forks_list() const { return forks_; }
    // The trace index of sparkline point x, and back (-1 when out of range).
    int token_of_point(int x) const;
    int point_of_token(int index) const;

signals:
    void tokenActivated(int index);
    void exportBundleRequested();  // the "Export bundle…" button
    void compareRequested();       // the "Compare with…" button
    void exportHtmlRequested();    // the "Export HTML…" button
    // Bookmarks (teaching): on the selected token with a note, a note edited, one removed.
    void bookmarkRequested(int token, QString note);
    void bookmarkNoteEdited(qint64 id, QString note);
    void bookmarkRemoved(qint64 id);

protected:
    void showEvent(QShowEvent* e) override;  // catches up on what changed while hidden

private:
    void rebuild();
    bool dirty_ = false;
    int selected_ =
        -1;  // trace index of the selected token  // the trace changed while the view was hidden
    void show_token(int index);

    std::shared_ptr<const Trace> trace_;
    ReasoningMap map_;
    std::vector<int> points_;    // sparkline point -> trace index (generated tokens)
    std::vector<int> point_of_;  // trace index -> sparkline point, -1 for prompt tokens
    QStackedWidget* stack_ = nullptr;
    QLabel* placeholder_ = nullptr;
    QWidget* page_ = nullptr;
    QLabel* summary_ = nullptr;
    QProgressBar* meter_ = nullptr;
    QLabel* loop_ = nullptr;
    SparklineWidget* spark_ = nullptr;
    QLabel* token_ = nullptr;
    QTableWidget* steps_ = nullptr;
    QListWidget* forks_ = nullptr;
    QListWidget* bookmarks_ = nullptr;
    QPushButton* bookmark_button_ = nullptr;
};

}  // namespace gb::ui
