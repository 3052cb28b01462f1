// ApiServer: the listeners of the manager API — a unix socket (mode 0660) for the local server
// and `parley manager-api`, and, when [manager.tls] is configured, a TCP listener with mutual
// TLS for other managers. Both speak the same framed JSON protocol (docs/manager-api.md):
//
//   - the first frame (at most kMaxFrameBeforeAuth bytes, complete within auth_timeout_ms of
//     the connection, TLS handshake included) must be `auth` with an API key; a wrong key
//     answers `unauthorized` and closes, and counts one failure for the peer's address
//     (FailureBackoff: the TCP source address, or the unix peer's uid); a locked-out address
//     is answered `rate_limited` without its key being looked at;
//   - after that, frames of up to kMaxFrameAfterAuth bytes: the idle deadline applies while
//     waiting for a header, the read deadline from header to last byte, and every answer is
//     written under the read deadline too; requests on one connection run one at a time, in
//     order (RequestRouter: here on the blocking pool, or forwarded to another manager);
//   - `link.hello` from an admin key naming a [[manager.peers]] entry turns the connection
//     into a link (LinkSession): from then on both sides send requests, multiplexed;
//   - an oversized frame is answered `bad_request` and the connection closed without its
//     payload being read; a truncated frame or an expired deadline closes the connection.
//
// stop() closes the listeners (and removes the socket file), closes connections that are
// waiting for a request, lets requests in flight finish and answer, and calls `drained` once
// the last connection has ended. Created and used on the manager's event loop; the connection
// set is guarded for the completion handlers.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "common/accept_drain.hpp"
#include "common/net.hpp"
#include "common/rate_limiter.hpp"
#include "manager/api/request_handler.hpp"
#include "manager/api/request_router.hpp"
#include "manager/links/link.hpp"
#include "manager/protocol/api_keys.hpp"
#include "manager/protocol/api_streams.hpp"
#include "manager/protocol/manager_tls.hpp"
#include "manager/settings/manager_config.hpp"

namespace parley {

class ApiServer {
  public:
    ApiServer(net::io_context& context, const ManagerConfig& config, RequestHandler& handler,
              RequestRouter& router, LinkRegistry& links, const ApiKeyRing& keys,
              net::thread_pool& blocking);
    ~ApiServer();

    ApiServer(const ApiServer&) = delete;
    ApiServer& operator=(const ApiServer&) = delete;

    // Binds the unix socket and, with TLS configured, loads the certificates and binds the TCP
    // listener. Returns the problem (naming the key or path) or an empty string.
    std::string listen();
    void start();
    void stop(std::function<void()> drained);

    bool tls_enabled() const { return tls_ != nullptr; }
    unsigned short tls_port() const { return tls_port_; }
    const std::string& socket_path() const { return socket_path_; }

  private:
    struct Connection;
    template <class Stream>
    struct StreamConnection;
    using TlsConnection = StreamConnection<ManagerTlsStream>;
    using UnixConnection = StreamConnection<UnixApiStream>;

    awaitable<void> accept_tls_loop();
    awaitable<void> accept_unix_loop();
    // A new socket: refused beyond max_connections, else its connection starts.
    void accepted_tls(tcp::socket socket);
    void accepted_unix(net::local::stream_protocol::socket socket);
    awaitable<void> serve_tls(std::shared_ptr<TlsConnection> conn);
    awaitable<void> serve_unix(std::shared_ptr<UnixConnection> conn);
    template <class Stream>
    awaitable<void> session(Stream& stream, Connection& conn);
    template <class Stream>
    awaitable<bool> authenticate(Stream& stream, Connection& conn, ApiCaller& caller);
    template <class Stream>
    awaitable<bool> send(Stream& stream, const json& message);
    // `link.hello`: turns the connection into a link to the named peer until it ends.
    template <class Stream>
    awaitable<void> serve_link(Stream& stream, Connection& conn, const ApiCaller& caller,
                               const ApiRequest& hello);

    void spawn(std::shared_ptr<Connection> conn, awaitable<void> serve);
    void connection_ended(const std::shared_ptr<Connection>& conn);
    void remove_socket_file();

    net::io_context& context_;
    const ManagerConfig& config_;
    RequestHandler& handler_;
    RequestRouter& router_;
    LinkRegistry& links_;
    const ApiKeyRing& keys_;
    net::thread_pool& blocking_;
    const std::chrono::milliseconds auth_timeout_;
    const std::chrono::milliseconds read_timeout_;
    const std::chrono::milliseconds idle_timeout_;

    FailureBackoff backoff_;
    std::unique_ptr<net::ssl::context> tls_;
    tcp::acceptor tcp_acceptor_;
    net::local::stream_protocol::acceptor unix_acceptor_;
    unsigned short tls_port_ = 0;
    std::string socket_path_;
    bool socket_created_ = false;

    ConnectionDrain drain_;  // the open connections, and the graceful stop
    std::atomic<std::size_t> open_{0};
    std::atomic<std::uint64_t> next_id_{0};
};

}  // namespace parley
