#include "app/key_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <QProcess>
#include <QStandardPaths>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "engine/core/json.h"
#include "kernels/error.h"

namespace gb::app {

namespace {

// secret-tool with `args`, `input` on stdin; its stdout, or nothing when it failed.
std::optional<std::string> secret_tool(const QStringList& args, const std::string& input = {}) {
    QProcess p;
    p.start(QStringLiteral("secret-tool"), args);
    if (!p.waitForStarted(3000)) return std::nullopt;
    if (!input.empty()) p.write(input.data(), static_cast<qint64>(input.size()));
    p.closeWriteChannel();
    if (!p.waitForFinished(5000)) {
        p.kill();
        p.waitForFinished(1000);
        return std::nullopt;
    }
    if (p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0) return std::nullopt;
    return p.readAllStandardOutput().toStdString();
}

QStringList attributes(const std::string& profile) {
    return {QStringLiteral("application"), QStringLiteral("glassbox"), QStringLiteral("profile"),
            QString::fromStdString(profile)};
}

std::map<std::string, std::string> read_file(const std::string& path) {
    std::map<std::string, std::string> keys;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return keys;
        throw Error("the key file " + path + " cannot be read: " + std::strerror(errno));
    }
    if ((st.st_mode & 077) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 0777));
        throw Error("the key file " + path + " can be read by other users (mode " + mode +
                    "), so its keys are not used: run chmod 600 " + path);
    }
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    try {
        const json::Value v = json::parse(ss.str());
        for (const auto& [name, key] : v.at("keys").as_object()) keys[name] = key.as_string();
    } catch (const std::exception& e) {
        throw Error("the key file " + path + " is damaged (" + e.what() +
                    "): delete it and enter the keys again");
    }
    return keys;
}

void write_file(const std::string& path, const std::map<std::string, std::string>& keys) {
    const size_t slash = path.rfind('/');
    if (slash != std::string::npos) {
        const std::string dir = path.substr(0, slash);
        ::mkdir(dir.c_str(), 0700);  // its parent exists (the config folder) or it fails below
    }
    std::ostringstream os;
    {
        json::Writer w(os);
        w.begin_object();
        w.key("keys").begin_object();
        for (const auto& [name, key] : keys) w.field(name, key);
        w.end_object();
        w.end_object();
    }
    const std::string text = os.str(), tmp = path + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw Error("the key file " + tmp + " cannot be written: " + std::strerror(errno));
    const bool ok = ::fchmod(fd, 0600) == 0 &&
                    ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                    ::fsync(fd) == 0;
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
        ::unlink(tmp.c_str());
        throw Error("the key file " + path + " cannot be written: " + std::strerror(errno));
    }
}

}  // namespace

KeyStore::KeyStore(std::string file, bool use_keychain) : file_(std::move(file)) {
    keychain_ = use_keychain && !QStandardPaths::findExecutable("secret-tool").isEmpty() &&
                !qEnvironmentVariableIsEmpty("DBUS_SESSION_BUS_ADDRESS");
}

std::string KeyStore::default_file() {
    return QStandardPaths::writableLocation(QStandardPaths::AppConfigLocation).toStdString() +
           "/server-keys.json";
}

std::string KeyStore::where() const { return keychain_ ? "the system keychain" : file_; }

void KeyStore::save(const std::string& profile, const std::string& key) {
    if (keychain_ &&
        secret_tool(QStringList{"store", "--label=Glassbox: " + QString::fromStdString(profile)} +
                        attributes(profile),
                    key))
        return;
    auto keys = read_file(file_);
    keys[profile] = key;
    write_file(file_, keys);
}

std::optional<std::string> KeyStore::load(const std::string& profile) const {
    if (keychain_)
        if (auto k = secret_tool(QStringList{"lookup"} + attributes(profile)); k && !k->empty())
            return k;
    const auto keys = read_file(file_);
    const auto it = keys.find(profile);
    if (it == keys.end()) return std::nullopt;
    return it->second;
}

void KeyStore::remove(const std::string& profile) {
    if (keychain_) secret_tool(QStringList{"clear"} + attributes(profile));
    auto keys = read_file(file_);
    if (keys.erase(profile)) write_file(file_, keys);
}

}  // namespace gb::app
