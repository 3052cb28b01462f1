#include "manager/manager_app.hpp"

#include <unistd.h>

#include <array>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "common/dir_lock.hpp"
#include "common/service_loop.hpp"
#include "common/version.hpp"
#include "manager/api/api_keys.hpp"
#include "manager/api/api_server.hpp"
#include "manager/api/request_handler.hpp"
#include "manager/scheduler.hpp"
#include "manager/state/manager_store.hpp"
#include "manager/system/sdbus_system.hpp"
#include "manager/system/systemd_journal.hpp"

namespace parley {

namespace {

std::string manager_name(const ManagerConfig& config) {
    if (!config.name.empty()) return config.name;
    std::array<char, 256> buf{};
    if (::gethostname(buf.data(), buf.size() - 1) != 0 || buf[0] == '\0') return "manager";
    return buf.data();
}

}  // namespace

int run_manager(const ManagerConfig& config) {
    std::string error;
    auto lock = DirectoryLock::acquire(config.data_dir, error);
    if (!lock) {
        spdlog::critical("{}", error);
        return 1;
    }
    const std::string name = manager_name(config);
    // First, so that it outlives every object holding an I/O object of its context.
    ServiceLoop loop(1);

    ManagerStore store(config.data_dir + "/manager.db");
    SdbusSystemOptions dbus_options;
    dbus_options.job_timeout = std::chrono::milliseconds(config.dbus_job_timeout_ms);
    dbus_options.call_timeout = std::chrono::milliseconds(config.dbus_call_timeout_ms);
    // Connects to the system bus on first use: a manager without D-Bus still starts and
    // answers system.info, with the unit's state as an error.
    SdbusSystem system(dbus_options);
    SystemdJournal journal;
    ApiKeyRing keys(config.api_keys);
    if (keys.empty()) {
        spdlog::warn("no [[manager.api_keys]] configured: the manager API refuses every client");
    }
    RequestHandler handler(config, name, system, system, journal, store);
    Scheduler scheduler(store, system, system, config.server_unit,
                        std::chrono::milliseconds(config.schedule_grace_ms));

    // D-Bus jobs and database writes block: they run here, never on the event loop. Declared
    // after everything its work uses, so it is joined before they are destroyed.
    net::thread_pool blocking(4);
    ApiServer api(loop.context(), config, handler, keys, blocking);
    if (std::string problem = api.listen(); !problem.empty()) {
        spdlog::critical("{}", problem);
        return 1;
    }
    api.start();
    scheduler.start(loop.context().get_executor(), blocking,
                    std::chrono::milliseconds(config.schedule_poll_ms));
    spdlog::info("parley manager {} '{}' started (data {}, controls {})", kVersion, name,
                 config.data_dir, config.server_unit);
    spdlog::info("manager api listening on unix:{}{}", api.socket_path(),
                 api.tls_enabled()
                     ? fmt::format(" and tls://{}:{}", config.listen_address, api.tls_port())
                     : std::string(" (TLS listener off: [manager.tls] not set)"));
    loop.notifier().ready();
    loop.run(
        [&] {
            scheduler.stop();
            api.stop([&] { loop.stop_complete(); });
        },
        std::chrono::milliseconds(config.shutdown_timeout_ms));
    blocking.join();
    spdlog::info("parley manager stopped");
    return 0;
}

}  // namespace parley
