// LibraryDialog and DownloadDialog: tables, buttons, and the worker threads that scan and
// download.
#include "ui/library_dialog.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPointer>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QTableWidget>
#include <QVBoxLayout>
#include <thread>

#include "app/remote/hub_download.h"
#include "ui/icons.h"
#include "ui/model_dialog.h"

namespace gb::ui {

namespace fs = std::filesystem;
using gb::app::LibraryEntry;

bool auto_load_last_model() { return QSettings().value("library/auto_load", true).toBool(); }
void set_auto_load_last_model(bool on) { QSettings().setValue("library/auto_load", on); }

namespace {
// Runs `work` on a thread of its own and `done` with its result on the UI thread, unless the
// dialog is gone by then.
template <typename Work, typename Done>
void off_thread(QObject* owner, std::shared_ptr<std::atomic<bool>> alive, Work work, Done done) {
    QPointer<QObject> guard(owner);
    std::thread([guard, alive, work = std::move(work), done = std::move(done)]() mutable {
        auto result = work();
        if (!*alive) return;
        QMetaObject::invokeMethod(
            guard.data(),
            [guard, result = std::move(result), done = std::move(done)]() mutable {
                if (guard) done(std::move(result));
            },
            Qt::QueuedConnection);
    }).detach();
}
}  // namespace

LibraryDialog::LibraryDialog(fs::path bundled, QString loaded_path, QWidget* parent)
    : QDialog(parent),
      bundled_(std::move(bundled)),
      loaded_(std::move(loaded_path)),
      alive_(std::make_shared<std::atomic<bool>>(true)) {
    setWindowTitle(tr("Model library"));
    auto* v = new QVBoxLayout(this);
    auto* top = new QHBoxLayout;
    folder_ = new QLabel(this);
    folder_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    folder_->setWordWrap(true);
    top->addWidget(folder_, 1);
    auto* change = new QPushButton(tr("Change folder…"), this);
    auto* rescan_btn = new QPushButton(tr("Rescan"), this);
    auto* download = new QPushButton(tr("Download from Hugging Face…"), this);
    set_action_icon(change, "open");
    set_action_icon(rescan_btn, "regenerate");
    set_action_icon(download, "download");
    top->addWidget(change);
    top->addWidget(rescan_btn);
    top->addWidget(download);
    v->addLayout(top);
    table_ = new QTableWidget(0, 8, this);
    table_->setHorizontalHeaderLabels({tr("Name"), tr("Architecture"), tr("Size"),
                                       tr("Quantisation"), tr("Context"), tr("Reasons"),
                                       tr("Experts"), tr("Status")});
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->verticalHeader()->hide();
    table_->horizontalHeader()->setStretchLastSection(true);
    table_->setAccessibleName(tr("Models"));
    v->addWidget(table_, 1);
    status_ = new QLabel(this);
    status_->setWordWrap(true);
    v->addWidget(status_);
    auto* bottom = new QHBoxLayout;
    auto* auto_load = new QCheckBox(tr("Load the last model when Glassbox starts"), this);
    auto_load->setChecked(auto_load_last_model());
    bottom->addWidget(auto_load, 1);
    load_ = new QPushButton(tr("Load"), this);
    load_->setDefault(true);
    auto* unload = new QPushButton(tr("Unload"), this);
    unload->setEnabled(!loaded_.isEmpty());
    unload->setToolTip(tr("Free the loaded model's memory"));
    auto* close = new QPushButton(tr("Close"), this);
    bottom->addWidget(load_);
    bottom->addWidget(unload);
    bottom->addWidget(close);
    v->addLayout(bottom);
    resize(980, 480);

    connect(auto_load, &QCheckBox::toggled, this, [](bool on) { set_auto_load_last_model(on); });
    connect(close, &QPushButton::clicked, this, &QDialog::reject);
    connect(unload, &QPushButton::clicked, this, [this] {
        emit unloadRequested();
        accept();
    });
    auto load_selected = [this] {
        const int row = table_->currentRow();
        if (row < 0 || row >= static_cast<int>(entries_.size())) return;
        const LibraryEntry& e = entries_[static_cast<size_t>(row)];
        if (!e.error.empty()) return;
        emit loadRequested(QString::fromStdString(e.path));
        accept();
    };
    connect(load_, &QPushButton::clicked, this, load_selected);
    connect(table_, &QTableWidget::cellDoubleClicked, this, load_selected);
    connect(table_, &QTableWidget::currentCellChanged, this, [this](int row) {
        load_->setEnabled(row >= 0 && row < static_cast<int>(entries_.size()) &&
                          entries_[static_cast<size_t>(row)].error.empty());
    });
    connect(rescan_btn, &QPushButton::clicked, this, &LibraryDialog::rescan);
    connect(change, &QPushButton::clicked, this, [this] {
        const QString d =
            QFileDialog::getExistingDirectory(this, tr("Models folder"), library_folder());
        if (d.isEmpty()) return;
        set_library_folder(d);
        rescan();
    });
    connect(download, &QPushButton::clicked, this, [this] {
        auto* d = new DownloadDialog(library_folder(), this);
        d->setAttribute(Qt::WA_DeleteOnClose);
        connect(d, &DownloadDialog::downloaded, this, [this](const QString& path) {
            select_after_scan_ = path;
            rescan();
        });
        d->show();
    });
    rescan();
}

LibraryDialog::~LibraryDialog() { *alive_ = false; }

void LibraryDialog::rescan() {
    const QString folder = library_folder();
    folder_->setText(tr("Models folder: %1").arg(folder));
    status_->setText(tr("Looking for models…"));
    scanning_ = true;
    load_->setEnabled(false);
    const std::vector<fs::path> folders = {fs::path(folder.toStdString()), bundled_};
    const fs::path bundled = bundled_;
    off_thread(
        this, alive_, [folders, bundled] { return gb::app::scan_model_folders(folders, bundled); },
        [this](std::vector<LibraryEntry> found) { show_entries(std::move(found)); });
}

void LibraryDialog::show_entries(std::vector<LibraryEntry> entries) {
    entries_ = std::move(entries);
    scanning_ = false;
    table_->setRowCount(static_cast<int>(entries_.size()));
    int broken = 0;
    for (int r = 0; r < static_cast<int>(entries_.size()); ++r) {
        const LibraryEntry& e = entries_[static_cast<size_t>(r)];
        auto cell = [&](int c, const QString& text) {
            auto* it = new QTableWidgetItem(text);
            it->setToolTip(QString::fromStdString(e.path) +
                           (e.full_name.empty() || e.full_name == e.name
                                ? QString()
                                : "\n" + QString::fromStdString(e.full_name)));
            table_->setItem(r, c, it);
        };
        QString name = QString::fromStdString(e.name);
        if (e.bundled) name += tr(" (demo)");
        cell(0, name);
        cell(1, QString::fromStdString(e.arch));
        cell(2, QString::fromStdString(gb::remote::format_bytes(e.bytes)));
        cell(3, QString::fromStdString(e.quant));
        cell(4, e.n_ctx_train > 0 ? QString::number(e.n_ctx_train) : QString());
        cell(5, e.error.empty() ? (e.reasons ? tr("yes") : tr("no")) : QString());
        cell(6, e.n_expert > 0 ? tr("%1 of %2").arg(e.n_expert_used).arg(e.n_expert)
                               : (e.error.empty() ? tr("dense") : QString()));
        const bool loaded = QString::fromStdString(e.path) == loaded_;
        cell(7, !e.error.empty() ? QString::fromStdString(e.error)
                : loaded         ? tr("loaded")
                                 : tr("ready"));
        if (!e.error.empty()) {
            ++broken;
            for (int c = 0; c < 8; ++c)
                if (auto* it = table_->item(r, c)) it->setForeground(QColor("#c0392b"));
        }
    }
    table_->resizeColumnsToContents();
    status_->setText(
        entries_.empty()
            ? tr("No models yet: put .gguf files (or checkpoint folders) in the "
                 "models folder, or download one from Hugging Face.")
            : tr("%n model(s)", nullptr, static_cast<int>(entries_.size())) +
                  (broken ? tr(", %1 with a problem (see Status)").arg(broken) : QString()));
    select_path(select_after_scan_.isEmpty() ? loaded_ : select_after_scan_);
    select_after_scan_.clear();
    emit scanned();
}

void LibraryDialog::select_path(const QString& path) {
    for (int r = 0; r < static_cast<int>(entries_.size()); ++r)
        if (QString::fromStdString(entries_[static_cast<size_t>(r)].path) == path) {
            table_->setCurrentCell(r, 0);
            return;
        }
    if (!entries_.empty() && table_->currentRow() < 0) table_->setCurrentCell(0, 0);
}

DownloadDialog::DownloadDialog(QString folder, QWidget* parent)
    : QDialog(parent),
      folder_(std::move(folder)),
      cancel_flag_(std::make_shared<std::atomic<bool>>(false)),
      alive_(std::make_shared<std::atomic<bool>>(true)) {
    setWindowTitle(tr("Download a model from Hugging Face"));
    auto* v = new QVBoxLayout(this);
    auto* form = new QFormLayout;
    repo_ = new QLineEdit(this);
    repo_->setPlaceholderText(tr("owner/name, e.g. bartowski/Qwen2.5-0.5B-Instruct-GGUF"));
    repo_->setAccessibleName(tr("Repository"));
    auto* repo_row = new QHBoxLayout;
    repo_row->addWidget(repo_, 1);
    list_ = new QPushButton(tr("List files"), this);
    repo_row->addWidget(list_);
    form->addRow(tr("&Repository:"), repo_row);
    file_ = new QComboBox(this);
    file_->setEditable(true);
    file_->setAccessibleName(tr("File"));
    form->addRow(tr("&File:"), file_);
    revision_ = new QLineEdit("main", this);
    revision_->setAccessibleName(tr("Revision"));
    form->addRow(tr("Re&vision:"), revision_);
    v->addLayout(form);
    auto* into = new QLabel(tr("Into: %1").arg(folder_), this);
    into->setWordWrap(true);
    v->addWidget(into);
    bar_ = new QProgressBar(this);
    bar_->setRange(0, 1000);
    bar_->setValue(0);
    v->addWidget(bar_);
    message_ = new QLabel(this);
    message_->setWordWrap(true);
    message_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    v->addWidget(message_);
    auto* buttons = new QHBoxLayout;
    buttons->addStretch();
    start_ = new QPushButton(tr("Download"), this);
    set_action_icon(start_, "download");
    cancel_ = new QPushButton(tr("Cancel"), this);
    cancel_->setEnabled(false);
    cancel_->setToolTip(tr("Stop; the part already fetched is kept and Download resumes it"));
    auto* close = new QPushButton(tr("Close"), this);
    buttons->addWidget(start_);
    buttons->addWidget(cancel_);
    buttons->addWidget(close);
    v->addLayout(buttons);
    resize(620, 260);
    connect(list_, &QPushButton::clicked, this, &DownloadDialog::list_files);
    connect(start_, &QPushButton::clicked, this, &DownloadDialog::start);
    connect(cancel_, &QPushButton::clicked, this, &DownloadDialog::cancel);
    connect(close, &QPushButton::clicked, this, [this] {
        cancel();
        reject();
    });
}

DownloadDialog::~DownloadDialog() {
    *cancel_flag_ = true;  // a transfer still running stops and keeps its partial file
    *alive_ = false;
}

void DownloadDialog::set_repo(const QString& repo, const QString& file) {
    repo_->setText(repo);
    file_->setEditText(file);
}

QString DownloadDialog::message() const { return message_->text(); }

void DownloadDialog::list_files() {
    gb::remote::HubRepo repo;
    repo.id = repo_->text().trimmed().toStdString();
    repo.revision = revision_->text().trimmed().toStdString();
    message_->setText(tr("Asking the hub for the files of %1…").arg(repo_->text().trimmed()));
    list_->setEnabled(false);
    struct Listed {
        std::vector<gb::remote::HubFileInfo> files;
        QString error;
    };
    off_thread(
        this, alive_,
        [repo] {
            Listed l;
            try {
                l.files = gb::remote::list_repo_files(repo).files;
            } catch (const std::exception& e) {
                l.error = QString::fromUtf8(e.what());
            }
            return l;
        },
        [this](Listed l) {
            list_->setEnabled(true);
            file_->clear();
            if (!l.error.isEmpty()) {
                message_->setText(l.error);
                emit listed();
                return;
            }
            int models = 0;
            for (const auto& f : l.files) {
                const bool model = f.path.size() > 5 && f.path.substr(f.path.size() - 5) == ".gguf";
                models += model;
                file_->addItem(
                    QString("%1  (%2)")
                        .arg(QString::fromStdString(f.path),
                             f.size >= 0 ? QString::fromStdString(gb::remote::format_bytes(f.size))
                                         : tr("size unknown")),
                    QString::fromStdString(f.path));
            }
            message_->setText(
                models ? tr("%n GGUF file(s); choose one and press Download.", nullptr, models)
                       : tr("No GGUF file in this repository: Glassbox also reads "
                            "checkpoint folders, or choose another repository."));
            emit listed();
        });
}

void DownloadDialog::start() {
    if (running_) return;
    gb::remote::HubFileRequest req;
    req.repo.id = repo_->text().trimmed().toStdString();
    req.repo.revision = revision_->text().trimmed().toStdString();
    QString file = file_->currentData().toString();
    if (file.isEmpty() || file_->currentText() != file_->itemText(file_->currentIndex()))
        file = file_->currentText().trimmed();
    req.path = file.toStdString();
    if (req.repo.id.empty() || req.path.empty()) {
        message_->setText(tr("Give a repository (owner/name) and a file."));
        return;
    }
    req.dest_dir = fs::path(folder_.toStdString()) / req.repo.id;
    running_ = true;
    *cancel_flag_ = false;
    start_->setEnabled(false);
    cancel_->setEnabled(true);
    bar_->setValue(0);
    message_->setText(tr("Starting…"));
    QPointer<DownloadDialog> self(this);
    auto alive = alive_;
    auto progress = [self, alive](const gb::remote::DownloadProgress& p) {
        if (!*alive) return;
        QMetaObject::invokeMethod(
            self.data(),
            [self, p] {
                if (!self) return;
                using Stage = gb::remote::DownloadProgress::Stage;
                if (p.total > 0) self->bar_->setValue(static_cast<int>(1000.0 * p.done / p.total));
                const QString done = QString::fromStdString(gb::remote::format_bytes(p.done));
                const QString total =
                    p.total > 0 ? QString::fromStdString(gb::remote::format_bytes(p.total))
                                : tr("?");
                self->message_->setText(
                    p.stage == Stage::Resolving ? tr("Asking the hub for the file's size and "
                                                     "checksum…")
                    : p.stage == Stage::Hashing
                        ? tr("Checking the part already downloaded: %1 of %2").arg(done, total)
                        : tr("%1 of %2 · %3/s%4")
                              .arg(done, total,
                                   QString::fromStdString(gb::remote::format_bytes(
                                       static_cast<int64_t>(p.bytes_per_s))))
                              .arg(p.resumed_from > 0
                                       ? tr(" · resumed at %1")
                                             .arg(QString::fromStdString(
                                                 gb::remote::format_bytes(p.resumed_from)))
                                       : QString()));
            },
            Qt::QueuedConnection);
    };
    struct Outcome {
        gb::remote::DownloadResult result;
        QString error;
    };
    auto flag = cancel_flag_;
    off_thread(
        this, alive_,
        [req, progress, flag] {
            Outcome o;
            try {
                o.result = gb::remote::download(req, progress, flag.get());
            } catch (const std::exception& e) {
                o.error = QString::fromUtf8(e.what());
            }
            return o;
        },
        [this](Outcome o) {
            running_ = false;
            start_->setEnabled(true);
            cancel_->setEnabled(false);
            using R = gb::remote::DownloadResult::Outcome;
            const QString path = QString::fromStdString(o.result.path.string());
            if (!o.error.isEmpty()) {
                message_->setText(o.error);
            } else if (o.result.outcome == R::Cancelled) {
                message_->setText(tr("Stopped. The part fetched is kept: Download resumes it."));
            } else {
                bar_->setValue(1000);
                message_->setText(
                    o.result.outcome == R::AlreadyPresent
                        ? tr("Already there, checked: %1").arg(path)
                        : tr("Downloaded and checked (sha256 %2…): %1")
                              .arg(path, QString::fromStdString(o.result.sha256.substr(0, 12))));
                emit downloaded(path);
            }
            emit finished_one();
        });
}

void DownloadDialog::cancel() {
    if (running_) *cancel_flag_ = true;
}

}  // namespace gb::ui
