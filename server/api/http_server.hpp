// HttpServer: the public HTTP/1.1 listener (Boost.Beast, C++20 coroutines), plain or TLS.
//
// One coroutine per connection on its own strand. With a TLS context every connection is
// HTTPS/WSS only: the handshake comes first, under the read deadline (http.read_timeout_ms),
// and a failed one is logged at debug and dropped. Every read has a deadline (header and body:
// http.read_timeout_ms; between keep-alive requests: http.idle_timeout_ms), headers and bodies
// are bounded (the body limit per route, checked from Content-Length before any body byte is
// read), and every failure is answered with the JSON error of api.md or a close; a handler
// that throws produces a 500, never a crash. WebSocket upgrades are handed to the upgrade
// handler with the already-read request. stop() closes the listener, lets requests in flight
// finish (their responses say Connection: close), closes idle connections and calls `drained`
// once the last connection has ended. http.max_connections counts sockets, WebSockets included:
// an upgraded connection keeps its place (the ConnectionSlot handed to the upgrade handler)
// until the socket closes; and the cap is kept below RLIMIT_NOFILE with a reserve for the
// databases, media files, child pipes and logs, so that a full server answers 503 instead of
// failing accept() with EMFILE. The per-connection code is one template over the stream
// type (beast::tcp_stream or TlsStream), so both kinds behave alike by construction.
// Created and started on the loop's thread; thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>

#include "common/accept_drain.hpp"
#include "common/file_system.hpp"
#include "server/api/router.hpp"
#include "server/api/tls_context.hpp"
#include "server/settings/server_config.hpp"

namespace parley {

class HttpServer {
  public:
    // Takes a WebSocket upgrade request with its connection; the HttpServer forgets it. A plain
    // connection comes as its socket, not the tcp_stream (Boost 1.74's basic_stream cannot be
    // destroyed once moved from, so tcp_streams are never moved); a TLS one as its TlsStream.
    // The slot counts the socket against http.max_connections until its last copy is gone:
    // the WebSocket keeps it as long as it is open.
    using ConnectionSlot = std::shared_ptr<void>;
    using UpgradeHandler = std::function<void(UpgradedStream, HttpRequest, ConnectionSlot)>;
    // Called for each finished request (route name or "unmatched", status, seconds taken).
    using RequestObserver = std::function<void(const std::string&, unsigned, double)>;
    // Decides, right after accept, whether a peer may talk to this listener at all (the
    // loopback-only bot listener); a refused connection is logged and closed unanswered.
    using PeerFilter = std::function<bool(const tcp::endpoint&)>;

    // `tls`: null for plain HTTP; otherwise every connection is TLS. It must outlive the server,
    // as must `router`. `config` is copied: a listener may be given a derived, short-lived
    // config (the bot listener's address and port over the server's settings).
    HttpServer(net::io_context& context, const ServerConfig& config, const Router& router,
               net::ssl::context* tls = nullptr);
    ~HttpServer();

    // Call before start() when exactly one thread runs the context: each connection then uses
    // the context's executor itself instead of a strand of its own. Nothing can run
    // concurrently anyway, and a strand costs a lock, an extra queue and an extra dispatch for
    // every handler, which on a busy socket server is a tenth of the event loop's time.
    void serve_on_one_thread() { one_thread_ = true; }

    // Binds and listens; on failure returns the error and the server is unusable.
    boost::system::error_code listen();
    unsigned short port() const { return port_; }
    bool tls() const { return tls_ != nullptr; }
    void start();
    void stop(std::function<void()> drained);

