// WelcomePanel: what an empty conversation shows: a title, a line on what the loaded model can
// show, and buttons that send demo prompts, so that a first message is one click away.
#pragma once

#include <QWidget>

#include "app/demo_prompts.h"

class QGridLayout;
class QLabel;

namespace gb::ui {

class WelcomePanel : public QWidget {
    Q_OBJECT
public:
    explicit WelcomePanel(QWidget* parent = nullptr);
    // The status line ("Open a model (Ctrl+O) ..." / "X is ready").
    void set_status(const QString& text);
    // Title, intro and prompt buttons; an empty set shows the status line alone.
    void set_prompts(const gb::app::DemoPromptSet& set);
    void set_prompts_enabled(bool on);
    int prompt_count() const { return static_cast<int>(buttons_.size()); }
    QString status() const;
    int columns() const { return columns_; }

protected:
    // The prompt grid reflows to the width (3 columns, fewer on a narrow chat), so nothing is
    // clipped.
    void resizeEvent(QResizeEvent* e) override;

signals:
    void promptChosen(QString text);

private:
    QLabel* title_ = nullptr;
    QLabel* intro_ = nullptr;
    QLabel* status_ = nullptr;
    QGridLayout* grid_ = nullptr;
    std::vector<QWidget*> buttons_;
    int columns_ = 3;
    void reflow();
};

}  // namespace gb::ui
