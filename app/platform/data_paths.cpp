// The data folder's lookup: environment, then next to the executable, then the source tree.
#include "app/platform/data_paths.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>

#ifndef GB_SOURCE_DIR
#error "GB_SOURCE_DIR (the source tree, for runs from a build folder) must be defined"
#endif

namespace gb::app {

namespace {

// <dir of /proc/self/exe>/../share/glassbox: bin/ and share/ are siblings under any prefix
// (GNUInstallDirs), so a relocated install (a .deb, cmake --install --prefix) finds its data.
std::filesystem::path installed_data_dir() {
    std::error_code ec;
    const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec || exe.empty()) return {};
    return (exe.parent_path().parent_path() / "share" / "glassbox").lexically_normal();
}

}  // namespace

DataDir find_data_dir() {
    if (const char* env = std::getenv("GLASSBOX_DATA_DIR"); env && *env)
        return {env, DataDirFrom::Environment};
    const std::filesystem::path installed = installed_data_dir();
    std::error_code ec;
    if (!installed.empty() && std::filesystem::is_directory(installed / "models", ec))
        return {installed.string(), DataDirFrom::Installed};
    return {GB_SOURCE_DIR "/resources", DataDirFrom::SourceTree};
}

std::string demo_models_dir() { return find_data_dir().path + "/models"; }

const char* data_dir_from_name(DataDirFrom from) {
    switch (from) {
        case DataDirFrom::Environment: return "GLASSBOX_DATA_DIR";
        case DataDirFrom::Installed: return "installed";
        case DataDirFrom::SourceTree: return "source tree";
    }
    return "?";
}

}  // namespace gb::app
