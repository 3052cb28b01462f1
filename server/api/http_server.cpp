#include "server/api/http_server.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <limits>
#include <optional>
#include <type_traits>

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/logging.hpp"
#include "server/api/spool_body.hpp"

namespace parley {

namespace {
template <class Stream>
inline constexpr bool is_tls = std::is_same_v<Stream, TlsStream>;
}  // namespace

struct HttpServer::Connection : ConnectionDrain::Member {
    Connection(net::any_io_executor strand, std::uint64_t id)
        : executor(std::move(strand)), id(id) {}
    // Cancels the pending read of a connection that waits for a request (graceful stop).
    // On the strand only, and only while `idle`: a handed-over TLS stream is empty.
    virtual void cancel_read() = 0;
    net::any_io_executor drain_executor() override { return executor; }
    void cancel_if_idle() override {
        if (idle) cancel_read();
    }

    // Kept apart from the stream because a TLS stream moved to a WebSocket has no executor.
    const net::any_io_executor executor;
    const std::uint64_t id;
    // Waiting for the first byte of a request (or for the TLS handshake); on the strand only.
    bool idle = true;
};

template <class Stream>
struct HttpServer::StreamConnection final : HttpServer::Connection {
    // The stream is built in place from the accepted socket (and the TLS context): a
    // tcp_stream must never be moved.
    template <class... Args>
    StreamConnection(tcp::socket socket, std::uint64_t id, Args&... args)
        : Connection(socket.get_executor(), id), stream(std::move(socket), args...) {}
    void cancel_read() override { beast::get_lowest_layer(stream).cancel(); }

    Stream stream;
};

std::size_t HttpServer::socket_budget() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return std::numeric_limits<std::size_t>::max();
    if (limit.rlim_cur < limit.rlim_max) {
        rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
    }
    if (limit.rlim_cur == RLIM_INFINITY) return std::numeric_limits<std::size_t>::max();
    // Besides sockets the server holds its databases (each reader and the writer: the file,
    // its WAL and shared memory), media files being served or stored, request spool files,
    // the children's pipes and its logs: a tenth of the limit, and at least 256.
    const auto fds = static_cast<std::size_t>(limit.rlim_cur);
    const std::size_t reserve = std::max<std::size_t>(256, fds / 10);
    return fds > reserve ? fds - reserve : 1;
}

HttpServer::HttpServer(net::io_context& context, const ServerConfig& config, const Router& router,
                       net::ssl::context* tls)
    : context_(context),
      config_(config),
      router_(router),
      tls_(tls),
      acceptor_(net::make_strand(context)),
      cap_(std::min(static_cast<std::size_t>(config.http.max_connections), socket_budget())) {
    if (cap_ < static_cast<std::size_t>(config.http.max_connections)) {
        spdlog::warn(
            "http.max_connections = {} does not fit under the open-file limit (RLIMIT_NOFILE, "
            "LimitNOFILE= in systemd) with room for files and the database: connection cap {}",
            config.http.max_connections, cap_);
    }
}

HttpServer::~HttpServer() = default;

boost::system::error_code HttpServer::listen() {
    boost::system::error_code ec;
    auto address = net::ip::make_address(config_.listen_address, ec);
    if (ec) return ec;
    tcp::endpoint endpoint(address, static_cast<unsigned short>(config_.port));
    acceptor_.open(endpoint.protocol(), ec);
    if (ec) return ec;
    acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (ec) return ec;
    acceptor_.bind(endpoint, ec);
    if (ec) return ec;
    acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return ec;
    port_ = acceptor_.local_endpoint().port();
    return {};
}

void HttpServer::start() {
    net::co_spawn(acceptor_.get_executor(), accept_loop(), [](std::exception_ptr e) {
        if (!e) return;
        spdlog::critical("http accept loop failed: {}", exception_what(e));
    });
}

void HttpServer::stop(std::function<void()> drained) {
    drain_.stop(context_, std::move(drained));
    net::post(acceptor_.get_executor(), [this] {
        boost::system::error_code ignored;
        acceptor_.close(ignored);
    });
}

