#include "server/server_app.hpp"

#include <unistd.h>

#include <csignal>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "common/dir_lock.hpp"
#include "common/file_util.hpp"
#include "common/logging.hpp"
#include "common/metrics.hpp"
#include "common/rate_limiter.hpp"
#include "common/service_loop.hpp"
#include "common/version.hpp"
#include "server/api/account_routes.hpp"
#include "server/api/admin_routes.hpp"
#include "server/api/api_context.hpp"
#include "server/api/bot_routes.hpp"
#include "server/api/http_server.hpp"
#include "server/api/media_routes.hpp"
#include "server/api/notification_routes.hpp"
#include "server/api/room_routes.hpp"
#include "server/api/router.hpp"
#include "server/api/static_routes.hpp"
#include "server/api/ws_connection.hpp"
#include "server/bots/bot_supervisor.hpp"
#include "server/cluster/cluster_publisher.hpp"
#include "server/cluster/cluster_room_routes.hpp"
#include "server/cluster/cluster_routes.hpp"
#include "server/cluster/edge_feature.hpp"
#include "server/cluster/edge_hub.hpp"
#include "server/cluster/edge_link.hpp"
#include "server/cluster/edge_proxy.hpp"
#include "server/cluster/edge_sessions.hpp"
#include "server/cluster/edge_token_cache.hpp"
#include "server/data/account_store.hpp"
#include "server/data/audit_log.hpp"
#include "server/data/bot_store.hpp"
#include "server/data/db_readers.hpp"
#include "server/data/db_writer.hpp"
#include "server/data/media_store.hpp"
#include "server/data/room_store.hpp"
#include "server/db/migrations.hpp"
#include "server/features/chat_feature.hpp"
#include "server/features/client_registry.hpp"
#include "server/features/daily_maintenance.hpp"
#include "server/features/maintenance_feature.hpp"
#include "server/features/media_service.hpp"
#include "server/features/room_janitor.hpp"
#include "server/features/room_policy.hpp"
#include "server/features/room_service.hpp"
#include "server/manager_link/manager_client.hpp"
#include "server/media/imageproc_client.hpp"
#include "server/process/child_process.hpp"

