// Connecting to a server from the app: the key store (a 0600 file; a file others can read is
// refused with the fix; a damaged one named), connection profiles that keep everything but the
// key in the settings, the model list asked from a loopback server, bad input in words; and the
// hardware view's server part fed by polls.
#include <sys/stat.h>

#include <QCheckBox>
#include <QComboBox>
#include <QFile>
#include <QLineEdit>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include "app/key_store.h"
#include "kernels/error.h"
#include "tests/app/remote/loopback_server.h"
#include "tests/test_support.h"
#include "ui/gpu_dashboard.h"
#include "ui/server_dialog.h"

using namespace gb;
using gb::test::LoopbackServer;

namespace {
using gb::test::error_of;
std::string http_json(const std::string& body) {
    return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}
}  // namespace

class ServerDialogTest : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);  // settings in a test location
        QCoreApplication::setOrganizationName("GlassboxTest");
        QCoreApplication::setApplicationName("ServerDialogTest");
        QSettings().clear();
    }

    void the_key_file_is_the_users_alone() {
        QTemporaryDir dir;
        const std::string file = dir.filePath("keys/server-keys.json").toStdString();
        app::KeyStore keys(file, /*use_keychain=*/false);
        QCOMPARE(keys.where(), file);
        QVERIFY(!keys.load("lab").has_value());
        keys.save("lab", "sk-lab");
        keys.save("home", "sk-home");
        QCOMPARE(*keys.load("lab"), std::string("sk-lab"));
        struct stat st {};
        QCOMPARE(::stat(file.c_str(), &st), 0);
        QCOMPARE(st.st_mode & 0777, 0600u);
        keys.remove("lab");
        QVERIFY(!keys.load("lab").has_value());
        QCOMPARE(*keys.load("home"), std::string("sk-home"));
        // Readable by others: refused, with the fix.
        ::chmod(file.c_str(), 0644);
        const std::string e = error_of([&] { keys.load("home"); });
        QVERIFY2(e.find("mode 0644") != std::string::npos &&
                     e.find("chmod 600 " + file) != std::string::npos,
                 e.c_str());
        // Damaged.
        ::chmod(file.c_str(), 0600);
        QFile f(QString::fromStdString(file));
        QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
        f.write("{\"keys\": [1, 2");
        f.close();
        QVERIFY(error_of([&] { keys.load("home"); }).find("is damaged") != std::string::npos);
    }

    void a_profile_keeps_everything_but_the_key() {
        QTemporaryDir dir;
        app::KeyStore keys(dir.filePath("k.json").toStdString(), false);
        {
            ui::ServerDialog d(nullptr, &keys);
            d.name_edit()->setText("lab vLLM");
            d.url_edit()->setText("http://10.0.0.5:8000/v1");
            d.key_edit()->setText("sk-very-secret");
            d.keep_key_box()->setChecked(true);
            d.model_box()->setEditText("deepseek-ai/DeepSeek-R1");
            d.routed_box()->setChecked(true);
            d.layers_box()->setValue(61);
            QVERIFY(d.save_profile());
            const app::LoadSettings s = d.settings();
            QCOMPARE(s.remote.api_key, std::string("sk-very-secret"));
            QCOMPARE(s.remote.n_layer, int64_t{61});
        }
        QVERIFY(ui::server_profiles().contains("lab vLLM"));
        bool kept = false;
        const app::RemoteSettings r = ui::server_profile("lab vLLM", nullptr, &kept);
        QCOMPARE(r.base_url, std::string("http://10.0.0.5:8000/v1"));
        QCOMPARE(r.model, std::string("deepseek-ai/DeepSeek-R1"));
        QVERIFY(r.routed_experts && kept);
        QVERIFY(r.api_key.empty());
        // The settings file holds no key.
        QSettings().sync();
        QFile settings(QSettings().fileName());
        QVERIFY(settings.open(QIODevice::ReadOnly));
        QVERIFY(!settings.readAll().contains("sk-very-secret"));
        // A new dialog restores the profile with its kept key.
        ui::ServerDialog d2(nullptr, &keys);
        d2.select_profile("lab vLLM");
        QCOMPARE(d2.settings().remote.api_key, std::string("sk-very-secret"));
        QCOMPARE(d2.layers_box()->value(), 61);
        // Bad names and a missing variable are said, not saved.
        d2.name_edit()->setText("a/b");
        QVERIFY(!d2.save_profile());
        QVERIFY(d2.status_text().contains("cannot hold"));
    }

    void the_model_list_comes_from_the_server() {
        LoopbackServer server([](LoopbackServer::Conn& c, const LoopbackServer::Request& r) {
            if (r.head.rfind("GET /v1/models", 0) == 0)
                c.send(http_json(
                    R"({"data":[{"id":"qwen3-moe","owned_by":"sglang"},{"id":"qwen3-8b","owned_by":"sglang"}]})"));
            else if (r.head.rfind("GET /get_server_info", 0) == 0)
                c.send(http_json(R"({"model_path":"/models/qwen3","version":"0.5.9"})"));
            else
                c.send("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        });
        QTemporaryDir dir;
        app::KeyStore keys(dir.filePath("k.json").toStdString(), false);
        ui::ServerDialog d(nullptr, &keys);
        d.url_edit()->setText(QString::fromStdString(server.url("/v1")));
        QSignalSpy listed(&d, &ui::ServerDialog::modelsListed);
        d.list_models();
        QVERIFY(listed.wait(10000));
        QCOMPARE(d.model_box()->count(), 2);
        QVERIFY2(d.status_text().contains("SGLang 0.5.9: 2 models."), qPrintable(d.status_text()));
        if (!qEnvironmentVariableIsEmpty("GB_SHOTS")) {  // tools/screenshots.sh's folder
            d.name_edit()->setText("lab SGLang");
            d.resize(720, 520);
            d.show();
            QTest::qWait(100);
            d.grab().save(qEnvironmentVariable("GB_SHOTS") + "/server-dialog.png");
        }
        // A server that is not there.
        LoopbackServer gone([](LoopbackServer::Conn& c, const LoopbackServer::Request&) {
            c.send(http_json("<html>proxy login</html>"));
        });
        d.url_edit()->setText(QString::fromStdString(gone.url("/v1")));
        d.list_models();
        QVERIFY(listed.wait(10000));
        QVERIFY2(d.status_text().startsWith("No model list:"), qPrintable(d.status_text()));
    }

    void the_hardware_view_shows_the_servers_figures() {
        ui::GpuDashboard dash;
        dash.show();
        dash.set_server("vLLM 0.11.0 at 10.0.0.5:8000");
        app::ServerSample s;
        s.t_s = 2;
        s.health.running = 3;
        s.health.waiting = 1;
        s.health.kv_usage = 0.42;
        s.health.gen_tps = 812;
        dash.add_server_sample(s);
        const QString t = dash.server_text();
        QVERIFY2(t.contains("3 running") && t.contains("1 waiting") &&
                     t.contains("KV cache 42.0% used") && t.contains("812.0 tok/s"),
                 qPrintable(t));
        app::ServerSample bad;
        bad.error =
            "the server at 10.0.0.5:8000 has no /metrics: start SGLang with --enable-metrics";
        dash.add_server_sample(bad);
        QVERIFY(dash.server_text().contains("--enable-metrics"));
        dash.set_server({});
        QVERIFY(dash.server_text().isEmpty());
    }
};

QTEST_MAIN(ServerDialogTest)
#include "server_dialog_qtest.moc"
