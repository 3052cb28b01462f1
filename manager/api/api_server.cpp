#include "manager/api/api_server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "common/frame_codec.hpp"
#include "common/logging.hpp"
#include "common/offload.hpp"
#include "common/version.hpp"
#include "manager/links/link_session.hpp"

namespace parley {

struct ApiServer::Connection : ConnectionDrain::Member {
    virtual net::any_io_executor executor() = 0;
    // Aborts the pending read or write (on the connection's executor).
    virtual void cancel() = 0;
    net::any_io_executor drain_executor() override { return executor(); }
    void cancel_if_idle() override {
        if (idle) cancel();
    }

    std::uint64_t id = 0;
    std::string peer;         // for logs and the audit actor
    std::string backoff_key;  // the address that failures count against
    bool idle = true;         // waiting for a request (or still authenticating); executor only
};

template <class Stream>
struct ApiServer::StreamConnection final : ApiServer::Connection {
    template <class... Args>
    explicit StreamConnection(Args&&... args) : stream(std::forward<Args>(args)...) {}

    net::any_io_executor executor() override { return stream.get_executor(); }
    void cancel() override { beast::get_lowest_layer(stream).cancel(); }

    // Constructed in place and never moved: a moved-from Beast stream must not be destroyed.
    Stream stream;
};

namespace {

constexpr auto kCloseTimeout = std::chrono::milliseconds(500);
constexpr std::size_t kLingerBytes = 64 * 1024;

void log_task_exception(std::exception_ptr e, const char* what) {
    if (!e) return;
    spdlog::error("manager api: {} failed: {}", what, exception_what(e));
}

// Stop sending, then read (and drop) what the peer still sends for a moment before closing,
// so an error answer is not destroyed by a reset caused by unread request bytes.
template <class Lowest>
awaitable<void> linger_and_close(Lowest& lowest) {
    boost::system::error_code ec;
    lowest.socket().shutdown(net::socket_base::shutdown_send, ec);
    std::array<char, 8192> scratch;
    std::size_t drained = 0;
    lowest.expires_after(kCloseTimeout);
    while (!ec && drained < kLingerBytes) {
        drained += co_await lowest.async_read_some(net::buffer(scratch),
                                                   net::redirect_error(use_awaitable, ec));
    }
    lowest.close();
}

awaitable<void> close_stream(UnixApiStream& stream) {
    co_await linger_and_close(stream);
}

awaitable<void> close_stream(ManagerTlsStream& stream) {
    auto& lowest = beast::get_lowest_layer(stream);
    if (lowest.socket().is_open()) {
        // close_notify, so the peer sees a clean end rather than a truncated TLS stream.
        lowest.expires_after(kCloseTimeout);
        boost::system::error_code ec;
        co_await stream.async_shutdown(net::redirect_error(use_awaitable, ec));
    }
    if (lowest.socket().is_open()) lowest.close();
}

std::string describe_frame_problem(const FrameResult& frame) {
    switch (frame.status) {
        case FrameStatus::closed:
            return "closed by the peer";
        case FrameStatus::truncated:
            return "the stream ended inside a frame";
        case FrameStatus::timeout:
            return "deadline passed";
        case FrameStatus::too_large:
            return fmt::format("frame of {} bytes is over the limit", frame.announced);
        case FrameStatus::error:
            return frame.error.message();
        case FrameStatus::ok:
            return "ok";
    }
    return "?";
}

FailureBackoffConfig backoff_config(const ManagerConfig& config) {
    FailureBackoffConfig c;
    c.threshold = static_cast<std::uint32_t>(config.auth_failure_threshold);
    c.base = std::chrono::milliseconds(config.lockout_base_ms);
    c.max = std::chrono::milliseconds(config.lockout_max_ms);
    c.max_keys = 10'000;
    return c;
}

}  // namespace

ApiServer::ApiServer(net::io_context& context, const ManagerConfig& config, RequestHandler& handler,
                     RequestRouter& router, LinkRegistry& links, const ApiKeyRing& keys,
                     net::thread_pool& blocking)
    : context_(context),
      config_(config),
      handler_(handler),
      router_(router),
      links_(links),
      keys_(keys),
      blocking_(blocking),
      auth_timeout_(config.auth_timeout_ms),
      read_timeout_(config.read_timeout_ms),
      idle_timeout_(config.idle_timeout_ms),
      backoff_(backoff_config(config)),
      tcp_acceptor_(net::make_strand(context)),
      unix_acceptor_(net::make_strand(context)) {}

ApiServer::~ApiServer() {
    remove_socket_file();
}

void ApiServer::remove_socket_file() {
    if (!socket_created_) return;
    socket_created_ = false;
    ::unlink(socket_path_.c_str());
}

std::string ApiServer::listen() {
    boost::system::error_code ec;
    socket_path_ = config_.resolved_socket_path();
    if (socket_path_.size() >= sizeof(sockaddr_un{}.sun_path)) {
        return fmt::format(
            "manager.socket '{}' is longer than the {} bytes a unix socket path may "
            "have; choose a shorter path",
            socket_path_, sizeof(sockaddr_un{}.sun_path) - 1);
    }
    net::local::stream_protocol::endpoint endpoint(socket_path_);
    struct stat st {};
    if (::lstat(socket_path_.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            return fmt::format("manager.socket '{}' exists and is not a socket", socket_path_);
        }
        // A socket file outlives a crashed manager; one that still accepts belongs to a live one.
        net::local::stream_protocol::socket probe(context_);
        probe.connect(endpoint, ec);
        if (!ec) {
            return fmt::format("manager.socket '{}' is in use by another process", socket_path_);
        }
        ::unlink(socket_path_.c_str());
    }
    unix_acceptor_.open(endpoint.protocol(), ec);
    if (!ec) unix_acceptor_.bind(endpoint, ec);
    if (ec) return fmt::format("cannot bind the unix socket '{}': {}", socket_path_, ec.message());
    socket_created_ = true;
    // Nobody can connect before listen(), so the mode is right before the first client.
    if (::chmod(socket_path_.c_str(), 0660) != 0) {
        return fmt::format("cannot chmod the unix socket '{}': {}", socket_path_,
                           std::strerror(errno));
    }
    unix_acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec)
        return fmt::format("cannot listen on the unix socket '{}': {}", socket_path_, ec.message());

