#include "server/cluster/primary_connections.hpp"

#include <sys/socket.h>

#include <cerrno>

#include <boost/asio/redirect_error.hpp>

namespace parley {

namespace {

// An idle keep-alive connection must have nothing to read: end-of-stream means the primary
// closed it, bytes mean it said something unasked (an error before closing).
bool looks_open(beast::tcp_stream& stream) {
    char byte = 0;
    const auto n = ::recv(stream.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

PrimaryConnections::PrimaryConnections(std::string host, std::string port, std::size_t idle_max)
    : host_(std::move(host)), port_(std::move(port)), idle_max_(idle_max) {}

std::unique_ptr<beast::tcp_stream> PrimaryConnections::take_idle() {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex_);
    while (!idle_.empty()) {
        Idle idle = std::move(idle_.back());
        idle_.pop_back();
        // The most recently used first: older ones are more likely closed by the primary.
        if (now - idle.since <= kMaxIdle && looks_open(*idle.stream)) return std::move(idle.stream);
    }
    return nullptr;
}

awaitable<PrimaryConnections::Lease> PrimaryConnections::acquire(
    std::chrono::milliseconds timeout) {
    Lease lease;
    lease.stream = take_idle();
    if (lease.stream) {
        lease.reused = true;
        co_return lease;
    }
    auto executor = co_await net::this_coro::executor;
    boost::system::error_code ec;
    tcp::resolver resolver(executor);
    auto endpoints =
        co_await resolver.async_resolve(host_, port_, net::redirect_error(use_awaitable, ec));
    if (ec) {
        lease.error = "resolving " + host_ + ": " + ec.message();
        co_return lease;
    }
    auto stream = std::make_unique<beast::tcp_stream>(executor);
    stream->expires_after(timeout);
    co_await stream->async_connect(endpoints, net::redirect_error(use_awaitable, ec));
    if (ec) {
        lease.error = "connecting to " + host_ + ":" + port_ + ": " + ec.message();
        co_return lease;
    }
    stream->socket().set_option(tcp::no_delay(true), ec);
    connections_.fetch_add(1);
    lease.stream = std::move(stream);
    co_return lease;
}

void PrimaryConnections::release(std::unique_ptr<beast::tcp_stream> stream) {
    stream->expires_never();
    std::lock_guard lock(mutex_);
    if (idle_.size() < idle_max_)
        idle_.push_back({std::move(stream), std::chrono::steady_clock::now()});
}

}  // namespace parley
