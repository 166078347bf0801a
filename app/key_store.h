// KeyStore: API keys of server connections, kept out of the history database, exports and
// logs: in the system keychain (libsecret's secret-tool, when it is installed and a session
// bus answers), else in a JSON file readable only by the user (mode 0600; a file others can
// read is refused, not used). Keys are filed under the connection profile's name.
#pragma once

#include <optional>
#include <string>

namespace gb::app {

class KeyStore {
public:
    // file: the fallback file (its folder is made when a key is saved); use_keychain false:
    // the file only (tests).
    explicit KeyStore(std::string file, bool use_keychain = true);

    // Throws gb::Error naming what failed (the file could not be written).
    void save(const std::string& profile, const std::string& key);
    // The key, or nothing when none is kept. Throws gb::Error when the file is readable by
    // others (with the command that fixes it) or cannot be read.
    std::optional<std::string> load(const std::string& profile) const;
    void remove(const std::string& profile);
    // Where keys go: "the system keychain" or the file's path.
    std::string where() const;
    bool keychain() const { return keychain_; }

    // The default file: server-keys.json in the app's configuration folder.
    static std::string default_file();

private:
    std::string file_;
    bool keychain_ = false;
};

}  // namespace gb::app
