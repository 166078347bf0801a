// ModelDialog: file choosing, background metadata reading, load settings.
#include "ui/model_dialog.h"

#include <QComboBox>
#include <QCoreApplication>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPointer>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QThread>
#include <QVBoxLayout>

#include "app/chat_engine.h"
#include "app/remote/hub_download.h"
namespace gb::ui {

QString library_folder() {
    const QString fallback = QString::fromStdString(gb::remote::default_models_dir().string());
    return QSettings().value("library/folder", fallback).toString();
}

void set_library_folder(const QString& dir) { QSettings().setValue("library/folder", dir); }

namespace {
QString human_bytes(double b) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) b /= 1024, ++u;
    return QStringLiteral("%1 %2").arg(b, 0, 'f', u ? 2 : 0).arg(units[u]);
}
QString human_count(double n) {
    if (n >= 1e9) return QStringLiteral("%1 B").arg(n / 1e9, 0, 'f', 2);
    if (n >= 1e6) return QStringLiteral("%1 M").arg(n / 1e6, 0, 'f', 1);
    return QString::number(n, 'f', 0);
}
}  // namespace

QStringList recent_models() { return QSettings().value("models/recent").toStringList(); }

void remember_model(const QString& path) {
    QStringList list = recent_models();
    list.removeAll(path);
    list.prepend(path);
    while (list.size() > 10) list.removeLast();
    QSettings().setValue("models/recent", list);
}

QString describe_model(const gb::app::ModelInfo& m, int64_t n_ctx, const std::string& cache_type) {
    QString s = QStringLiteral("<b>%1</b><br>").arg(QString::fromStdString(m.name).toHtmlEscaped());
    if (m.arch.empty() && !m.error.empty())
        return s + QObject::tr("<span style='color:#c33'>Cannot read this model: %1</span>")
                       .arg(QString::fromStdString(m.error).toHtmlEscaped());
    s += QObject::tr("format: %1<br>architecture: %2<br>parameters: %3<br>weights: %4 (%5)<br>")
             .arg(QString::fromStdString(m.format), QString::fromStdString(m.arch),
                  human_count(static_cast<double>(m.n_params)),
                  human_bytes(static_cast<double>(m.weight_bytes)),
                  QString::fromStdString(m.quant_mix));
    s += QObject::tr("layers: %1, embedding %2<br>").arg(m.n_layer).arg(m.n_embd);
    s += m.is_moe() ? QObject::tr("experts: %1 per MoE layer, %2 used per token, %3 MoE layers<br>")
                          .arg(m.n_expert)
                          .arg(m.n_expert_used)
                          .arg(m.n_moe_layers)
                    : QObject::tr("experts: none (dense model)<br>");
    s += QObject::tr("training context: %1 tokens<br>").arg(m.n_ctx_train);
    if (m.n_ctx_train > 0 && n_ctx > m.n_ctx_train)
        s += QObject::tr(
                 "<span style='color:#c33'>Warning: %1 tokens is more context than the "
                 "model was trained on (%2): past that, its output usually falls "
                 "apart.</span><br>")
                 .arg(n_ctx)
                 .arg(m.n_ctx_train);
    s += QObject::tr("memory needed at %1 tokens of context: %2 (weights + %3 KV cache, %4)<br>")
             .arg(n_ctx)
             .arg(human_bytes(static_cast<double>(m.memory_needed(n_ctx, cache_type))))
             .arg(human_bytes(static_cast<double>(m.kv_bytes(cache_type) * n_ctx)))
             .arg(QString::fromStdString(cache_type));
    s += QObject::tr("chat template: %1")
             .arg(m.has_template ? QObject::tr("the model's own")
                                 : QObject::tr("none; a built-in format is used"));
    if (!m.error.empty())
        s += QObject::tr("<br><span style='color:#c33'>Problem: %1</span>")
                 .arg(QString::fromStdString(m.error).toHtmlEscaped());
    return s;
}