    if (!config_.tls.enabled()) return {};
    std::string error;
    tls_ = make_manager_server_tls(config_.tls, error);
    if (!tls_) return error;
    auto address = net::ip::make_address(config_.listen_address, ec);
    if (ec) return fmt::format("manager.listen '{}' is not an IP address", config_.listen_address);
    tcp::endpoint tcp_endpoint(address, static_cast<unsigned short>(config_.port));
    tcp_acceptor_.open(tcp_endpoint.protocol(), ec);
    if (!ec) tcp_acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) tcp_acceptor_.bind(tcp_endpoint, ec);
    if (!ec) tcp_acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
        return fmt::format("cannot listen on {}:{}: {}", config_.listen_address, config_.port,
                           ec.message());
    }
    tls_port_ = tcp_acceptor_.local_endpoint().port();
    return {};
}

void ApiServer::start() {
    net::co_spawn(unix_acceptor_.get_executor(), accept_unix_loop(),
                  [](std::exception_ptr e) { log_task_exception(e, "unix accept loop"); });
    if (tls_) {
        net::co_spawn(tcp_acceptor_.get_executor(), accept_tls_loop(),
                      [](std::exception_ptr e) { log_task_exception(e, "TLS accept loop"); });
    }
}

void ApiServer::stop(std::function<void()> drained) {
    drain_.stop(context_, std::move(drained));
    links_.close_all("the manager is stopping");
    net::post(unix_acceptor_.get_executor(), [this] {
        boost::system::error_code ignored;
        unix_acceptor_.close(ignored);
        remove_socket_file();
    });
    net::post(tcp_acceptor_.get_executor(), [this] {
        boost::system::error_code ignored;
        tcp_acceptor_.close(ignored);
    });
}

void ApiServer::spawn(std::shared_ptr<Connection> conn, awaitable<void> serve) {
    drain_.add(conn);
    net::co_spawn(conn->executor(), std::move(serve), [this, conn](std::exception_ptr e) {
        log_task_exception(e, "connection");
        connection_ended(conn);
    });
}

void ApiServer::connection_ended(const std::shared_ptr<Connection>& conn) {
    --open_;
    spdlog::debug("manager api: conn={} closed", conn->id);
    drain_.remove(conn);
}

