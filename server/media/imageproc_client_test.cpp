#include "server/media/imageproc_client.hpp"

#include <poll.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <future>
#include <mutex>
#include <thread>

using namespace parley;
using namespace std::chrono_literals;

namespace {

// The test plays the child: it holds the other ends of the pipes the client was given.
struct FakeChild {
    int to_server = -1;    // the child's stdout (test writes)
    int from_server = -1;  // the child's stdin (test reads)
    std::atomic<bool> killed{false};
    ChildFrameDecoder decoder;

    void send(ChildFrameType type, const std::string& payload) {
        std::string f = encode_child_frame(type, payload);
        REQUIRE(::write(to_server, f.data(), f.size()) == static_cast<ssize_t>(f.size()));
    }
    void hello() { send(ChildFrameType::hello, R"({"version":1,"pid":1})"); }
    // The next request the server sent, within 5 s.
    ImageRequest request() {
        auto deadline = std::chrono::steady_clock::now() + 5s;
        for (;;) {
            if (auto f = decoder.next()) {
                std::string error;
                auto r = decode_image_request(f->payload, error);
                REQUIRE(r);
                return *r;
            }
            REQUIRE(std::chrono::steady_clock::now() < deadline);
            pollfd p{from_server, POLLIN, 0};
            if (::poll(&p, 1, 100) == 1) {
                char buf[4096];
                ssize_t n = ::read(from_server, buf, sizeof buf);
                REQUIRE(n > 0);
                decoder.feed(std::string_view(buf, static_cast<std::size_t>(n)));
            }
        }
    }
    ~FakeChild() {
        if (to_server >= 0) ::close(to_server);
        if (from_server >= 0) ::close(from_server);
    }
};

class FakeProcess : public ChildProcess {
  public:
    explicit FakeProcess(std::shared_ptr<FakeChild> c) : child_(std::move(c)) {}
    int pid() const override { return 4242; }
    void kill() override { child_->killed = true; }
    std::string wait() override { return "signal 9"; }

  private:
    std::shared_ptr<FakeChild> child_;
};

class FakeLauncher : public ChildLauncher {
  public:
    LaunchedChild launch(const std::vector<std::string>&) override {
        std::lock_guard lock(mutex_);
        LaunchedChild out;
        if (fail_next_) {
            fail_next_ = false;
            out.error = "no such program";
            cv_.notify_all();
            ++failed_;
            return out;
        }
        int in[2], o[2];
        REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
        REQUIRE(::pipe2(o, O_CLOEXEC) == 0);
        auto c = std::make_shared<FakeChild>();
        c->from_server = in[0];
        c->to_server = o[1];
        out.stdin_fd = in[1];
        out.stdout_fd = o[0];
        out.process = std::make_unique<FakeProcess>(c);
        children_.push_back(c);
        cv_.notify_all();
        return out;
    }
    // The n-th child (0-based), waiting up to 5 s for its launch.
    std::shared_ptr<FakeChild> child(std::size_t n) {
        std::unique_lock lock(mutex_);
        REQUIRE(cv_.wait_for(lock, 5s, [&] { return children_.size() > n; }));
        return children_[n];
    }
    void fail_next() {
        std::lock_guard lock(mutex_);
        fail_next_ = true;
    }
    std::size_t launches() {
        std::lock_guard lock(mutex_);
        return children_.size();
    }

  private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<std::shared_ptr<FakeChild>> children_;
    bool fail_next_ = false;
    int failed_ = 0;
};

struct Loop {
    net::io_context io;
    net::executor_work_guard<net::io_context::executor_type> work{io.get_executor()};
    std::thread thread{[this] { io.run(); }};
    // Then the client may be destroyed: no handler of it runs any more.
    void stop() {
        work.reset();
        io.stop();
        if (thread.joinable()) thread.join();
    }
    ~Loop() { stop(); }
};

ImageRequest some_request() {
    ImageRequest r;
    r.input = "/tmp/in";
    r.output = "/tmp/out.jpg";
    r.thumbnail = "/tmp/thumb.jpg";
    return r;
}

ImageResponse ok_for(std::uint64_t id) {
    ImageResponse r;
    r.id = id;
    r.ok = true;
    r.format = "jpeg";
    r.width = r.height = r.thumb_width = r.thumb_height = 100;
    return r;
}

struct Result {
    std::promise<ImageResponse> promise;
    std::future<ImageResponse> future = promise.get_future();
    ImageResponse get() {
        REQUIRE(future.wait_for(5s) == std::future_status::ready);
        return future.get();
    }
};

}  // namespace