namespace parley {

namespace {

// `cluster`, when set, gives the "cluster" field of the health answer (a cluster node only).
void add_system_routes(Router& router, MetricsRegistry& metrics,
                       std::function<nlohmann::json()> cluster) {
    router.add(http::verb::get, "/api/v1/health",
               [cluster](RequestContext&) -> awaitable<HttpResponse> {
                   nlohmann::json body{{"status", "ok"}, {"version", kVersion}};
                   if (cluster) body["cluster"] = cluster();
                   co_return json_response(http::status::ok, body);
               });
    router.add(http::verb::get, "/metrics", [&metrics](RequestContext&) -> awaitable<HttpResponse> {
        HttpResponse res{http::status::ok, 11};
        res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
        res.body() = metrics.render();
        res.prepare_payload();
        co_return res;
    });
}

// A plain GET on a WebSocket route (no Upgrade header); the features a socket may choose.
void add_socket_routes(Router& router, const FeatureTable& features) {
    router.add(http::verb::get, "/api/v1/features",
               [&features](RequestContext&) -> awaitable<HttpResponse> {
                   nlohmann::json out = nlohmann::json::array();
                   for (const auto& f : features.all())
                       out.push_back({{"name", f->name()}, {"message_types", f->message_types()}});
                   co_return json_response(http::status::ok, {{"features", out}});
               });
    for (const char* path : {"/api/v1/ws", "/api/v1/rooms/{id}/ws"}) {
        router.add(http::verb::get, path, [](RequestContext&) -> awaitable<HttpResponse> {
            co_return error_response(http::status::bad_request, "bad_request",
                                     "this route expects a WebSocket upgrade");
        });
    }
}

FailureBackoffConfig login_backoff(const AuthSettings& auth) {
    FailureBackoffConfig c;
    c.threshold = static_cast<std::uint32_t>(auth.login_failure_threshold);
    c.base = std::chrono::milliseconds(auth.login_lockout_base_ms);
    c.max = std::chrono::milliseconds(auth.login_lockout_max_ms);
    return c;
}

// The image child runs this binary in imageproc mode with a config file written from [media].
ImageprocOptions imageproc_options(const ServerConfig& config) {
    const MediaSettings& m = config.media;
    std::string media_dir = config.data_dir + "/media";
    std::filesystem::create_directories(media_dir);
    std::string child_config = media_dir + "/imageproc.toml";
    std::string toml = fmt::format(
        "# Written by parley server from its [media] section at each start; edit that instead.\n"
        "[imageproc]\nmax_pixels = {}\nmemory_limit_mb = {}\ncpu_limit_seconds = {}\n"
        "workers = {}\n",
        m.max_pixels, m.child_memory_limit_mb, m.child_cpu_limit_seconds, m.concurrency);
    if (auto ec = write_file_atomic(child_config, toml)) {
        throw std::runtime_error("cannot write " + child_config + ": " + ec.message());
    }
    std::error_code ec;
    std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    if (ec) throw std::runtime_error("cannot find the parley binary: " + ec.message());
    ImageprocOptions o;
    o.argv = {self,         "imageproc",     "--config",    child_config,
              "--data-dir", config.data_dir, "--log-level", config.log_level};
    o.concurrency = m.concurrency;
    o.queue_limit = m.queue_limit;
    o.request_timeout = std::chrono::milliseconds(m.request_timeout_ms);
    o.backoff_base = std::chrono::milliseconds(m.restart_backoff_ms);
    o.backoff_max = std::chrono::milliseconds(m.restart_backoff_max_ms);
    return o;
}

FailureBackoffConfig bot_key_backoff(const BotSettings& bots) {
    FailureBackoffConfig c;
    c.threshold = static_cast<std::uint32_t>(bots.key_failure_threshold);
    c.base = std::chrono::milliseconds(bots.key_lockout_base_ms);
    c.max = std::chrono::milliseconds(bots.key_lockout_max_ms);
    // A lock-out is persisted and restored; the count of wrong keys is forgotten after a
    // year without one, or when a good key is presented.
    c.forget_after = std::chrono::hours(24 * 365);
    return c;
}

// The bot child runs this binary in botclient mode with a config file written from [bots]; it
// talks to the server only through the loopback bot listener. The secret is not in the file.
BotSupervisorOptions bot_child_options(const ServerConfig& config, unsigned short bot_port) {
    const BotSettings& b = config.bots;
    std::string bots_dir = config.data_dir + "/bots";
    std::filesystem::create_directories(bots_dir);
    std::string child_config = bots_dir + "/botclient.toml";
    std::string words;
    for (const auto& w : b.moderator_words)
        words += (words.empty() ? "" : ", ") + toml_quote(w);
    std::string toml = fmt::format(
        "# Written by parley server from its [bots] section at each start; edit that instead.\n"
        "[botclient]\nserver_url = \"http://{}:{}\"\nlogin = \"local\"\n"
        "moderator_words = [{}]\nmoderator_action = {}\n",
        b.listen_address.find(':') == std::string::npos ? b.listen_address
                                                        : "[" + b.listen_address + "]",
        bot_port, words, toml_quote(b.moderator_action));
    for (std::size_t i = 0; i < b.behaviours.size(); ++i) {
        toml += fmt::format("\n[[botclient.bots]]\nname = {}\nbehaviour = {}\n",
                            toml_quote(b.local_username(i)), toml_quote(b.behaviours[i]));
    }
    if (auto ec = write_file_atomic(child_config, toml)) {
        throw std::runtime_error("cannot write " + child_config + ": " + ec.message());
    }
    std::error_code ec;
    std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    if (ec) throw std::runtime_error("cannot find the parley binary: " + ec.message());
    BotSupervisorOptions o;
    o.argv = {self,         "botclient", "--config",    child_config,
              "--data-dir", bots_dir,    "--log-level", config.log_level};
    o.backoff_base = std::chrono::milliseconds(b.restart_backoff_ms);
    o.backoff_max = std::chrono::milliseconds(b.restart_backoff_max_ms);
    return o;
}

WsMetrics make_ws_metrics(MetricsRegistry& metrics) {
    return WsMetrics{
        metrics.gauge("parley_ws_connections", "Open authenticated WebSocket connections.")
            .with({}),
        metrics
            .counter("parley_ws_messages_received_total", "WebSocket frames received from clients.")
            .with({}),
        metrics.counter("parley_ws_messages_sent_total", "WebSocket frames sent to clients.")
            .with({}),
        metrics
            .counter("parley_ws_reconnects_total",
                     "Sockets opened by a session that had one before.")
            .with({}),
        metrics
            .counter("parley_ws_slow_consumers_total",
                     "Sockets closed with 1013 for reading too slowly.")
            .with({}),
        metrics
            .histogram("parley_ws_connection_duration_seconds",
                       "How long WebSocket connections stay open.", duration_buckets())
            .with({})};
}

// Once every socket has closed, tells the loop that the graceful stop is complete.
void complete_when_sockets_closed(ServiceLoop& loop, ClientRegistry& clients,
                                  net::steady_timer& timer) {
    if (clients.size() == 0) {
        loop.stop_complete();
        return;
    }
    timer.expires_after(std::chrono::milliseconds(20));
    timer.async_wait([&loop, &clients, &timer](const boost::system::error_code& ec) {
        if (!ec) complete_when_sockets_closed(loop, clients, timer);
    });
}

// One Redis connection of a cluster node, `name` in its log lines.
RedisOptions redis_options(const ClusterSettings& cluster, std::string name) {
    RedisOptions redis;
    cluster.redis_endpoint(redis.host, redis.port);
    redis.connect_timeout = std::chrono::milliseconds(cluster.redis_connect_timeout_ms);
    redis.command_timeout = std::chrono::milliseconds(cluster.redis_command_timeout_ms);
    redis.backoff_max = std::chrono::milliseconds(cluster.redis_backoff_max_ms);
    redis.name = std::move(name);
    return redis;
}

// The access token of a WebSocket upgrade: Authorization: Bearer, or ?token=.
std::string upgrade_token(const HttpRequest& req) {
    std::string_view header = req[http::field::authorization];
    if (header.size() > 7 && (header.substr(0, 7) == "Bearer " || header.substr(0, 7) == "bearer "))
        return std::string(header.substr(7));
    std::string_view target = req.target();
    std::size_t q = target.find('?');
    return q == std::string_view::npos ? std::string()
                                       : query_param(std::string(target.substr(q + 1)), "token");
}

// TLS material is loaded before anything listens: a bad file stops start-up (false, logged).
bool load_tls(const ServerConfig& config, std::unique_ptr<net::ssl::context>& tls) {
    if (!config.tls.enabled) return true;
    std::string error;
    tls = load_tls_context(config.tls, error);
    if (!tls) spdlog::critical("{}", error);
    return tls != nullptr;
}

// A WebSocket upgrade on an edge: the primary checks the token over the internal link, then
// the socket starts here; an unreachable primary is a retry-later close.
HttpServer::UpgradeHandler edge_upgrade_handler(const ServerConfig& config, EdgeLink& link,
                                                EdgeHub& hub, EdgeTokenCache& tokens,
                                                WsConnection::Context& ws_context) {
    return [&config, &link, &hub, &tokens, &ws_context](UpgradedStream stream, HttpRequest req,
                                                        HttpServer::ConnectionSlot slot) {
        std::string token = upgrade_token(req);
        if (token.empty() || token.size() > 256) {
            WsConnection::reject(std::move(stream), std::move(req), close_code::policy_violation,
                                 "missing, invalid or expired access token", config.websocket,
                                 std::move(slot));
            return;
        }
        auto executor = std::visit([](auto& s) { return s.get_executor(); }, stream);
        // A cached token opens the socket at once; the primary is still told (the REST rule
        // counts the socket from now), without the socket waiting for its answer. Only while
        // Redis is up: then a session ended on the primary reaches this edge at once.
        if (auto hit = hub.redis_connected() ? tokens.find(token) : std::nullopt) {
            net::co_spawn(
                executor,
                [&link, token]() -> awaitable<void> {
                    nlohmann::json request{{"token", token}};
                    co_await link.call("session", std::move(request));
                },
                net::detached);
            WsConnection::start(std::move(stream), std::move(req), hit->account_id, hit->session_id,
                                ws_context, std::move(slot));
            return;
        }
        net::co_spawn(
            executor,
            [&link, &tokens, &ws_context, &config, stream = std::move(stream), req = std::move(req),
             slot = std::move(slot), token = std::move(token)]() mutable -> awaitable<void> {
                // Built before the co_await: GCC 12 miscompiles an initializer list in it.
                nlohmann::json request{{"token", token}};
                HttpResult r = co_await link.call("session", std::move(request));
                if (r.status == 0 || r.status >= 500) {
                    WsConnection::reject(std::move(stream), std::move(req),
                                         close_code::try_again_later,
                                         "the primary cannot be reached; retry shortly",
                                         config.websocket, std::move(slot));
                } else if (!r.ok()) {
                    WsConnection::reject(std::move(stream), std::move(req),
                                         close_code::policy_violation,
                                         "missing, invalid or expired access token",
                                         config.websocket, std::move(slot));
                } else {
                    EdgeTokenCache::Entry entry{r.body.value("account_id", std::string()),
                                                r.body.value("session_id", std::string())};
                    tokens.put(token, entry);
                    WsConnection::start(std::move(stream), std::move(req), entry.account_id,
                                        entry.session_id, ws_context, std::move(slot));
                }
            },
            [](std::exception_ptr e) {
                if (e) spdlog::error("cluster: edge upgrade failed: {}", exception_what(e));
            });
    };
}

bool make_manager_client(const ServerConfig& config, ServiceLoop& loop,
                         const std::shared_ptr<MaintenanceFeature>& maintenance,
                         std::unique_ptr<ManagerClient>& manager);

// Binds the public listener and starts accepting; false after a logged failure.
bool start_listening(HttpServer& http, const ServerConfig& config) {
    if (auto ec = http.listen()) {
        spdlog::critical("cannot listen on {}:{}: {}", config.listen_address, config.port,
                         ec.message());
        return false;
    }
    http.start();
    return true;
}

// Runs the loop until a signal (or a fatal condition) asks to stop: `stop_background` first,
// then every socket is closed and both listeners drain before the sockets are awaited.
void run_until_stopped(const ServerConfig& config, ServiceLoop& loop, ClientRegistry& clients,
                       HttpServer& http, HttpServer* bot_http,
                       const std::function<void()>& stop_background) {
    net::steady_timer drain_timer(loop.context());
    std::atomic<int> listeners_open{0};
    auto wait_for_sockets = [&] { complete_when_sockets_closed(loop, clients, drain_timer); };
    loop.run(
        [&] {
            stop_background();
            for (auto& client : clients.all())
                client->close(close_code::going_away, "server shutting down");
            listeners_open = bot_http ? 2 : 1;
            auto drained = [&] {
                if (--listeners_open == 0) net::post(loop.context(), wait_for_sockets);
            };
            if (bot_http) bot_http->stop(drained);
            http.stop(drained);
        },
        std::chrono::milliseconds(config.shutdown_timeout_ms));
}

// Notifications and other frames the primary sends to an account's sockets arrive on the
// control stream and reach the account's sockets on this edge, as on the primary.
void route_account_frames(EdgeHub& hub, ClientRegistry& clients, Notifier& notifier) {
    hub.set_account_frame_handler(
        [&clients, &notifier](const std::string& account,
                              const std::shared_ptr<const std::string>& frame, bool notification) {
            if (notification) {
                notifier.deliver(account, frame);
                return;
            }
            for (auto& client : clients.for_account(account))
                client->send(frame);
        });
}

// A directory only the server's user may enter (made if missing); false after a logged failure.
bool make_private_dir(const std::string& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (!ec) {
        std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                                     std::filesystem::perm_options::replace, ec);
    }
    if (ec) spdlog::critical("cannot create {}: {}", dir, ec.message());
    return !ec;
}

// An edge's routes: health, metrics and sockets its own; every other public route is the
// primary's, forwarded (uploads spooled to a file under the media limit first, anything else
// read under the JSON limit).
void add_edge_routes(Router& router, const ServerConfig& config, MetricsRegistry& metrics,
                     const FeatureTable& features, EdgeProxy& proxy,
                     std::function<nlohmann::json()> health, const std::string& spool_dir) {
    auto forward = [&proxy](RequestContext& ctx) { return proxy.forward(ctx); };
    add_system_routes(router, metrics, std::move(health));
    add_socket_routes(router, features);
    router.add_upload(http::verb::post, "/api/v1/media", forward, config.media.max_upload_bytes,
                      spool_dir);
    // The same path's other method: a path the router knows answers 405 for methods it lacks
    // instead of falling back.
    router.add(http::verb::get, "/api/v1/media", forward);
    router.set_fallback(forward);
}

// An edge node (docs/cluster.md): client sockets only, no databases. Tokens are checked and
// writes made by the primary over the internal link; room events come from the Redis streams.
int run_edge(const ServerConfig& config) {
    std::signal(SIGPIPE, SIG_IGN);
    std::string error;
    std::string secret = read_cluster_secret(config.cluster.secret_file, error);
    if (secret.empty()) {
        spdlog::critical("{}", error);
        return 1;
    }
    const std::string node =
        config.cluster.node_id.empty() ? config.cluster.role : config.cluster.node_id;
    MetricsRegistry metrics;
    WsMetrics ws_metrics = make_ws_metrics(metrics);
    ClientRegistry clients;
    int threads = resolve_thread_count(config.threads);
    ServiceLoop loop(threads);
    const std::string secret_copy = secret;
    EdgeLink link(config.cluster.primary, std::move(secret),
                  std::chrono::milliseconds(config.cluster.redis_command_timeout_ms));
    EdgeHub hub(loop.context().get_executor(), config.cluster,
                redis_options(config.cluster, "cluster stream reader"), link);
    metrics.add_collector([&hub] { return hub.render_metrics(); });
    metrics.add_collector([&link, node] { return link.render_metrics(node); });
    Notifier notifier(clients);
    route_account_frames(hub, clients, notifier);
    FeatureTable features;
    features.add(std::make_shared<EdgeFeature>(loop.context().get_executor(), hub, link, notifier));
    // Maintenance of this host, as its own local manager announces it (an edge restarts or
    // reboots on its own schedule).
    auto maintenance = std::make_shared<MaintenanceFeature>(clients, loop.context().get_executor(),
                                                            std::chrono::minutes(10));
    features.add(maintenance);
    std::unique_ptr<ManagerClient> manager;
    if (!make_manager_client(config, loop, maintenance, manager)) return 1;
    // Sessions ended on the primary close their edge sockets within about a second.
    EdgeSessions sessions(loop.context().get_executor(), link, clients, std::chrono::seconds(1));
    // ... and at once when the primary publishes the end on the control stream.
    hub.set_session_ended_handler(
        [&sessions](const std::string& id) { sessions.end_session(id, "control stream"); });
    // Tokens the primary accepted, so a reconnect does not wait for it (while Redis is up).
    EdgeTokenCache tokens(10'000, std::chrono::seconds(60));
    sessions.set_on_ended([&tokens](const std::string& id) { tokens.evict_session(id); });

    std::function<nlohmann::json()> cluster_health = [&] {
        return nlohmann::json{{"role", "edge"},
                              {"node_id", node},
                              {"redis", hub.redis_connected() ? "up" : "down"},
                              {"primary", link.up() ? "up" : "down"}};
    };
    EdgeProxy proxy(config.cluster.primary, secret_copy,
                    std::chrono::milliseconds(config.cluster.forward_timeout_ms),
                    std::max<std::uint64_t>(64ull << 20, 2 * static_cast<std::uint64_t>(
                                                                 config.media.max_upload_bytes)));
    proxy.set_bus_up([&hub] { return hub.redis_connected(); });
    metrics.add_collector([&proxy, node] { return proxy.render_metrics(node); });
    const std::string spool_dir = config.data_dir + "/edge-spool";
    if (!make_private_dir(spool_dir)) return 1;
    Router router;
    add_edge_routes(router, config, metrics, features, proxy, cluster_health, spool_dir);
    std::unique_ptr<net::ssl::context> tls;
    if (!load_tls(config, tls)) return 1;
    HttpServer http(loop.context(), config, router, tls.get());
    WsConnection::Context ws_context{config.websocket, features, clients, ws_metrics};
    http.set_upgrade_handler(edge_upgrade_handler(config, link, hub, tokens, ws_context));
    if (!start_listening(http, config)) return 1;
    hub.start();
    sessions.start();
    if (manager) manager->start();
    spdlog::info(
        "parley server {} edge {} listening on http://{}:{} ({} threads; primary {}, redis {})",
        kVersion, node, config.listen_address, http.port(), threads, config.cluster.primary,
        config.cluster.redis);
    loop.notifier().ready();
    run_until_stopped(config, loop, clients, http, nullptr, [&] {
        hub.stop();
        sessions.stop();
        if (manager) manager->stop();
        maintenance->stop();
    });
    spdlog::info("parley server (edge) stopped");
    return 0;
}

// The databases of the data directory, migrated, with the local bot accounts made, and the
// stores loaded from them (start-up, before anything serves).
struct DataLayer {
    std::string dir;  // data/db
    SqliteOptions options;
    std::vector<LocalBot> local_bots;
    DbWriter writer;
    DbReaderPool readers;
    AccountStore accounts{writer};
    BotStore bots{writer, accounts};
    RoomStore rooms;
    MediaStore media{writer};
    NotificationStore notifications;
    AuditLog audit;          // history.db's audit log
    RoomPolicy room_policy;  // [rooms] resolved against the install's own default

    DataLayer(const ServerConfig& config, std::string db_dir, SqliteOptions opts, SqliteDb current,
              std::vector<LocalBot> local)
        : dir(std::move(db_dir)),
          options(opts),
          local_bots(std::move(local)),
          writer(std::move(current), config.db),
          readers(dir + "/current.db", config.db),
          rooms(writer, readers, config.chat.recent_messages, config.db.message_log_rows),
          notifications(writer, readers, config.notifications.keep_per_account),
          audit(dir + "/history.db", options) {
        SqliteDb loader(dir + "/current.db", SqliteOptions{OpenMode::read_only});
        accounts.load(loader);
        spdlog::info("loaded {} accounts from {}", accounts.account_count(), dir);
        bots.load(loader);
        rooms.load(loader);
        rooms.load_log_soon();
        spdlog::info("loaded {} rooms", rooms.all_rooms().size());
        media.load(loader);
    }
};

// Migrations first, then the local bot accounts (they exist before the caches load them),
// then the writer, readers and stores. Null after a logged failure.
std::unique_ptr<DataLayer> open_data(const ServerConfig& config) {
    std::string db_dir = config.data_dir + "/db";
    std::filesystem::create_directories(db_dir);
    SqliteOptions options;
    options.busy_timeout_ms = config.db.busy_timeout_ms;
    options.synchronous = config.db.synchronous;
    SqliteDb current_db(db_dir + "/current.db", options);
    apply_migrations(current_db, current_migrations(), "current");
    std::vector<LocalBot> local_bots;
    if (config.bots.enabled()) {
        std::vector<std::string> names;
        for (std::size_t i = 0; i < config.bots.behaviours.size(); ++i)
            names.push_back(config.bots.local_username(i));
        std::vector<std::string> ids;
        try {
            ids = BotStore::ensure_local_bots(current_db, names);
        } catch (const std::runtime_error& e) {
            spdlog::critical("bots: {}", e.what());
            return nullptr;
        }
        for (std::size_t i = 0; i < names.size(); ++i)
            local_bots.push_back(LocalBot{names[i], ids[i]});
    }
    {
        SqliteDb history_db(db_dir + "/history.db", options);
        apply_migrations(history_db, history_migrations(), "history");
    }
    std::optional<bool> install_signs = install_signatures_default(current_db);
    auto data = std::make_unique<DataLayer>(config, db_dir, options, std::move(current_db),
                                            std::move(local_bots));
    data->room_policy = resolve_room_policy(config.rooms, install_signs);
    spdlog::info("rooms: new rooms {} signed messages ({}); opting out {}",
                 data->room_policy.require_signatures ? "require" : "do not require",
                 data->room_policy.reason,
                 data->room_policy.allow_unsigned_rooms ? "allowed" : "refused");
    return data;
}

void add_db_metrics(MetricsRegistry& metrics, DbWriter& writer) {
    metrics.add_collector([&writer] {
        CommitStats st = writer.commit_stats();
        std::string out =
            "# HELP parley_db_commit_seconds Latency of one group commit (BEGIN to COMMIT).\n"
            "# TYPE parley_db_commit_seconds histogram\n";
        for (std::size_t i = 0; i < CommitStats::bucket_bounds.size(); ++i) {
            out += fmt::format("parley_db_commit_seconds_bucket{{le=\"{}\"}} {}\n",
                               CommitStats::bucket_bounds[i], st.buckets[i]);
        }
        out +=
            fmt::format("parley_db_commit_seconds_bucket{{le=\"+Inf\"}} {}\n", st.buckets.back());
        out += fmt::format("parley_db_commit_seconds_sum {}\nparley_db_commit_seconds_count {}\n",
                           st.latency_sum_seconds, st.commits);
        out += fmt::format(
            "# HELP parley_db_writes_total Writes by outcome.\n# TYPE parley_db_writes_total "
            "counter\n"
            "parley_db_writes_total{{outcome=\"committed\"}} {}\n"
            "parley_db_writes_total{{outcome=\"failed\"}} {}\n"
            "parley_db_writes_total{{outcome=\"rejected\"}} {}\n",
            st.jobs_committed, st.jobs_failed, st.rejected);
        return out;
    });
}

void add_room_metrics(MetricsRegistry& metrics, RoomHub& hub) {
    metrics.add_collector([&hub] {
        std::string out =
            "# HELP parley_room_connections Sockets subscribed to each room.\n"
            "# TYPE parley_room_connections gauge\n";
        for (const auto& [room, count] : hub.subscriber_counts()) {
            out += fmt::format("parley_room_connections{{room=\"{}\"}} {}\n", room, count);
        }
        return out;
    });
}

void sweep_remote_presence(net::steady_timer& timer, RoomHub& hub) {
    timer.expires_after(std::chrono::seconds(1));
    timer.async_wait([&timer, &hub](const boost::system::error_code& ec) {
        if (ec) return;  // cancelled at shutdown
        hub.expire_remote_online();
        sweep_remote_presence(timer, hub);
    });
}

// What a cluster primary adds to a single node: the publisher of room events, the health
// field, and the secret of the internal link (empty: no edges served).
struct PrimaryRole {
    std::unique_ptr<ClusterPublisher> publisher;
    // Once a second: the accounts an edge stopped reporting leave the rooms' presence.
    std::unique_ptr<net::steady_timer> presence_sweep;
    std::function<nlohmann::json()> health;
    std::string secret;
};

// Sets up the primary role when configured; false after a logged failure.
bool start_primary_role(const ServerConfig& config, ServiceLoop& loop, RoomHub& hub,
                        ClientRegistry& clients, MetricsRegistry& metrics, PrimaryRole& role) {
    if (!config.cluster.is_primary()) return true;
    // A cluster primary also appends every committed room event to Redis; a single node has
    // no publisher and RoomHub no sink.
    role.publisher =
        std::make_unique<ClusterPublisher>(loop.context().get_executor(), config.cluster,
                                           redis_options(config.cluster, "cluster publisher"));
    ClusterPublisher* publisher = role.publisher.get();
    hub.set_event_sink(publisher);
    clients.on_sessions_ended(
        [publisher](const std::vector<std::string>& ids) { publisher->sessions_ended(ids); });
    clients.on_account_frame(
        [publisher](const std::string& account, const std::shared_ptr<const std::string>& frame,
                    bool notification) { publisher->account_frame(account, frame, notification); });
    metrics.add_collector([publisher] { return publisher->render_metrics(); });
    role.presence_sweep = std::make_unique<net::steady_timer>(loop.context());
    sweep_remote_presence(*role.presence_sweep, hub);
    role.health = [&config, publisher] {
        return nlohmann::json{{"role", config.cluster.role},
                              {"node_id", config.cluster.node_id.empty() ? config.cluster.role
                                                                         : config.cluster.node_id},
                              {"redis", publisher->redis_connected() ? "up" : "down"},
                              {"publish_queued", publisher->stats().queued}};
    };
    if (!config.cluster.secret_file.empty()) {
        std::string error;
        role.secret = read_cluster_secret(config.cluster.secret_file, error);
        if (role.secret.empty()) {
            spdlog::critical("{}", error);
            return false;
        }
    }
    spdlog::info("cluster: primary {}, publishing room events to redis {} (streams {}*)",
                 config.cluster.node_id.empty() ? "primary" : config.cluster.node_id,
                 config.cluster.redis, config.cluster.stream_prefix);
    return true;
}

// The local manager, when configured: maintenance notices in, admin requests out. False
// after a logged failure (an unreadable key).
bool make_manager_client(const ServerConfig& config, ServiceLoop& loop,
                         const std::shared_ptr<MaintenanceFeature>& maintenance,
                         std::unique_ptr<ManagerClient>& manager) {
    if (!config.manager.enabled()) return true;
    std::string key_error;
    std::string key = ManagerClient::read_key_file(config.manager.key_file, key_error);
    if (key.empty()) {
        spdlog::critical("{}", key_error);
        return false;
    }
    manager = std::make_unique<ManagerClient>(
        loop.context(), config.manager, std::move(key),
        [maintenance](const nlohmann::json& notice) { maintenance->set(notice); });
    return true;
}

// Counts and times every HTTP request by route (both listeners).
HttpServer::RequestObserver request_observer(MetricsRegistry& metrics) {
    auto& requests =
        metrics.counter("parley_http_requests_total", "HTTP requests by route and status.");
    auto& latency = metrics.histogram("parley_http_request_seconds",
                                      "HTTP request latency by route.", latency_buckets());
    return [&requests, &latency](const std::string& route, unsigned status, double seconds) {
        requests.with({{"route", route}, {"status", std::to_string(status)}}).inc();
        latency.with({{"route", route}}).observe(seconds);
    };
}

// A WebSocket upgrade on a single node or primary: the token is checked here (header or
// ?token=), then the socket starts.
HttpServer::UpgradeHandler upgrade_handler(const ServerConfig& config, ApiContext& api,
                                           WsConnection::Context& ws_context) {
    return [&config, &api, &ws_context](UpgradedStream stream, HttpRequest req,
                                        HttpServer::ConnectionSlot slot) {
        std::string_view target = req.target();
        std::size_t q = target.find('?');
        RequestContext ctx{
            req, {}, q == std::string_view::npos ? "" : std::string(target.substr(q + 1)), ""};
        auto auth = authenticate(api, ctx, false, true);
        if (!auth.caller) {
            WsConnection::reject(std::move(stream), std::move(req), close_code::policy_violation,
                                 "missing, invalid or expired access token", config.websocket,
                                 std::move(slot));
            return;
        }
        WsConnection::start(std::move(stream), std::move(req), auth.caller->account.id,
                            auth.caller->session.id, ws_context, std::move(slot));
    };
}

// Local bots: the loopback-only bot listener and the bot child that logs in through it.
struct BotListener {
    Router router;
    std::unique_ptr<HttpServer> http;
    std::unique_ptr<ChildLauncher> launcher = make_process_launcher();
    std::unique_ptr<BotSupervisor> supervisor;
};

// Listens for the local bots (when enabled) with the public routes plus the local login;
// false after a logged failure.
bool start_bot_listener(const ServerConfig& config, ServiceLoop& loop, MetricsRegistry& metrics,
                        BotService& bot_service, const std::vector<LocalBot>& local_bots,
                        const std::function<void(Router&)>& add_api_routes,
                        const HttpServer::UpgradeHandler& upgrade,
                        const HttpServer::RequestObserver& observer, BotListener& bots) {
    if (!config.bots.enabled()) return true;
    ServerConfig listener_config = config;
    listener_config.listen_address = config.bots.listen_address;
    listener_config.port = config.bots.port;
    listener_config.tls.enabled = false;
    bots.http = std::make_unique<HttpServer>(loop.context(), listener_config, bots.router);
    if (auto ec = bots.http->listen()) {
        spdlog::critical("cannot listen for local bots on {}:{}: {}", config.bots.listen_address,
                         config.bots.port, ec.message());
        return false;
    }
    bots.supervisor = std::make_unique<BotSupervisor>(loop.context().get_executor(), *bots.launcher,
                                                      bot_child_options(config, bots.http->port()));
    add_api_routes(bots.router);
    add_local_bot_routes(bots.router, bot_service, *bots.supervisor, local_bots);
    bots.http->set_peer_filter(
        [](const tcp::endpoint& peer) { return is_loopback_peer(peer.address().to_string()); });
    bots.http->set_upgrade_handler(upgrade);
    bots.http->set_request_observer(observer);
    bots.http->start();
    metrics.add_collector([supervisor = bots.supervisor.get()] {
        return fmt::format(
            "# HELP parley_bot_child_restarts_total Bot child restarts after it ended.\n"
            "# TYPE parley_bot_child_restarts_total counter\n"
            "parley_bot_child_restarts_total {}\n"
            "# HELP parley_bot_child_up Whether the bot child is running.\n"
            "# TYPE parley_bot_child_up gauge\n"
            "parley_bot_child_up {}\n",
            supervisor->restarts(), supervisor->pid() != 0 ? 1 : 0);
    });
    spdlog::info("bot listener on http://{}:{} (loopback only; {} local bots)",
                 config.bots.listen_address, bots.http->port(), local_bots.size());
    return true;
}

// The accounts side of a node: the hashing pool, the limiters, and the account and profile
// services over the stores.
struct AccountSide {
    net::thread_pool hash_pool;
    FailureBackoff login_by_account;
    FailureBackoff login_by_address;
    FailureBackoff bot_keys;  // remote bots' wrong keys
    TokenBucketLimiter register_by_address;
    AccountService accounts;
    ProfileService profiles;

    AccountSide(const ServerConfig& config, DataLayer& data, ClientRegistry& clients)
        : hash_pool(static_cast<std::size_t>(config.auth.hash_threads)),
          login_by_account(login_backoff(config.auth)),
          login_by_address(login_backoff(config.auth)),
          bot_keys(bot_key_backoff(config.bots)),
          register_by_address(TokenBucketConfig{config.auth.register_per_minute / 60.0,
                                                config.auth.register_per_minute}),
          accounts(config.auth, data.accounts, clients, hash_pool, login_by_account,
                   login_by_address, register_by_address, data.audit),
          profiles(data.accounts, data.readers) {
        // Remote bots' wrong-key lock-outs, as they were when the server last stopped.
        for (const auto& b : data.bots.all()) {
            if (b.lockout.failures > 0 || b.lockout.locked_until_unix_ms > 0)
                bot_keys.restore(bot_lockout_key(b.account_id), b.lockout);
        }
    }
};

// The chat side: the live hub, the stored notifications, the room service (every room change
// and the send path) and the janitor, on the loop.
struct ChatSide {
    RoomHub hub;
    Notifier notifier;
    NotificationService notifications;
    RoomService rooms;
    RoomJanitor janitor;
    ChatContext context;

    ChatSide(const ServerConfig& config, DataLayer& data, ClientRegistry& clients,
             net::any_io_executor executor)
        : hub(executor, config.chat, data.rooms, data.accounts, clients),
          notifier(clients),
          notifications(data.notifications, notifier, clients, executor),
          rooms(config.chat, data.room_policy, data.rooms, data.accounts, hub, notifications),
          janitor(executor, config.chat, data.rooms, hub, clients),
          context{data.rooms, hub, rooms, notifier, notifications} {
        // A socket that subscribes hears what it missed.
        notifier.on_subscribe([this](const Client& client) { notifications.send_unread(client); });
    }
};

// The media side: the file pool, the image child and the upload path. The media directories
// are made and tmp/ emptied here.
struct MediaSide {
    net::thread_pool files{2};
    std::unique_ptr<ChildLauncher> launcher = make_process_launcher();
    ImageprocClient imageproc;
    MediaService service;

    MediaSide(const ServerConfig& config, DataLayer& data, ClientRegistry& clients,
              MetricsRegistry& metrics, net::any_io_executor executor)
        : imageproc(executor, *launcher, imageproc_options(config)),
          service(config.media, config.data_dir, data.media, data.accounts, data.readers, imageproc,
                  clients, files, executor) {
        service.prepare();
        metrics.add_collector([this] { return imageproc.render_metrics(); });
    }
};

// Avatars and message images must be the caller's own ready images: the one place that sees
// both the media component and the others.
void connect_media_checks(MediaStore& media, ProfileService& profiles, RoomService& rooms) {
    profiles.avatar_check = [&media](const std::string& account, const std::string& content) {
        return check_avatar(media, account, content);
    };
    rooms.media_check = [&media](const std::string& account, const std::string& content) {
        return check_attachment(media, account, content);
    };
}

// The services behind the public API's routes.
struct ApiServices {
    MetricsRegistry& metrics;
    const PrimaryRole& primary;
    const FeatureTable& features;
    ApiContext& api;
    AccountSide& auth;
    ChatSide& chat;
    MediaSide& media;
    AdminContext& admin;
    BotService& bots;
};

// The public API; the bot listener serves the same routes plus the local bot login.
void add_api_routes(Router& router, const ApiServices& s) {
    add_system_routes(router, s.metrics, s.primary.health);
    add_socket_routes(router, s.features);
    add_account_routes(router, s.api, s.auth.accounts);
    add_profile_routes(router, s.api, s.auth.profiles);
    add_room_routes(router, s.api, s.chat.rooms);
    add_notification_routes(router, s.api, s.chat.notifications);
    add_media_routes(router, s.api, s.media.service);
    add_admin_routes(router, s.api, s.admin, s.auth.accounts);
    add_bot_routes(router, s.api, s.bots);
}

// A single node or a cluster primary over its open data directory: builds the services,
// listens, and runs until stopped. Returns the exit code.
int serve(const ServerConfig& config, DataLayer& data) {
    MetricsRegistry metrics;
    ClientRegistry clients;
    AccountSide auth(config, data, clients);
    ApiContext api{config, data.accounts, clients, metrics, auth.hash_pool, auth.login_by_address};
    auto observer = request_observer(metrics);
    WsMetrics ws_metrics = make_ws_metrics(metrics);
    add_db_metrics(metrics, data.writer);
    ServiceLoop loop(resolve_thread_count(config.threads));
    ChatSide chat(config, data, clients, loop.context().get_executor());
    PrimaryRole primary;
    if (!start_primary_role(config, loop, chat.hub, clients, metrics, primary)) return 1;
    add_room_metrics(metrics, chat.hub);
    MediaSide media(config, data, clients, metrics, loop.context().get_executor());
    connect_media_checks(data.media, auth.profiles, chat.rooms);
    FeatureTable features;
    features.add(std::make_shared<ChatFeature>(data.rooms, chat.hub, chat.rooms, chat.notifier));
    auto maintenance = std::make_shared<MaintenanceFeature>(clients, loop.context().get_executor(),
                                                            std::chrono::minutes(10));
    features.add(maintenance);
    std::unique_ptr<ManagerClient> manager;
    if (!make_manager_client(config, loop, maintenance, manager)) return 1;
    AdminContext admin{manager.get(), *maintenance, data.audit, auth.hash_pool};
    DailyMaintenance daily(loop.context().get_executor(), config.maintenance, data.accounts,
                           data.audit, data.notifications, auth.hash_pool, [] { return now_ms(); });
    BotService bot_service(config.auth, data.accounts, data.bots, clients, auth.bot_keys,
                           auth.login_by_address, data.audit, auth.hash_pool);
    ApiServices services{metrics, primary, features, api, auth, chat, media, admin, bot_service};
    std::function<void(Router&)> api_routes = [&](Router& r) { add_api_routes(r, services); };
    Router router;
    api_routes(router);
    // The internal link is served on the public listener only (edges reach it there).
    if (!primary.secret.empty()) {
        add_cluster_routes(router, api, chat.context, primary.secret);
        add_cluster_room_routes(router, chat.context, primary.secret);
    }
    add_static_routes(router, embedded_web_assets());
    std::unique_ptr<net::ssl::context> tls;
    if (!load_tls(config, tls)) return 1;
    HttpServer http(loop.context(), config, router, tls.get());
    if (loop.threads() == 1) http.serve_on_one_thread();
    // Requests an edge forwards carry their client's address for the per-address limits.
    if (!primary.secret.empty()) {
        http.set_client_address([&primary](const HttpRequest& req, const std::string& peer) {
            return forwarded_client_address(req, peer, primary.secret);
        });
    }
    http.set_request_observer(observer);
    WsConnection::Context ws_context{config.websocket, features, clients, ws_metrics};
    auto upgrade = upgrade_handler(config, api, ws_context);
    http.set_upgrade_handler(upgrade);
    if (!start_listening(http, config)) return 1;
    spdlog::info("parley server {} listening on http://{}:{} (data {}, {} threads)", kVersion,
                 config.listen_address, http.port(), config.data_dir, loop.threads());
    BotListener bots;
    if (!start_bot_listener(config, loop, metrics, bot_service, data.local_bots, api_routes,
                            upgrade, observer, bots))
        return 1;
    loop.notifier().ready();
    chat.janitor.start();
    daily.start();
    media.imageproc.start();
    media.service.resume();
    if (manager) manager->start();
    if (bots.supervisor) bots.supervisor->start();
    run_until_stopped(config, loop, clients, http, bots.http.get(), [&] {
        chat.janitor.stop();
        daily.stop();
        if (primary.publisher) primary.publisher->stop();
        if (primary.presence_sweep) primary.presence_sweep->cancel();
        media.imageproc.stop();
        if (bots.supervisor) bots.supervisor->stop();
        if (manager) manager->stop();
        maintenance->stop();
    });
    auth.hash_pool.join();
    media.files.join();
    return 0;
}

}  // namespace

int run_server(const ServerConfig& config) {
    if (config.cluster.is_edge()) return run_edge(config);
    // A write to an image child that just died must fail with EPIPE, not end the server.
    std::signal(SIGPIPE, SIG_IGN);
    std::string error;
    auto lock = DirectoryLock::acquire(config.data_dir, error);
    if (!lock) {
        spdlog::critical("{}", error);
        return 1;
    }
    auto data = open_data(config);
    if (!data) return 1;
    int code = serve(config, *data);
    data->writer.stop();
    if (code == 0) spdlog::info("parley server stopped");
    return code;
}

}  // namespace parley
