#include "botclient/load/load_command.hpp"

#include <iostream>
#include <memory>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "botclient/bot/http_client.hpp"
#include "botclient/load/load_runner.hpp"
#include "botclient/net/ws_url.hpp"
#include "common/crypto.hpp"

namespace parley {

namespace {

struct LoadUser {
    std::string username;
    std::string account_id;
    std::string access_token;
};

struct Setup {
    const LoadCommand& options;
    WsUrl url;
    std::string run_id;
    std::string password;
    std::vector<LoadUser> users;
    std::vector<std::string> rooms;
    std::string error;  // the first failure
};

// Registers and logs in users[index] for every index a worker takes.
awaitable<void> account_worker(Setup& setup, std::shared_ptr<std::size_t> next,
                               std::shared_ptr<int> running,
                               std::shared_ptr<net::steady_timer> all_done) {
    HttpClient http(setup.url.host, setup.url.port, std::chrono::seconds(60));
    while (setup.error.empty() && *next < setup.users.size()) {
        LoadUser& user = setup.users[(*next)++];
        nlohmann::json body = nlohmann::json::object();
        body["username"] = user.username;
        body["password"] = setup.password;
        auto r = co_await http.request(http::verb::post, "/api/v1/accounts", body);
        if (r.status == 429) {
            setup.error =
                "the server refuses more registrations from this address (429): raise its "
                "auth.register_per_minute for load tests";
            break;
        }
        if (r.status != 201) {
            setup.error = "registering " + user.username + ": " + r.describe();
            break;
        }
        auto s = co_await http.request(http::verb::post, "/api/v1/sessions", body);
        if (!s.ok() || !s.body.is_object()) {
            setup.error = "logging in " + user.username + ": " + s.describe();
            break;
        }
        user.account_id = s.body.value("account_id", std::string());
        user.access_token = s.body.value("access_token", std::string());
    }
    if (--*running == 0) all_done->cancel();
}

// The first user, with a live socket (the REST rule), creates the rooms.
awaitable<void> create_rooms(Setup& setup) {
    auto executor = co_await net::this_coro::executor;
    const LoadUser& owner = setup.users.front();
    websocket::stream<beast::tcp_stream> ws(executor);
    boost::system::error_code ec;
    tcp::resolver resolver(executor);
    auto endpoints = co_await resolver.async_resolve(setup.url.host, setup.url.port,
                                                     net::redirect_error(use_awaitable, ec));
    if (!ec) {
        beast::get_lowest_layer(ws).expires_after(std::chrono::seconds(30));
        co_await beast::get_lowest_layer(ws).async_connect(endpoints,
                                                           net::redirect_error(use_awaitable, ec));
    }
    if (!ec) {
        beast::get_lowest_layer(ws).expires_never();
        ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
        co_await ws.async_handshake(setup.url.host + ":" + setup.url.port,
                                    "/api/v1/ws?token=" + owner.access_token,
                                    net::redirect_error(use_awaitable, ec));
    }
    std::string ping = R"({"type":"ping","id":"setup"})";
    if (!ec) co_await ws.async_write(net::buffer(ping), net::redirect_error(use_awaitable, ec));
    beast::flat_buffer buffer;
    while (!ec) {
        co_await ws.async_read(buffer, net::redirect_error(use_awaitable, ec));
        if (ec) break;
        std::string frame = beast::buffers_to_string(buffer.data());
        buffer.consume(buffer.size());
        if (frame.find(R"("type":"pong")") != std::string::npos) break;
    }
    if (ec) {
        setup.error = "opening the room creator's socket: " + ec.message();
        co_return;
    }
    HttpClient http(setup.url.host, setup.url.port, std::chrono::seconds(60));
    const std::size_t room_count = static_cast<std::size_t>(setup.options.rooms);
    for (std::size_t r = 0; r < room_count && setup.error.empty(); ++r) {
        nlohmann::json members = nlohmann::json::array();
        for (std::size_t i = 1; i < setup.users.size(); ++i) {
            if (i % room_count == r) members.push_back(setup.users[i].account_id);
        }
        nlohmann::json body = nlohmann::json::object();
        body["title"] = fmt::format("load {} room {}", setup.run_id, r);
        body["kind"] = "group";
        body["members"] = std::move(members);
        auto created =
            co_await http.request(http::verb::post, "/api/v1/rooms", body, owner.access_token);
        if (created.status != 201 || !created.body.is_object()) {
            setup.error = fmt::format("creating room {}: {}", r, created.describe());
            break;
        }
        setup.rooms.push_back(created.body.value("room_id", std::string()));
    }
    co_await ws.async_close(websocket::close_code::normal, net::redirect_error(use_awaitable, ec));
}

awaitable<void> prepare(Setup& setup) {
    auto executor = co_await net::this_coro::executor;
    auto next = std::make_shared<std::size_t>(0);
    const int workers = static_cast<int>(std::min<std::size_t>(16, setup.users.size()));
    auto running = std::make_shared<int>(workers);
    auto all_done =
        std::make_shared<net::steady_timer>(executor, net::steady_timer::time_point::max());
    for (int w = 0; w < workers; ++w)
        net::co_spawn(executor, account_worker(setup, next, running, all_done), net::detached);
    boost::system::error_code ec;
    co_await all_done->async_wait(net::redirect_error(use_awaitable, ec));
    if (!setup.error.empty()) co_return;
    spdlog::info("load: {} users registered and logged in", setup.users.size());
    co_await create_rooms(setup);
    if (setup.error.empty()) spdlog::info("load: {} rooms created", setup.rooms.size());
}

}  // namespace

int run_load_command(const LoadCommand& options) {
    auto url = parse_ws_url(options.url);
    if (!url) {
        std::cerr << "parley botclient load: cannot use the URL " << options.url << "\n";
        return 2;
    }
    Setup setup{options, *url, random_id().substr(0, 8), "", {}, {}, ""};
    for (char& c : setup.run_id) {
        if (c == '-' || c == '_') c = 'x';  // usernames may hold them, but keep names plain
    }
    setup.password = "load-" + random_token();
    for (int i = 0; i < options.users; ++i) {
        setup.users.push_back(LoadUser{fmt::format("load{}-{}", setup.run_id, i), "", ""});
    }
    {
        net::io_context ioc;
        net::co_spawn(ioc, prepare(setup), [&setup](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                setup.error = ex.what();
            }
        });
        ioc.run();
    }
    if (!setup.error.empty()) {
        std::cerr << "parley botclient load: " << setup.error << "\n";
        return 1;
    }

    LoadPlan plan;
    plan.scenario = "rate";
    plan.threads = options.threads;
    plan.rate_per_s = options.rate;
    plan.seconds = options.duration;
    plan.warmup_s = 0;
    plan.text_bytes = 64;
    plan.report_each_second = true;
    for (std::size_t i = 0; i < setup.users.size(); ++i) {
        const std::string& room = setup.rooms[i % setup.rooms.size()];
        plan.connections.push_back(
            LoadConnection{fmt::format("ws://{}:{}/api/v1/ws?token={}", url->host, url->port,
                                       setup.users[i].access_token),
                           {"room:" + room + ":chat"}});
        plan.senders.push_back(LoadSender{i, room});
    }
    std::cout << fmt::format("load: {} users in {} rooms, {} messages/s for {} s against {}",
                             options.users, options.rooms, options.rate, options.duration,
                             options.url)
              << std::endl;
    return run_load(plan);
}

}  // namespace parley
