// LeanWsConnection: Parley's own WebSocket engine for every plain (non-TLS) socket — the
// common case behind a TLS-terminating proxy, and the one that holds tens of thousands of
// sockets. RFC 6455 framing (common/ws_frame.hpp) directly on the TCP socket:
// - an idle socket holds no read buffer, no coroutine frame and no pending read operation:
//   a plain completion handler waits for readiness, then a coroutine reads what is there,
//   handles every complete frame in it and ends, leaving the wait again;
// - queued frames go out together, headers and payloads gathered into one writev, so a socket
//   that receives many messages at once costs one system call, not one per message. The write
//   starts from a handler posted when the first frame is queued, so everything queued by the
//   current turn of the event loop joins it; its buffers come from a per-thread free list and
//   go back there once written, so neither a write nor an idle socket holds an allocation;
// - send() on the connection's own thread (a fan-out running there) queues in place instead of
//   posting one handler per frame;
// - one timer per socket pings a silent peer after half of websocket.idle_timeout_ms and
//   closes it after the whole of it.
// - permessage-deflate (RFC 7692, server/api/ws_deflate.hpp) when the server allows it and the
//   client offers it: text frames of 64 bytes or more go out compressed, a shared broadcast
//   frame compressed once for every compressing socket; compressed messages are inflated
//   within websocket.max_frame_bytes, by a per-socket inflater only for a client that keeps
//   its context (else the thread's).
// Protocol errors close with 1002, oversized messages with 1009 (also once inflated), invalid
// UTF-8 or compressed data with 1007, binary messages with 1003. Everything above the framing
// (features, rate limit, registry) is WsSession's, shared with the Beast engine used for TLS.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/ws_frame.hpp"
#include "server/api/http_types.hpp"
#include "server/api/ws_deflate.hpp"
#include "server/api/ws_session.hpp"

namespace parley {

class LeanWsConnection final : public WsSession,
                               public std::enable_shared_from_this<LeanWsConnection> {
  public:
    LeanWsConnection(tcp::socket socket, std::string account_id, std::string session_id,
                     WsContext context);

    // Answers the upgrade `request` and serves the socket until it closes. Call once.
    void start(HttpRequest request);

    ~LeanWsConnection() override;

    void send(std::shared_ptr<const std::string> frame) override;
    void close(std::uint16_t code, std::string reason) override;

    // The gathered buffers of one write (defined in the .cpp; public for its free list).
    struct WriteBatch;
    // The sockets that queued frames in the current turn of an event-loop thread (.cpp).
    struct PendingWrites;
    // The sockets of a thread whose next write waits out websocket.write_pace_us (.cpp).
    struct PacedWrites;

  private:
    static std::unique_ptr<WriteBatch> take_batch();
    static void give_back(std::unique_ptr<WriteBatch> batch);
    struct Out {
        std::shared_ptr<const std::string> payload;
        wsframe::Opcode op;
        bool compressed = false;
    };
    // The upgrade's answer and registration; then the socket waits for data.
    awaitable<void> handshake(std::shared_ptr<LeanWsConnection> self, HttpRequest request);
    // Waits for the socket to become readable with a plain completion handler: an idle socket
    // holds no coroutine frame and no buffer, only this wait.
    void wait_readable();
    // Once readable: reads and handles every complete frame (one at a time), then waits again;
    // a partial frame keeps it reading.
    awaitable<void> read_ready(std::shared_ptr<LeanWsConnection> self);
    // The end of the socket (read error, close handshake done, or a protocol error): closes
    // it and unregisters once.
    void finish(const boost::system::error_code& ec);
    // True when the caller runs on this connection's executor (its strand, or the context's
    // one thread): state may then be touched in place.
    bool on_own_thread();
    void deliver(std::shared_ptr<const std::string> frame);
    // Writes the queued frames now, or, when this socket was written less than
    // websocket.write_pace_us before `now`, once that has passed (with what queued meanwhile).
    void start_write(std::chrono::steady_clock::time_point now);
    // The timer of a round of paced sockets fired: writes each, on its own executor.
    static void write_paced(PacedWrites& paced);
    // Writes the queued frames, a batch at a time, in place while the socket takes them.
    void write_next();
    // Waits until the socket takes the rest of the batch.
    void write_some();
    // Takes `n` written bytes off the batch; true when all of it is written.
    bool consume_written(std::size_t n);
    // The batch is written (or failed): gives it back; true when the next batch may start.
    bool batch_written(const boost::system::error_code& ec);
    // Handles one parsed frame; false when reading should stop.
    awaitable<bool> on_frame(std::shared_ptr<Client> self, wsframe::Parsed frame);
    void close_with(std::uint16_t code, std::string_view reason) override;
    void enqueue(Out out);
    // A text frame as this socket sends it: compressed when permessage-deflate was agreed and
    // that makes it smaller.
    Out text_out(std::shared_ptr<const std::string> frame) const;
    // The inflater of this socket's next compressed message.
    wsdeflate::WsInflater& inflater();
    void arm_idle_timer();
    void shut();

    tcp::socket socket_;
    SmallFifo<Out> queue_;
    std::unique_ptr<WriteBatch> batch_;  // only while a write is in flight
    std::string buffer_;   // unparsed bytes; empty (and unallocated) while the socket is idle
    std::string message_;  // a fragmented message being assembled
    // Made at the first compressed message of a client that keeps its context.
    std::unique_ptr<wsdeflate::WsInflater> inflater_;
    bool registered_ = false;  // opened() succeeded and closed() is still to come
    bool in_message_ = false;
    bool message_compressed_ = false;  // the message being assembled had RSV1
    // permessage-deflate, when agreed: the window this server compresses with (0: not agreed)
    // and what the client compresses with.
    std::uint8_t deflate_bits_ = 0;
    std::uint8_t client_bits_ = 15;
    bool client_keeps_context_ = false;
    bool writing_ = false;
    bool closing_ = false;  // our close frame is queued (or sent)
    bool close_written_ = false;
    bool peer_closed_ = false;  // the peer's close frame arrived
    bool broken_ = false;       // a protocol error: the rest of the stream is ignored
    bool ping_sent_ = false;
    std::chrono::steady_clock::time_point last_read_;
    std::chrono::steady_clock::time_point last_write_;  // when the last write started
    net::steady_timer timer_;  // idle pings and timeout, then the close deadline
};

}  // namespace parley
