#include "server/api/ws_connection.hpp"

#include <spdlog/spdlog.h>

#include "common/version.hpp"
#include "server/api/lean_ws_connection.hpp"

namespace parley {

namespace {

websocket::close_reason make_close(std::uint16_t code, std::string_view reason) {
    websocket::close_reason r;
    r.code = code;
    r.reason = std::string(reason.substr(0, 120));  // a close frame carries at most 123 bytes
    return r;
}

template <class NextLayer>
void configure(websocket::stream<NextLayer>& ws, const WebSocketSettings& settings) {
    beast::get_lowest_layer(ws).expires_never();  // Beast's websocket timeout takes over
    websocket::stream_base::timeout timeout{};
    timeout.handshake_timeout = std::chrono::seconds(10);
    timeout.idle_timeout = std::chrono::milliseconds(settings.idle_timeout_ms);
    timeout.keep_alive_pings = true;
    ws.set_option(timeout);
    ws.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
        res.set(http::field::server, std::string("parley/") + kVersion);
    }));
    ws.read_message_max(static_cast<std::uint64_t>(settings.max_frame_bytes));
    if (settings.permessage_deflate) {
        websocket::permessage_deflate pmd;
        pmd.server_enable = true;
        ws.set_option(pmd);
    }
    ws.text(true);
}

}  // namespace

template <class NextLayer>
BasicWsConnection<NextLayer>::BasicWsConnection(typename WsTransport<NextLayer>::type transport,
                                                std::string account_id, std::string session_id,
                                                WsConnection::Context context)
    : WsSession(std::move(account_id), std::move(session_id), context),
      ws_(std::move(transport)),
      close_timer_(ws_.get_executor()) {}

template <class NextLayer>
void BasicWsConnection<NextLayer>::close_with(std::uint16_t code, std::string_view reason) {
    begin_close(make_close(code, reason));
}

template <class NextLayer>
void BasicWsConnection<NextLayer>::start(HttpRequest request) {
    net::co_spawn(ws_.get_executor(), run(this->shared_from_this(), std::move(request)),
                  log_ws_failure);
}

namespace {

template <class NextLayer>
awaitable<void> accept_and_close(std::shared_ptr<websocket::stream<NextLayer>> ws,
                                 HttpRequest request, websocket::close_reason reason,
                                 std::shared_ptr<void> /*slot: held until the end*/) {
    boost::system::error_code ec;
    co_await ws->async_accept(request, net::redirect_error(use_awaitable, ec));
    if (ec) co_return;
    co_await ws->async_close(reason, net::redirect_error(use_awaitable, ec));
    // Drain until the peer's close frame (or the idle timeout) ends the stream.
    beast::flat_buffer buffer;
    while (!ec)
        co_await ws->async_read(buffer, net::redirect_error(use_awaitable, ec));
}

template <class NextLayer, class Transport>
void reject_over(Transport transport, HttpRequest request, websocket::close_reason reason,
                 const WebSocketSettings& settings, std::shared_ptr<void> slot) {
    auto ws = std::make_shared<websocket::stream<NextLayer>>(std::move(transport));
    configure(*ws, settings);
    auto executor = ws->get_executor();
    net::co_spawn(executor,
                  accept_and_close(ws, std::move(request), std::move(reason), std::move(slot)),
                  log_ws_failure);
}

}  // namespace

void WsConnection::start(UpgradedStream stream, HttpRequest request, std::string account_id,
                         std::string session_id, Context context, std::shared_ptr<void> slot) {
    // The moved-from alternative left in `stream` is safe to destroy: a socket, or a
    // TlsStream whose only member is the (now null) pointer to its OpenSSL stream.
    // Beast's engine only for TLS (docs/websocket-engine.md); every plain socket, compressed
    // or not, is Parley's own.
    if (auto* socket = std::get_if<tcp::socket>(&stream)) {
        auto conn = std::make_shared<LeanWsConnection>(std::move(*socket), std::move(account_id),
                                                       std::move(session_id), context);
        conn->hold(std::move(slot));
        conn->start(std::move(request));
    } else {
        auto conn = std::make_shared<BasicWsConnection<TlsStream>>(
            std::get<TlsStream>(std::move(stream)), std::move(account_id), std::move(session_id),
            context);
        conn->hold(std::move(slot));
        conn->start(std::move(request));
    }
}

