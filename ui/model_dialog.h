// ModelDialog: open a GGUF file or a Hugging Face checkpoint folder, see its metadata
// (architecture, parameters, experts, quant mix, context, memory needed), choose backend,
// threads, context size and KV cache type. Recent models are remembered (QSettings). The metadata
// is read on a helper thread, never on the UI thread.
#pragma once

#include <QDialog>

#include "app/chat_types.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QListWidget;
class QSpinBox;

namespace gb::ui {

// The models folder the library scans and downloads go to (QSettings "library/folder"; by
// default $XDG_DATA_HOME/glassbox/models).
QString library_folder();
void set_library_folder(const QString& dir);

QStringList recent_models();
void remember_model(const QString& path);
// The metadata as the dialog shows it (rich text), for a given context size and KV cache type.
QString describe_model(const gb::app::ModelInfo& info, int64_t n_ctx,
                       const std::string& cache_type = "f16");

class ModelDialog : public QDialog {
    Q_OBJECT
public:
    explicit ModelDialog(QWidget* parent = nullptr);
    void set_path(const QString& path);  // starts reading its metadata
    gb::app::LoadSettings settings() const;
    QString metadata_text() const;
    bool inspecting() const { return pending_ > 0; }

signals:
    void inspected(gb::app::ModelInfo info);

private:
    QString start_folder() const;  // where the file dialogs open
    void show_info();

    QLineEdit* path_ = nullptr;
    QListWidget* recent_ = nullptr;
    QLabel* meta_ = nullptr;
    QComboBox* backend_ = nullptr;
    QSpinBox* threads_ = nullptr;
    QSpinBox* ctx_ = nullptr;
    QSpinBox* cpu_layers_ = nullptr;
    QComboBox* cache_type_ = nullptr;
    gb::app::ModelInfo info_;
    int pending_ = 0;
};

}  // namespace gb::ui
