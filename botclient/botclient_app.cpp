#include "botclient/botclient_app.hpp"

#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include <spdlog/spdlog.h>

#include "botclient/bot/bot_session.hpp"
#include "botclient/net/server_url.hpp"
#include "common/service_loop.hpp"

namespace parley {

namespace {

// The secret line on stdin (the server writes it at once; 43 base64url characters).
std::string read_secret_line() {
    std::string line;
    char c = 0;
    while (line.size() < 256) {
        ssize_t n = ::read(STDIN_FILENO, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0 || c == '\n') break;
        line += c;
    }
    return line;
}

std::string read_key_file(const std::string& path, std::string& error) {
    std::ifstream in(path);
    if (!in) {
        error = "cannot read the key file " + path;
        return {};
    }
    std::stringstream text;
    text << in.rdbuf();
    std::string key = text.str();
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' '))
        key.pop_back();
    if (key.empty()) error = "the key file " + path + " is empty";
    return key;
}

// Remote bots: POST /api/v1/bots/login with the key, waiting out lock-outs and outages. A key
// the server refuses is not tried again (each wrong key lengthens the lock-out).
BotSession::Login key_login(BotSpec spec, std::string key, BotSessionOptions options) {
    return [spec, key, options](HttpClient& http) -> awaitable<std::optional<BotCredentials>> {
        auto executor = co_await net::this_coro::executor;
        for (int attempt = 0;; ++attempt) {
            nlohmann::json body = nlohmann::json::object();
            body["account_id"] = spec.account_id;
            body["bot_key"] = key;
            auto r = co_await http.request(http::verb::post, "/api/v1/bots/login", body);
            if (r.ok() && r.body.is_object()) {
                spdlog::info("bot {}: logged in with its key", spec.name);
                co_return BotCredentials{r.body.value("account_id", std::string()),
                                         r.body.value("access_token", std::string()),
                                         r.body.value("refresh_token", std::string())};
            }
            if (r.status == 401 || r.status == 400) {
                spdlog::error("bot {}: the server refused its key: {}", spec.name, r.describe());
                co_return std::nullopt;
            }
            std::chrono::milliseconds wait = std::min<std::chrono::milliseconds>(
                options.reconnect_base * (1 << std::min(attempt, 16)), options.reconnect_max);
            if (r.status == 429 && !r.retry_after.empty()) {
                wait = std::chrono::seconds(std::max(1, std::atoi(r.retry_after.c_str())));
            }
            spdlog::warn("bot {}: login failed ({}); retrying in {} ms", spec.name, r.describe(),
                         wait.count());
            net::steady_timer timer(executor, wait);
            co_await timer.async_wait(use_awaitable);
        }
    };
}

}  // namespace