awaitable<void> HttpServer::accept_loop() {
    auto executor_for = [this]() -> net::any_io_executor {
        if (one_thread_) return context_.get_executor();
        return net::make_strand(context_);
    };
    co_await accept_each(
        acceptor_, drain_, executor_for,
        [this](tcp::socket socket) { accepted(std::move(socket)); },
        "http listener on port " + std::to_string(port_));
}

void HttpServer::accepted(tcp::socket socket) {
    if (peer_filter_) {
        boost::system::error_code peer_ec;
        tcp::endpoint peer = socket.remote_endpoint(peer_ec);
        if (peer_ec || !peer_filter_(peer)) {
            spdlog::warn("listener on port {} refused a connection from {}: not an allowed peer",
                         port_, peer_ec ? std::string("?") : peer.address().to_string());
            socket.close(peer_ec);
            return;
        }
    }
    // Frames and answers are written whole (a socket's queued frames in one writev), so
    // Nagle's algorithm only holds a small write back until the peer's delayed ACK: up to
    // 40 ms on Linux, which showed as the p99 of a chat message at low rates.
    boost::system::error_code nodelay_ec;
    socket.set_option(tcp::no_delay(true), nodelay_ec);
    std::uint64_t id = next_id_++;
    if (tls_) {
        launch(std::make_shared<StreamConnection<TlsStream>>(std::move(socket), id, *tls_));
    } else {
        launch(std::make_shared<StreamConnection<beast::tcp_stream>>(std::move(socket), id));
    }
}

template <class Stream>
void HttpServer::launch(std::shared_ptr<StreamConnection<Stream>> conn) {
    drain_.add(conn);
    ++*open_;
    net::co_spawn(conn->executor, serve(conn), [this, conn](std::exception_ptr e) {
        if (e) {
            spdlog::error("http {}: connection failed: {}", conn->id, exception_what(e));
        }
        connection_ended(conn);
    });
}

void HttpServer::connection_ended(const std::shared_ptr<Connection>& conn) {
    --*open_;
    drain_.remove(conn);
}

namespace {

// The answer when an upload body cannot be written: the server's disk, not the client's
// request, so never a 400; a full disk is worth retrying once space is freed.
HttpResponse spool_failure_response(const std::error_code& ec) {
    if (ec == std::errc::no_space_on_device || ec.value() == EDQUOT) {
        return error_response(http::status::insufficient_storage, "insufficient_storage",
                              "the server has no space left for the request body; retry later");
    }
    return error_response(http::status::internal_server_error, "internal",
                          "the server could not store the request body");
}

// Sends `res` with the write deadline; returns false when the connection is unusable.
template <class Stream>
awaitable<bool> send(Stream& stream, HttpResponse& res, int timeout_ms) {
    boost::system::error_code ec;
    beast::get_lowest_layer(stream).expires_after(std::chrono::milliseconds(timeout_ms));
    co_await http::async_write(stream, res, net::redirect_error(use_awaitable, ec));
    co_return !ec;
}

// A TLS-level failure after the handshake: a peer that left without close_notify, or a broken
// record. Nothing can be answered over such a session. (Never true on a plain stream.)
bool tls_broken(const boost::system::error_code& ec) {
    return ec == net::ssl::error::stream_truncated ||
           ec.category() == net::error::get_ssl_category();
}

// Lingering close: stop sending, then drain what the client still sends for a moment, so
// that an error response is not destroyed by a reset caused by unread request bytes.
awaitable<void> linger(beast::tcp_stream& stream) {
    boost::system::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    std::array<char, 8192> scratch;
    std::size_t drained = 0;
    stream.expires_after(std::chrono::seconds(1));
    while (!ec && drained < 1024 * 1024) {
        std::size_t n = co_await stream.async_read_some(net::buffer(scratch),
                                                        net::redirect_error(use_awaitable, ec));
        drained += n;
    }
}

// The TLS form: send close_notify and wait (1 s at most) for the peer's. OpenSSL 3 ends that
// wait with an error when application data arrives first ("application data after close
// notify": typically the body of a request refused by its header), so then the rest is drained
// below TLS, as on a plain connection; the close_notify has gone out by then.
awaitable<void> linger(TlsStream& stream) {
    boost::system::error_code ec;
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(1));
    co_await stream.async_shutdown(net::redirect_error(use_awaitable, ec));
    if (ec && ec != beast::error::timeout) co_await linger(beast::get_lowest_layer(stream));
}

}  // namespace

