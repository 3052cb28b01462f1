#include "server/api/lean_ws_connection.hpp"

#include <array>
#include <mutex>
#include <span>

#include <spdlog/spdlog.h>

#include "common/executor_as.hpp"
#include "common/utf8.hpp"
#include "common/version.hpp"
#include "server/features/shared_frame.hpp"

namespace parley {

namespace {

constexpr std::size_t kReadChunk = 4096;
constexpr std::size_t kMaxGather = 16;  // frames per writev

std::shared_ptr<const std::string> close_payload(std::uint16_t code, std::string_view reason) {
    std::string p;
    p.push_back(static_cast<char>(code >> 8));
    p.push_back(static_cast<char>(code & 0xFF));
    p.append(reason.substr(0, 120));  // a close frame's payload is at most 125 bytes
    return std::make_shared<const std::string>(std::move(p));
}

// The handshake's answer, or an empty string when the request is not a valid version-13
// upgrade (the caller then answers 400). `deflate`: the permessage-deflate agreement.
std::string handshake_response(const HttpRequest& request,
                               const std::optional<wsdeflate::Agreement>& deflate) {
    if (request.method() != http::verb::get) return {};
    if (request[http::field::sec_websocket_version] != "13") return {};
    std::string_view key = request[http::field::sec_websocket_key];
    if (key.size() != 24) return {};  // base64 of 16 bytes
    std::string out =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Accept: ";
    out += wsframe::accept_key(key);
    if (deflate) {
        out += "\r\nSec-WebSocket-Extensions: ";
        out += deflate->response;
    }
    out += "\r\nServer: parley/";
    out += kVersion;
    out += "\r\n\r\n";
    return out;
}

// The permessage-deflate agreement for `request`, when the server allows compression and the
// client offers something acceptable.
std::optional<wsdeflate::Agreement> deflate_agreement(const HttpRequest& request,
                                                      const WebSocketSettings& settings) {
    if (!settings.permessage_deflate) return std::nullopt;
    std::vector<std::string_view> offers;
    auto [first, last] = request.equal_range(http::field::sec_websocket_extensions);
    for (auto it = first; it != last; ++it)
        offers.push_back(it->value());
    return wsdeflate::negotiate(offers);
}

// The compressed form that a shared frame keeps for every compressing socket: always the
// 15-bit window, so that all of them ask for the same bytes.
std::string deflate_shared(const std::string& text) {
    return wsdeflate::deflate_message(text, 15);
}

}  // namespace

// Room for kMaxGather frames: a header and a payload buffer each, the header bytes, and the
// payloads held until written. About 1 KiB, taken from a per-thread free list.
struct LeanWsConnection::WriteBatch {
    std::array<net::const_buffer, 2 * kMaxGather> buffers;
    std::array<std::shared_ptr<const std::string>, kMaxGather> held;
    std::array<std::uint8_t, kMaxGather * wsframe::kMaxHeader> headers;
    std::size_t buffer_count = 0;
    std::size_t first = 0;  // buffers before this one are written
    std::size_t frames = 0;
    std::size_t data_frames = 0;
    bool has_close = false;
};

namespace {

// Batches of writes finished on this thread, for the next writes started here. Bounded: a
// burst over many sockets leaves at most this many (1 MiB) behind.
constexpr std::size_t kPooledBatches = 1024;

std::vector<std::unique_ptr<LeanWsConnection::WriteBatch>>& batch_pool() {
    thread_local std::vector<std::unique_ptr<LeanWsConnection::WriteBatch>> pool;
    return pool;
}

}  // namespace

std::unique_ptr<LeanWsConnection::WriteBatch> LeanWsConnection::take_batch() {
    auto& pool = batch_pool();
    // (Not make_unique: value-initialising would zero the header bytes for nothing.)
    if (pool.empty()) return std::unique_ptr<WriteBatch>(new WriteBatch);
    auto batch = std::move(pool.back());
    pool.pop_back();
    return batch;
}

void LeanWsConnection::give_back(std::unique_ptr<WriteBatch> batch) {
    for (std::size_t i = 0; i < batch->frames; ++i)
        batch->held[i].reset();
    batch->buffer_count = batch->first = batch->frames = batch->data_frames = 0;
    batch->has_close = false;
    auto& pool = batch_pool();
    if (pool.size() < kPooledBatches) pool.push_back(std::move(batch));
}

LeanWsConnection::~LeanWsConnection() = default;

LeanWsConnection::LeanWsConnection(tcp::socket socket, std::string account_id,
                                   std::string session_id, WsContext context)
    : WsSession(std::move(account_id), std::move(session_id), context),
      socket_(std::move(socket)),
      timer_(socket_.get_executor()) {}

void LeanWsConnection::start(HttpRequest request) {
    net::co_spawn(socket_.get_executor(), handshake(shared_from_this(), std::move(request)),
                  log_ws_failure);
}

bool LeanWsConnection::on_own_thread() {
    const auto& executor = socket_.get_executor();
    if (const auto* strand = executor_as<net::strand<net::io_context::executor_type>>(executor)) {
        return strand->running_in_this_thread();
    }
    // The context's own executor is used only when one thread runs the context
    // (HttpServer::serve_on_one_thread).
    if (const auto* plain = executor_as<net::io_context::executor_type>(executor)) {
        return plain->running_in_this_thread();
    }
    return false;
}

void LeanWsConnection::send(std::shared_ptr<const std::string> frame) {
    if (on_own_thread()) {
        deliver(std::move(frame));
        return;
    }
    net::post(socket_.get_executor(),
              [self = shared_from_this(), frame = std::move(frame)]() mutable {
                  self->deliver(std::move(frame));
              });
}

void LeanWsConnection::deliver(std::shared_ptr<const std::string> frame) {
    if (closing_) return;
    if (send_queue_full(queue_.size())) {
        queue_.clear();
        close_with(close_code::try_again_later, kSlowConsumerReason);
        return;
    }
    enqueue(text_out(std::move(frame)));
}

LeanWsConnection::Out LeanWsConnection::text_out(std::shared_ptr<const std::string> frame) const {
    if (deflate_bits_ == 0 || frame->size() < wsdeflate::kMinCompressed)
        return Out{std::move(frame), wsframe::Opcode::text};
    // A message no longer than the agreed window never refers back further than it, so the
    // shared 15-bit compression serves a client that asked for a smaller window too.
    if (deflate_bits_ == 15 || frame->size() <= (std::size_t{1} << deflate_bits_)) {
        if (const std::string* shared = shared_frame_alternate(frame, deflate_shared)) {
            if (shared->size() >= frame->size())
                return Out{std::move(frame), wsframe::Opcode::text};
            // The bytes live as long as the frame: alias them to its owner.
            return Out{std::shared_ptr<const std::string>(frame, shared), wsframe::Opcode::text,
                       true};
        }
    }
    auto bytes = wsdeflate::deflate_message(*frame, deflate_bits_);
    if (bytes.size() >= frame->size()) return Out{std::move(frame), wsframe::Opcode::text};
    return Out{std::make_shared<const std::string>(std::move(bytes)), wsframe::Opcode::text, true};
}

wsdeflate::WsInflater& LeanWsConnection::inflater() {
    if (!client_keeps_context_) return wsdeflate::WsInflater::for_this_thread();
    if (!inflater_) inflater_ = std::make_unique<wsdeflate::WsInflater>(client_bits_, true);
    return *inflater_;
}

void LeanWsConnection::close(std::uint16_t code, std::string reason) {
    net::post(socket_.get_executor(),
              [self = shared_from_this(), code, reason = std::move(reason)] {
                  self->close_with(code, reason);
              });
}

void LeanWsConnection::close_with(std::uint16_t code, std::string_view reason) {
    if (closing_) return;
    closing_ = true;
    enqueue(Out{close_payload(code, reason), wsframe::Opcode::close});
    // A peer that never answers our close frame is cut off after close_timeout_ms.
    timer_.expires_after(std::chrono::milliseconds(ctx_.settings.close_timeout_ms));
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec) self->shut();
    });
}

