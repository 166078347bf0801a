// Runs glassbox-cli (GB_CLI_PATH) as a child process for the end-to-end CLI tests: its exit
// status, stdout and stderr.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace gb::test {

struct CliResult {
    int code = -1;
    std::string out;  // stdout
    std::string err;  // stderr
};

inline CliResult run_cli(const std::string& args) {
    // One stderr file per call and process: ctest runs tests in parallel processes.
    static int calls = 0;
    const auto err_path =
        std::filesystem::temp_directory_path() /
        ("gb_cli_test_stderr_" + std::to_string(getpid()) + "_" + std::to_string(++calls) + ".txt");
    const std::string cmd = std::string(GB_CLI_PATH) + " " + args + " 2>" + err_path.string();
    FILE* p = popen(cmd.c_str(), "r");
    CliResult r;
    if (!p) return r;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
    const int status = pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream e(err_path);
    std::stringstream ss;
    ss << e.rdbuf();
    r.err = ss.str();
    std::filesystem::remove(err_path);
    return r;
}

}  // namespace gb::test