QString ModelDialog::start_folder() const {
    // The folder of the model shown, else the library's folder (made if missing).
    const QFileInfo shown(path_->text());
    if (!path_->text().isEmpty() && shown.exists())
        return shown.isDir() ? shown.absoluteFilePath() : shown.absolutePath();
    const QString lib = library_folder();
    QDir().mkpath(lib);
    return lib;
}

ModelDialog::ModelDialog(QWidget* parent) : QDialog(parent) {
    setWindowTitle(tr("Open model"));
    setAccessibleName(tr("Model manager"));
    auto* v = new QVBoxLayout(this);
    auto* row = new QHBoxLayout;
    path_ = new QLineEdit(this);
    path_->setPlaceholderText(tr("A .gguf file or a Hugging Face checkpoint folder"));
    path_->setAccessibleName(tr("Model path"));
    auto* file_btn = new QPushButton(tr("&File…"), this);
    file_btn->setAccessibleName(tr("Choose a GGUF file"));
    auto* dir_btn = new QPushButton(tr("F&older…"), this);
    dir_btn->setAccessibleName(tr("Choose a checkpoint folder"));
    row->addWidget(path_, 1);
    row->addWidget(file_btn);
    row->addWidget(dir_btn);
    v->addLayout(row);
    v->addWidget(new QLabel(tr("Recent models:"), this));
    recent_ = new QListWidget(this);
    recent_->setAccessibleName(tr("Recent models"));
    recent_->addItems(recent_models());
    recent_->setMaximumHeight(90);
    v->addWidget(recent_);
    meta_ = new QLabel(tr("Choose a model to see what it holds."), this);
    meta_->setWordWrap(true);
    meta_->setTextFormat(Qt::RichText);
    meta_->setMinimumHeight(160);
    meta_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    meta_->setAccessibleName(tr("Model metadata"));
    v->addWidget(meta_, 1);
    auto* form = new QFormLayout;
    backend_ = new QComboBox(this);
    for (const std::string& b : gb::app::available_backends())
        backend_->addItem(QString::fromStdString(b));
    backend_->setAccessibleName(tr("Backend"));
    threads_ = new QSpinBox(this);
    threads_->setRange(0, 512);
    threads_->setSpecialValueText(tr("all cores"));
    threads_->setAccessibleName(tr("Threads"));
    ctx_ = new QSpinBox(this);
    ctx_->setRange(128, 1 << 20);
    ctx_->setSingleStep(1024);
    ctx_->setValue(4096);
    ctx_->setAccessibleName(tr("Context size"));
    cpu_layers_ = new QSpinBox(this);
    cpu_layers_->setRange(-1, 4096);
    cpu_layers_->setSpecialValueText(tr("auto (as few as fit)"));
    cpu_layers_->setValue(-1);
    cpu_layers_->setAccessibleName(tr("Layers kept on the CPU"));
    cpu_layers_->setToolTip(
        tr("For a model too big for the GPU: its first layers run on the CPU.\n"
           "Auto keeps as few there as let the rest fit (none if all fits)."));
    form->addRow(tr("&Backend:"), backend_);
    form->addRow(tr("&Threads:"), threads_);
    form->addRow(tr("&Context (tokens):"), ctx_);
    cache_type_ = new QComboBox(this);
    cache_type_->addItem(tr("f16 (default)"), QStringLiteral("f16"));
    cache_type_->addItem(tr("q8_0 (about half the memory)"), QStringLiteral("q8_0"));
    cache_type_->addItem(tr("bf16"), QStringLiteral("bf16"));
    cache_type_->addItem(tr("f32 (exact, twice the memory)"), QStringLiteral("f32"));
    cache_type_->setAccessibleName(tr("KV cache type"));
    cache_type_->setToolTip(
        tr("How the model's memory of the conversation (the KV cache) is stored.\n"
           "f16 halves f32's memory at a rounding far below the model's own;\n"
           "q8_0 halves it again, for long contexts on small machines."));
    form->addRow(tr("Layers on the C&PU:"), cpu_layers_);
    form->addRow(tr("&KV cache:"), cache_type_);
    auto gpu_only = [this] { cpu_layers_->setEnabled(backend_->currentText() != "cpu"); };
    gpu_only();
    connect(backend_, &QComboBox::currentTextChanged, this, gpu_only);
    v->addLayout(form);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    buttons->button(QDialogButtonBox::Ok)->setText(tr("&Load"));
    v->addWidget(buttons);

    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(file_btn, &QPushButton::clicked, this, [this] {
        const QString f =
            QFileDialog::getOpenFileName(this, tr("Open a GGUF model"), start_folder(),
                                         tr("GGUF models (*.gguf);;All files (*)"));
        if (!f.isEmpty()) set_path(f);
    });
    connect(dir_btn, &QPushButton::clicked, this, [this] {
        const QString d = QFileDialog::getExistingDirectory(
            this, tr("Open a Hugging Face checkpoint folder"), start_folder());
        if (!d.isEmpty()) set_path(d);
    });
    connect(recent_, &QListWidget::itemClicked, this,
            [this](QListWidgetItem* it) { set_path(it->text()); });
    connect(path_, &QLineEdit::editingFinished, this, [this] { set_path(path_->text()); });
    connect(ctx_, &QSpinBox::valueChanged, this, &ModelDialog::show_info);
    connect(cache_type_, &QComboBox::currentIndexChanged, this, &ModelDialog::show_info);
    resize(620, 560);
}

