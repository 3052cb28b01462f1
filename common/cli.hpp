// The `parley` command line: one binary, four modes as subcommands, plus `manager-api`, the
// command-line client of the manager API (manager/api/api_cli.hpp).
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

// `parley manager-api <method> [key=value ...]`: one request to a manager.
struct ManagerApiCall {
    std::string method;
    std::vector<std::string> args;  // key=value parameters
    std::string params_json;        // --params: a JSON object the key=value pairs add to
    std::string url;                // empty: the unix socket of the manager's configuration
    std::string key_file;           // empty: $PARLEY_MANAGER_KEY
    std::string cert_file;          // tls:// only: client certificate, its key, the CA
    std::string cert_key_file;
    std::string ca_file;
    int timeout_ms = 120'000;
};

// `parley manager restore --snapshot <id>`: put a stored backup back (docs/backups.md).
struct RestoreCall {
    bool requested = false;
    std::string snapshot;
    std::string source;       // empty: the only source with backups here
    std::string to;           // empty: manager.backup.server_data_dir
    bool no_service = false;  // do not stop and start the server's unit over D-Bus
};

// `parley botclient load`: simulated users against a server (botclient/load/load_command.hpp).
struct LoadCommand {
    bool active = false;
    std::string url = "http://127.0.0.1:8080";
    int users = 10;
    int rooms = 2;
    double rate = 10;      // messages per second, all users together
    double duration = 10;  // seconds
    int threads = 1;
};

struct CommandLine {
    std::string mode;         // "server", "manager", "imageproc", "botclient" or "manager-api"
    std::string config_path;  // empty: embedded defaults
    std::string data_dir;     // empty: from the configuration
    std::string log_level;    // empty: from the configuration
    bool print_default_config = false;
    bool check_config = false;   // load the configuration, say whether it is valid, exit
    std::string make_admin;      // server: give this account the admin role, then exit
    std::string drop_admin;      // server: take the admin role back, then exit
    std::string make_bot;        // server: create a remote bot account, print its key, exit
    ManagerApiCall manager_api;  // mode "manager-api"
    std::string load_plan;       // botclient --load: the load client's plan (botclient/load/)
    RestoreCall restore;         // manager restore
    LoadCommand load;            // botclient load
};

struct CliResult {
    std::optional<CommandLine> command;  // set when a mode is to run
    int exit_code = 0;                   // meaningful when command is empty
    std::string out;                     // text for stdout
    std::string err;                     // text for stderr
};

CliResult parse_command_line(int argc, const char* const* argv);

}  // namespace parley