awaitable<void> ApiServer::accept_unix_loop() {
    co_await accept_each(
        unix_acceptor_, drain_, [this] { return net::any_io_executor(net::make_strand(context_)); },
        [this](net::local::stream_protocol::socket socket) { accepted_unix(std::move(socket)); },
        "manager api: unix socket");
}

void ApiServer::accepted_unix(net::local::stream_protocol::socket socket) {
    const std::uint64_t id = ++next_id_;
    ucred cred{};
    socklen_t len = sizeof cred;
    std::string peer = "unix:uid=?";
    if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
        peer = fmt::format("unix:uid={}", cred.uid);
    }
    if (open_.load() >= static_cast<std::size_t>(config_.max_connections)) {
        spdlog::warn("manager api: conn={} from {} refused: {} connections are open", id, peer,
                     open_.load());
        boost::system::error_code ignored;
        socket.close(ignored);
        return;
    }
    ++open_;
    auto conn = std::make_shared<UnixConnection>(std::move(socket));
    conn->id = id;
    conn->peer = peer;
    conn->backoff_key = peer;
    spdlog::debug("manager api: conn={} from {} (pid {})", id, peer, cred.pid);
    spawn(conn, serve_unix(conn));
}

awaitable<void> ApiServer::accept_tls_loop() {
    co_await accept_each(
        tcp_acceptor_, drain_, [this] { return net::any_io_executor(net::make_strand(context_)); },
        [this](tcp::socket socket) { accepted_tls(std::move(socket)); }, "manager api: TCP");
}

void ApiServer::accepted_tls(tcp::socket socket) {
    const std::uint64_t id = ++next_id_;
    boost::system::error_code ec;
    // Request/answer traffic: Nagle would hold an answer's last segment for the peer's ACK.
    socket.set_option(tcp::no_delay(true), ec);
    auto remote = socket.remote_endpoint(ec);
    std::string address = ec ? "unknown" : remote.address().to_string();
    if (open_.load() >= static_cast<std::size_t>(config_.max_connections)) {
        spdlog::warn("manager api: conn={} from tcp:{} refused: {} connections are open", id,
                     address, open_.load());
        socket.close(ec);
        return;
    }
    ++open_;
    auto conn = std::make_shared<TlsConnection>(std::move(socket), *tls_);
    conn->id = id;
    conn->peer = "tcp:" + address;
    conn->backoff_key = conn->peer;
    spdlog::debug("manager api: conn={} from {}", id, conn->peer);
    spawn(conn, serve_tls(conn));
}

awaitable<void> ApiServer::serve_unix(std::shared_ptr<UnixConnection> conn) {
    auto& stream = conn->stream;
    stream.expires_after(auth_timeout_);
    co_await session(stream, *conn);
    co_await close_stream(stream);
}

awaitable<void> ApiServer::serve_tls(std::shared_ptr<TlsConnection> conn) {
    auto& stream = conn->stream;
    auto& lowest = beast::get_lowest_layer(stream);
    // One deadline for the handshake and the authentication frame together.
    lowest.expires_after(auth_timeout_);
    boost::system::error_code ec;
    co_await stream.async_handshake(net::ssl::stream_base::server,
                                    net::redirect_error(use_awaitable, ec));
    if (ec) {
        spdlog::warn("manager api: conn={} from {}: TLS handshake failed: {}", conn->id, conn->peer,
                     ec == beast::error::timeout ? std::string("timed out") : ec.message());
        if (lowest.socket().is_open()) lowest.close();
        co_return;
    }
    std::string cn = peer_common_name(stream);
    if (!cn.empty()) conn->peer += " cn=" + cn;
    co_await session(stream, *conn);
    co_await close_stream(stream);
}

template <class Stream>
awaitable<bool> ApiServer::send(Stream& stream, const json& message) {
    std::string text = serialize(message);
    if (text.size() > kMaxFrameAfterAuth) {
        spdlog::error("manager api: an answer of {} bytes exceeds the frame limit", text.size());
        text = serialize(make_error(message.value("id", json()), ApiErrorCode::internal,
                                    "the answer is larger than the frame limit"));
    }
    beast::get_lowest_layer(stream).expires_after(read_timeout_);
    boost::system::error_code ec = co_await write_frame(stream, text);
    co_return !ec;
}

