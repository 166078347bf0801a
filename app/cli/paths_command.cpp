// `glassbox-cli paths [--models]`: where this glassbox-cli finds Glassbox's data (the bundled
// demo models): installed beside it, in the source tree, or where GLASSBOX_DATA_DIR says.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/platform/data_paths.h"
#include "engine/core/utf8.h"

namespace gb::cli {

int paths_command(const std::vector<std::string>& argv) {
    Args args(argv, {}, {"--models"});
    if (!args.positional().empty())
        throw Error("paths takes no arguments: glassbox-cli paths [--models]");
    const app::DataDir data = app::find_data_dir();
    const std::string models = app::demo_models_dir();
    std::vector<std::string> demos;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(models, ec))
        if (e.path().extension() == ".gguf") demos.push_back(e.path().string());
    std::sort(demos.begin(), demos.end());
    if (demos.empty())
        throw Error("no demo models (*.gguf) in " + models +
                    " (data folder found: " + app::data_dir_from_name(data.from) +
                    "); set GLASSBOX_DATA_DIR to the folder that holds models/");
    if (args.has("--models")) {
        std::printf("%s\n", utf8::printable(models).c_str());
        return 0;
    }
    std::printf("data:    %s (%s)\n", utf8::printable(data.path).c_str(),
                app::data_dir_from_name(data.from));
    std::printf("models:  %s\n", utf8::printable(models).c_str());
    for (const std::string& d : demos) std::printf("demo:    %s\n", utf8::printable(d).c_str());
    return 0;
}

}  // namespace gb::cli
