// The model library: readable names, a folder scan over real model files and broken ones (a
// truncated download, a checkpoint folder without weights, a file that is no GGUF), the library
// dialog over our bundled demo models, and a download from a local server that speaks the
// Hugging Face hub's protocol (tests/app/remote/fake_hub.py) into the library.
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QProcess>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>
#include <filesystem>
#include <fstream>

#include "app/model_library.h"
#include "ui/library_dialog.h"
#include "ui/model_dialog.h"

using namespace gb::app;
using namespace gb::ui;
namespace fs = std::filesystem;

namespace {
const fs::path kBundled = GB_RESOURCES_DIR "/models";
const fs::path kFixtures = GB_FIXTURES_DIR "/models";

const LibraryEntry* find(const std::vector<LibraryEntry>& v, const std::string& file) {
    for (const LibraryEntry& e : v)
        if (fs::path(e.path).filename() == file) return &e;
    return nullptr;
}
}  // namespace

class LibraryTest : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName("GlassboxLibraryTest");
        QSettings().clear();
    }

    void readable_names() {
        QCOMPARE(readable_model_name("Smollm2 135M 8k Lc100K Mix1 Ep2",
                                     "SmolLM2-135M-Instruct.Q4_1.gguf"),
                 std::string("SmolLM2 135M Instruct"));
        QCOMPARE(readable_model_name("Qwen2.5 Coder 0.5B Instruct AWQ",
                                     "Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf"),
                 std::string("Qwen2.5 Coder 0.5B Instruct"));
        QCOMPARE(readable_model_name("glassbox-demo-moe", "glassbox-demo-moe.gguf"),
                 std::string("glassbox-demo-moe"));
        QCOMPARE(readable_model_name("Llama 3 8B", "ggml-model-f16.gguf"),
                 std::string("Llama 3 8B"));
        QCOMPARE(readable_model_name("DeepSeek R1 Distill Qwen 7B",
                                     "DeepSeek-R1-Distill-Qwen-7B-Q4_K_M-00001-of-00002.gguf"),
                 std::string("DeepSeek R1 Distill Qwen 7B"));
    }

    // Real files and broken ones, each described in words.
    void scan_describes_good_and_broken_models() {
        QTemporaryDir dir;
        const fs::path root = dir.path().toStdString();
        fs::copy_file(kFixtures / "tiny_qwen3moe.gguf", root / "tiny_qwen3moe.gguf");
        // A download cut off halfway.
        {
            std::ifstream in(kBundled / "glassbox-demo-moe.gguf", std::ios::binary);
            std::string bytes((std::istreambuf_iterator<char>(in)), {});
            std::ofstream(root / "cut.gguf", std::ios::binary)
                .write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
        }
        std::ofstream(root / "noise.gguf") << "this is not a model file at all";
        fs::create_directories(root / "ckpt");
        std::ofstream(root / "ckpt" / "config.json") << "{}";
        // A split model's second part is not a model of its own.
        fs::copy_file(kFixtures / "tiny_qwen2.gguf", root / "big-00002-of-00002.gguf");
        const auto entries = scan_model_folders({root, kBundled}, kBundled);

        const LibraryEntry* moe = find(entries, "tiny_qwen3moe.gguf");
        QVERIFY(moe);
        QVERIFY2(moe->error.empty(), moe->error.c_str());
        QCOMPARE(moe->arch, std::string("qwen3moe"));
        QVERIFY(moe->n_expert > 0 && moe->n_expert_used > 0);
        QVERIFY(!moe->bundled);

        const LibraryEntry* cut = find(entries, "cut.gguf");
        QVERIFY(cut);
        const auto full = static_cast<double>(fs::file_size(kBundled / "glassbox-demo-moe.gguf"));
        char want[96];
        std::snprintf(want, sizeof want, "incomplete download: %.1f of ", full / 2 / 1e6);
        QVERIFY2(cut->error.rfind(want, 0) == 0, cut->error.c_str());

        const LibraryEntry* noise = find(entries, "noise.gguf");
        QVERIFY(noise && !noise->error.empty());
        const LibraryEntry* ckpt = find(entries, "ckpt");
        QVERIFY(ckpt);
        QVERIFY2(ckpt->error.find("no .safetensors weights") != std::string::npos,
                 ckpt->error.c_str());
        QVERIFY(!find(entries, "big-00002-of-00002.gguf"));

        // Our demo models: listed first, one reasons and routes, the other reasons densely.
        QVERIFY(entries[0].bundled && entries[1].bundled);
        const LibraryEntry* demo = find(entries, "glassbox-demo-moe.gguf");
        const LibraryEntry* dense = find(entries, "glassbox-demo-dense.gguf");
        QVERIFY(demo && dense);
        QVERIFY(demo->reasons && dense->reasons);
        QCOMPARE(demo->n_expert, int64_t(16));
        QCOMPARE(dense->n_expert, int64_t(0));
        QVERIFY(demo->n_ctx_train > 0);
        QVERIFY(!demo->quant.empty());
    }

    void library_dialog_lists_and_loads() {
        QTemporaryDir dir;
        set_library_folder(dir.path());
        fs::copy_file(kFixtures / "tiny_llama.gguf",
                      fs::path(dir.path().toStdString()) / "tiny_llama.gguf");
        LibraryDialog d(kBundled, QString());
        QSignalSpy scanned(&d, &LibraryDialog::scanned);
        QVERIFY(scanned.count() > 0 || scanned.wait(20000));
        QCOMPARE(d.entries().size(), size_t(3));
        QTableWidget* t = d.table();
        QCOMPARE(t->item(0, 0)->text(), QString("glassbox-demo-dense (demo)"));
        QCOMPARE(t->item(1, 6)->text(), QString("2 of 16"));
        QCOMPARE(t->item(1, 5)->text(), QString("yes"));
        QCOMPARE(t->item(2, 6)->text(), QString("dense"));
        QSignalSpy load(&d, &LibraryDialog::loadRequested);
        t->setCurrentCell(1, 0);
        d.findChild<QPushButton*>(QString(), Qt::FindDirectChildrenOnly);
        for (QPushButton* b : d.findChildren<QPushButton*>())
            if (b->text() == "Load") b->click();
        QCOMPARE(load.count(), 1);
        QCOMPARE(load.at(0).at(0).toString(),
                 QString::fromStdString((kBundled / "glassbox-demo-moe.gguf").string()));
    }

    // A download through the dialog from a local hub (and its CDN on a second port), into the
    // library folder, where the library then lists the model as loadable.
    void download_from_a_local_hub_into_the_library() {
        if (QStandardPaths::findExecutable("python3").isEmpty()) QSKIP("python3 is missing");
        QProcess hub;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("GB_FAKE_HUB_GGUF",
                   QString::fromStdString((kFixtures / "tiny_qwen3moe.gguf").string()));
        hub.setProcessEnvironment(env);
        hub.start("python3", {GB_FIXTURES_DIR "/../app/remote/fake_hub.py"});
        QVERIFY(hub.waitForStarted(5000));
        // The endpoint line may come in pieces: wait for all of it.
        while (!hub.canReadLine()) QVERIFY(hub.waitForReadyRead(10000));
        const QString line = QString::fromUtf8(hub.readLine()).trimmed();
        QVERIFY2(line.startsWith("endpoint: "), qPrintable(line));
        qputenv("HF_ENDPOINT", line.section(' ', 1, 1).toUtf8());
        QTemporaryDir dir;
        set_library_folder(dir.path());
        DownloadDialog d(dir.path());
        d.set_repo("glassbox-test/real-model");
        QSignalSpy listed(&d, &DownloadDialog::listed);
        d.list_files();
        QVERIFY(listed.wait(10000));
        QVERIFY2(d.message().contains("1 GGUF file"), qPrintable(d.message()));
        QSignalSpy done(&d, &DownloadDialog::finished_one);
        QSignalSpy downloaded(&d, &DownloadDialog::downloaded);
        d.start();
        QVERIFY(done.wait(20000));
        QCOMPARE(downloaded.count(), 1);
        QVERIFY2(d.message().startsWith("Downloaded and checked"), qPrintable(d.message()));
        const QString path = downloaded.at(0).at(0).toString();
        QVERIFY(path.startsWith(dir.path()));
        QCOMPARE(QFileInfo(path).size(),
                 QFileInfo(GB_FIXTURES_DIR "/models/tiny_qwen3moe.gguf").size());
        const auto entries = scan_model_folders({dir.path().toStdString()});
        QCOMPARE(entries.size(), size_t(1));
        QVERIFY2(entries[0].error.empty(), entries[0].error.c_str());
        QCOMPARE(entries[0].arch, std::string("qwen3moe"));
        // An unknown repository is named in the dialog.
        d.set_repo("glassbox-test/no-such-model", "x.gguf");
        d.start();
        QVERIFY(done.wait(20000));
        QVERIFY2(d.message().contains("no-such-model"), qPrintable(d.message()));
        qunsetenv("HF_ENDPOINT");
        hub.kill();
        hub.waitForFinished(3000);
    }
};

QTEST_MAIN(LibraryTest)
#include "library_qtest.moc"