void LeanWsConnection::shut() {
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
}

// The sockets of one event-loop thread that queued frames during the current turn, written by
// one handler after it: a fan-out to N sockets posts one handler, not N. Owned by that handler
// (the thread only keeps a weak reference), so a context destroyed before it runs releases the
// sockets with it.
struct LeanWsConnection::PendingWrites {
    std::vector<std::shared_ptr<LeanWsConnection>> connections;
};

namespace {

// This thread's current round of T (PendingWrites, PacedWrites), kept weakly: the handler that
// will write the round owns it.
template <typename T>
std::weak_ptr<T>& this_threads_round() {
    thread_local std::weak_ptr<T> round;
    return round;
}

}  // namespace

void LeanWsConnection::enqueue(Out out) {
    queue_.push(std::move(out));
    if (writing_) return;
    writing_ = true;
    // Not in place: what else this turn of the event loop queues goes into the same writev.
    const auto& executor = socket_.get_executor();
    const auto* plain = executor_as<net::io_context::executor_type>(executor);
    if (plain == nullptr || !plain->running_in_this_thread()) {
        // A strand (several threads run the context): a handler of this socket's own.
        net::post(executor, [self = shared_from_this()] {
            self->start_write(std::chrono::steady_clock::now());
        });
        return;
    }
    std::shared_ptr<PendingWrites> pending = this_threads_round<PendingWrites>().lock();
    if (!pending) {
        pending = std::make_shared<PendingWrites>();
        this_threads_round<PendingWrites>() = pending;
        net::post(*plain, [pending] {
            // Sockets queued from here on belong to the next turn.
            this_threads_round<PendingWrites>().reset();
            const auto now = std::chrono::steady_clock::now();
            for (const auto& connection : pending->connections)
                connection->start_write(now);
            pending->connections.clear();
        });
    }
    pending->connections.push_back(shared_from_this());
}

