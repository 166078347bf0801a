// SettingsPanel: form widgets bound to GenerationSettings, and the context bar.
#include "ui/settings_panel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QPainter>
#include <QPlainTextEdit>
#include <QSpinBox>
#include <QVBoxLayout>

namespace gb::ui {

namespace {
const QColor kSystem(120, 120, 120), kUser(70, 130, 200), kAnswer(80, 170, 90),
    kReasoning(200, 140, 40), kOverhead(170, 170, 200);
}

ContextBar::ContextBar(QWidget* parent) : QWidget(parent) {
    setMinimumHeight(18);
    setAccessibleName(tr("Context use bar"));
}

void ContextBar::set_use(const gb::app::ContextUse& u) {
    u_ = u;
    update();
}

void ContextBar::paintEvent(QPaintEvent*) {
    QPainter p(this);
    const QRectF r = rect().adjusted(0, 0, -1, -1);
    p.fillRect(r, palette().base());
    p.setPen(palette().mid().color());
    p.drawRect(r);
    if (u_.n_ctx <= 0) return;
    double x = r.left();
    const std::pair<int64_t, QColor> parts[] = {{u_.system, kSystem},
                                                {u_.user, kUser},
                                                {u_.answers, kAnswer},
                                                {u_.reasoning, kReasoning},
                                                {u_.template_overhead, kOverhead}};
    for (const auto& [n, c] : parts) {
        const double w = r.width() * static_cast<double>(n) / static_cast<double>(u_.n_ctx);
        p.fillRect(QRectF(x, r.top() + 1, std::min(w, r.right() - x), r.height() - 1), c);
        x += w;
        if (x >= r.right()) break;
    }
}

SettingsPanel::SettingsPanel(QWidget* parent) : QWidget(parent) {
    auto* v = new QVBoxLayout(this);
    auto* sampling = new QGroupBox(tr("Sampling (this conversation)"), this);
    auto* form = new QFormLayout(sampling);
    auto dspin = [&](double lo, double hi, double step, const QString& name) {
        auto* s = new QDoubleSpinBox(sampling);
        s->setRange(lo, hi);
        s->setSingleStep(step);
        s->setDecimals(2);
        s->setAccessibleName(name);
        connect(s, &QDoubleSpinBox::valueChanged, this, &SettingsPanel::changed);
        return s;
    };
    auto ispin = [&](int lo, int hi, const QString& name) {
        auto* s = new QSpinBox(sampling);
        s->setRange(lo, hi);
        s->setAccessibleName(name);
        connect(s, &QSpinBox::valueChanged, this, &SettingsPanel::changed);
        return s;
    };
    temp_ = dspin(0, 5, 0.05, tr("Temperature"));
    top_k_ = ispin(0, 1000, tr("Top-k"));
    top_p_ = dspin(0, 1, 0.01, tr("Top-p"));
    min_p_ = dspin(0, 1, 0.01, tr("Min-p"));
    repeat_ = dspin(0.5, 2, 0.01, tr("Repetition penalty"));
    seed_ = ispin(0, 2147483647, tr("Seed"));
    max_tokens_ = ispin(1, 1 << 20, tr("Maximum reply tokens"));
    form->addRow(tr("&Temperature:"), temp_);
    form->addRow(tr("Top-&k:"), top_k_);
    form->addRow(tr("Top-&p:"), top_p_);
    form->addRow(tr("&Min-p:"), min_p_);
    form->addRow(tr("&Repetition penalty:"), repeat_);
    form->addRow(tr("S&eed:"), seed_);
    form->addRow(tr("Max &tokens:"), max_tokens_);
    thinking_ = new QCheckBox(tr("&Thinking (for templates that can turn it off)"), sampling);
    thinking_->setAccessibleName(tr("Thinking"));
    connect(thinking_, &QCheckBox::toggled, this, &SettingsPanel::changed);
    form->addRow(thinking_);
    think_budget_ = ispin(-1, 1 << 20, tr("Thinking budget in tokens"));
    think_budget_->setSpecialValueText(tr("no limit"));
    think_budget_->setToolTip(
        tr("After this many reasoning tokens the reasoning is closed with the model's "
           "end-of-thinking marker and the answer follows"));
    form->addRow(tr("Thinking &budget:"), think_budget_);
    auto steer_edit = [&](const QString& name) {
        auto* e = new QLineEdit(sampling);
        e->setAccessibleName(name);
        e->setPlaceholderText(tr("e.g. 3:5,7 or *:12 (layer:experts)"));
        e->setToolTip(
            tr("Mixture-of-experts models: LAYER:EXPERT,EXPERT with LAYER a layer "
               "index or * for every MoE layer; groups separated by ;"));
        connect(e, &QLineEdit::editingFinished, this, &SettingsPanel::changed);
        return e;
    };
    disable_experts_ = steer_edit(tr("Experts switched off"));
    force_experts_ = steer_edit(tr("Experts forced on"));
    form->addRow(tr("Experts o&ff:"), disable_experts_);
    form->addRow(tr("Experts forced o&n:"), force_experts_);
    policy_ = new QComboBox(sampling);
    policy_->addItems(
        {tr("As the template decides"), tr("Keep in the prompt"), tr("Strip from the prompt")});
    policy_->setAccessibleName(tr("Earlier reasoning"));
    connect(policy_, &QComboBox::currentIndexChanged, this, &SettingsPanel::changed);
    form->addRow(tr("Earlier &reasoning:"), policy_);
    precise_ = new QCheckBox(tr("&Precise probabilities"), sampling);
    precise_->setAccessibleName(tr("Precise probabilities"));
    precise_->setToolTip(
        tr("Local models: activations and the KV cache stay 32-bit floats, so every "
           "probability is within 0.0001 of the exact computation (fast mode rounds "
           "activations to 8 bits: about 0.05 on a 4-bit model). The trace records the mode."));
    connect(precise_, &QCheckBox::toggled, this, &SettingsPanel::changed);
    form->addRow(precise_);
    auto* precise_note =
        new QLabel(tr("Probabilities within 1e-4 of exact (fast mode: a few percent off on 4-bit "
                      "models); decodes at about 0.7x the speed."),
                   sampling);
    precise_note->setWordWrap(true);
    precise_note->setObjectName(QStringLiteral("settingNote"));
    form->addRow(precise_note);
    v->addWidget(sampling);

    auto* sys = new QGroupBox(tr("System prompt"), this);
    auto* sv = new QVBoxLayout(sys);
    system_ = new QPlainTextEdit(sys);
    system_->setAccessibleName(tr("System prompt"));
    system_->setPlaceholderText(tr("Optional instructions for this conversation"));
    system_->setMaximumHeight(90);
    connect(system_, &QPlainTextEdit::textChanged, this, &SettingsPanel::changed);
    sv->addWidget(system_);
    v->addWidget(sys);

    auto* ctx = new QGroupBox(tr("Context"), this);
    auto* cv = new QVBoxLayout(ctx);
    bar_ = new ContextBar(ctx);
    cv->addWidget(bar_);
    context_ = new QLabel(tr("Load a model to see how the context is used."), ctx);
    context_->setWordWrap(true);
    context_->setTextFormat(Qt::RichText);
    context_->setAccessibleName(tr("Context accounting"));
    cv->addWidget(context_);
    v->addWidget(ctx);
    v->addStretch();
}

void SettingsPanel::set_settings(const gb::app::GenerationSettings& s) {
    loading_ = true;
    temp_->setValue(s.sampling.temperature);
    top_k_->setValue(s.sampling.top_k);
    top_p_->setValue(s.sampling.top_p);
    min_p_->setValue(s.sampling.min_p);
    repeat_->setValue(s.sampling.repeat_penalty);
    seed_->setValue(static_cast<int>(s.sampling.seed & 0x7fffffff));
    max_tokens_->setValue(s.max_tokens);
    thinking_->setChecked(s.thinking);
    think_budget_->setValue(s.think_budget);
    disable_experts_->setText(QString::fromStdString(s.disable_experts));
    force_experts_->setText(QString::fromStdString(s.force_experts));
    policy_->setCurrentIndex(static_cast<int>(s.reasoning));
    precise_->setChecked(s.precise);
    if (system_->toPlainText().toStdString() != s.system_prompt)
        system_->setPlainText(QString::fromStdString(s.system_prompt));
    loading_ = false;
}

gb::app::GenerationSettings SettingsPanel::settings() const {
    gb::app::GenerationSettings s;
    s.sampling.temperature = static_cast<float>(temp_->value());
    s.sampling.top_k = top_k_->value();
    s.sampling.top_p = static_cast<float>(top_p_->value());
    s.sampling.min_p = static_cast<float>(min_p_->value());
    s.sampling.repeat_penalty = static_cast<float>(repeat_->value());
    s.sampling.seed = static_cast<uint64_t>(seed_->value());
    s.max_tokens = max_tokens_->value();
    s.thinking = thinking_->isChecked();
    s.think_budget = think_budget_->value();
    s.disable_experts = disable_experts_->text().trimmed().toStdString();
    s.force_experts = force_experts_->text().trimmed().toStdString();
    s.reasoning = static_cast<gb::app::ReasoningPolicy>(policy_->currentIndex());
    s.precise = precise_->isChecked();
    s.system_prompt = system_->toPlainText().toStdString();
    return s;
}

void SettingsPanel::changed() {
    if (!loading_) emit settingsEdited(settings());
}

void SettingsPanel::set_context_use(const gb::app::ContextUse& u, bool template_keeps_reasoning) {
    bar_->set_use(u);
    if (u.n_ctx <= 0) {
        context_->setText(tr("Load a model to see how the context is used."));
        return;
    }
    auto sw = [](const QColor& c) {
        return QStringLiteral("<span style='color:%1'>■</span>").arg(c.name());
    };
    QString t = tr("%1 of %2 tokens (%3%) for the next reply's prompt:<br>")
                    .arg(u.total())
                    .arg(u.n_ctx)
                    .arg(100.0 * u.total() / u.n_ctx, 0, 'f', 1);
    if (u.total() >= u.n_ctx)
        t +=
            tr("<span style='color:#c33'><b>The conversation no longer fits the context</b>: start "
               "a new chat, strip "
               "earlier reasoning or load the model with a larger context.</span><br>");
    t += tr("%1 system %2 · %3 user %4 · %5 answers %6 · %7 reasoning %8 · %9 template %10<br>")
             .arg(sw(kSystem))
             .arg(u.system)
             .arg(sw(kUser))
             .arg(u.user)
             .arg(sw(kAnswer))
             .arg(u.answers)
             .arg(sw(kReasoning))
             .arg(u.reasoning)
             .arg(sw(kOverhead))
             .arg(u.template_overhead);
    const QString source = policy_->currentIndex() == 0
                               ? (template_keeps_reasoning ? tr("the model's template keeps it")
                                                           : tr("the model's template strips it"))
                               : tr("your override");
    t += u.reasoning_kept
             ? tr("Earlier reasoning is <b>kept</b> in the prompt (%1).").arg(source)
             : tr("Earlier reasoning is <b>stripped</b> from the prompt (%1): %2 tokens left out.")
                   .arg(source)
                   .arg(u.reasoning_dropped);
    context_->setText(t);
}

QString SettingsPanel::context_text() const { return context_->text(); }

}  // namespace gb::ui
