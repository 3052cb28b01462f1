#include "botclient/bot/http_client.hpp"

#include <openssl/ssl.h>

namespace parley {

std::string HttpResult::describe() const {
    if (status == 0) return error;
    std::string out = std::to_string(status);
    if (body.is_object()) {
        out +=
            " " + body.value("error", std::string()) + ": " + body.value("message", std::string());
    }
    return out;
}

HttpClient::HttpClient(std::string host, std::string port, std::chrono::milliseconds timeout,
                       net::ssl::context* tls)
    : host_(std::move(host)), port_(std::move(port)), timeout_(timeout), tls_(tls) {}

awaitable<HttpResult> HttpClient::request(http::verb method, std::string target,
                                          std::optional<nlohmann::json> body, std::string token) {
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, host_ + ":" + port_);
    req.set(http::field::user_agent, "parley-botclient");
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    if (body) {
        req.set(http::field::content_type, "application/json");
        req.body() = body->dump();
    }
    req.prepare_payload();
    auto executor = co_await net::this_coro::executor;
    if (tls_) {
        beast::ssl_stream<beast::tcp_stream> stream(executor, *tls_);
        co_return co_await exchange(stream, std::move(req));
    }
    beast::tcp_stream stream(executor);
    co_return co_await exchange(stream, std::move(req));
}

template <class Stream>
awaitable<HttpResult> HttpClient::exchange(Stream& stream, http::request<http::string_body> req) {
    HttpResult result;
    auto executor = co_await net::this_coro::executor;
    const std::string target(req.target());
    boost::system::error_code ec;
    tcp::resolver resolver(executor);
    auto endpoints =
        co_await resolver.async_resolve(host_, port_, net::redirect_error(use_awaitable, ec));
    if (ec) {
        result.error = "resolving " + host_ + ": " + ec.message();
        co_return result;
    }
    beast::get_lowest_layer(stream).expires_after(timeout_);
    co_await beast::get_lowest_layer(stream).async_connect(endpoints,
                                                           net::redirect_error(use_awaitable, ec));
    if (ec) {
        result.error = "connecting to " + host_ + ":" + port_ + ": " + ec.message();
        co_return result;
    }
    if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
        // SNI, and the certificate must name the host.
        ::SSL_set_tlsext_host_name(stream.native_handle(), host_.c_str());
        stream.set_verify_callback(net::ssl::host_name_verification(host_));
        co_await stream.async_handshake(net::ssl::stream_base::client,
                                        net::redirect_error(use_awaitable, ec));
        if (ec) {
            result.error = "TLS handshake with " + host_ + ":" + port_ + ": " + ec.message();
            co_return result;
        }
    }
    co_await http::async_write(stream, req, net::redirect_error(use_awaitable, ec));
    if (ec) {
        result.error = "sending " + target + ": " + ec.message();
        co_return result;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(8 * 1024 * 1024);
    co_await http::async_read(stream, buffer, parser, net::redirect_error(use_awaitable, ec));
    if (ec) {
        result.error = "reading the answer to " + target + ": " + ec.message();
        co_return result;
    }
    auto& res = parser.get();
    result.status = res.result_int();
    result.retry_after = std::string(res[http::field::retry_after]);
    result.body = nlohmann::json::parse(res.body(), nullptr, false);
    if (result.body.is_discarded()) result.body = nullptr;
    beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
    co_return result;
}

}  // namespace parley