template <class Stream>
awaitable<bool> ApiServer::authenticate(Stream& stream, Connection& conn, ApiCaller& caller) {
    FrameResult frame = co_await read_frame(stream, kMaxFrameBeforeAuth);
    if (frame.status != FrameStatus::ok) {
        std::string problem = describe_frame_problem(frame);
        if (frame.status == FrameStatus::too_large) {
            spdlog::warn(
                "manager api: conn={} from {}: first frame announces {} bytes (limit {} "
                "before authentication): closing",
                conn.id, conn.peer, frame.announced, kMaxFrameBeforeAuth);
            json error = make_error(nullptr, ApiErrorCode::bad_request,
                                    fmt::format("frame of {} bytes; before authentication a frame "
                                                "may have at most {}",
                                                frame.announced, kMaxFrameBeforeAuth));
            co_await send(stream, error);
        } else if (frame.status == FrameStatus::timeout) {
            spdlog::info("manager api: conn={} from {}: no authentication within {} ms: closing",
                         conn.id, conn.peer, auth_timeout_.count());
        } else {
            spdlog::info("manager api: conn={} from {} before authentication: {}", conn.id,
                         conn.peer, problem);
        }
        co_return false;
    }
    ApiError parse_error;
    json id;
    std::optional<ApiRequest> request = parse_request(frame.payload, parse_error, id);
    if (!request) {
        spdlog::info("manager api: conn={} from {}: malformed first frame: {}", conn.id, conn.peer,
                     parse_error.message);
        json error = make_error(id, parse_error);
        co_await send(stream, error);
        co_return false;
    }
    if (request->method != "auth") {
        spdlog::info("manager api: conn={} from {} id={}: {} before auth: closing", conn.id,
                     conn.peer, id_for_log(id), request->method.substr(0, 64));
        json error = make_error(id, ApiErrorCode::unauthorized,
                                "authenticate first: the first request must be \"auth\"");
        co_await send(stream, error);
        co_return false;
    }
    if (backoff_.is_locked(conn.backoff_key)) {
        auto retry = backoff_.retry_after(conn.backoff_key);
        spdlog::warn("manager api: conn={} from {} id={}: locked out for {} ms more: refused",
                     conn.id, conn.peer, id_for_log(id), retry.count());
        ApiError locked{ApiErrorCode::rate_limited,
                        "too many failed authentications from this address; try again later",
                        {{"retry_after_ms", retry.count()}}};
        json error = make_error(id, locked);
        co_await send(stream, error);
        co_return false;
    }
    auto key = request->params.find("key");
    if (key == request->params.end() || !key->is_string()) {
        json error = make_error(id, ApiErrorCode::bad_request, "auth needs a \"key\" string");
        co_await send(stream, error);
        co_return false;
    }
    std::optional<ApiKeyIdentity> identity = keys_.authenticate(key->get_ref<const std::string&>());
    if (!identity) {
        FailureState state = backoff_.record_failure(conn.backoff_key);
        spdlog::warn(
            "manager api: conn={} from {} id={}: wrong API key (failure {} from this "
            "address{})",
            conn.id, conn.peer, id_for_log(id), state.failures,
            state.locked_until_unix_ms ? ", now locked out" : "");
        json error = make_error(id, ApiErrorCode::unauthorized, "wrong API key");
        co_await send(stream, error);
        co_return false;
    }
    backoff_.record_success(conn.backoff_key);
    caller.connection_id = conn.id;
    caller.peer = conn.peer;
    caller.key_name = identity->name;
    caller.access = identity->access;
    spdlog::info("manager api: conn={} from {} authenticated with key '{}' ({})", conn.id,
                 conn.peer, identity->name,
                 identity->access == ApiAccess::admin ? "admin" : "read");
    json ok = make_ok(id, {{"manager", handler_.manager_name()},
                           {"version", kVersion},
                           {"access", identity->access == ApiAccess::admin ? "admin" : "read"}});
    co_return co_await send(stream, ok);
}