template <class Stream>
awaitable<bool> HttpServer::finish(Stream& stream, HttpResponse& res,
                                   std::chrono::steady_clock::time_point started,
                                   std::string_view route) {
    if (drain_.stopping()) res.keep_alive(false);
    bool ok = co_await send(stream, res, config_.http.write_timeout_ms);
    if (observer_) {
        observer_(
            std::string(route), res.result_int(),
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    }
    co_return (ok && res.keep_alive());
}

namespace {
// The metrics label of a request: its route pattern, never the raw path.
std::string_view route_label(const RouteMatch& match) {
    return match.route ? std::string_view(match.route->name) : std::string_view("unmatched");
}
}  // namespace

namespace {

// Read errors that end a connection without an answer: the peer left or went quiet, the server
// is stopping, or a TLS session broke (nothing can be answered over it).
bool ends_quietly(const boost::system::error_code& ec) {
    return ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
           ec == beast::error::timeout || ec == net::error::connection_reset ||
           ec == net::error::eof || tls_broken(ec);
}

HttpResponse body_too_large() {
    return error_response(http::status::payload_too_large, "too_large",
                          "request body is larger than the limit of this route");
}

HttpResponse malformed(const boost::system::error_code& ec) {
    return error_response(http::status::bad_request, "bad_request",
                          "malformed HTTP request: " + ec.message());
}

// The answer to a body read that failed with `ec` (too large or malformed); nothing when the
// connection ends without one (ends_quietly).
std::optional<HttpResponse> body_read_refusal(const boost::system::error_code& ec) {
    if (ends_quietly(ec)) return std::nullopt;
    return ec == http::error::body_limit ? body_too_large() : malformed(ec);
}

// Removes an upload's spool file once the handler is done (it renames the file if it keeps it).
struct RemoveSpool {
    FileSystem& files;
    const std::string& path;
    ~RemoveSpool() {
        if (!path.empty()) files.unlink(path);
    }
};

}  // namespace

template <class Stream>
awaitable<void> HttpServer::serve(std::shared_ptr<StreamConnection<Stream>> conn) {
    auto& stream = conn->stream;
    auto& transport = beast::get_lowest_layer(stream);  // the tcp_stream: deadlines, socket
    boost::system::error_code ec;
    std::string remote;
    {
        auto ep = transport.socket().remote_endpoint(ec);
        remote = ec ? "unknown" : ep.address().to_string();
    }
    if constexpr (is_tls<Stream>) {
        // The handshake is the client's first read: the same deadline as a request header, and
        // a stop() while it runs cancels it like an idle read.
        transport.expires_after(std::chrono::milliseconds(config_.http.read_timeout_ms));
        co_await stream.async_handshake(net::ssl::stream_base::server,
                                        net::redirect_error(use_awaitable, ec));
        if (ec) {
            spdlog::debug("http {}: TLS handshake with {} failed: {}", conn->id, remote,
                          ec.message());
            co_return;
        }
    }
    if (open_->load() > cap_) {
        // Over TLS the answer comes after the handshake: a refusal in clear text would read as
        // garbage to the client.
        HttpResponse res = error_response(http::status::service_unavailable, "unavailable",
                                          "too many open connections; try again later");
        res.keep_alive(false);
        co_await send(stream, res, config_.http.write_timeout_ms);
        transport.socket().shutdown(tcp::socket::shutdown_both, ec);
        co_return;
    }

    beast::flat_buffer buffer;
    bool first = true;
    while (first || !drain_.stopping()) {  // after stop(), no further keep-alive request
        switch (co_await serve_request(*conn, buffer, first, remote)) {
            case Served::next:
                first = false;
                continue;
            case Served::handed_over:
                co_return;
            case Served::close:
                break;
        }
        break;
    }
    co_await linger(stream);
}

template <class Stream>
awaitable<HttpServer::Served> HttpServer::serve_request(StreamConnection<Stream>& conn,
                                                        beast::flat_buffer& buffer, bool first,
                                                        const std::string& remote) {
    auto& stream = conn.stream;
    auto& transport = beast::get_lowest_layer(stream);
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(config_.http.header_limit_bytes));
    // The body limit depends on the route, known only once the header is read; Beast would
    // otherwise check Content-Length against a default limit while parsing the header.
    // (Not boost::none: Boost 1.74 compares Content-Length > none, which is always true.)
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());

    // Between keep-alive requests the idle deadline applies; once bytes arrive, the read one.
    conn.idle = buffer.size() == 0;
    transport.expires_after(std::chrono::milliseconds(
        first || !conn.idle ? config_.http.read_timeout_ms : config_.http.idle_timeout_ms));
    boost::system::error_code ec;
    co_await http::async_read_header(stream, buffer, parser,
                                     net::redirect_error(use_awaitable, ec));
    conn.idle = false;
    if (ends_quietly(ec)) co_return Served::close;
    auto started = std::chrono::steady_clock::now();
    if (ec) {
        // Malformed or oversized header: answer and close; the stream is out of sync.
        HttpResponse res =
            ec == http::error::header_limit
                ? error_response(http::status::request_header_fields_too_large, "too_large",
                                 "request header is larger than the limit")
                : malformed(ec);
        co_return co_await refuse(stream, res, started, "unmatched");
    }
    const auto& header = parser.get();
    if (header.version() >= 11 && header.find(http::field::host) == header.end()) {
        // RFC 9112 3.2: an HTTP/1.1 request without Host is answered 400, never served.
        HttpResponse res = error_response(http::status::bad_request, "bad_request",
                                          "an HTTP/1.1 request needs a Host header");
        co_return co_await refuse(stream, res, started, "unmatched");
    }
    std::string_view target = header.target();
    RouteMatch match = router_.match(header.method(), target.substr(0, target.find('?')));
    const bool upgrade = websocket::is_upgrade(header) && upgrade_;
    const auto body_limit = static_cast<std::uint64_t>(match.route && match.route->body_limit >= 0
                                                           ? match.route->body_limit
                                                           : config_.http.body_limit_bytes);
    if (auto length = parser.content_length(); length && *length > body_limit) {
        HttpResponse res = body_too_large();
        co_return co_await refuse(stream, res, started, route_label(match));
    }

    // Upload routes stream the body to a new file instead of memory.
    std::string spool_path;
    if (match.route && !match.route->spool_dir.empty() && !upgrade) {
        spool_path = match.route->spool_dir + "/body-" + random_id();
    }
    RemoveSpool remove_spool{*files_, spool_path};
    transport.expires_after(std::chrono::milliseconds(config_.http.read_timeout_ms));
    BodyRead body = co_await read_body(conn, buffer, parser, body_limit, spool_path);
    if (!body.request) {
        if (!body.refusal) co_return Served::close;
        co_return co_await refuse(stream, *body.refusal, started, route_label(match));
    }
    HttpRequest& req = *body.request;
    if (upgrade && match.route && !match.route->fallback) {
        hand_over(conn, std::move(req));
        co_return Served::handed_over;
    }

    HttpResponse res;
    if (!match.route) {
        res = match.path_known
                  ? error_response(http::status::method_not_allowed, "bad_request",
                                   "method not allowed on this path")
                  : error_response(http::status::not_found, "not_found", "no such route");
    } else {
        // Named before the co_await: GCC 12 mishandles a temporary string inside it.
        std::string forwarded;
        if (client_address_) forwarded = client_address_(req, remote);
        res = co_await dispatch(req, match, client_address_ ? forwarded : remote, spool_path);
    }
    res.version(req.version());
    if (!res.has_content_length() && !res.chunked()) res.prepare_payload();
    res.keep_alive(res.keep_alive() && req.keep_alive());
    co_return co_await finish(stream, res, started, route_label(match)) ? Served::next
                                                                        : Served::close;
}

