// The model library (Model > Model library, Ctrl+Shift+L): every model in the models folder and
// the bundled demo models, with name, architecture, size, quantisation, context, whether it
// reasons and whether it routes (or what is wrong with the file, in words); load, unload, the
// folder (changeable), auto-load of the last model at start, and downloads from the Hugging
// Face hub (DownloadDialog). Folders are scanned off the UI thread.
#pragma once

#include <QDialog>
#include <atomic>
#include <filesystem>
#include <memory>
#include <vector>

#include "app/model_library.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QTableWidget;

namespace gb::ui {

// Whether the app loads the last model at start (QSettings "library/auto_load", default on).
bool auto_load_last_model();
void set_auto_load_last_model(bool on);

class LibraryDialog : public QDialog {
    Q_OBJECT
public:
    // bundled: the folder of our demo models (listed first, marked as shipped).
    LibraryDialog(std::filesystem::path bundled, QString loaded_path, QWidget* parent = nullptr);
    ~LibraryDialog() override;
    void rescan();
    const std::vector<gb::app::LibraryEntry>& entries() const { return entries_; }
    bool scanning() const { return scanning_; }
    QTableWidget* table() const { return table_; }
    void select_path(const QString& path);

signals:
    void loadRequested(QString path);
    void unloadRequested();
    void scanned();

private:
    void show_entries(std::vector<gb::app::LibraryEntry> entries);
    std::filesystem::path bundled_;
    QString loaded_;
    QString select_after_scan_;
    std::vector<gb::app::LibraryEntry> entries_;
    QTableWidget* table_ = nullptr;
    QLabel* folder_ = nullptr;
    QLabel* status_ = nullptr;
    QPushButton* load_ = nullptr;
    bool scanning_ = false;
    std::shared_ptr<std::atomic<bool>> alive_;
};

// One file from the hub: repository, file (listed from the hub with sizes), revision; progress
// with speed; Cancel keeps the partial file, and the next Download resumes it.
class DownloadDialog : public QDialog {
    Q_OBJECT
public:
    explicit DownloadDialog(QString folder, QWidget* parent = nullptr);
    ~DownloadDialog() override;
    void set_repo(const QString& repo, const QString& file = {});
    void list_files();
    void start();
    void cancel();
    bool running() const { return running_; }
    QString message() const;

signals:
    void downloaded(QString path);
    void listed();
    void finished_one();  // success or failure (tests)

private:
    QString folder_;
    QLineEdit* repo_ = nullptr;
    QComboBox* file_ = nullptr;
    QLineEdit* revision_ = nullptr;
    QProgressBar* bar_ = nullptr;
    QLabel* message_ = nullptr;
    QPushButton *start_ = nullptr, *cancel_ = nullptr, *list_ = nullptr;
    bool running_ = false;
    std::shared_ptr<std::atomic<bool>> cancel_flag_;
    std::shared_ptr<std::atomic<bool>> alive_;
};

}  // namespace gb::ui
