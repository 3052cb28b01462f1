#include "server/media/imageproc_client.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

namespace parley {

ImageprocClient::ImageprocClient(net::any_io_executor executor, ChildLauncher& launcher,
                                 ImageprocOptions options)
    : strand_(net::make_strand(executor)),
      options_(std::move(options)),
      child_(strand_, launcher,
             {.name = "imageproc child",
              .argv = options_.argv,
              .backoff_base = options_.backoff_base,
              .backoff_max = options_.backoff_max}),
      hello_timer_(strand_) {
    child_.on_started(
        [this](ChildPipes pipes, std::uint64_t generation) { started(pipes, generation); });
    child_.on_launch_failed([this](const std::string&) {
        fail_queue(image_error::unavailable, "the image processor cannot be started");
    });
}

ImageprocClient::~ImageprocClient() = default;

void ImageprocClient::start() {
    child_.start();
}

void ImageprocClient::stop() {
    net::post(strand_, [this] {
        stopped_ = true;
        hello_timer_.cancel();
        for (auto& [id, f] : in_flight_)
            f.deadline->cancel();
        in_flight_.clear();
        queue_.clear();
        queued_ = 0;
        in_flight_count_ = 0;
        forget_pipes();
        child_.stop(true);
    });
}

bool ImageprocClient::submit(ImageRequest request, Done done, bool bounded) {
    std::size_t n = queued_.load();
    do {
        if (bounded && n >= static_cast<std::size_t>(options_.queue_limit)) return false;
    } while (!queued_.compare_exchange_weak(n, n + 1));
    request.id = next_id_++;
    net::post(strand_, [this, w = Waiting{std::move(request), std::move(done)}]() mutable {
        if (stopped_) return;
        queue_.push_back(std::move(w));
        dispatch();
    });
    return true;
}

ImageprocClient::Stats ImageprocClient::stats() const {
    return Stats{child_.pid(), child_.restarts(), queued_.load(), in_flight_count_.load()};
}

std::string ImageprocClient::render_metrics() const {
    Stats st = stats();
    return fmt::format(
        "# HELP parley_imageproc_restarts_total Image child restarts after a failure.\n"
        "# TYPE parley_imageproc_restarts_total counter\n"
        "parley_imageproc_restarts_total {}\n"
        "# HELP parley_imageproc_requests Image requests waiting and in the child.\n"
        "# TYPE parley_imageproc_requests gauge\n"
        "parley_imageproc_requests{{state=\"queued\"}} {}\n"
        "parley_imageproc_requests{{state=\"in_flight\"}} {}\n"
        "# HELP parley_imageproc_up Whether an image child is running.\n"
        "# TYPE parley_imageproc_up gauge\n"
        "parley_imageproc_up {}\n",
        st.restarts, st.queued, st.in_flight, st.pid != 0 ? 1 : 0);
}

void ImageprocClient::started(ChildPipes pipes, std::uint64_t generation) {
    stdin_ = pipes.in;
    stdout_ = pipes.out;
    decoder_ = ChildFrameDecoder(kChildFrameDefaultLimit);
    ready_ = false;
    writing_ = false;
    writes_.clear();
    hello_timer_.expires_after(std::max(options_.hello_timeout, options_.request_timeout));
    hello_timer_.async_wait([this, generation](const boost::system::error_code& ec) {
        if (!ec && generation == child_.generation() && !ready_)
            child_failed("no hello within the start timeout");
    });
    read();
}

void ImageprocClient::read() {
    auto generation = child_.generation();
    stdout_->async_read_some(
        net::buffer(read_buffer_),
        net::bind_executor(strand_,
                           [this, generation](const boost::system::error_code& ec, std::size_t n) {
                               on_read(generation, ec, n);
                           }));
}

void ImageprocClient::on_read(std::uint64_t generation, const boost::system::error_code& ec,
                              std::size_t n) {
    if (generation != child_.generation() || stopped_) return;
    if (ec) {
        child_failed(ec == net::error::eof ? "the child closed its stdout"
                                           : "reading from the child: " + ec.message());
        return;
    }
    decoder_.feed(std::string_view(read_buffer_.data(), n));
    while (auto frame = decoder_.next()) {
        handle_frame(*frame);
        if (generation != child_.generation()) return;  // the frame ended this child
    }
    if (decoder_.failed()) {
        child_failed("protocol error: " + decoder_.error());
        return;
    }
    read();
}

void ImageprocClient::handle_frame(const ChildFrame& frame) {
    if (frame.type == ChildFrameType::hello) {
        auto j = nlohmann::json::parse(frame.payload, nullptr, false);
        if (!j.is_object() || j.value("version", 0) != kChildFrameVersion || ready_) {
            child_failed("bad hello");
            return;
        }
        ready_ = true;
        hello_timer_.cancel();
        spdlog::info("imageproc child pid {} ready", child_.pid());
        dispatch();
        return;
    }
    if (frame.type != ChildFrameType::response || !ready_) {
        child_failed("unexpected frame type from the child");
        return;
    }
    std::string error;
    auto response = decode_image_response(frame.payload, error);
    if (!response) {
        child_failed("malformed answer: " + error);
        return;
    }
    auto it = in_flight_.find(response->id);
    if (it == in_flight_.end()) {
        child_failed("answer to request " + std::to_string(response->id) + ", not in flight");
        return;
    }
    it->second.deadline->cancel();
    Done done = std::move(it->second.done);
    in_flight_.erase(it);
    in_flight_count_ = in_flight_.size();
    child_.reset_backoff();
    done(std::move(*response));
    dispatch();
}

void ImageprocClient::dispatch() {
    while (ready_ && !stopped_ && !queue_.empty() &&
           in_flight_.size() < static_cast<std::size_t>(options_.concurrency)) {
        Waiting w = std::move(queue_.front());
        queue_.pop_front();
        --queued_;
        std::uint64_t id = w.request.id;
        write(encode_child_frame(ChildFrameType::request, encode_image_request(w.request)));
        auto timer = std::make_unique<net::steady_timer>(strand_);
        timer->expires_after(options_.request_timeout);
        auto generation = child_.generation();
        timer->async_wait([this, generation, id](const boost::system::error_code& ec) {
            if (!ec && generation == child_.generation() && in_flight_.count(id)) on_timeout(id);
        });
        in_flight_.emplace(id, InFlight{std::move(w.done), std::move(timer)});
        in_flight_count_ = in_flight_.size();
    }
}

void ImageprocClient::write(std::string frame) {
    writes_.push_back(std::move(frame));
    if (!writing_) write_next();
}

void ImageprocClient::write_next() {
    writing_ = true;
    auto generation = child_.generation();
    net::async_write(
        *stdin_, net::buffer(writes_.front()),
        net::bind_executor(strand_,
                           [this, generation](const boost::system::error_code& ec, std::size_t) {
                               if (generation != child_.generation() || stopped_) return;
                               if (ec) {
                                   child_failed("writing to the child: " + ec.message());
                                   return;
                               }
                               writes_.pop_front();
                               if (writes_.empty()) {
                                   writing_ = false;
                               } else {
                                   write_next();
                               }
                           }));
}

void ImageprocClient::on_timeout(std::uint64_t id) {
    auto it = in_flight_.find(id);
    Done done = std::move(it->second.done);
    in_flight_.erase(it);
    spdlog::warn("imageproc request {} timed out after {} ms; killing child pid {}", id,
                 options_.request_timeout.count(), child_.pid());
    // The child goes first, so whoever hears of the timeout finds it already replaced.
    child_failed("request " + std::to_string(id) + " timed out");
    done(image_failure(
        id, image_error::timeout,
        "processing took longer than " + std::to_string(options_.request_timeout.count()) + " ms"));
}

void ImageprocClient::forget_pipes() {
    hello_timer_.cancel();
    stdin_ = nullptr;
    stdout_ = nullptr;
    ready_ = false;
}

void ImageprocClient::child_failed(const std::string& reason) {
    auto dead = std::move(in_flight_);
    in_flight_.clear();
    in_flight_count_ = 0;
    spdlog::error("imageproc child pid {} failed: {}; {} requests in it fail", child_.pid(), reason,
                  dead.size());
    forget_pipes();
    child_.end_child(reason, true);
    for (auto& [id, f] : dead) {
        f.deadline->cancel();
        f.done(image_failure(id, image_error::child_failed,
                             "the image processor stopped while working on this image"));
    }
}

void ImageprocClient::fail_queue(const char* code, const std::string& message) {
    auto waiting = std::move(queue_);
    queue_.clear();
    queued_ -= waiting.size();
    for (auto& w : waiting)
        w.done(image_failure(w.request.id, code, message));
}

}  // namespace parley
