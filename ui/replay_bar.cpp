// ReplayBar: buttons wired to the inspected reply's replay.
#include "ui/replay_bar.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QToolButton>

#include "app/inspected_reply.h"

namespace gb::ui {

ReplayBar::ReplayBar(gb::app::InspectedReply& reply, QWidget* parent)
    : QWidget(parent), reply_(reply) {
    auto* h = new QHBoxLayout(this);
    h->setContentsMargins(0, 0, 0, 0);
    auto button = [this, h](const QString& text, const QString& name, const QString& tip) {
        auto* b = new QToolButton(this);
        b->setText(text);
        b->setAccessibleName(name);
        b->setToolTip(tip);
        h->addWidget(b);
        return b;
    };
    replay_ = button(tr("Replay"), tr("Replay the inspected reply"),
                     tr("Replay the inspected reply token by token, every panel following (F5)"));
    replay_->setCheckable(true);
    back_ = button(tr("◀"), tr("Step back one token"), tr("One token back (Page Up)"));
    play_ = button(tr("Pause"), tr("Pause or resume the replay"), tr("Pause / resume (F6)"));
    forward_ = button(tr("▶"), tr("Step forward one token"), tr("One token on (Page Down)"));
    speed_ = new QComboBox(this);
    for (int tps : {2, 5, 10, 25, 100}) speed_->addItem(tr("%1 tok/s").arg(tps), tps);
    speed_->setCurrentIndex(1);
    speed_->setAccessibleName(tr("Replay speed"));
    h->addWidget(speed_);
    position_ = new QLabel(this);
    position_->setAccessibleName(tr("Replay position"));
    h->addWidget(position_, 1);
    presenter_ = button(tr("Presenter"), tr("Presenter view"),
                        tr("Large fonts, high contrast, chrome hidden (F11)"));
    presenter_->setCheckable(true);

    connect(replay_, &QToolButton::clicked, this, [this](bool on) {
        if (on) {
            if (!reply_.start_replay(speed())) replay_->setChecked(false);
        } else {
            reply_.stop_replay();
        }
    });
    connect(back_, &QToolButton::clicked, this, [this] { reply_.step_replay(-1); });
    connect(forward_, &QToolButton::clicked, this, [this] { reply_.step_replay(+1); });
    connect(play_, &QToolButton::clicked, this, [this] {
        if (reply_.replay_paused())
            reply_.resume_replay();
        else
            reply_.pause_replay();
    });
    connect(speed_, &QComboBox::currentIndexChanged, this,
            [this] { reply_.set_replay_speed(speed()); });
    connect(presenter_, &QToolButton::toggled, this, &ReplayBar::presenterToggled);
    connect(&reply_, &gb::app::InspectedReply::replayChanged, this, &ReplayBar::refresh);
    connect(&reply_, &gb::app::InspectedReply::traceChanged, this, &ReplayBar::refresh);
    refresh();
}

void ReplayBar::show_presenter(bool on) {
    const QSignalBlocker block(presenter_);
    presenter_->setChecked(on);
}

double ReplayBar::speed() const { return speed_->currentData().toDouble(); }
QString ReplayBar::position_text() const { return position_->text(); }

void ReplayBar::refresh() {
    const bool on = reply_.replaying();
    {
        const QSignalBlocker block(replay_);
        replay_->setChecked(on);
    }
    replay_->setEnabled(on || (reply_.trace() && !reply_.live()));
    for (QWidget* w : std::initializer_list<QWidget*>{back_, play_, forward_}) w->setEnabled(on);
    play_->setText(on && !reply_.replay_paused() ? tr("Pause") : tr("Play"));
    position_->setText(on ? tr("generated token %1 of %2%3")
                                .arg(reply_.replay_position())
                                .arg(reply_.replay_length())
                                .arg(reply_.replay_paused() ? tr(" · paused") : QString())
                          : QString());
}

}  // namespace gb::ui
