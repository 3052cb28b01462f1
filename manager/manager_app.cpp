#include "manager/manager_app.hpp"

#include <spdlog/spdlog.h>

#include "common/dir_lock.hpp"
#include "common/service_loop.hpp"
#include "common/version.hpp"

namespace parley {

int run_manager(const ManagerConfig& config) {
    std::string error;
    auto lock = DirectoryLock::acquire(config.data_dir, error);
    if (!lock) {
        spdlog::critical("{}", error);
        return 1;
    }
    ServiceLoop loop(1);
    spdlog::info("parley manager {} started (data {}, controls {})", kVersion, config.data_dir,
                 config.server_unit);
    loop.notifier().ready();
    loop.run([&] { loop.stop_complete(); }, std::chrono::milliseconds(config.shutdown_timeout_ms));
    spdlog::info("parley manager stopped");
    return 0;
}

}  // namespace parley