// The sockets of one thread whose writes wait out websocket.write_pace_us, written together
// when its timer fires. Like PendingWrites, owned by the timer's handler while it waits, so a
// context destroyed first releases the sockets with it; made again for the next round. With
// several threads the handler may run on another thread than the one that keeps the round, so
// joining and firing are under a lock, and a round that has fired takes no one.
struct LeanWsConnection::PacedWrites {
    explicit PacedWrites(const net::any_io_executor& executor) : timer(executor) {}
    net::steady_timer timer;
    std::mutex mutex;
    bool fired = false;
    std::vector<std::shared_ptr<LeanWsConnection>> connections;
};

void LeanWsConnection::start_write(std::chrono::steady_clock::time_point now) {
    const std::chrono::microseconds pace(ctx_.settings.write_pace_us);
    if (now - last_write_ >= pace || closing_) {
        last_write_ = now;
        write_next();
        return;
    }
    // Written less than a pace ago: what arrives meanwhile joins this write. One timer per
    // thread serves every socket waiting; it fires a pace after the first of them waited, so no
    // frame waits longer than one pace.
    for (;;) {
        std::shared_ptr<PacedWrites> paced = this_threads_round<PacedWrites>().lock();
        if (!paced) {
            paced = std::make_shared<PacedWrites>(socket_.get_executor());
            this_threads_round<PacedWrites>() = paced;
            paced->timer.expires_at(now + pace);
            paced->timer.async_wait(
                [paced](const boost::system::error_code&) { write_paced(*paced); });
        }
        std::lock_guard lock(paced->mutex);
        if (!paced->fired) {
            paced->connections.push_back(shared_from_this());
            return;
        }
        this_threads_round<PacedWrites>().reset();
    }
}

