// StepChooser: step mode's choice (manual sampling, for the classroom). While a reply waits for
// its next token, the model's top alternatives are offered as buttons with their probabilities,
// the sampler's pick marked; one click (or the digit keys 1-9, Enter for the sampler's pick)
// sends the choice on.
#pragma once

#include <QWidget>
#include <vector>

#include "engine/trace/trace.h"

class QLabel;
class QHBoxLayout;
class QPushButton;

namespace gb::ui {

class StepChooser : public QWidget {
    Q_OBJECT
public:
    explicit StepChooser(QWidget* parent = nullptr);
    // Shows the choice for generated token `position`.
    void offer(int position, const std::vector<Alternative>& top, int32_t sampled);
    void clear();  // hides it (the reply ended or was stopped)
    int offered() const { return static_cast<int>(ids_.size()); }
    // Picks the i-th offered token (0-based); -1: the sampler's pick.
    void pick(int i);

signals:
    void chosen(int token);

protected:
    void keyPressEvent(QKeyEvent* e) override;

private:
    QLabel* label_ = nullptr;
    QHBoxLayout* row_ = nullptr;
    std::vector<QPushButton*> buttons_;
    std::vector<int32_t> ids_;
    int32_t sampled_ = -1;
};

}  // namespace gb::ui
