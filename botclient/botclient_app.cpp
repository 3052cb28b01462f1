#include "botclient/botclient_app.hpp"

#include <spdlog/spdlog.h>

#include "common/service_loop.hpp"

namespace parley {

int run_botclient(const BotclientConfig& config) {
    ServiceLoop loop(1);
    spdlog::info("parley botclient started for {} (no bots configured)", config.server_url);
    loop.notifier().ready();
    loop.run([&] { loop.stop_complete(); }, std::chrono::milliseconds(config.shutdown_timeout_ms));
    spdlog::info("parley botclient stopped");
    return 0;
}

}  // namespace parley