void LeanWsConnection::write_paced(PacedWrites& paced) {
    std::vector<std::shared_ptr<LeanWsConnection>> connections;
    {
        std::lock_guard lock(paced.mutex);
        paced.fired = true;
        connections.swap(paced.connections);
    }
    const auto at = std::chrono::steady_clock::now();
    for (auto& connection : connections) {
        if (connection->on_own_thread()) {
            connection->last_write_ = at;
            connection->write_next();
            continue;
        }
        auto executor = connection->socket_.get_executor();
        net::post(executor, [connection = std::move(connection)] {
            connection->last_write_ = std::chrono::steady_clock::now();
            connection->write_next();
        });
    }
}

void LeanWsConnection::write_next() {
    // Each batch is first written in place: the socket is non-blocking, and a send buffer with
    // room takes a whole batch in one sendmsg, with no operation allocated and no completion
    // posted back to this loop. Only what the kernel does not take at once waits for the socket
    // to become writable (write_some()).
    while (!queue_.empty() && !close_written_) {
        batch_ = take_batch();
        WriteBatch& b = *batch_;
        while (b.frames < kMaxGather && !queue_.empty() && !b.has_close) {
            Out out = queue_.pop();
            std::uint8_t* h = b.headers.data() + b.frames * wsframe::kMaxHeader;
            std::size_t n = wsframe::encode_header(h, out.op, out.payload->size(), out.compressed);
            b.buffers[b.buffer_count++] = net::const_buffer(h, n);
            if (!out.payload->empty()) b.buffers[b.buffer_count++] = net::buffer(*out.payload);
            if (out.op == wsframe::Opcode::text) ++b.data_frames;
            b.has_close = out.op == wsframe::Opcode::close;
            b.held[b.frames++] = std::move(out.payload);
        }
        boost::system::error_code ec;
        std::size_t n = socket_.write_some(
            std::span<const net::const_buffer>(b.buffers.data(), b.buffer_count), ec);
        if (ec == net::error::would_block || ec == net::error::try_again) {
            ec = {};
            n = 0;
        }
        if (!ec && !consume_written(n)) {
            write_some();
            return;
        }
        if (!batch_written(ec)) return;
    }
    writing_ = false;
}

bool LeanWsConnection::consume_written(std::size_t n) {
    WriteBatch& b = *batch_;
    while (n > 0) {
        net::const_buffer& front = b.buffers[b.first];
        if (n < front.size()) {
            front += n;
            return false;
        }
        n -= front.size();
        ++b.first;
    }
    return b.first == b.buffer_count;
}

void LeanWsConnection::write_some() {
    // async_write_some rather than async_write: its operation is a fraction of the size (no
    // copy of a 64-entry buffer array), so the per-thread handler memory recycles it.
    WriteBatch& b = *batch_;
    socket_.async_write_some(
        std::span<const net::const_buffer>(b.buffers.data() + b.first, b.buffer_count - b.first),
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
            if (!ec && !self->consume_written(n)) {
                self->write_some();
                return;
            }
            if (self->batch_written(ec)) self->write_next();
        });
}

bool LeanWsConnection::batch_written(const boost::system::error_code& ec) {
    std::size_t data_frames = batch_->data_frames;
    bool had_close = batch_->has_close;
    give_back(std::move(batch_));
    if (!ec) {
        ctx_.metrics.sent.inc(static_cast<double>(data_frames));
        if (had_close) close_written_ = true;
        if (!close_written_ && !queue_.empty()) return true;
    }
    writing_ = false;
    if (ec) {
        queue_.clear();
        closing_ = true;
        shut();
    } else if (close_written_) {
        queue_.clear();
        // Both close frames exchanged: the server closes the TCP connection (RFC 6455 7.1.1).
        if (peer_closed_) shut();
    }
    return false;
}

