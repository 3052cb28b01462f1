// ImageprocClient: the server's side of `parley imageproc` (docs/imageproc.md).
//
// Starts the child through a ChildSupervisor (server/process/child_supervisor.hpp: launch,
// reaping, back-off), writes framed requests to its stdin and reads
// framed answers from its stdout. At most `concurrency` requests are in the child at once;
// the rest wait in a bounded queue (submit() refuses beyond `queue_limit`). Every request in
// the child has a deadline: when one passes, or the child exits, closes its stdout, breaks the
// protocol or does not say hello in time, the child is killed and reaped, each request that
// was in it completes with an error (`timeout` for the late one, `child_failed` for the
// others), and a new child starts after a back-off that doubles with each consecutive failure
// (reset by the first good answer). Waiting requests stay queued for the next child; if the
// child cannot even be launched, they complete with `unavailable`.
//
// Threads: submit() and stats() are thread-safe; everything else runs on the client's own
// strand, and so do the completion callbacks (they must not block). stop() kills the child and
// drops pending callbacks without calling them (the server resumes unfinished work on start).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/child_frame.hpp"
#include "common/imageproc_protocol.hpp"
#include "common/net.hpp"
#include "server/process/child_supervisor.hpp"

namespace parley {

struct ImageprocOptions {
    std::vector<std::string> argv;  // the child's command line
    int concurrency = 2;
    int queue_limit = 100;
    std::chrono::milliseconds request_timeout{30'000};
    // How long a new child may take to say hello. Separate from request_timeout: a child's start
    // (exec, loading the image libraries) can be slow on a busy host, while a short request
    // timeout is a fine choice for the images themselves.
    std::chrono::milliseconds hello_timeout{10'000};
    std::chrono::milliseconds backoff_base{200};
    std::chrono::milliseconds backoff_max{30'000};
};

class ImageprocClient {
  public:
    using Done = std::function<void(ImageResponse)>;

    struct Stats {
        int pid = 0;  // 0 while no child runs
        std::uint64_t restarts = 0;
        std::size_t queued = 0;
        std::size_t in_flight = 0;
    };

    ImageprocClient(net::any_io_executor executor, ChildLauncher& launcher,
                    ImageprocOptions options);
    ~ImageprocClient();

    void start();
    void stop();

    // Queues a request (its id is assigned here). Returns false, without calling `done`, when
    // the queue is full; `bounded = false` queues anyway (work resumed at start-up).
    bool submit(ImageRequest request, Done done, bool bounded = true);
    Stats stats() const;
    // Prometheus text: restarts, queued and in-flight requests, whether a child runs.
    std::string render_metrics() const;

  private:
    struct Waiting {
        ImageRequest request;
        Done done;
    };
    struct InFlight {
        Done done;
        std::unique_ptr<net::steady_timer> deadline;
    };

    void started(ChildPipes pipes, std::uint64_t generation);
    void read();
    void on_read(std::uint64_t generation, const boost::system::error_code& ec, std::size_t n);
    void handle_frame(const ChildFrame& frame);
    void dispatch();
    void write(std::string frame);
    void write_next();
    void on_timeout(std::uint64_t id);
    void child_failed(const std::string& reason);
    void forget_pipes();
    void fail_queue(const char* code, const std::string& message);

    net::strand<net::any_io_executor> strand_;
    ImageprocOptions options_;
    ChildSupervisor child_;  // the generation of its child tells stale completions apart

    // Strand-only state.
    net::posix::stream_descriptor* stdin_ = nullptr;  // the running child's, owned by child_
    net::posix::stream_descriptor* stdout_ = nullptr;
    bool ready_ = false;  // the child said hello
    bool stopped_ = false;
    ChildFrameDecoder decoder_;
    std::array<char, 16384> read_buffer_{};
    std::deque<std::string> writes_;
    bool writing_ = false;
    std::deque<Waiting> queue_;
    std::map<std::uint64_t, InFlight> in_flight_;
    net::steady_timer hello_timer_;

    // Shared with other threads.
    std::atomic<std::uint64_t> next_id_{1};
    std::atomic<std::size_t> queued_{0};
    std::atomic<std::size_t> in_flight_count_{0};
};

}  // namespace parley