template <class Stream>
awaitable<HttpServer::Served> HttpServer::refuse(Stream& stream, HttpResponse& res,
                                                 std::chrono::steady_clock::time_point started,
                                                 std::string_view route) {
    res.keep_alive(false);
    co_await finish(stream, res, started, route);
    co_return Served::close;
}

template <class Stream>
awaitable<HttpServer::BodyRead> HttpServer::read_body(
    StreamConnection<Stream>& conn, beast::flat_buffer& buffer,
    http::request_parser<http::string_body>& parser, std::uint64_t body_limit,
    const std::string& spool_path) {
    boost::system::error_code ec;
    if (spool_path.empty()) {
        co_await http::async_read(conn.stream, buffer, parser,
                                  net::redirect_error(use_awaitable, ec));
        if (!ec) co_return BodyRead{parser.release(), std::nullopt};
        co_return BodyRead{std::nullopt, body_read_refusal(ec)};
    }
    http::request_parser<SpoolBody> file_parser(std::move(parser));
    file_parser.body_limit(body_limit);
    if (auto open_ec = file_parser.get().body().open(*files_, spool_path)) {
        spdlog::error("http {}: cannot create {}: {}", conn.id, spool_path, open_ec.message());
        co_return BodyRead{std::nullopt, spool_failure_response(open_ec)};
    }
    co_await http::async_read(conn.stream, buffer, file_parser,
                              net::redirect_error(use_awaitable, ec));
    if (!ec) co_return BodyRead{HttpRequest(std::move(file_parser.release().base())), std::nullopt};
    if (const std::error_code spool_error = file_parser.get().body().write_error()) {
        // The server's disk, not the client: a full disk is worth retrying later.
        spdlog::error("http {}: cannot write {}: {}", conn.id, spool_path, spool_error.message());
        co_return BodyRead{std::nullopt, spool_failure_response(spool_error)};
    }
    co_return BodyRead{std::nullopt, body_read_refusal(ec)};
}

