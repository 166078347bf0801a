// ReplayBar: the teaching controls over the inspected reply: replay it token by token (play,
// pause, step back and forward, speed) with every panel following, and the presenter view
// (large fonts, high contrast, chrome hidden; Page Down / Page Up / Space step).
#pragma once

#include <QWidget>

class QComboBox;
class QLabel;
class QToolButton;

namespace gb::app {
class InspectedReply;
}

namespace gb::ui {

class ReplayBar : public QWidget {
    Q_OBJECT
public:
    ReplayBar(gb::app::InspectedReply& reply, QWidget* parent = nullptr);
    double speed() const;  // tokens per second chosen
    QString position_text() const;
    void refresh();                // follows the reply's replay state
    void show_presenter(bool on);  // the Presenter button's state, without signalling

signals:
    void presenterToggled(bool on);

private:
    gb::app::InspectedReply& reply_;
    QToolButton* replay_ = nullptr;
    QToolButton* back_ = nullptr;
    QToolButton* play_ = nullptr;
    QToolButton* forward_ = nullptr;
    QComboBox* speed_ = nullptr;
    QLabel* position_ = nullptr;
    QToolButton* presenter_ = nullptr;
};

}  // namespace gb::ui