template <class Stream>
awaitable<void> ApiServer::session(Stream& stream, Connection& conn) {
    ApiCaller caller;
    if (!co_await authenticate(stream, conn, caller)) co_return;
    auto& lowest = beast::get_lowest_layer(stream);
    auto& read_timeout = read_timeout_;
    while (!drain_.stopping()) {
        conn.idle = true;
        lowest.expires_after(idle_timeout_);
        auto header_done = [&conn, &lowest, &read_timeout] {
            conn.idle = false;
            lowest.expires_after(read_timeout);
        };
        FrameResult frame = co_await read_frame(stream, kMaxFrameAfterAuth, header_done);
        conn.idle = false;
        if (frame.status != FrameStatus::ok) {
            if (frame.status == FrameStatus::too_large) {
                spdlog::warn(
                    "manager api: conn={} ({}): frame of {} bytes over the limit of {}: "
                    "closing",
                    conn.id, caller.key_name, frame.announced, kMaxFrameAfterAuth);
                json error =
                    make_error(nullptr, ApiErrorCode::bad_request,
                               fmt::format("frame of {} bytes; a frame may have at most {}",
                                           frame.announced, kMaxFrameAfterAuth));
                co_await send(stream, error);
            } else if (frame.status == FrameStatus::timeout) {
                spdlog::info("manager api: conn={} ({}): {} deadline passed: closing", conn.id,
                             caller.key_name, frame.announced ? "read" : "idle");
            } else if (frame.status != FrameStatus::closed &&
                       frame.error != net::error::operation_aborted) {
                spdlog::info("manager api: conn={} ({}): {}", conn.id, caller.key_name,
                             describe_frame_problem(frame));
            }
            break;
        }
        ApiError parse_error;
        json id;
        std::optional<ApiRequest> request = parse_request(frame.payload, parse_error, id);
        if (!request) {
            json error = make_error(id, parse_error);
            if (!co_await send(stream, error)) break;
            continue;
        }
        if (request->method == "auth") {
            json error =
                make_error(id, ApiErrorCode::bad_request, "this connection is authenticated");
            if (!co_await send(stream, error)) break;
            continue;
        }
        if (request->method == "link.hello") {
            co_await serve_link(stream, conn, caller, *request);
            co_return;
        }
        spdlog::debug("manager api: conn={} id={} {} ({})", conn.id, id_for_log(id),
                      request->method.substr(0, 64), caller.key_name);
        const ApiRequest& req = *request;
        json answer = co_await router_.dispatch(req, caller);
        if (!co_await send(stream, answer)) break;
    }
}

template <class Stream>
awaitable<void> ApiServer::serve_link(Stream& stream, Connection& conn, const ApiCaller& caller,
                                      const ApiRequest& hello) {
    auto name = hello.params.find("name");
    std::string problem;
    ApiErrorCode code = ApiErrorCode::bad_request;
    if (hello.params.size() != 1 || name == hello.params.end() || !name->is_string() ||
        name->get_ref<const std::string&>().empty() ||
        name->get_ref<const std::string&>().size() > kMaxManagerNameLength) {
        problem = "link.hello takes one parameter, \"name\": this manager's name";
    } else if (caller.access != ApiAccess::admin) {
        code = ApiErrorCode::forbidden;
        problem =
            fmt::format("the key '{}' may only read; a link needs an admin key", caller.key_name);
    } else if (name->get_ref<const std::string&>() == handler_.manager_name()) {
        problem = "a manager cannot link to itself";
    } else {
        const std::string& n = name->get_ref<const std::string&>();
        bool known = std::any_of(config_.peers.begin(), config_.peers.end(),
                                 [&n](const ManagerPeer& p) { return p.name == n; });
        if (!known) {
            code = ApiErrorCode::forbidden;
            problem = fmt::format("no [[manager.peers]] entry is named '{}'", n);
        }
    }
    if (!problem.empty()) {
        spdlog::warn("manager api: conn={} ({}, {}): link.hello refused: {}", conn.id,
                     caller.key_name, conn.peer, problem);
        json error = make_error(hello.id, code, problem);
        co_await send(stream, error);
        co_return;
    }
    const std::string peer_name = name->get<std::string>();
    json ok = make_ok(hello.id, {{"manager", handler_.manager_name()}, {"version", kVersion}});
    if (!co_await send(stream, ok)) co_return;

    LinkSettings settings;
    settings.ping_interval = std::chrono::milliseconds(config_.link_ping_interval_ms);
    settings.timeout = std::chrono::milliseconds(config_.link_timeout_ms);
    settings.write_timeout = read_timeout_;
    settings.max_in_flight = config_.link_max_in_flight;
    auto link = std::make_shared<LinkSession<Stream>>(stream, conn.id, peer_name, caller, router_,
                                                      settings);
    links_.add(link);
    if (drain_.stopping()) link->close("the manager is stopping");
    co_await link->run();
    links_.remove(*link);
}

}  // namespace parley