    void set_upgrade_handler(UpgradeHandler handler) { upgrade_ = std::move(handler); }
    void set_request_observer(RequestObserver observer) { observer_ = std::move(observer); }
    // Before start(): the client address routes see (RequestContext::remote_address), from the
    // request and its peer; unset, the peer's. A cluster primary takes it from its edges.
    using ClientAddress = std::function<std::string(const HttpRequest&, const std::string& peer)>;
    void set_client_address(ClientAddress resolve) { client_address_ = std::move(resolve); }
    // Before start().
    void set_peer_filter(PeerFilter filter) { peer_filter_ = std::move(filter); }
    // Before start(): where upload bodies are written (tests inject a full disk); the real
    // file system by default. A failed write is answered 507 insufficient_storage when the
    // disk is full, else 500, and the partial file is removed.
    void set_file_system(FileSystem& files) { files_ = &files; }

    std::size_t open_connections() const { return open_->load(); }
    // http.max_connections, or less when the descriptor limit leaves no room for it.
    std::size_t connection_cap() const { return cap_; }

    // Raises the soft RLIMIT_NOFILE to the hard one and returns how many sockets fit under
    // it with a reserve left for everything else (SIZE_MAX when unlimited).
    static std::size_t socket_budget();

  private:
    struct Connection;  // what stop() needs of any connection
    template <class Stream>
    struct StreamConnection;  // a connection over Stream (beast::tcp_stream or TlsStream)

    awaitable<void> accept_loop();
    // A new socket: the peer filter, then its connection.
    void accepted(tcp::socket socket);
    template <class Stream>
    void launch(std::shared_ptr<StreamConnection<Stream>> conn);
    // What became of one request on a connection.
    enum class Served { next, close, handed_over };
    // A request's body read (the request), refused (the answer) or cut off (neither).
    struct BodyRead {
        std::optional<HttpRequest> request;
        std::optional<HttpResponse> refusal;
    };

    // A connection: the TLS handshake, the connection cap, its requests, the lingering close.
    template <class Stream>
    awaitable<void> serve(std::shared_ptr<StreamConnection<Stream>> conn);
    // Reads one request and answers it, or hands a WebSocket upgrade over.
    template <class Stream>
    awaitable<Served> serve_request(StreamConnection<Stream>& conn, beast::flat_buffer& buffer,
                                    bool first, const std::string& remote);
    // Answers a request that cannot be served and ends the connection (out of sync after it).
    template <class Stream>
    awaitable<Served> refuse(Stream& stream, HttpResponse& res,
                             std::chrono::steady_clock::time_point started, std::string_view route);
    // The body under `body_limit`: into memory, or into a new file at `spool_path` if given.
    template <class Stream>
    awaitable<BodyRead> read_body(StreamConnection<Stream>& conn, beast::flat_buffer& buffer,
                                  http::request_parser<http::string_body>& parser,
                                  std::uint64_t body_limit, const std::string& spool_path);
    template <class Stream>
    void hand_over(StreamConnection<Stream>& conn, HttpRequest req);
    awaitable<HttpResponse> dispatch(const HttpRequest& req, const RouteMatch& match,
                                     const std::string& remote, const std::string& body_file);
    // Sends a response and reports it; returns whether the connection may serve another.
    template <class Stream>
    awaitable<bool> finish(Stream& stream, HttpResponse& res,
                           std::chrono::steady_clock::time_point started, std::string_view route);
    void connection_ended(const std::shared_ptr<Connection>& conn);

    net::io_context& context_;
    const ServerConfig config_;
    const Router& router_;
    net::ssl::context* tls_;
    tcp::acceptor acceptor_;
    unsigned short port_ = 0;
    UpgradeHandler upgrade_;
    RequestObserver observer_;
    PeerFilter peer_filter_;
    ClientAddress client_address_;
    FileSystem* files_ = &real_file_system();

    ConnectionDrain drain_;  // the open connections, and the graceful stop
    bool one_thread_ = false;
    // Shared with the slots of upgraded sockets, which may outlive the server.
    std::shared_ptr<std::atomic<std::size_t>> open_ = std::make_shared<std::atomic<std::size_t>>(0);
    std::size_t cap_;
    std::atomic<std::uint64_t> next_id_{1};  // connection ids for the logs
};

}  // namespace parley
