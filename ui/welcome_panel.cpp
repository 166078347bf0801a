// WelcomePanel: title, intro, status line and a grid of demo-prompt buttons.
#include "ui/welcome_panel.h"

#include <QGridLayout>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>

namespace gb::ui {

WelcomePanel::WelcomePanel(QWidget* parent) : QWidget(parent) {
    setAccessibleName(tr("Welcome"));
    auto* v = new QVBoxLayout(this);
    v->setContentsMargins(40, 30, 40, 30);
    v->setSpacing(12);
    title_ = new QLabel(this);
    title_->setAlignment(Qt::AlignCenter);
    title_->setStyleSheet("font-size: 18pt; font-weight: 600");
    intro_ = new QLabel(this);
    intro_->setWordWrap(true);
    intro_->setAlignment(Qt::AlignCenter);
    intro_->setMaximumWidth(720);
    status_ = new QLabel(tr("Open a model (Ctrl+O), then type a message below."), this);
    status_->setWordWrap(true);
    status_->setAlignment(Qt::AlignCenter);
    status_->setStyleSheet("color: palette(mid); font-size: 13pt");
    grid_ = new QGridLayout;
    grid_->setSpacing(8);
    v->addWidget(title_);
    v->addWidget(intro_, 0, Qt::AlignHCenter);
    v->addWidget(status_);
    v->addLayout(grid_);
    title_->hide();
    intro_->hide();
}

void WelcomePanel::set_status(const QString& text) { status_->setText(text); }

QString WelcomePanel::status() const { return status_->text(); }

void WelcomePanel::set_prompts(const gb::app::DemoPromptSet& set) {
    for (QWidget* b : buttons_) delete b;
    buttons_.clear();
    title_->setText(set.title);
    title_->setVisible(!set.title.isEmpty());
    intro_->setText(set.intro);
    intro_->setVisible(!set.intro.isEmpty());
    const int columns = 3;
    for (int i = 0; i < set.prompts.size(); ++i) {
        const gb::app::DemoPrompt& p = set.prompts[i];
        auto* b = new QPushButton(this);
        // Two lines: what it shows, and the exact message it sends.
        b->setText(p.label == p.text ? p.text : p.label + "\n" + p.text);
        b->setToolTip(tr("Send \"%1\"").arg(p.text));
        b->setAccessibleName(tr("Demo prompt: %1").arg(p.label));
        b->setMinimumHeight(52);
        connect(b, &QPushButton::clicked, this, [this, text = p.text] { emit promptChosen(text); });
        grid_->addWidget(b, i / columns, i % columns);
        buttons_.push_back(b);
    }
}

void WelcomePanel::set_prompts_enabled(bool on) {
    for (QWidget* b : buttons_) b->setEnabled(on);
}

}  // namespace gb::ui