TEST_CASE("imageproc client: answers, timeouts, dead children and back-off", "[imageproc_client]") {
    Loop loop;
    FakeLauncher launcher;
    ImageprocOptions options;
    options.concurrency = 2;
    options.queue_limit = 3;
    options.request_timeout = 300ms;
    options.backoff_base = 20ms;
    options.backoff_max = 40ms;
    auto client = std::make_unique<ImageprocClient>(loop.io.get_executor(), launcher, options);
    client->start();
    auto first = launcher.child(0);

    // Requests wait for the hello, then go out and are answered by id.
    Result a;
    REQUIRE(client->submit(some_request(), [&](ImageResponse r) { a.promise.set_value(r); }));
    first->hello();
    auto req = first->request();
    first->send(ChildFrameType::response, encode_image_response(ok_for(req.id)));
    auto got = a.get();
    CHECK(got.ok);
    CHECK(got.id == req.id);

    // A request the child never answers times out; the child is killed and replaced.
    Result late;
    REQUIRE(client->submit(some_request(), [&](ImageResponse r) { late.promise.set_value(r); }));
    first->request();
    auto timed_out = late.get();
    CHECK(timed_out.error == "timeout");
    CHECK(first->killed);
    auto second = launcher.child(1);
    second->hello();

    // Two in flight in a child that dies: both fail with child_failed; a third child comes.
    Result x, y;
    REQUIRE(client->submit(some_request(), [&](ImageResponse r) { x.promise.set_value(r); }));
    REQUIRE(client->submit(some_request(), [&](ImageResponse r) { y.promise.set_value(r); }));
    second->request();
    second->request();
    ::close(second->to_server);
    second->to_server = -1;
    CHECK(x.get().error == "child_failed");
    CHECK(y.get().error == "child_failed");
    auto third = launcher.child(2);

    // A garbage frame from the child is a protocol error: the child is replaced.
    third->hello();
    ::write(third->to_server, "garbage!", 8);
    auto fourth = launcher.child(3);
    CHECK(third->killed);
    fourth->hello();
    Result after;
    REQUIRE(client->submit(some_request(), [&](ImageResponse r) { after.promise.set_value(r); }));
    auto r4 = fourth->request();
    fourth->send(ChildFrameType::response, encode_image_response(ok_for(r4.id)));
    CHECK(after.get().ok);
    CHECK(client->stats().restarts == 3);
    loop.stop();
    client.reset();
}

TEST_CASE("imageproc client: a bounded queue, and a child that cannot start",
          "[imageproc_client]") {
    Loop loop;
    FakeLauncher launcher;
    ImageprocOptions options;
    options.concurrency = 1;
    options.queue_limit = 2;
    options.backoff_base = 20ms;
    options.backoff_max = 20ms;
    launcher.fail_next();
    auto client = std::make_unique<ImageprocClient>(loop.io.get_executor(), launcher, options);
    Result a, b;
    REQUIRE(client->submit(some_request(), [&](ImageResponse r) { a.promise.set_value(r); }));
    REQUIRE(client->submit(some_request(), [&](ImageResponse r) { b.promise.set_value(r); }));
    CHECK_FALSE(client->submit(some_request(), [](ImageResponse) {}));
    client->start();
    CHECK(a.get().error == "unavailable");
    CHECK(b.get().error == "unavailable");
    auto child = launcher.child(0);  // the retry after back-off works
    child->hello();
    Result c;
    REQUIRE(client->submit(some_request(), [&](ImageResponse r) { c.promise.set_value(r); }));
    auto req = child->request();
    child->send(ChildFrameType::response, encode_image_response(ok_for(req.id)));
    CHECK(c.get().ok);
    loop.stop();
    client.reset();
}
