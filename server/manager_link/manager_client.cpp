#include "server/manager_link/manager_client.hpp"

#include "common/daily_time.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <random>

#include <spdlog/spdlog.h>

#include "common/backoff.hpp"
#include "common/frame_codec.hpp"
#include "common/json_limits.hpp"
#include "common/logging.hpp"

namespace parley {

namespace {

using UnixStream = beast::basic_stream<net::local::stream_protocol, net::any_io_executor,
                                       beast::unlimited_rate_policy>;

constexpr auto kConnectTimeout = std::chrono::milliseconds(5'000);
// Added to a watch's wait for the answer's read deadline: the manager answers at wait_ms.
constexpr auto kWatchSlack = std::chrono::milliseconds(10'000);

// Sends one request and reads frames until its answer (same id) or an id-less error.
awaitable<std::optional<nlohmann::json>> round_trip(UnixStream& stream,
                                                    const nlohmann::json& message,
                                                    std::string& error, bool& timed_out) {
    std::string text = message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    boost::system::error_code ec = co_await write_frame(stream, text);
    if (ec) {
        timed_out = ec == beast::error::timeout;
        error = "cannot send to the manager: " + ec.message();
        co_return std::nullopt;
    }
    for (;;) {
        FrameResult frame = co_await read_frame(stream, kMaxFrameAfterAuth);
        if (frame.status != FrameStatus::ok) {
            timed_out = frame.status == FrameStatus::timeout;
            error = describe_frame_failure(frame, "the manager");
            co_return std::nullopt;
        }
        nlohmann::json answer = parse_json_bounded(frame.payload);
        if (!answer.is_object()) {
            error = "the manager sent a frame that is not a JSON object";
            co_return std::nullopt;
        }
        const nlohmann::json& id = answer.contains("id") ? answer["id"] : nlohmann::json();
        if (id == message.at("id") || id.is_null()) co_return answer;
    }
}

// Connects and authenticates; "" on success.
awaitable<std::string> open_session(UnixStream& stream, const std::string& path,
                                    const std::string& key, bool& timed_out) {
    boost::system::error_code ec;
    net::local::stream_protocol::endpoint endpoint(path);
    co_await stream.async_connect(endpoint, net::redirect_error(use_awaitable, ec));
    if (ec) {
        timed_out = ec == beast::error::timeout;
        co_return "cannot connect to the manager at " + path + ": " + ec.message();
    }
    nlohmann::json auth{{"id", "auth"}, {"method", "auth"}, {"params", {{"key", key}}}};
    std::string error;
    std::optional<nlohmann::json> answer = co_await round_trip(stream, auth, error, timed_out);
    if (!answer) co_return error;
    if (!answer->value("ok", false)) {
        const nlohmann::json& e =
            answer->contains("error") ? (*answer)["error"] : nlohmann::json::object();
        co_return "the manager refused the server's key: " + e.value("code", std::string("?")) +
            ": " + e.value("message", std::string("?"));
    }
    co_return std::string();
}

}  // namespace

struct ManagerClient::Current {
    explicit Current(const net::any_io_executor& ex) : stream(ex) {}
    UnixStream stream;  // never moved
};

ManagerClient::ManagerClient(net::io_context& context, const ManagerClientSettings& settings,
                             std::string key, NoticeHandler on_notice)
    : context_(context),
      settings_(settings),
      key_(std::move(key)),
      on_notice_(std::move(on_notice)),
      strand_(net::make_strand(context)),
      timer_(strand_),
      backup_timer_(strand_) {}

ManagerClient::~ManagerClient() = default;

std::string ManagerClient::read_key_file(const std::string& path, std::string& error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = "manager.key_file '" + path + "' cannot be read";
        return {};
    }
    std::string key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) {
        key.pop_back();
    }
    if (key.empty() || key.size() > 1024) {
        error = "manager.key_file '" + path + "' is empty or too long";
        return {};
    }
    return key;
}

void ManagerClient::start() {
    net::co_spawn(strand_, watch_loop(), [](std::exception_ptr e) {
        if (!e) return;
        spdlog::error("manager client: watch loop failed: {}", exception_what(e));
    });
    if (settings_.backup_minute_of_day() >= 0) {
        net::co_spawn(strand_, backup_loop(), [](std::exception_ptr e) {
            if (!e) return;
            spdlog::error("manager client: backup timer failed: {}", exception_what(e));
        });
    }
}

awaitable<void> ManagerClient::backup_loop() {
    const int minute = settings_.backup_minute_of_day();
    while (!stopped_) {
        const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        const std::int64_t at = next_daily_ms(now, minute);
        spdlog::info("manager client: next daily backup at {} UTC, in {} s",
                     settings_.backup_daily_at, (at - now) / 1000);
        backup_timer_.expires_after(std::chrono::milliseconds(at - now));
        boost::system::error_code ec;
        co_await backup_timer_.async_wait(net::redirect_error(use_awaitable, ec));
        if (stopped_) break;
        nlohmann::json run{{"method", "backup.run"}, {"params", nlohmann::json::object()}};
        if (!settings_.backup_to.empty()) run["params"]["to"] = settings_.backup_to;
        ManagerAnswer answer = co_await request(run);
        if (!answer.transport_error.empty()) {
            spdlog::error("manager client: daily backup not started: {}", answer.transport_error);
        } else if (!answer.answer.value("ok", false)) {
            spdlog::error("manager client: daily backup refused: {}",
                          answer.answer.value("error", nlohmann::json::object()).dump());
        } else {
            spdlog::info("manager client: daily backup started: {}",
                         answer.answer.value("result", nlohmann::json::object()).dump());
        }
    }
}

void ManagerClient::stop() {
    stopped_ = true;
    net::post(strand_, [this] {
        timer_.cancel();
        backup_timer_.cancel();
        if (current_) {
            boost::system::error_code ec;
            current_->stream.socket().cancel(ec);
            current_->stream.socket().shutdown(net::socket_base::shutdown_both, ec);
        }
    });
}

awaitable<void> ManagerClient::watch_loop() {
    std::mt19937_64 random(std::random_device{}());
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    int failures = 0;
    std::string last_problem;
    const auto wait = std::chrono::milliseconds(settings_.watch_wait_ms);
    while (!stopped_) {
        current_ = std::make_shared<Current>(strand_);
        auto& stream = current_->stream;
        stream.expires_after(kConnectTimeout);
        bool timed_out = false;
        std::string problem = co_await open_session(stream, settings_.socket, key_, timed_out);
        if (problem.empty()) {
            connected_ = true;
            failures = 0;
            last_problem.clear();
            spdlog::info("manager client: connected to the manager at {}", settings_.socket);
            std::uint64_t version = 0;
            while (!stopped_) {
                nlohmann::json watch{
                    {"id", ++next_id_},
                    {"method", "schedule.watch"},
                    {"params", {{"version", version}, {"wait_ms", settings_.watch_wait_ms}}}};
                stream.expires_after(wait + kWatchSlack);
                std::optional<nlohmann::json> answer =
                    co_await round_trip(stream, watch, problem, timed_out);
                if (!answer) break;
                if (!answer->value("ok", false)) {
                    problem = "schedule.watch refused: " + answer->dump();
                    break;
                }
                const nlohmann::json& result = (*answer)["result"];
                std::uint64_t next = result.value("version", std::uint64_t{0});
                if (next != version) {
                    version = next;
                    on_notice_(result.contains("maintenance") ? result["maintenance"]
                                                              : nlohmann::json());
                }
            }
            connected_ = false;
            if (!stopped_) {
                spdlog::warn("manager client: lost the manager at {}: {}", settings_.socket,
                             problem);
            }
        } else {
            ++failures;
            // One line per change of problem, not one per attempt.
            if (problem != last_problem) {
                spdlog::warn("manager client: {} (retrying with back-off)", problem);
                last_problem = problem;
            }
        }
        {
            boost::system::error_code ec;
            stream.socket().shutdown(net::socket_base::shutdown_both, ec);
            stream.close();
        }
        if (stopped_) break;
        auto delay =
            jittered_backoff(failures, std::chrono::milliseconds(settings_.reconnect_base_ms),
                             std::chrono::milliseconds(settings_.reconnect_max_ms), unit(random));
        timer_.expires_after(delay);
        boost::system::error_code ec;
        co_await timer_.async_wait(net::redirect_error(use_awaitable, ec));
    }
    current_.reset();
}

awaitable<ManagerAnswer> ManagerClient::request(const nlohmann::json& request) {
    ManagerAnswer out;
    auto executor = co_await net::this_coro::executor;
    UnixStream stream(executor);
    stream.expires_after(std::chrono::milliseconds(settings_.request_timeout_ms));
    out.transport_error = co_await open_session(stream, settings_.socket, key_, out.timed_out);
    if (out.transport_error.empty()) {
        nlohmann::json message = request;
        message["id"] = ++next_id_;
        std::optional<nlohmann::json> answer =
            co_await round_trip(stream, message, out.transport_error, out.timed_out);
        if (answer) out.answer = std::move(*answer);
    }
    boost::system::error_code ec;
    stream.socket().shutdown(net::socket_base::shutdown_both, ec);
    stream.close();
    co_return out;
}

}  // namespace parley
