#include "botclient/load/load_socket.hpp"

#include <cstring>
#include <deque>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "common/crypto.hpp"
#include "common/ws_frame.hpp"

namespace parley {

namespace {

// A message above this ends the connection (the server's own limit is far below it).
constexpr std::uint64_t kMaxMessage = 16u << 20;
// What the framed socket receives into at first (an idle benchmark holds thousands of them);
// it doubles when unread bytes fill it: a larger frame, or a reader that fell behind.
constexpr std::size_t kReadBuffer = 4 * 1024;
// The upgrade answer's headers must fit in this.
constexpr std::uint32_t kMaxUpgradeHeaders = 16 * 1024;

// Resolves and connects within `timeout`, with Nagle's algorithm off; the stream then has no
// deadline.
awaitable<void> connect(beast::tcp_stream& stream, const WsUrl& url, std::chrono::seconds timeout) {
    tcp::resolver resolver(stream.get_executor());
    auto endpoints = co_await resolver.async_resolve(url.host, url.port, use_awaitable);
    stream.expires_after(timeout);
    co_await stream.async_connect(endpoints, use_awaitable);
    stream.socket().set_option(tcp::no_delay(true));
    stream.expires_never();
}

std::string host_header(const WsUrl& url) {
    return url.host + ":" + url.port;
}

// RFC 6455 on the bare socket.
class FramedSocket : public LoadSocket, public std::enable_shared_from_this<FramedSocket> {
  public:
    explicit FramedSocket(net::io_context& ioc) : stream_(ioc), in_(kReadBuffer) {
        std::string seed = random_bytes(sizeof mask_state_);
        std::memcpy(&mask_state_, seed.data(), sizeof mask_state_);
        mask_state_ |= 1;  // xorshift needs a state that is not zero
    }

    awaitable<void> open(const WsUrl& url, std::chrono::seconds timeout) override {
        co_await connect(stream_, url, timeout);
        std::string key = base64_encode(random_bytes(16));
        http::request<http::empty_body> req{http::verb::get, url.target, 11};
        req.set(http::field::host, host_header(url));
        req.set(http::field::upgrade, "websocket");
        req.set(http::field::connection, "Upgrade");
        req.set(http::field::sec_websocket_key, key);
        req.set(http::field::sec_websocket_version, "13");
        stream_.expires_after(timeout);
        co_await http::async_write(stream_, req, use_awaitable);
        beast::flat_buffer head;
        http::response_parser<http::empty_body> parser;
        parser.header_limit(kMaxUpgradeHeaders);
        parser.skip(true);  // a 101 answer has no body; the frames after it are the socket's
        co_await http::async_read_header(stream_, head, parser, use_awaitable);
        stream_.expires_never();
        const auto& res = parser.get();
        if (res.result() != http::status::switching_protocols)
            throw std::runtime_error(fmt::format("upgrade refused: HTTP {}", res.result_int()));
        if (!beast::iequals(res[http::field::upgrade], "websocket") ||
            res[http::field::sec_websocket_accept] != wsframe::accept_key(key))
            throw std::runtime_error("upgrade answer without a valid Sec-WebSocket-Accept");
        // Frames that came in the same receive as the answer are the first to read.
        auto rest = head.cdata();
        if (rest.size() > in_.size()) in_.resize(rest.size());
        std::memcpy(in_.data(), rest.data(), rest.size());
        end_ = rest.size();
    }

    awaitable<std::string_view> read() override {
        for (;;) {
            wsframe::Parsed f =
                wsframe::parse_server_frame(in_.data() + begin_, end_ - begin_, kMaxMessage);
            if (f.status == wsframe::Parsed::error)
                throw std::runtime_error(fmt::format("protocol error: {}", f.why));
            if (f.status == wsframe::Parsed::need_more) {
                co_await receive();
                continue;
            }
            begin_ += f.consumed;
            std::string_view payload(f.payload, f.length);
            switch (f.op) {
                case wsframe::Opcode::ping:
                    queue(wsframe::Opcode::pong, payload);
                    continue;
                case wsframe::Opcode::pong:
                    continue;
                case wsframe::Opcode::close:
                    throw std::runtime_error("closed by the server");
                case wsframe::Opcode::continuation:
                    if (!fragmented_)
                        throw std::runtime_error("protocol error: stray continuation");
                    if (message_.size() + payload.size() > kMaxMessage)
                        throw std::runtime_error("message too big");
                    message_.append(payload);
                    if (!f.fin) continue;
                    fragmented_ = false;
                    co_return std::string_view(message_);
                default:
                    if (fragmented_)
                        throw std::runtime_error("protocol error: interleaved message");
                    if (f.fin) co_return payload;
                    fragmented_ = true;
                    message_.assign(payload);
                    continue;
            }
        }
    }