void ModelDialog::set_path(const QString& path) {
    if (path_->text() != path) path_->setText(path);
    if (path.isEmpty()) return;
    meta_->setText(tr("Reading %1…").arg(path.toHtmlEscaped()));
    ++pending_;
    QPointer<ModelDialog> self(this);
    const std::string p = path.toStdString();
    QThread* t = QThread::create([self, p] {
        gb::app::ModelInfo info = gb::app::inspect_model(p);
        QMetaObject::invokeMethod(QCoreApplication::instance(), [self, info] {
            if (!self) return;
            --self->pending_;
            self->info_ = info;
            if (info.n_ctx_train > 0 && self->ctx_->value() > info.n_ctx_train)
                self->ctx_->setValue(static_cast<int>(info.n_ctx_train));
            if (info.n_layer > 0) self->cpu_layers_->setMaximum(static_cast<int>(info.n_layer));
            self->show_info();
            emit self->inspected(info);
        });
    });
    connect(t, &QThread::finished, t, &QObject::deleteLater);
    t->start();
}

void ModelDialog::show_info() {
    if (info_.path.empty()) return;
    // A type the model's widths do not allow (q8_0 needs rows of whole 32-value blocks).
    const std::string type = cache_type_->currentData().toString().toStdString();
    QString text = describe_model(info_, ctx_->value(), type);
    if (!info_.kv_bytes_by_type.empty() && !info_.kv_bytes_by_type.count(type))
        text += tr("<br><span style='color:#c33'>This model's KV cache rows cannot be stored "
                   "as %1; choose f16.</span>")
                    .arg(QString::fromStdString(type));
    meta_->setText(text);
}

gb::app::LoadSettings ModelDialog::settings() const {
    gb::app::LoadSettings s;
    s.path = path_->text().toStdString();
    s.backend = backend_->currentText().toStdString();
    s.n_threads = threads_->value();
    s.n_ctx = ctx_->value();
    s.n_cpu_layers = s.backend == "cpu" ? 0 : cpu_layers_->value();  // -1: auto
    s.cache_type = cache_type_->currentData().toString().toStdString();
    return s;
}

QString ModelDialog::metadata_text() const { return meta_->text(); }

}  // namespace gb::ui
