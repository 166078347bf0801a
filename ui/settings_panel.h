// SettingsPanel: the current conversation's sampling settings, system prompt, thinking switch
// and reasoning policy, and its context accounting (how much of the context the system
// prompt, user turns, answers and kept reasoning take).
#pragma once

#include <QWidget>

#include "app/chat_types.h"

class QCheckBox;
class QLineEdit;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QPlainTextEdit;
class QSpinBox;

namespace gb::ui {

// A stacked bar of the context's parts.
class ContextBar : public QWidget {
    Q_OBJECT
public:
    explicit ContextBar(QWidget* parent = nullptr);
    void set_use(const gb::app::ContextUse& u);
    QSize sizeHint() const override { return {300, 22}; }

protected:
    void paintEvent(QPaintEvent*) override;

private:
    gb::app::ContextUse u_;
};

class SettingsPanel : public QWidget {
    Q_OBJECT
public:
    explicit SettingsPanel(QWidget* parent = nullptr);
    void set_settings(const gb::app::GenerationSettings& s);  // does not emit
    gb::app::GenerationSettings settings() const;
    void set_context_use(const gb::app::ContextUse& u, bool template_keeps_reasoning);
    QString context_text() const;

signals:
    void settingsEdited(gb::app::GenerationSettings s);

private:
    void changed();

    bool loading_ = false;
    QDoubleSpinBox *temp_ = nullptr, *top_p_ = nullptr, *min_p_ = nullptr, *repeat_ = nullptr;
    QSpinBox *top_k_ = nullptr, *max_tokens_ = nullptr, *seed_ = nullptr, *think_budget_ = nullptr;
    QCheckBox* thinking_ = nullptr;
    QCheckBox* precise_ = nullptr;
    QLineEdit *disable_experts_ = nullptr, *force_experts_ = nullptr;
    QComboBox* policy_ = nullptr;
    QPlainTextEdit* system_ = nullptr;
    ContextBar* bar_ = nullptr;
    QLabel* context_ = nullptr;
};

}  // namespace gb::ui