    void send(std::string text) override { queue(wsframe::Opcode::text, text); }

  private:
    // One receive after the unread bytes, moved to the front; the buffer grows only when a
    // frame does not fit. Ends the connection on EOF or an error.
    awaitable<void> receive() {
        if (begin_ > 0) {
            std::memmove(in_.data(), in_.data() + begin_, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
        }
        if (end_ == in_.size()) in_.resize(in_.size() * 2);
        end_ += co_await stream_.socket().async_read_some(
            net::buffer(in_.data() + end_, in_.size() - end_), use_awaitable);
    }

    void queue(wsframe::Opcode op, std::string_view payload) {
        std::uint8_t mask[4];
        std::uint32_t bits = next_mask();
        std::memcpy(mask, &bits, 4);
        std::uint8_t header[wsframe::kMaxClientHeader];
        std::size_t n = wsframe::encode_client_header(header, op, payload.size(), mask);
        pending_.append(reinterpret_cast<const char*>(header), n);
        std::size_t at = pending_.size();
        pending_.append(payload);
        wsframe::apply_mask(pending_.data() + at, payload.size(), mask);
        if (writing_) return;
        writing_ = true;
        net::co_spawn(stream_.get_executor(), write_all(shared_from_this()), net::detached);
    }

    // Writes what is queued, as one write a turn, until nothing is left.
    static awaitable<void> write_all(std::shared_ptr<FramedSocket> self) {
        std::string out;
        try {
            while (!self->pending_.empty()) {
                std::swap(out, self->pending_);
                co_await net::async_write(self->stream_.socket(), net::buffer(out), use_awaitable);
                out.clear();
            }
        } catch (const std::exception&) {
            self->pending_.clear();
            boost::system::error_code ignored;
            self->stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
        }
        self->writing_ = false;
    }

    // Masking keys from xorshift64*, seeded from the system's random source: each frame gets
    // its own key, as RFC 6455 asks, without a system call per frame.
    std::uint32_t next_mask() {
        mask_state_ ^= mask_state_ >> 12;
        mask_state_ ^= mask_state_ << 25;
        mask_state_ ^= mask_state_ >> 27;
        return static_cast<std::uint32_t>((mask_state_ * 0x2545F4914F6CDD1DULL) >> 32);
    }

    beast::tcp_stream stream_;
    std::vector<char> in_;
    std::size_t begin_ = 0;  // the first unread byte of in_
    std::size_t end_ = 0;    // one past the last received byte
    std::string message_;    // a fragmented message, as it is put together
    bool fragmented_ = false;
    std::string pending_;  // framed and masked, not yet handed to a write
    bool writing_ = false;
    std::uint64_t mask_state_ = 0;
};

// Beast's stream, for permessage-deflate.
class BeastSocket : public LoadSocket, public std::enable_shared_from_this<BeastSocket> {
  public:
    explicit BeastSocket(net::io_context& ioc) : ws_(ioc) {}

    awaitable<void> open(const WsUrl& url, std::chrono::seconds timeout) override {
        co_await connect(beast::get_lowest_layer(ws_), url, timeout);
        ws_.set_option(
            websocket::stream_base::timeout{timeout, websocket::stream_base::none(), false});
        websocket::permessage_deflate pmd;
        pmd.client_enable = true;
        ws_.set_option(pmd);
        co_await ws_.async_handshake(host_header(url), url.target, use_awaitable);
        ws_.text(true);
    }

    awaitable<std::string_view> read() override {
        buffer_.consume(buffer_.size());
        co_await ws_.async_read(buffer_, use_awaitable);
        auto data = buffer_.cdata();
        co_return std::string_view(static_cast<const char*>(data.data()), data.size());
    }

    void send(std::string text) override {
        out_.push_back(std::move(text));
        if (writing_) return;
        writing_ = true;
        net::co_spawn(ws_.get_executor(), write_all(shared_from_this()), net::detached);
    }

  private:
    static awaitable<void> write_all(std::shared_ptr<BeastSocket> self) {
        try {
            while (!self->out_.empty()) {
                co_await self->ws_.async_write(net::buffer(self->out_.front()), use_awaitable);
                self->out_.pop_front();
            }
        } catch (const std::exception&) {
            self->out_.clear();
        }
        self->writing_ = false;
    }

    websocket::stream<beast::tcp_stream> ws_;
    beast::flat_buffer buffer_;
    std::deque<std::string> out_;
    bool writing_ = false;
};

}  // namespace

std::shared_ptr<LoadSocket> make_load_socket(net::io_context& ioc, bool deflate) {
    if (deflate) return std::make_shared<BeastSocket>(ioc);
    return std::make_shared<FramedSocket>(ioc);
}

}  // namespace parley
