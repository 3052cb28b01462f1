#include "server/server_app.hpp"

#include <spdlog/spdlog.h>

#include "common/dir_lock.hpp"
#include "common/service_loop.hpp"
#include "common/version.hpp"
#include "server/api/http_server.hpp"
#include "server/api/router.hpp"

namespace parley {

namespace {

void add_system_routes(Router& router) {
    router.add(http::verb::get, "/api/v1/health", [](RequestContext&) -> awaitable<HttpResponse> {
        co_return json_response(http::status::ok, {{"status", "ok"}, {"version", kVersion}});
    });
}

}  // namespace

int run_server(const ServerConfig& config) {
    std::string error;
    auto lock = DirectoryLock::acquire(config.data_dir, error);
    if (!lock) {
        spdlog::critical("{}", error);
        return 1;
    }

    int threads = resolve_thread_count(config.threads);
    ServiceLoop loop(threads);

    Router router;
    add_system_routes(router);

    HttpServer http(loop.context(), config, router);
    if (auto ec = http.listen()) {
        spdlog::critical("cannot listen on {}:{}: {}", config.listen_address, config.port, ec.message());
        return 1;
    }
    http.start();
    spdlog::info("parley server {} listening on http://{}:{} (data {}, {} threads)", kVersion,
                 config.listen_address, http.port(), config.data_dir, threads);
    loop.notifier().ready();

    loop.run([&] { http.stop([&] { loop.stop_complete(); }); },
             std::chrono::milliseconds(config.shutdown_timeout_ms));
    spdlog::info("parley server stopped");
    return 0;
}

}  // namespace parley
