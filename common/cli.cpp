#include "common/cli.hpp"

#include <sstream>

#include <CLI/CLI.hpp>

#include "common/version.hpp"

namespace parley {

namespace {

struct ModeInfo {
    const char* name;
    const char* description;
};

constexpr ModeInfo kModes[] = {
    {"server", "Run the Parley server: accounts, profiles, images and chat over HTTP + WebSocket."},
    {"manager", "Run the host manager: systemd over D-Bus, maintenance, forwarding and backups."},
    {"imageproc", "Run the image child process (started by the server; requests on stdin)."},
    {"botclient", "Run bots against a Parley server (local bots, remote bots, load generation)."},
};

}  // namespace

CliResult parse_command_line(int argc, const char* const* argv) {
    CliResult result;
    CommandLine cmd;

    CLI::App app{"Parley: a self-hosted real-time backend.", "parley"};
    app.set_version_flag("--version", std::string("parley ") + kVersion);
    app.require_subcommand(1, 1);
    app.fallthrough(false);

    for (const auto& mode : kModes) {
        CLI::App* sub = app.add_subcommand(mode.name, mode.description);
        sub->add_option("-c,--config", cmd.config_path,
                        "TOML configuration file (default: embedded defaults)")
            ->check(CLI::ExistingFile);
        sub->add_option("-d,--data-dir", cmd.data_dir, "Data directory (overrides the config)");
        sub->add_option("-l,--log-level", cmd.log_level, "Log level (overrides the config)")
            ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
        sub->add_flag("--print-default-config", cmd.print_default_config,
                      "Print the documented default configuration and exit");
        sub->add_flag("--check-config", cmd.check_config,
                      "Load the configuration (file and options), report what is wrong and "
                      "exit: 0 when it is valid, 3 when not");
        if (std::string(mode.name) == "server") {
            auto* make = sub->add_option("--make-admin", cmd.make_admin,
                                         "Give this account the admin role and exit (the server "
                                         "must not be running on the data directory)");
            auto* drop = sub->add_option("--drop-admin", cmd.drop_admin,
                                         "Take the admin role from this account and exit")
                             ->excludes(make);
            sub->add_option("--make-bot", cmd.make_bot,
                            "Create a remote bot account with this name, print its bot key once "
                            "and exit (the server must not be running on the data directory)")
                ->excludes(make)
                ->excludes(drop);
        }
        if (std::string(mode.name) == "manager") {
            CLI::App* restore = sub->add_subcommand(
                "restore",
                "Stop the server (systemd), put a stored backup snapshot back into its data "
                "directory with the media, verify it, start the server again");
            restore->fallthrough(true);
            restore->add_option("--snapshot", cmd.restore.snapshot, "The snapshot id to restore")
                ->required();
            restore->add_option("--source", cmd.restore.source,
                                "The manager whose backups to use (default: the only one)");
            restore->add_option("--to", cmd.restore.to,
                                "The server data directory (default: "
                                "manager.backup.server_data_dir)");
            restore->add_flag("--no-service", cmd.restore.no_service,
                              "Do not stop and start the server's unit (it is not run by systemd)");
            // -c and -d belong to `parley manager` and fall through from here; say so, or the
            // help of restore hides how to name the manager's configuration.
            restore->footer(
                "Also takes the manager's own options, before or after 'restore':\n"
                "  -c,--config FILE     the manager's TOML configuration (manager.backup.dir, "
                "server_unit, ...)\n"
                "  -d,--data-dir DIR    the manager's data directory (backups/ by default "
                "under it)\n"
                "Example: parley manager restore --snapshot 20261122T033000.123Z -c "
                "/etc/parley/manager.toml");
            restore->callback([&cmd] { cmd.restore.requested = true; });
        }
        sub->callback([&cmd, name = mode.name] { cmd.mode = name; });
    }

    CLI::App* botclient = app.get_subcommand("botclient");
    botclient
        ->add_option("--load", cmd.load_plan,
                     "Run the load client with this JSON plan instead of bots (see bench/)")
        ->check(CLI::ExistingFile);
    CLI::App* load = botclient->add_subcommand(
        "load",
        "Drive a server with simulated users: registers them, puts them in rooms, sends at a "
        "fixed rate and prints throughput and p50/p90/p99 latency every second");
    load->add_option("--url", cmd.load.url, "The server (http://host:port)")
        ->check([](const std::string& v) {
            return v.starts_with("http://") ? std::string()
                                            : std::string("must start with http://");
        });
    load->add_option("--users", cmd.load.users, "Simulated users (one socket each)")
        ->check(CLI::Range(1, 100'000));
    load->add_option("--rooms", cmd.load.rooms, "Rooms the users are spread over")
        ->check(CLI::Range(1, 100));
    load->add_option("--rate", cmd.load.rate, "Messages per second, all users together")
        ->check(CLI::Range(0.1, 1'000'000.0));
    load->add_option("--duration", cmd.load.duration, "Seconds of sending")
        ->check(CLI::Range(1.0, 86'400.0));
    load->add_option("--threads", cmd.load.threads, "Event-loop threads of the load client")
        ->check(CLI::Range(1, 64));
    load->callback([&cmd] { cmd.load.active = true; });

    CLI::App* api = app.add_subcommand(
        "manager-api", "Send one request to a manager's API and print the JSON answer.");
    api->add_option(
           "method", cmd.manager_api.method,
           "ping, system.info, service.start, service.stop, service.restart, host.reboot, "
           "schedule.add, schedule.remove, schedule.list, schedule.watch, managers.list, "
           "backup.run, backup.status, backup.history, backup.snapshots (docs/manager-api.md; "
           "the target's backup.begin, backup.put, backup.file, backup.media, backup.media_put, "
           "backup.finish and backup.abort are for managers)")
        ->required();
    api->add_option("params", cmd.manager_api.args,
                    "Parameters as key=value; the value is read as JSON when it parses (3, true, "
                    "\"x\"), else as a string; at=+10m means 10 minutes from now (s, m, h, d)");
    api->add_option("--params", cmd.manager_api.params_json, "Parameters as a JSON object");
    api->add_option("-c,--config", cmd.config_path,
                    "The manager's TOML configuration (where its unix socket is)")
        ->check(CLI::ExistingFile);
    api->add_option("-d,--data-dir", cmd.data_dir,
                    "The manager's data directory (where its unix socket is)");
    api->add_option(
        "--url", cmd.manager_api.url,
        "unix:/path/to/manager.sock or tls://host:port (default: the manager's socket)");
    api->add_option("--key-file", cmd.manager_api.key_file,
                    "File holding the API key (default: $PARLEY_MANAGER_KEY)");
    api->add_option("--cert", cmd.manager_api.cert_file, "Client certificate (PEM) for tls://");
    api->add_option("--cert-key", cmd.manager_api.cert_key_file,
                    "Its private key (PEM) for tls://");
    api->add_option("--ca", cmd.manager_api.ca_file,
                    "CA the manager's certificate chains to, for tls://");
    api->add_option("--timeout-ms", cmd.manager_api.timeout_ms, "Deadline of the whole call")
        ->check(CLI::Range(100, 3'600'000));
    api->callback([&cmd] { cmd.mode = "manager-api"; });

    if (argc > 1 && argv[1][0] != '-') {
        bool known = std::string(argv[1]) == "manager-api";
        for (const auto& mode : kModes)
            known = known || std::string(argv[1]) == mode.name;
        if (!known) {
            result.exit_code = kExitUsage;
            result.err = std::string("parley: unknown mode '") + argv[1] +
                         "' (expected server, manager, imageproc, botclient or manager-api)\n"
                         "Run 'parley --help' for usage.\n";
            return result;
        }
    }

    std::vector<std::string> args;
    for (int i = argc - 1; i > 0; --i)
        args.emplace_back(argv[i]);  // CLI11 wants them reversed

    std::ostringstream out, err;
    try {
        app.parse(args);
    } catch (const CLI::CallForHelp& e) {
        result.exit_code = app.exit(e, out, err);
        result.out = out.str();
        result.err = err.str();
        return result;
    } catch (const CLI::CallForVersion& e) {
        result.exit_code = 0;
        result.out = std::string(e.what()) + "\n";
        return result;
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) {  // --help on a subcommand
            app.exit(e, out, err);
            result.exit_code = 0;
        } else {
            err << "parley: " << e.what() << "\n";
            err << "Run 'parley --help' or 'parley <mode> --help' for usage.\n";
            result.exit_code = kExitUsage;
        }
        result.out = out.str();
        result.err = err.str();
        return result;
    }
    result.command = cmd;
    return result;
}

}  // namespace parley
