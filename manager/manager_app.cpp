#include "manager/manager_app.hpp"

#include <malloc.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include <spdlog/spdlog.h>

#include "common/dir_lock.hpp"
#include "common/service_loop.hpp"
#include "common/version.hpp"
#include "manager/api/api_server.hpp"
#include "manager/api/request_handler.hpp"
#include "manager/api/request_router.hpp"
#include "manager/backup/backup_source.hpp"
#include "manager/backup/backup_target.hpp"
#include "manager/links/link_dialer.hpp"
#include "manager/protocol/api_keys.hpp"
#include "manager/schedule/schedule_watch.hpp"
#include "manager/schedule/scheduler.hpp"
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

// The API keys this manager presents to its peers, read from their key_file (trailing
// whitespace dropped). A missing or empty file stops start-up, naming the file, never the key.
bool load_peer_keys(const ManagerConfig& config, std::map<std::string, std::string>& keys) {
    for (const auto& peer : config.peers) {
        if (peer.key_file.empty()) continue;
        std::ifstream in(peer.key_file, std::ios::binary);
        std::string key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) {
            key.pop_back();
        }
        if (!in.good() && !in.eof()) key.clear();
        if (key.empty() || key.size() > 1024) {
            spdlog::critical("manager.peers '{}': key_file '{}' is missing, empty or too long",
                             peer.name, peer.key_file);
            return false;
        }
        keys[peer.name] = std::move(key);
    }
    return true;
}

// The certificate used when dialling peers: [manager.client_tls], else [manager.tls]'s.
std::unique_ptr<net::ssl::context> client_tls_context(const ManagerConfig& config, bool& failed) {
    failed = false;
    std::string error;
    std::unique_ptr<net::ssl::context> ctx;
    if (!config.client_tls.certificate_file.empty()) {
        ctx = make_manager_client_tls(config.client_tls.certificate_file,
                                      config.client_tls.private_key_file, config.client_tls.ca_file,
                                      error);
    } else if (config.tls.enabled()) {
        // A bad [manager.tls] file is reported by the listener, naming its key.
        return make_manager_client_tls(config.tls.certificate_file, config.tls.private_key_file,
                                       config.tls.ca_file, error);
    } else {
        return nullptr;
    }
    if (!ctx) {
        spdlog::critical("manager.client_tls: {}", error);
        failed = true;
    }
    return ctx;
}

}  // namespace

int run_manager(const ManagerConfig& config) {
    // Backup chunks are 1 MiB buffers made and freed many times a second: served from the heap
    // and kept there, instead of a fresh mmap (and 256 page faults) for each.
    ::mallopt(M_MMAP_THRESHOLD, 8 << 20);
    ::mallopt(M_TRIM_THRESHOLD, 64 << 20);
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
    store.set_backup_history_keep_days(config.backup_history_keep_days);
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
    std::map<std::string, std::string> peer_keys;
    if (!load_peer_keys(config, peer_keys)) return 1;
    bool tls_failed = false;
    std::unique_ptr<net::ssl::context> client_tls = client_tls_context(config, tls_failed);
    if (tls_failed) return 1;

    RequestHandler handler(config, name, system, system, journal, store);
    Scheduler scheduler(store, system, system, config.server_unit,
                        std::chrono::milliseconds(config.schedule_grace_ms));
    // The maintenance notice follows every change of the pending schedules.
    ScheduleWatch watch(store);
    watch.refresh();
    handler.set_schedule_observer([&watch] { watch.refresh(); });
    scheduler.set_schedule_observer([&watch] { watch.refresh(); });
    LinkRegistry links;

    // D-Bus jobs and database writes block: they run here, never on the event loop. Declared
    // after everything its work uses, so it is joined before they are destroyed.
    net::thread_pool blocking(4);
    RequestRouter router(config, name, handler, watch, links, blocking, client_tls.get(),
                         peer_keys);
    BackupTarget backup_target(
        config, store,
        [&blocking](std::function<void()> job) { net::post(blocking, std::move(job)); },
        system_wall_clock());
    backup_target.recover();
    handler.set_backup_target(&backup_target);
    BackupSource backup_source(config, name, store, links, blocking, client_tls.get(), peer_keys);
    backup_source.recover();
    router.set_backup_source(&backup_source);
    LinkDialer dialer(loop.context(), config, name, router, links, client_tls.get(), peer_keys);
    if (std::string problem = dialer.check(); !problem.empty()) {
        spdlog::critical("{}", problem);
        return 1;
    }
    ApiServer api(loop.context(), config, handler, router, links, keys, blocking);
    if (std::string problem = api.listen(); !problem.empty()) {
        spdlog::critical("{}", problem);
        return 1;
    }
    api.start();
    dialer.start();
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
            watch.stop();
            dialer.stop([&] { api.stop([&] { loop.stop_complete(); }); });
        },
        std::chrono::milliseconds(config.shutdown_timeout_ms));
    blocking.join();
    spdlog::info("parley manager stopped");
    return 0;
}

}  // namespace parley
