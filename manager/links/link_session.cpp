#include "manager/links/link_session.hpp"

#include <spdlog/spdlog.h>

#include "common/frame_codec.hpp"
#include "common/logging.hpp"
#include "manager/protocol/api_protocol.hpp"
#include "manager/protocol/api_streams.hpp"

namespace parley {

namespace {

void log_task_exception(std::exception_ptr e, const char* what) {
    if (!e) return;
    spdlog::error("manager link: {} failed: {}", what, exception_what(e));
}

std::int64_t now_unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

template <class Stream>
LinkSession<Stream>::LinkSession(Stream& stream, std::uint64_t id, std::string peer_name,
                                 ApiCaller caller, RequestDispatcher& dispatcher,
                                 LinkSettings settings)
    : stream_(stream),
      executor_(stream.get_executor()),
      id_(id),
      peer_name_(std::move(peer_name)),
      caller_(std::move(caller)),
      dispatcher_(dispatcher),
      settings_(settings),
      last_received_(std::chrono::steady_clock::now()),
      heartbeat_timer_(stream.get_executor()) {}

template <class Stream>
awaitable<std::string> LinkSession<Stream>::run() {
    auto self = this->shared_from_this();
    beast::get_lowest_layer(stream_).expires_never();  // the heartbeat is the clock from here on
    last_received_ = std::chrono::steady_clock::now();
    heartbeat_running_ = true;
    net::co_spawn(executor_, heartbeat(self),
                  [](std::exception_ptr e) { log_task_exception(e, "heartbeat"); });
    spdlog::info("link {} to '{}' up ({})", id_, peer_name_, caller_.peer);
    std::string reason;
    while (!closed_) {
        FrameResult frame = co_await read_frame(stream_, kMaxFrameAfterAuth);
        if (frame.status != FrameStatus::ok) {
            switch (frame.status) {
                case FrameStatus::closed:
                    reason = "closed by the peer";
                    break;
                case FrameStatus::truncated:
                    reason = "the stream ended inside a frame";
                    break;
                case FrameStatus::too_large:
                    reason = fmt::format("the peer announced a frame of {} bytes (limit {})",
                                         frame.announced, kMaxFrameAfterAuth);
                    break;
                default:
                    reason = frame.error.message();
            }
            break;
        }
        last_received_ = std::chrono::steady_clock::now();
        on_frame(frame.payload);
    }
    shutdown(reason.empty() ? std::string("closed") : reason);
    // The writer and the heartbeat use the stream: let them see the close and finish.
    net::steady_timer pause(executor_);
    while (writing_ || heartbeat_running_) {
        pause.expires_after(std::chrono::milliseconds(5));
        boost::system::error_code ec;
        co_await pause.async_wait(net::redirect_error(use_awaitable, ec));
    }
    spdlog::info("link {} to '{}' down: {}", id_, peer_name_, reason_);
    co_return reason_;
}

template <class Stream>
void LinkSession<Stream>::shutdown(std::string reason) {
    if (closed_) return;
    closed_ = true;
    reason_ = std::move(reason);
    heartbeat_timer_.cancel();
    queue_.clear();
    boost::system::error_code ec;
    beast::get_lowest_layer(stream_).socket().cancel(ec);
    beast::get_lowest_layer(stream_).socket().shutdown(net::socket_base::shutdown_both, ec);
    for (auto& [id, pending] : pending_)
        pending->timer.cancel();
}

template <class Stream>
void LinkSession<Stream>::close(std::string reason) {
    net::post(executor_, [self = this->shared_from_this(), reason = std::move(reason)]() mutable {
        self->shutdown(std::move(reason));
    });
}

template <class Stream>
bool LinkSession<Stream>::enqueue(const nlohmann::json& message) {
    if (closed_) return false;
    std::string text = serialize(message);
    if (text.size() > kMaxFrameAfterAuth) {
        spdlog::error("link {} to '{}': a frame of {} bytes exceeds the limit; not sent", id_,
                      peer_name_, text.size());
        if (message.contains("ok")) {
            text =
                serialize(make_error(message.value("id", nlohmann::json()), ApiErrorCode::internal,
                                     "the answer is larger than the frame limit"));
        } else {
            return false;
        }
    }
    queue_.push_back(std::move(text));
    if (!writing_) {
        writing_ = true;
        net::co_spawn(executor_, write_loop(this->shared_from_this()),
                      [](std::exception_ptr e) { log_task_exception(e, "writer"); });
    }
    return true;
}

template <class Stream>
awaitable<void> LinkSession<Stream>::write_loop([[maybe_unused]] Self self) {
    while (!queue_.empty() && !closed_) {
        std::string text = std::move(queue_.front());
        queue_.pop_front();
        write_started_ = std::chrono::steady_clock::now();
        boost::system::error_code ec = co_await write_frame(stream_, text);
        write_started_ = {};
        if (ec) {
            shutdown("write failed: " + ec.message());
            break;
        }
    }
    writing_ = false;
}

template <class Stream>
awaitable<void> LinkSession<Stream>::heartbeat([[maybe_unused]] Self self) {
    while (!closed_) {
        heartbeat_timer_.expires_after(settings_.ping_interval);
        boost::system::error_code ec;
        co_await heartbeat_timer_.async_wait(net::redirect_error(use_awaitable, ec));
        if (closed_) break;
        auto now = std::chrono::steady_clock::now();
        auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(now - last_received_);
        if (silent > settings_.timeout) {
            spdlog::warn("link {} to '{}': nothing received for {} ms: closing", id_, peer_name_,
                         silent.count());
            shutdown(fmt::format("the peer was silent for {} ms", silent.count()));
            break;
        }
        if (write_started_ != std::chrono::steady_clock::time_point{} &&
            now - write_started_ > settings_.write_timeout) {
            spdlog::warn("link {} to '{}': a write is stuck: closing", id_, peer_name_);
            shutdown("a write did not complete in time");
            break;
        }
        // Pings get answers whose ids no call waits for; they only keep both sides' clocks.
        enqueue(nlohmann::json{{"id", ++next_call_}, {"method", "ping"}});
    }
    heartbeat_running_ = false;
}

template <class Stream>
void LinkSession<Stream>::on_frame(const std::string& payload) {
    nlohmann::json message = parse_message(payload);
    if (message.is_object() && message.contains("ok")) {
        const auto& id = message["id"];
        if (!id.is_number_unsigned()) return;
        auto it = pending_.find(id.get<std::uint64_t>());
        if (it == pending_.end()) return;  // a ping's answer, or one that came too late
        it->second->answer = std::move(message);
        it->second->timer.cancel();
        return;
    }
    ApiError error;
    nlohmann::json request_id;
    std::optional<ApiRequest> request = parse_request(payload, error, request_id);
    if (!request) {
        enqueue(make_error(request_id, error));
        return;
    }
    if (request->method == "auth" || request->method == "link.hello") {
        enqueue(make_error(request_id, ApiErrorCode::bad_request, "this link is established"));
        return;
    }
    if (request->method == "ping" && request->target.empty()) {
        enqueue(make_ok(request_id, {{"now", now_unix_ms()}}));
        return;
    }
    if (in_flight_ >= settings_.max_in_flight) {
        spdlog::warn("link {} to '{}' id={}: {} requests in flight: refused", id_, peer_name_,
                     id_for_log(request_id), in_flight_);
        enqueue(
            make_error(request_id, ApiErrorCode::unavailable,
                       fmt::format("{} requests are already in flight on this link", in_flight_)));
        return;
    }
    ++in_flight_;
    net::co_spawn(executor_, serve(this->shared_from_this(), std::move(*request)),
                  [](std::exception_ptr e) { log_task_exception(e, "request"); });
}

template <class Stream>
awaitable<void> LinkSession<Stream>::serve([[maybe_unused]] Self self, ApiRequest request) {
    nlohmann::json answer = co_await dispatcher_.dispatch(request, caller_);
    --in_flight_;
    enqueue(answer);
}

template <class Stream>
awaitable<LinkCallResult> LinkSession<Stream>::call(const nlohmann::json& request,
                                                    std::chrono::milliseconds timeout) {
    nlohmann::json copy = request;
    auto op = exchange(this->shared_from_this(), std::move(copy), timeout);
    LinkCallResult result = co_await net::co_spawn(executor_, std::move(op), use_awaitable);
    co_return result;
}

template <class Stream>
awaitable<LinkCallResult> LinkSession<Stream>::exchange([[maybe_unused]] Self self,
                                                        nlohmann::json request,
                                                        std::chrono::milliseconds timeout) {
    LinkCallResult result;
    if (closed_) {
        result.error = fmt::format("the link to '{}' is down", peer_name_);
        co_return result;
    }
    const std::uint64_t id = ++next_call_;
    request["id"] = id;
    Pending pending(executor_);
    pending.timer.expires_after(timeout);
    if (!enqueue(request)) {
        result.error = fmt::format("cannot send over the link to '{}'", peer_name_);
        co_return result;
    }
    pending_[id] = &pending;
    boost::system::error_code ec;
    co_await pending.timer.async_wait(net::redirect_error(use_awaitable, ec));
    pending_.erase(id);
    if (pending.answer) {
        result.answer = std::move(pending.answer);
    } else if (closed_) {
        result.error =
            fmt::format("the link to '{}' closed before the answer ({})", peer_name_, reason_);
    } else {
        result.timed_out = true;
        result.error = fmt::format("no answer from '{}' within {} ms", peer_name_, timeout.count());
    }
    co_return result;
}

template class LinkSession<ManagerTlsStream>;
template class LinkSession<UnixApiStream>;

}  // namespace parley
