#include "manager/protocol/api_client.hpp"

#include <openssl/ssl.h>

#include "common/frame_codec.hpp"
#include "manager/protocol/api_protocol.hpp"
#include "manager/protocol/api_streams.hpp"
#include "manager/protocol/manager_tls.hpp"

namespace parley {

std::optional<ManagerApiTarget> parse_manager_api_url(std::string_view url, std::string& error) {
    ManagerApiTarget target;
    if (url.starts_with("unix:") || url.starts_with("/")) {
        target.path = std::string(url.starts_with("unix:") ? url.substr(5) : url);
        if (target.path.empty()) {
            error = "unix: needs a socket path";
            return std::nullopt;
        }
        return target;
    }
    if (url.starts_with("tls://")) {
        std::string_view rest = url.substr(6);
        std::size_t colon = rest.rfind(':');
        if (colon == std::string_view::npos || colon == 0 || colon + 1 == rest.size()) {
            error = "a TLS URL looks like tls://host:port";
            return std::nullopt;
        }
        target.tls = true;
        target.host = std::string(rest.substr(0, colon));
        target.port = std::string(rest.substr(colon + 1));
        // [::1]:8443
        if (target.host.size() > 2 && target.host.front() == '[' && target.host.back() == ']') {
            target.host = target.host.substr(1, target.host.size() - 2);
        }
        return target;
    }
    error =
        "expected unix:/path/to/manager.sock or tls://host:port, got '" + std::string(url) + "'";
    return std::nullopt;
}

namespace {

// Sends `message` and reads frames until the answer with the same id.
template <class Stream>
awaitable<std::optional<nlohmann::json>> round_trip(Stream& stream, const nlohmann::json& message,
                                                    std::string& error) {
    std::string text = serialize(message);
    boost::system::error_code ec = co_await write_frame(stream, text);
    if (ec) {
        error = "cannot send: " +
                (ec == beast::error::timeout ? std::string("timed out") : ec.message());
        co_return std::nullopt;
    }
    for (;;) {
        FrameResult frame = co_await read_frame(stream, kMaxFrameAfterAuth);
        if (frame.status != FrameStatus::ok) {
            error = describe_frame_failure(frame, "the manager");
            co_return std::nullopt;
        }
        nlohmann::json answer = parse_message(frame.payload);
        if (!answer.is_object()) {
            error = "the manager sent a frame that is not a JSON object";
            co_return std::nullopt;
        }
        // An error about the connection itself (oversized frame) carries no id.
        if (answer.value("id", nlohmann::json()) == message.at("id") || answer["id"].is_null()) {
            co_return answer;
        }
    }
}

template <class Stream>
awaitable<ManagerApiCallResult> exchange(Stream& stream, const std::string& key,
                                         const nlohmann::json& request) {
    ManagerApiCallResult result;
    nlohmann::json auth{{"id", "auth"}, {"method", "auth"}, {"params", {{"key", key}}}};
    std::optional<nlohmann::json> answer =
        co_await round_trip(stream, auth, result.transport_error);
    if (!answer) co_return result;
    if (!answer->value("ok", false)) {
        result.answer = std::move(*answer);
        co_return result;
    }
    answer = co_await round_trip(stream, request, result.transport_error);
    if (answer) result.answer = std::move(*answer);
    co_return result;
}

// The callers below pass references into their own frames, never by-value temporaries (see
// docs/foundation.md, coroutine rules).
awaitable<ManagerApiCallResult> call_unix(const ManagerApiTarget& target,
                                          const ManagerApiCallOptions& options,
                                          const nlohmann::json& request) {
    auto executor = co_await net::this_coro::executor;
    UnixApiStream stream(executor);
    stream.expires_after(options.timeout);
    boost::system::error_code ec;
    net::local::stream_protocol::endpoint endpoint(target.path);
    co_await stream.async_connect(endpoint, net::redirect_error(use_awaitable, ec));
    if (ec) {
        ManagerApiCallResult result;
        result.transport_error = "cannot connect to unix:" + target.path + ": " + ec.message();
        co_return result;
    }
    ManagerApiCallResult result = co_await exchange(stream, options.key, request);
    result.timed_out = result.transport_error.find("timed out") != std::string::npos;
    stream.socket().shutdown(net::socket_base::shutdown_both, ec);
    stream.close();
    co_return result;
}

awaitable<ManagerApiCallResult> call_tls(const ManagerApiTarget& target,
                                         const ManagerApiCallOptions& options,
                                         const nlohmann::json& request) {
    ManagerApiCallResult result;
    if (!options.tls) {
        result.transport_error = "a tls:// target needs a client certificate, key and CA";
        co_return result;
    }
    auto executor = co_await net::this_coro::executor;
    ManagerTlsStream stream(executor, *options.tls);
    auto& lowest = beast::get_lowest_layer(stream);
    lowest.expires_after(options.timeout);
    boost::system::error_code ec;
    result.transport_error = co_await connect_manager_tls(stream, target);
    if (!result.transport_error.empty()) {
        result.timed_out = result.transport_error.find("timed out") != std::string::npos;
        if (lowest.socket().is_open()) lowest.close();
        co_return result;
    }
    result = co_await exchange(stream, options.key, request);
    result.timed_out = result.transport_error.find("timed out") != std::string::npos;
    lowest.expires_after(std::chrono::milliseconds(500));
    co_await stream.async_shutdown(net::redirect_error(use_awaitable, ec));
    if (lowest.socket().is_open()) lowest.close();
    co_return result;
}

}  // namespace

awaitable<std::string> connect_manager_tls(ManagerTlsStream& stream,
                                           const ManagerApiTarget& target) {
    auto executor = co_await net::this_coro::executor;
    auto& lowest = beast::get_lowest_layer(stream);
    boost::system::error_code ec;
    tcp::resolver resolver(executor);
    auto endpoints = co_await resolver.async_resolve(target.host, target.port,
                                                     net::redirect_error(use_awaitable, ec));
    if (ec) co_return "cannot resolve " + target.host + ": " + ec.message();
    co_await lowest.async_connect(endpoints, net::redirect_error(use_awaitable, ec));
    if (ec) {
        co_return "cannot connect to " + target.to_string() + ": " +
            (ec == beast::error::timeout ? std::string("timed out") : ec.message());
    }
    lowest.socket().set_option(tcp::no_delay(true), ec);
    // The manager's certificate must name the host we dialled (DNS name or IP address).
    SSL_set_tlsext_host_name(stream.native_handle(), target.host.c_str());
    stream.set_verify_callback(net::ssl::host_name_verification(target.host), ec);
    co_await stream.async_handshake(net::ssl::stream_base::client,
                                    net::redirect_error(use_awaitable, ec));
    if (ec) {
        co_return "TLS handshake with " + target.to_string() +
            " failed: " + (ec == beast::error::timeout ? std::string("timed out") : ec.message());
    }
    co_return std::string();
}

struct ManagerConnection::Impl {
    ManagerTlsStream stream;
    bool usable = false;
    Impl(net::any_io_executor executor, net::ssl::context& tls) : stream(executor, tls) {}
};

ManagerConnection::ManagerConnection(net::any_io_executor executor, net::ssl::context& tls)
    : impl_(std::make_unique<Impl>(executor, tls)) {}

ManagerConnection::~ManagerConnection() = default;

awaitable<std::string> ManagerConnection::open(const ManagerApiTarget& target,
                                               const std::string& key,
                                               std::chrono::milliseconds timeout, bool& refused) {
    refused = false;
    auto& lowest = beast::get_lowest_layer(impl_->stream);
    lowest.expires_after(timeout);
    std::string problem = co_await connect_manager_tls(impl_->stream, target);
    if (!problem.empty()) co_return problem;
    nlohmann::json auth{{"id", "auth"}, {"method", "auth"}, {"params", {{"key", key}}}};
    std::optional<nlohmann::json> answer = co_await round_trip(impl_->stream, auth, problem);
    if (!answer) co_return problem;
    if (!answer->value("ok", false)) {
        refused = true;
        co_return "the manager refused our key: " +
            answer->value("error", nlohmann::json::object()).value("message", std::string("?"));
    }
    impl_->usable = true;
    co_return std::string();
}

awaitable<std::optional<nlohmann::json>> ManagerConnection::call(const nlohmann::json& request,
                                                                 std::chrono::milliseconds timeout,
                                                                 std::string& error) {
    if (!impl_->usable) {
        error = "the connection is closed";
        co_return std::nullopt;
    }
    beast::get_lowest_layer(impl_->stream).expires_after(timeout);
    std::optional<nlohmann::json> answer = co_await round_trip(impl_->stream, request, error);
    if (!answer) impl_->usable = false;
    co_return answer;
}

awaitable<bool> ManagerConnection::send(const nlohmann::json& request,
                                        std::chrono::milliseconds timeout, std::string& error) {
    if (!impl_->usable) {
        error = "the connection is closed";
        co_return false;
    }
    beast::get_lowest_layer(impl_->stream).expires_after(timeout);
    const std::string text = serialize(request);
    boost::system::error_code ec = co_await write_frame(impl_->stream, text);
    if (ec) {
        impl_->usable = false;
        error = "cannot send: " +
                (ec == beast::error::timeout ? std::string("timed out") : ec.message());
        co_return false;
    }
    co_return true;
}

awaitable<std::optional<nlohmann::json>> ManagerConnection::receive(
    const nlohmann::json& id, std::chrono::milliseconds timeout, std::string& error) {
    if (!impl_->usable) {
        error = "the connection is closed";
        co_return std::nullopt;
    }
    beast::get_lowest_layer(impl_->stream).expires_after(timeout);
    FrameResult frame = co_await read_frame(impl_->stream, kMaxFrameAfterAuth);
    if (frame.status != FrameStatus::ok) {
        impl_->usable = false;
        error = describe_frame_failure(frame, "the manager");
        co_return std::nullopt;
    }
    nlohmann::json answer = parse_message(frame.payload);
    if (!answer.is_object() || answer.value("id", nlohmann::json()) != id) {
        impl_->usable = false;
        error = "the manager answered out of order";
        co_return std::nullopt;
    }
    co_return answer;
}

awaitable<void> ManagerConnection::close() {
    auto& lowest = beast::get_lowest_layer(impl_->stream);
    if (impl_->usable) {
        impl_->usable = false;
        boost::system::error_code ec;
        lowest.expires_after(std::chrono::milliseconds(500));
        co_await impl_->stream.async_shutdown(net::redirect_error(use_awaitable, ec));
    }
    if (lowest.socket().is_open()) lowest.close();
}

awaitable<ManagerApiCallResult> call_manager_api(ManagerApiTarget target,
                                                 ManagerApiCallOptions options,
                                                 nlohmann::json request) {
    if (target.tls) co_return co_await call_tls(target, options, request);
    co_return co_await call_unix(target, options, request);
}

}  // namespace parley