void WsConnection::reject(UpgradedStream stream, HttpRequest request, std::uint16_t code,
                          std::string reason, const WebSocketSettings& settings,
                          std::shared_ptr<void> slot) {
    if (auto* socket = std::get_if<tcp::socket>(&stream)) {
        reject_over<beast::tcp_stream>(std::move(*socket), std::move(request),
                                       make_close(code, reason), settings, std::move(slot));
    } else {
        reject_over<TlsStream>(std::get<TlsStream>(std::move(stream)), std::move(request),
                               make_close(code, reason), settings, std::move(slot));
    }
}

template <class NextLayer>
void BasicWsConnection<NextLayer>::send(std::shared_ptr<const std::string> frame) {
    net::post(
        ws_.get_executor(), [self = this->shared_from_this(), frame = std::move(frame)]() mutable {
            if (self->closing_) return;
            if (self->send_queue_full(self->queue_.size())) {
                self->queue_.clear();
                self->close_with(close_code::try_again_later, kSlowConsumerReason);
                return;
            }
            self->queue_.push(std::move(frame));
            if (!self->writing_) {
                self->writing_ = true;
                net::co_spawn(self->ws_.get_executor(), self->write_loop(self), log_ws_failure);
            }
        });
}

template <class NextLayer>
void BasicWsConnection<NextLayer>::close(std::uint16_t code, std::string reason) {
    net::post(ws_.get_executor(),
              [self = this->shared_from_this(), code, reason = std::move(reason)] {
                  self->begin_close(make_close(code, reason));
              });
}

template <class NextLayer>
void BasicWsConnection<NextLayer>::begin_close(websocket::close_reason reason) {
    if (closing_) return;
    closing_ = true;
    pending_close_ = reason;
    // A peer that never takes its close frame is cut off after close_timeout_ms.
    close_timer_.expires_after(std::chrono::milliseconds(ctx_.settings.close_timeout_ms));
    close_timer_.async_wait([self = this->shared_from_this()](const boost::system::error_code& ec) {
        if (ec) return;
        beast::get_lowest_layer(self->ws_).close();
    });
    if (!writing_) {
        writing_ = true;
        net::co_spawn(ws_.get_executor(), write_loop(this->shared_from_this()), log_ws_failure);
    }
}

template <class NextLayer>
awaitable<void> BasicWsConnection<NextLayer>::write_loop(
    [[maybe_unused]] std::shared_ptr<BasicWsConnection> self) {
    boost::system::error_code ec;
    while (!queue_.empty() && !ec) {
        auto frame = queue_.pop();
        co_await ws_.async_write(net::buffer(*frame), net::redirect_error(use_awaitable, ec));
        if (!ec) ctx_.metrics.sent.inc();
    }
    if (ec) {
        queue_.clear();
        closing_ = true;
    }
    if (pending_close_ && !close_sent_ && !ec) {
        close_sent_ = true;
        co_await ws_.async_close(*pending_close_, net::redirect_error(use_awaitable, ec));
    }
    writing_ = false;
}

template <class NextLayer>
awaitable<void> BasicWsConnection<NextLayer>::run(std::shared_ptr<BasicWsConnection> self,
                                                  HttpRequest request) {
    configure(ws_, ctx_.settings);
    boost::system::error_code ec;
    co_await ws_.async_accept(request, net::redirect_error(use_awaitable, ec));
    if (ec) co_return;

    if (!opened(self, request.target())) {
        beast::flat_buffer buffer;
        while (!ec)
            co_await ws_.async_read(buffer, net::redirect_error(use_awaitable, ec));
        co_return;
    }
    // The upgrade request lives in this frame as long as the socket does: free its header
    // fields now (an idle connection should cost a few KiB, not a copy of its handshake).
    request = HttpRequest{};

    beast::flat_buffer buffer;
    for (;;) {
        buffer.clear();
        co_await ws_.async_read(buffer, net::redirect_error(use_awaitable, ec));
        if (ec) break;
        if (closing_) continue;  // wait for the peer's close frame
        if (!ws_.got_text()) {
            begin_close(
                make_close(close_code::unsupported_data, "binary frames are not supported"));
            continue;
        }
        auto data = buffer.data();
        co_await handle_text(self,
                             std::string_view(static_cast<const char*>(data.data()), data.size()));
        // Most sockets sit idle between frames: hold no read buffer while waiting.
        buffer.clear();
        buffer.shrink_to_fit();
    }

    closing_ = true;
    queue_.clear();
    close_timer_.cancel();
    closed(self, ec.message());
}

template class BasicWsConnection<TlsStream>;

}  // namespace parley
