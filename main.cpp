// parley: one binary, four modes (server, manager, imageproc, botclient).
// main parses the command line, loads the mode's configuration (all or nothing), sets up
// logging and hands over to the mode's run function.
#include <cstdio>
#include <iostream>

#include <spdlog/spdlog.h>

#include "botclient/botclient_app.hpp"
#include "botclient/load/load_command.hpp"
#include "botclient/load/load_runner.hpp"
#include "common/cli.hpp"
#include "common/db/sqlite_process.hpp"
#include "common/logging.hpp"
#include "common/mode_config.hpp"
#include "imageproc/imageproc_app.hpp"
#include "manager/api/api_cli.hpp"
#include "manager/backup/backup_restore.hpp"
#include "manager/manager_app.hpp"
#include "server/account_admin.hpp"
#include "server/bot_admin.hpp"
#include "server/server_app.hpp"

namespace {

template <class Config, class Run>
int run_mode(const parley::CommandLine& cmd, Run run) {
    if (cmd.print_default_config) {
        std::cout << parley::render_default_config<Config>();
        return 0;
    }
    Config config;
    try {
        config = parley::load_mode_config<Config>(cmd);
    } catch (const parley::ConfigError& e) {
        std::cerr << "parley " << cmd.mode << ": " << e.what() << "\n";
        return parley::kExitConfig;
    }
    if (cmd.check_config) {
        std::cout << "parley " << cmd.mode << ": configuration "
                  << (cmd.config_path.empty() ? "(embedded defaults)" : cmd.config_path) << " ok\n";
        return 0;
    }
    parley::init_logging(cmd.mode, config.log_level);
    try {
        return run(config);
    } catch (const std::exception& e) {
        spdlog::critical("fatal: {}", e.what());
        return 1;
    }
}

}  // namespace

int main(int argc, char** argv) {
    parley::configure_sqlite_process();
    parley::CliResult cli = parley::parse_command_line(argc, argv);
    if (!cli.command) {
        std::cout << cli.out;
        std::cerr << cli.err;
        return cli.exit_code;
    }
    const parley::CommandLine& cmd = *cli.command;
    if (cmd.mode == "server") {
        return run_mode<parley::ServerConfig>(cmd, [&cmd](const parley::ServerConfig& config) {
            if (!cmd.make_admin.empty()) return parley::run_set_admin(config, cmd.make_admin, true);
            if (!cmd.drop_admin.empty())
                return parley::run_set_admin(config, cmd.drop_admin, false);
            if (!cmd.make_bot.empty()) return parley::run_make_bot(config, cmd.make_bot);
            return parley::run_server(config);
        });
    }
    if (cmd.mode == "manager" && cmd.restore.requested) {
        return run_mode<parley::ManagerConfig>(cmd, [&cmd](const parley::ManagerConfig& config) {
            return parley::run_restore(config, cmd.restore);
        });
    }
    if (cmd.mode == "manager") return run_mode<parley::ManagerConfig>(cmd, parley::run_manager);
    if (cmd.mode == "imageproc")
        return run_mode<parley::ImageprocConfig>(cmd, parley::run_imageproc);
    if (cmd.mode == "botclient" && cmd.load.active) {
        parley::init_logging(cmd.mode, cmd.log_level.empty() ? "info" : cmd.log_level);
        return parley::run_load_command(cmd.load);
    }
    if (cmd.mode == "botclient" && !cmd.load_plan.empty()) {
        parley::init_logging(cmd.mode, cmd.log_level.empty() ? "info" : cmd.log_level);
        return parley::run_load_file(cmd.load_plan);
    }
    if (cmd.mode == "botclient")
        return run_mode<parley::BotclientConfig>(cmd, parley::run_botclient);
    if (cmd.mode == "manager-api") return parley::run_manager_api(cmd);
    std::cerr << "parley: unknown mode '" << cmd.mode << "'\n";
    return parley::kExitUsage;
}
