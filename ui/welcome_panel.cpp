// WelcomePanel: title, intro, status line and a grid of demo-prompt buttons.
#include "ui/welcome_panel.h"

#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>
#include <algorithm>

namespace gb::ui {

WelcomePanel::WelcomePanel(QWidget* parent) : QWidget(parent) {
    setAccessibleName(tr("Welcome"));
    auto* v = new QVBoxLayout(this);
    v->setContentsMargins(24, 24, 24, 24);
    v->setSpacing(12);
    title_ = new QLabel(this);
    title_->setAlignment(Qt::AlignCenter);
    title_->setObjectName("welcomeTitle");
    title_->setWordWrap(true);
    intro_ = new QLabel(this);
    intro_->setWordWrap(true);
    intro_->setAlignment(Qt::AlignCenter);
    intro_->setMaximumWidth(720);
    status_ = new QLabel(tr("Open a model (Ctrl+O), then type a message below."), this);
    status_->setWordWrap(true);
    status_->setAlignment(Qt::AlignCenter);
    status_->setObjectName("welcomeStatus");
    // Labels that wrap may be as narrow as the chat: their text wraps instead of being cut.
    for (QLabel* l : {title_, status_})
        l->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    // Centred, at most 720 px, and as narrow as the chat: its height follows its width.
    intro_->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Preferred);
    grid_ = new QGridLayout;
    grid_->setSpacing(8);
    v->addWidget(title_);
    auto* centred = new QHBoxLayout;
    centred->addStretch(1);
    centred->addWidget(intro_, 100);
    centred->addStretch(1);
    v->addLayout(centred);
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
    for (int i = 0; i < set.prompts.size(); ++i) {
        const gb::app::DemoPrompt& p = set.prompts[i];
        auto* b = new QPushButton(this);
        // Two lines: what it shows, and the exact message it sends.
        b->setText(p.label == p.text ? p.text : p.label + "\n" + p.text);
        b->setToolTip(tr("Send \"%1\"").arg(p.text));
        b->setAccessibleName(tr("Demo prompt: %1").arg(p.label));
        b->setObjectName("welcomePrompt");
        b->setMinimumHeight(52);
        b->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
        connect(b, &QPushButton::clicked, this, [this, text = p.text] { emit promptChosen(text); });
        buttons_.push_back(b);
    }
    columns_ = 0;  // lay out anew
    reflow();
}

void WelcomePanel::resizeEvent(QResizeEvent* e) {
    QWidget::resizeEvent(e);
    reflow();
}

void WelcomePanel::reflow() {
    // As many columns (up to 3) as fit the widest label; fewer on a narrow chat.
    int need = 150;
    for (QWidget* b : buttons_) need = std::max(need, b->sizeHint().width());
    const int columns = std::clamp((width() - 48) / (need + grid_->spacing()), 1, 3);
    if (columns == columns_) return;
    columns_ = columns;
    for (QWidget* b : buttons_) grid_->removeWidget(b);
    for (size_t i = 0; i < buttons_.size(); ++i)
        grid_->addWidget(buttons_[i], static_cast<int>(i) / columns, static_cast<int>(i) % columns);
}

void WelcomePanel::set_prompts_enabled(bool on) {
    for (QWidget* b : buttons_) b->setEnabled(on);
}

}  // namespace gb::ui
