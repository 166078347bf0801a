// ServerDialog: profiles in QSettings, keys through KeyStore, the model list from a helper
// thread.
#include "ui/server_dialog.h"

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QPointer>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QVBoxLayout>
#include <thread>

#include "app/remote/remote_chat.h"

namespace gb::ui {

namespace {

const char* kGroup = "servers/";

// The kinds offered, as RemoteSettings::kind names them ("" asks the server).
const std::pair<const char*, const char*> kKinds[] = {
    {"", "Ask the server"},           {"vllm", "vLLM"},     {"sglang", "SGLang"},
    {"llama-server", "llama-server"}, {"ollama", "Ollama"}, {"openai", "OpenAI-compatible"}};

}  // namespace

QStringList server_profiles() {
    QSettings s;
    s.beginGroup("servers");
    QStringList names = s.childKeys();
    names.sort(Qt::CaseInsensitive);
    return names;
}

gb::app::RemoteSettings server_profile(const QString& name, QString* key_env, bool* key_kept) {
    const QJsonObject o =
        QJsonDocument::fromJson(QSettings().value(kGroup + name).toByteArray()).object();
    gb::app::RemoteSettings r;
    r.base_url = o.value("url").toString().toStdString();
    r.model = o.value("model").toString().toStdString();
    r.kind = o.value("kind").toString().toStdString();
    r.openai_fields_only = o.value("openai_fields_only").toBool();
    r.routed_experts = o.value("routed_experts").toBool();
    r.n_layer = o.value("n_layer").toInteger();
    r.n_expert = o.value("n_expert").toInteger();
    if (key_env) *key_env = o.value("key_env").toString();
    if (key_kept) *key_kept = o.value("key_kept").toBool();
    return r;
}

ServerDialog::ServerDialog(QWidget* parent, gb::app::KeyStore* keys)
    : QDialog(parent), alive_(std::make_shared<bool>(true)) {
    if (!keys) {
        own_keys_ = std::make_unique<gb::app::KeyStore>(gb::app::KeyStore::default_file());
        keys = own_keys_.get();
    }
    keys_ = keys;
    setWindowTitle(tr("Connect to a server"));
    auto* v = new QVBoxLayout(this);
    auto* intro = new QLabel(
        tr("A model served by vLLM, SGLang, llama-server, Ollama or an OpenAI-compatible API. "
           "The address is the API root, e.g. http://10.0.0.5:8000/v1."),
        this);
    intro->setWordWrap(true);
    v->addWidget(intro);
    auto* form = new QFormLayout;
    v->addLayout(form);
    profiles_ = new QComboBox(this);
    profiles_->addItem(tr("(new connection)"));
    profiles_->addItems(server_profiles());
    profiles_->setAccessibleName(tr("Saved connections"));
    form->addRow(tr("&Saved:"), profiles_);
    name_ = new QLineEdit(this);
    name_->setPlaceholderText(tr("a name for this connection"));
    form->addRow(tr("&Name:"), name_);
    url_ = new QLineEdit(this);
    url_->setPlaceholderText(QStringLiteral("http://127.0.0.1:8000/v1"));
    form->addRow(tr("&Address:"), url_);
    key_ = new QLineEdit(this);
    key_->setEchoMode(QLineEdit::Password);
    key_->setPlaceholderText(tr("none"));
    form->addRow(tr("API &key:"), key_);
    keep_key_ =
        new QCheckBox(tr("Keep the key (in %1)").arg(QString::fromStdString(keys_->where())), this);
    form->addRow(QString(), keep_key_);
    key_env_ = new QLineEdit(this);
    key_env_->setPlaceholderText(tr("or the environment variable that holds it"));
    form->addRow(tr("Key from &variable:"), key_env_);
    kind_ = new QComboBox(this);
    for (const auto& [id, label] : kKinds) kind_->addItem(tr(label), QString(id));
    form->addRow(tr("Server &kind:"), kind_);
    auto* models_row = new QHBoxLayout;
    model_ = new QComboBox(this);
    model_->setEditable(true);
    model_->setMinimumWidth(260);
    model_->setAccessibleName(tr("Model"));
    list_ = new QPushButton(tr("&List models"), this);
    models_row->addWidget(model_, 1);
    models_row->addWidget(list_);
    auto* model_label = new QLabel(tr("&Model:"), this);
    model_label->setBuddy(model_);
    form->addRow(model_label, models_row);
    openai_only_ = new QCheckBox(tr("A hosted API: send only OpenAI's own request fields"), this);
    form->addRow(QString(), openai_only_);
    routed_ = new QCheckBox(tr("Ask for routed experts (vLLM and SGLang started with "
                               "--enable-return-routed-experts; vLLM then sends the reply whole)"),
                            this);
    form->addRow(QString(), routed_);
    layers_ = new QSpinBox(this);
    layers_->setRange(0, 4096);
    layers_->setSpecialValueText(tr("not known"));
    layers_->setToolTip(tr("The model's decoder layers: SGLang's routed experts need it"));
    form->addRow(tr("Model &layers:"), layers_);
    experts_ = new QSpinBox(this);
    experts_->setRange(0, 65535);
    experts_->setSpecialValueText(tr("not known"));
    form->addRow(tr("&Experts per layer:"), experts_);
    status_ = new QLabel(this);
    status_->setWordWrap(true);
    status_->setAccessibleName(tr("Connection status"));
    v->addWidget(status_);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    buttons->button(QDialogButtonBox::Ok)->setText(tr("Connect"));
    auto* forget = buttons->addButton(tr("Forget this connection"), QDialogButtonBox::ResetRole);
    v->addWidget(buttons);

    connect(buttons, &QDialogButtonBox::accepted, this, &ServerDialog::accept_connection);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(list_, &QPushButton::clicked, this, &ServerDialog::list_models);
    connect(profiles_, &QComboBox::currentIndexChanged, this, [this](int i) {
        if (i > 0) select_profile(profiles_->itemText(i));
    });
    connect(forget, &QPushButton::clicked, this, [this] {
        const QString name = name_->text().trimmed();
        if (name.isEmpty()) return;
        QSettings().remove(kGroup + name);
        try {
            keys_->remove(name.toStdString());
        } catch (const std::exception& e) {
            status_->setText(tr("The kept key could not be removed: %1").arg(e.what()));
            return;
        }
        const int i = profiles_->findText(name);
        if (i > 0) profiles_->removeItem(i);
        status_->setText(tr("Forgot “%1” and its kept key.").arg(name));
    });
}

ServerDialog::~ServerDialog() { *alive_ = false; }

void ServerDialog::select_profile(const QString& name) {
    QString env;
    bool kept = false;
    const gb::app::RemoteSettings r = server_profile(name, &env, &kept);
    name_->setText(name);
    url_->setText(QString::fromStdString(r.base_url));
    model_->setEditText(QString::fromStdString(r.model));
    kind_->setCurrentIndex(std::max(0, kind_->findData(QString::fromStdString(r.kind))));
    openai_only_->setChecked(r.openai_fields_only);
    routed_->setChecked(r.routed_experts);
    layers_->setValue(static_cast<int>(r.n_layer));
    experts_->setValue(static_cast<int>(r.n_expert));
    key_env_->setText(env);
    keep_key_->setChecked(kept);
    key_->clear();
    if (kept) {
        try {
            if (auto k = keys_->load(name.toStdString())) key_->setText(QString::fromStdString(*k));
        } catch (const std::exception& e) {
            status_->setText(tr("The kept key is not used: %1").arg(e.what()));
        }
    }
    const int i = profiles_->findText(name);
    if (i > 0 && profiles_->currentIndex() != i) profiles_->setCurrentIndex(i);
}

gb::app::LoadSettings ServerDialog::settings() const {
    gb::app::LoadSettings s;
    gb::app::RemoteSettings& r = s.remote;
    r.base_url = url_->text().trimmed().toStdString();
    r.model = model_->currentText().trimmed().toStdString();
    r.kind = kind_->currentData().toString().toStdString();
    r.openai_fields_only = openai_only_->isChecked();
    r.routed_experts = routed_->isChecked();
    r.n_layer = layers_->value();
    r.n_expert = experts_->value();
    r.api_key = key_->text().toStdString();
    if (r.api_key.empty() && !key_env_->text().trimmed().isEmpty())
        r.api_key =
            qEnvironmentVariable(key_env_->text().trimmed().toUtf8().constData()).toStdString();
    s.path = r.base_url;
    return s;
}

bool ServerDialog::save_profile() {
    const QString name = name_->text().trimmed();
    if (name.isEmpty()) return true;  // an unnamed connection is not remembered
    if (name.contains('/') || name.contains('\\')) {
        status_->setText(tr("A connection's name cannot hold / or \\."));
        return false;
    }
    const gb::app::LoadSettings s = settings();
    QJsonObject o;
    o["url"] = QString::fromStdString(s.remote.base_url);
    o["model"] = QString::fromStdString(s.remote.model);
    o["kind"] = QString::fromStdString(s.remote.kind);
    o["openai_fields_only"] = s.remote.openai_fields_only;
    o["routed_experts"] = s.remote.routed_experts;
    o["n_layer"] = static_cast<qint64>(s.remote.n_layer);
    o["n_expert"] = static_cast<qint64>(s.remote.n_expert);
    o["key_env"] = key_env_->text().trimmed();
    const bool keep = keep_key_->isChecked() && !key_->text().isEmpty();
    o["key_kept"] = keep;
    try {
        if (keep)
            keys_->save(name.toStdString(), key_->text().toStdString());
        else
            keys_->remove(name.toStdString());
    } catch (const std::exception& e) {
        status_->setText(tr("The key could not be kept: %1").arg(e.what()));
        return false;
    }
    QSettings().setValue(kGroup + name, QJsonDocument(o).toJson(QJsonDocument::Compact));
    if (profiles_->findText(name) < 0) profiles_->addItem(name);
    return true;
}

void ServerDialog::accept_connection() {
    if (url_->text().trimmed().isEmpty()) {
        status_->setText(tr("Enter the server's address."));
        return;
    }
    if (!key_env_->text().trimmed().isEmpty() && key_->text().isEmpty() &&
        qEnvironmentVariableIsEmpty(key_env_->text().trimmed().toUtf8().constData())) {
        status_->setText(tr("$%1 is not set.").arg(key_env_->text().trimmed()));
        return;
    }
    if (save_profile()) accept();
}

void ServerDialog::list_models() {
    const gb::app::LoadSettings s = settings();
    if (s.remote.base_url.empty()) {
        status_->setText(tr("Enter the server's address."));
        return;
    }
    gb::remote::RemoteServer server;
    server.base_url = s.remote.base_url;
    server.api_key = s.remote.api_key;
    list_->setEnabled(false);
    status_->setText(tr("Asking %1…").arg(url_->text().trimmed()));
    QPointer<ServerDialog> self(this);
    std::thread([server, self] {
        QStringList models;
        QString status;
        try {
            const gb::remote::ServerInfo info = gb::remote::probe_server(server);
            for (const auto& m : info.models) models << QString::fromStdString(m.id);
            const QString kind =
                QString::fromUtf8(gb::remote::server_kind_name(info.kind)) +
                (info.version.empty() ? QString()
                                      : QStringLiteral(" ") + QString::fromStdString(info.version));
            status = models.size() == 1 ? tr("%1: 1 model.").arg(kind)
                                        : tr("%1: %2 models.").arg(kind).arg(models.size());
        } catch (const std::exception& e) {
            status = tr("No model list: %1").arg(QString::fromUtf8(e.what()));
        }
        QMetaObject::invokeMethod(qApp, [self, models, status] {
            if (self) self->show_models(models, status);
        });
    }).detach();
}

void ServerDialog::show_models(const QStringList& models, const QString& status) {
    list_->setEnabled(true);
    status_->setText(status);
    if (!models.isEmpty()) {
        const QString current = model_->currentText();
        model_->clear();
        model_->addItems(models);
        model_->setEditText(models.contains(current) || current.isEmpty() ? current
                                                                          : models.front());
        if (current.isEmpty()) model_->setCurrentIndex(0);
    }
    emit modelsListed(models, status);
}

QString ServerDialog::status_text() const { return status_->text(); }

}  // namespace gb::ui
