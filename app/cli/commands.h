// The subcommands of glassbox-cli; each returns the process exit code.
#pragma once

#include <string>
#include <vector>

namespace gb::cli {

int inspect_command(const std::vector<std::string>& args);
int run_command(const std::vector<std::string>& args);
int bench_command(const std::vector<std::string>& args);
int tokenize_command(const std::vector<std::string>& args);
int convert_command(const std::vector<std::string>& args);
int analyze_command(const std::vector<std::string>& args);
int compare_command(const std::vector<std::string>& args);
int branch_command(const std::vector<std::string>& args);
int reproduce_command(const std::vector<std::string>& args);
int rescore_command(const std::vector<std::string>& args);
int resample_command(const std::vector<std::string>& args);
int lens_command(const std::vector<std::string>& args);
int download_command(const std::vector<std::string>& args);
int paths_command(const std::vector<std::string>& args);

}  // namespace gb::cli
