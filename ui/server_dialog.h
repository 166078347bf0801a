// ServerDialog: connect to a model served by an inference server. Connection profiles (name,
// address, model, server kind, options) are remembered in the app's settings; an API key is
// kept only when asked, in the system keychain or a file only the user can read (KeyStore),
// or read from an environment variable, and never in the settings or the history. "List
// models" asks the server (on a helper thread) for its models and kind.
#pragma once

#include <QDialog>

#include "app/chat_types.h"
#include "app/key_store.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;

namespace gb::ui {

// The saved profiles' names, and one profile's fields (without its key).
QStringList server_profiles();
gb::app::RemoteSettings server_profile(const QString& name, QString* key_env = nullptr,
                                       bool* key_kept = nullptr);

class ServerDialog : public QDialog {
    Q_OBJECT
public:
    // keys: where keys are kept (the default: the keychain or the user's key file).
    explicit ServerDialog(QWidget* parent = nullptr, gb::app::KeyStore* keys = nullptr);
    ~ServerDialog() override;

    // The connection as filled in, with its key (typed, kept or from the environment).
    gb::app::LoadSettings settings() const;
    // Saves the profile (and the key when "keep" is ticked); false with the reason shown.
    bool save_profile();
    void select_profile(const QString& name);
    void list_models();  // asks the server; the model list and status follow
    QString status_text() const;

    // For tests and the tour.
    QLineEdit* name_edit() const { return name_; }
    QLineEdit* url_edit() const { return url_; }
    QLineEdit* key_edit() const { return key_; }
    QLineEdit* key_env_edit() const { return key_env_; }
    QCheckBox* keep_key_box() const { return keep_key_; }
    QComboBox* model_box() const { return model_; }
    QComboBox* kind_box() const { return kind_; }
    QCheckBox* routed_box() const { return routed_; }
    QSpinBox* layers_box() const { return layers_; }

signals:
    void modelsListed(QStringList models, QString status);

private:
    void show_models(const QStringList& models, const QString& status);
    void accept_connection();

    std::unique_ptr<gb::app::KeyStore> own_keys_;
    gb::app::KeyStore* keys_ = nullptr;
    QComboBox* profiles_ = nullptr;
    QLineEdit *name_ = nullptr, *url_ = nullptr, *key_ = nullptr, *key_env_ = nullptr;
    QCheckBox *keep_key_ = nullptr, *openai_only_ = nullptr, *routed_ = nullptr;
    QComboBox *kind_ = nullptr, *model_ = nullptr;
    QSpinBox *layers_ = nullptr, *experts_ = nullptr;
    QLabel* status_ = nullptr;
    QPushButton* list_ = nullptr;
    std::shared_ptr<bool> alive_;  // helper threads check it before answering
};

}  // namespace gb::ui
