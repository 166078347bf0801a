// Where Glassbox's own data (the bundled demo models) lives, for the CLI and the app alike: an
// installed copy (<prefix>/share/glassbox), or the source tree when run from a build folder.
#pragma once

#include <string>

namespace gb::app {

enum class DataDirFrom { Environment, Installed, SourceTree };

struct DataDir {
    std::string path;  // holds models/ (share/glassbox when installed, resources/ in the source)
    DataDirFrom from;
};

// The first of: $GLASSBOX_DATA_DIR when set and not empty; <dir of the executable>/../share/
// glassbox when it has a models/ folder (an installed Glassbox, wherever its prefix is); the
// source tree's resources/ (a build folder). Neither checks that the folder exists: the callers
// say which file is missing where.
DataDir find_data_dir();

// find_data_dir().path + "/models": glassbox-demo-moe.gguf, glassbox-demo-dense.gguf, README.md.
std::string demo_models_dir();

// "GLASSBOX_DATA_DIR", "installed", "source tree": where find_data_dir() found it, for messages.
const char* data_dir_from_name(DataDirFrom from);

}  // namespace gb::app
