// StepChooser: the buttons of step mode.
#include "ui/step_chooser.h"

#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>
#include <cmath>

#include "ui/token_flow_view.h"

namespace gb::ui {

StepChooser::StepChooser(QWidget* parent) : QWidget(parent) {
    auto* v = new QVBoxLayout(this);
    v->setContentsMargins(4, 4, 4, 4);
    label_ = new QLabel(this);
    label_->setWordWrap(true);
    v->addWidget(label_);
    row_ = new QHBoxLayout;
    v->addLayout(row_);
    setAccessibleName(tr("Step mode: choose the next token"));
    setFocusPolicy(Qt::StrongFocus);
    hide();
}

void StepChooser::offer(int position, const std::vector<Alternative>& top, int32_t sampled) {
    for (QPushButton* b : buttons_) delete b;
    buttons_.clear();
    ids_.clear();
    sampled_ = sampled;
    label_->setText(tr("<b>Step mode</b>: token %1. Pick what comes next (keys 1-%2), or "
                       "let the sampler choose (Enter).")
                        .arg(position)
                        .arg(std::min<size_t>(9, top.size())));
    for (size_t i = 0; i < top.size(); ++i) {
        const Alternative& a = top[i];
        QString text = QStringLiteral("%1  “%2”  %3%")
                           .arg(i + 1)
                           .arg(token_display(a.text))
                           .arg(100.0 * std::exp(static_cast<double>(a.logprob)), 0, 'f', 1);
        if (a.id == sampled) text += tr("  (sampler)");
        auto* b = new QPushButton(text, this);
        b->setAccessibleName(tr("Choose %1").arg(token_display(a.text)));
        connect(b, &QPushButton::clicked, this, [this, i] { pick(static_cast<int>(i)); });
        row_->addWidget(b);
        buttons_.push_back(b);
        ids_.push_back(a.id);
    }
    auto* s = new QPushButton(tr("Sampler's pick"), this);
    s->setAccessibleName(tr("Let the sampler choose"));
    connect(s, &QPushButton::clicked, this, [this] { pick(-1); });
    row_->addWidget(s);
    buttons_.push_back(s);
    show();
    setFocus();
}

void StepChooser::clear() {
    for (QPushButton* b : buttons_) delete b;
    buttons_.clear();
    ids_.clear();
    hide();
}

void StepChooser::pick(int i) {
    if (ids_.empty() && sampled_ < 0) return;
    const int32_t id =
        i >= 0 && i < static_cast<int>(ids_.size()) ? ids_[static_cast<size_t>(i)] : sampled_;
    clear();
    sampled_ = -1;
    emit chosen(id);
}

void StepChooser::keyPressEvent(QKeyEvent* e) {
    if (e->key() >= Qt::Key_1 && e->key() <= Qt::Key_9) {
        pick(e->key() - Qt::Key_1);
        return;
    }
    if (e->key() == Qt::Key_Return || e->key() == Qt::Key_Enter) {
        pick(-1);
        return;
    }
    QWidget::keyPressEvent(e);
}

}  // namespace gb::ui