void LeanWsConnection::arm_idle_timer() {
    if (closing_) return;
    auto idle = std::chrono::milliseconds(ctx_.settings.idle_timeout_ms);
    auto silent = std::chrono::steady_clock::now() - last_read_;
    auto wait = silent < idle / 2 ? idle / 2 - silent : idle - silent;
    timer_.expires_after(std::chrono::duration_cast<std::chrono::milliseconds>(wait) +
                         std::chrono::milliseconds(1));
    timer_.async_wait([self = shared_from_this(), idle](const boost::system::error_code& ec) {
        if (ec || self->closing_) return;
        auto silent_now = std::chrono::steady_clock::now() - self->last_read_;
        if (silent_now >= idle) {
            spdlog::debug("ws {} account {}: idle timeout", self->id(), self->account_id());
            self->shut();
            return;
        }
        if (silent_now >= idle / 2 && !self->ping_sent_) {
            self->ping_sent_ = true;
            self->enqueue(Out{std::make_shared<const std::string>(), wsframe::Opcode::ping});
        }
        self->arm_idle_timer();
    });
}

awaitable<bool> LeanWsConnection::on_frame(std::shared_ptr<Client> self, wsframe::Parsed f) {
    using wsframe::Opcode;
    switch (f.op) {
        case Opcode::ping:
            if (!closing_) {
                enqueue(
                    Out{std::make_shared<const std::string>(f.payload, f.length), Opcode::pong});
            }
            co_return true;
        case Opcode::pong:
            co_return true;
        case Opcode::close: {
            peer_closed_ = true;
            if (!closing_) {
                // Echo the peer's code (RFC 6455 5.5.1) when it is a valid one; the TCP close
                // follows our frame.
                close_with(wsframe::close_reply_code(std::string_view(f.payload, f.length)), "");
            } else if (close_written_) {
                shut();
            }
            co_return false;
        }
        case Opcode::binary:
        case Opcode::text:
            if (in_message_) {
                close_with(close_code::protocol_error, "a new message inside a fragmented one");
                co_return false;
            }
            if (f.op == Opcode::binary) {
                close_with(close_code::unsupported_data, "binary frames are not supported");
                co_return false;
            }
            if (!f.fin) {
                in_message_ = true;
                message_compressed_ = f.compressed;
                message_.assign(f.payload, f.length);
                co_return true;
            }
            break;
        case Opcode::continuation:
            if (!in_message_) {
                close_with(close_code::protocol_error, "a continuation without a message");
                co_return false;
            }
            if (message_.size() + f.length >
                static_cast<std::size_t>(ctx_.settings.max_frame_bytes)) {
                close_with(close_code::too_big, "message too big");
                co_return false;
            }
            message_.append(f.payload, f.length);
            if (!f.fin) co_return true;
            break;
    }
    std::string whole;
    std::string_view text(f.payload, f.length);
    bool compressed = f.compressed;
    if (in_message_) {
        whole = std::move(message_);
        std::string().swap(message_);
        in_message_ = false;
        compressed = message_compressed_;
        text = whole;
    }
    std::vector<char> inflated;
    if (compressed) {
        // Bounded by max_frame_bytes as it inflates: a small frame that would inflate to
        // gigabytes is refused once it passes the limit, with no more than the limit held.
        auto result = inflater().inflate(
            text, static_cast<std::size_t>(ctx_.settings.max_frame_bytes), inflated);
        if (result == wsdeflate::WsInflater::Result::too_big) {
            spdlog::info("ws {} account {}: compressed message inflates past {} bytes", id(),
                         account_id(), ctx_.settings.max_frame_bytes);
            close_with(close_code::too_big, "message too big");
            co_return false;
        }
        if (result == wsdeflate::WsInflater::Result::bad_data) {
            close_with(close_code::invalid_payload, "invalid compressed data");
            co_return false;
        }
        text = std::string_view(inflated.data(), inflated.size());
    }
    if (utf8_code_points(text) < 0) {
        close_with(close_code::invalid_payload, "text frames must be valid UTF-8");
        co_return false;
    }
    if (closing_) co_return true;  // waiting for the peer's close frame
    co_await handle_text(self, text);
    co_return true;
}