template <class Stream>
void HttpServer::hand_over(StreamConnection<Stream>& conn, HttpRequest req) {
    // The route decides (auth, topic); the connection leaves the HTTP server here. `idle` is
    // false, so stop() no longer touches the (moved-from) TLS stream.
    beast::get_lowest_layer(conn.stream).expires_never();
    // The socket keeps its place in the count after this connection has ended.
    ++*open_;
    ConnectionSlot slot(nullptr, [open = open_](void*) { --*open; });
    if constexpr (is_tls<Stream>) {
        upgrade_(UpgradedStream(std::in_place_type<TlsStream>, std::move(conn.stream)),
                 std::move(req), std::move(slot));
    } else {
        upgrade_(UpgradedStream(std::in_place_type<tcp::socket>, conn.stream.release_socket()),
                 std::move(req), std::move(slot));
    }
}

awaitable<HttpResponse> HttpServer::dispatch(const HttpRequest& req, const RouteMatch& match,
                                             const std::string& remote,
                                             const std::string& body_file) {
    std::string_view target = req.target();
    std::size_t q = target.find('?');
    RequestContext ctx{
        req, match.params,
        q == std::string_view::npos ? std::string() : std::string(target.substr(q + 1)), remote,
        body_file};
    try {
        co_return co_await match.route->handler(ctx);
    } catch (const std::exception& e) {
        spdlog::error("route {} failed: {}", match.route->name, e.what());
    }
    co_return error_response(http::status::internal_server_error, "internal",
                             "internal error; the request was not completed");
}

}  // namespace parley