int run_botclient(const BotclientConfig& config) {
    const bool local = config.login == "local";
    std::string secret;
    if (local) {
        // The server's child: die with the server, and hold no descriptor of it but the pipes.
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        ::close_range(3, ~0U, 0);
        secret = read_secret_line();
        if (secret.empty()) {
            spdlog::critical(
                "no secret on stdin (login = \"local\" is for the server's bot child)");
            return 1;
        }
    }
    auto url = parse_server_url(config.server_url);
    if (!url) {
        spdlog::critical("cannot use the server URL {}", config.server_url);
        return 3;
    }
    // https: the server's certificate is verified against ca_file or the system's CAs.
    std::unique_ptr<net::ssl::context> tls;
    if (url->tls) {
        tls = std::make_unique<net::ssl::context>(net::ssl::context::tls_client);
        tls->set_verify_mode(net::ssl::verify_peer);
        boost::system::error_code ec;
        if (config.ca_file.empty()) {
            tls->set_default_verify_paths(ec);
        } else {
            tls->load_verify_file(config.ca_file, ec);
        }
        if (ec) {
            spdlog::critical("cannot load the CA certificates{}: {}",
                             config.ca_file.empty() ? "" : " of " + config.ca_file, ec.message());
            return 1;
        }
    }
    BotSessionOptions options{url->host, url->port, tls.get(),
                              std::chrono::milliseconds(config.reconnect_base_ms),
                              std::chrono::milliseconds(config.reconnect_max_ms)};
    BehaviourSettings behaviour_settings{config.moderator_words, config.moderator_action};

    ServiceLoop loop(1);
    auto executor = loop.context().get_executor();
    std::vector<std::shared_ptr<BotSession>> sessions;
    int exit_code = 0;
    auto fatal = [&](const std::string& why) {
        spdlog::critical("{}; stopping", why);
        exit_code = 1;
        loop.request_stop();
    };

    auto make_session = [&](const BotSpec& spec, std::optional<BotCredentials> credentials,
                            BotSession::Login login) {
        auto behaviour = make_behaviour(spec.behaviour, behaviour_settings);
        auto session =
            std::make_shared<BotSession>(executor, spec, std::move(behaviour), options,
                                         std::move(credentials), std::move(login), fatal);
        sessions.push_back(session);
        session->start();
    };

    // The sessions of every bot, for the one-time secret; later, none can be had again.
    auto start_local = [&]() -> awaitable<void> {
        HttpClient http(options.host, options.port, std::chrono::seconds(15), options.tls);
        nlohmann::json body = nlohmann::json::object();
        body["secret"] = secret;
        auto r = co_await http.request(http::verb::post, "/api/v1/bots/local-login", body);
        secret.assign(secret.size(), '\0');
        if (!r.ok() || !r.body.contains("bots") || !r.body["bots"].is_array()) {
            fatal("local bot login failed: " + r.describe());
            co_return;
        }
        for (const auto& spec : config.bots) {
            std::optional<BotCredentials> credentials;
            for (const auto& b : r.body["bots"]) {
                if (b.value("username", std::string()) != spec.name) continue;
                credentials = BotCredentials{b.value("account_id", std::string()),
                                             b.value("access_token", std::string()),
                                             b.value("refresh_token", std::string())};
            }
            if (!credentials) {
                fatal("the server issued no session for local bot " + spec.name);
                co_return;
            }
            auto no_login = [](HttpClient&) -> awaitable<std::optional<BotCredentials>> {
                co_return std::nullopt;
            };
            make_session(spec, std::move(credentials), no_login);
        }
        spdlog::info("{} local bots started", sessions.size());
    };
    // EOF on stdin: the server stopped this child (or is gone).
    auto watch_stdin = [&]() -> awaitable<void> {
        net::posix::stream_descriptor in(executor, ::dup(STDIN_FILENO));
        std::array<char, 64> scratch{};
        boost::system::error_code ec;
        while (!ec)
            co_await in.async_read_some(net::buffer(scratch),
                                        net::redirect_error(use_awaitable, ec));
        spdlog::info("stdin closed: the server stopped its bot child");
        loop.request_stop();
    };
    // The coroutine lambdas above live until the loop has ended.
    if (local) {
        net::co_spawn(executor, start_local(), net::detached);
        net::co_spawn(executor, watch_stdin(), net::detached);
    } else {
        for (const auto& spec : config.bots) {
            std::string error;
            std::string key = read_key_file(spec.key_file, error);
            if (key.empty()) {
                spdlog::critical("bot {}: {}", spec.name, error);
                return 1;
            }
            make_session(spec, std::nullopt, key_login(spec, key, options));
        }
    }
    spdlog::info("parley botclient started for {} ({} bots, login {})", config.server_url,
                 config.bots.size(), config.login);
    loop.notifier().ready();
    net::steady_timer drain(loop.context());
    loop.run(
        [&] {
            for (auto& s : sessions)
                s->stop();
            // Give the close frames a moment to leave, then end whatever still waits (a login
            // retry sleeping out a lock-out, a reconnect back-off).
            drain.expires_after(std::chrono::milliseconds(200));
            drain.async_wait([&](const boost::system::error_code&) {
                loop.stop_complete();
                loop.context().stop();
            });
        },
        std::chrono::milliseconds(config.shutdown_timeout_ms));
    spdlog::info("parley botclient stopped");
    return exit_code;
}

}  // namespace parley
