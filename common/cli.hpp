// The `parley` command line: one binary, four modes as subcommands.
//
// parse_command_line() turns argv into a CommandLine or into an exit with text to print
// (help and --version exit 0; a usage error exits 2 with a clear message). It does no I/O
// itself, so it is unit-tested directly. Used once, from main, at start-up.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace parley {

inline constexpr int kExitUsage = 2;
inline constexpr int kExitConfig = 3;

struct CommandLine {
    std::string mode;         // "server", "manager", "imageproc" or "botclient"
    std::string config_path;  // empty: embedded defaults
    std::string data_dir;     // empty: from the configuration
    std::string log_level;    // empty: from the configuration
    bool print_default_config = false;
};

struct CliResult {
    std::optional<CommandLine> command;  // set when a mode is to run
    int exit_code = 0;                   // meaningful when command is empty
    std::string out;                     // text for stdout
    std::string err;                     // text for stderr
};

CliResult parse_command_line(int argc, const char* const* argv);

}  // namespace parley