awaitable<void> LeanWsConnection::handshake(std::shared_ptr<LeanWsConnection> self,
                                            HttpRequest request) {
    boost::system::error_code ec;
    // write_next() writes in place and must never block the loop.
    socket_.non_blocking(true, ec);
    if (ec) {
        spdlog::warn("ws {}: cannot make the socket non-blocking: {}", id(), ec.message());
        shut();
        co_return;
    }
    auto deflate = deflate_agreement(request, ctx_.settings);
    std::string answer = handshake_response(request, deflate);
    if (answer.empty()) {
        answer =
            "HTTP/1.1 400 Bad Request\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n";
        co_await net::async_write(socket_, net::buffer(answer),
                                  net::redirect_error(use_awaitable, ec));
        shut();
        co_return;
    }
    co_await net::async_write(socket_, net::buffer(answer), net::redirect_error(use_awaitable, ec));
    if (ec) co_return;
    if (deflate) {
        deflate_bits_ = static_cast<std::uint8_t>(deflate->server_window_bits);
        client_bits_ = static_cast<std::uint8_t>(deflate->client_window_bits);
        client_keeps_context_ = !deflate->client_no_context_takeover;
    }
    registered_ = opened(self, request.target());
    last_read_ = std::chrono::steady_clock::now();
    if (registered_) arm_idle_timer();
    // This frame ends here, the request with it: an idle socket holds only the wait below.
    wait_readable();
}

void LeanWsConnection::wait_readable() {
    socket_.async_wait(
        tcp::socket::wait_read, [self = shared_from_this()](const boost::system::error_code& ec) {
            if (ec) {
                self->finish(ec);
                return;
            }
            net::co_spawn(self->socket_.get_executor(), self->read_ready(self), log_ws_failure);
        });
}

awaitable<void> LeanWsConnection::read_ready(std::shared_ptr<LeanWsConnection> self) {
    std::shared_ptr<Client> client = self;
    boost::system::error_code ec;
    for (;;) {
        // Read in place: the socket is non-blocking, and this runs when it was readable (or
        // after handling what it read), so no operation is queued and no completion posted.
        std::size_t held = buffer_.size();
        buffer_.resize(held + kReadChunk);
        std::size_t n = socket_.read_some(net::buffer(buffer_.data() + held, kReadChunk), ec);
        buffer_.resize(held + n);
        if (ec == net::error::would_block || ec == net::error::try_again) {
            // Nothing more for now: wait again, keeping only a partial frame.
            if (buffer_.empty()) std::string().swap(buffer_);
            wait_readable();
            co_return;
        }
        if (ec) break;
        last_read_ = std::chrono::steady_clock::now();
        ping_sent_ = false;
        if (broken_) {
            // The rest of the stream is ignored; read it as it comes, a turn of the loop each.
            std::string().swap(buffer_);
            wait_readable();
            co_return;
        }
        std::size_t offset = 0;
        bool keep_reading = true;
        while (keep_reading) {
            auto f = wsframe::parse_client_frame(
                buffer_.data() + offset, buffer_.size() - offset,
                static_cast<std::uint64_t>(ctx_.settings.max_frame_bytes), deflate_bits_ != 0);
            if (f.status == wsframe::Parsed::need_more) break;
            if (f.status == wsframe::Parsed::error) {
                broken_ = true;
                close_with(f.close_code, f.why);
                break;
            }
            offset += f.consumed;
            keep_reading = co_await on_frame(client, f);
        }
        if (broken_ || peer_closed_) {
            buffer_.clear();
        } else {
            buffer_.erase(0, offset);
        }
        if (peer_closed_ && close_written_) break;
        if (!keep_reading && !closing_) break;
        if (buffer_.empty()) {
            // Everything read is handled: back to waiting without a frame or a buffer.
            std::string().swap(buffer_);
            wait_readable();
            co_return;
        }
    }
    finish(ec);
}

void LeanWsConnection::finish(const boost::system::error_code& ec) {
    closing_ = true;
    queue_.clear();
    std::string().swap(buffer_);
    timer_.cancel();
    shut();
    if (registered_) {
        registered_ = false;
        closed(shared_from_this(), ec ? ec.message() : "closed");
    }
}

}  // namespace parley
