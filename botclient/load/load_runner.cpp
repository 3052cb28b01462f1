#include "botclient/load/load_runner.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstring>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include "botclient/load/latency_histogram.hpp"
#include "botclient/load/load_socket.hpp"
#include "botclient/net/ws_url.hpp"
#include "common/net.hpp"

namespace parley {

namespace {

using Clock = std::chrono::steady_clock;

// State every thread reads; written by the coordinating (main) thread before it is read.
struct RunState {
    const LoadPlan& plan;
    Clock::time_point epoch = Clock::now();
    std::atomic<std::int64_t> measure_from_ns{INT64_MAX};
    std::atomic<std::int64_t> measure_to_ns{INT64_MAX};
    std::atomic<bool> sending{false};
    std::atomic<std::size_t> ready{0};
    std::atomic<std::size_t> failed{0};
    std::atomic<std::size_t> lost{0};  // opened, then closed by the server

    // Client message ids are unique per run, not only per connection: a server that keeps ids
    // for resends (Parley does) would take a second run on the same rooms for resends.
    std::string nonce = std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count());

    explicit RunState(const LoadPlan& p) : plan(p) {}
    std::int64_t now_ns() const {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - epoch).count();
    }
    bool in_window(std::int64_t ns) const {
        return ns >= measure_from_ns.load(std::memory_order_relaxed) &&
               ns < measure_to_ns.load(std::memory_order_relaxed);
    }
};

// What happened in one reporting interval (report_each_second).
struct IntervalStats {
    LatencyHistogram latency;
    std::uint64_t deliveries = 0;
    std::uint64_t sent = 0;
};

struct Worker {
    net::io_context ioc{1};
    LatencyHistogram latency;
    std::uint64_t deliveries = 0;
    std::uint64_t sent = 0;
    // By send time rather than arrival: messages sent inside the measured window, and their
    // deliveries whenever they arrived (until the drain after sending stops). With the room
    // sizes, the driver tells from these whether every message reached every member.
    std::uint64_t window_sent = 0;
    std::uint64_t window_delivered = 0;
    IntervalStats interval;  // since the last report; taken on this worker's thread
    std::uint64_t errors = 0;
    std::string first_error;
};

class Conn : public std::enable_shared_from_this<Conn> {
  public:
    Conn(Worker& worker, RunState& run, std::size_t index)
        : worker_(worker),
          run_(run),
          index_(index),
          socket_(make_load_socket(worker.ioc, run.plan.deflate)) {}

    void make_sender(std::size_t sender_id, std::string room_id) {
        sender_id_ = static_cast<std::int64_t>(sender_id);
        room_id_ = std::move(room_id);
    }
    bool is_sender() const { return sender_id_ >= 0; }
    bool open() const { return open_; }
    net::any_io_executor executor() { return worker_.ioc.get_executor(); }

    // Connects, upgrades, subscribes (or pings) and waits for every answer. True when ready.
    awaitable<bool> setup();
    awaitable<void> read_loop();
    // Fills the window (the fanout scenario; the rate scenario is paced by pace()).
    void start_sending();
    std::int64_t sender_id() const { return sender_id_; }
    // One message now, when this is an open sender and the run is sending.
    void send_one();

  private:
    void send(std::string text);
    void send_next();
    void on_frame(std::string_view frame);

    Worker& worker_;
    RunState& run_;
    std::size_t index_;
    std::shared_ptr<LoadSocket> socket_;
    bool open_ = false;
    std::int64_t sender_id_ = -1;
    std::string room_id_;
    int in_flight_ = 0;
    std::uint64_t next_msg_ = 0;
};

awaitable<bool> Conn::setup() {
    const LoadConnection& spec = run_.plan.connections[index_];
    auto url = parse_ws_url(spec.url);
    try {
        if (!url) throw std::invalid_argument("not a ws:// URL: " + spec.url);
        co_await socket_->open(*url, std::chrono::seconds(30));
        // One request per topic (or a ping when there is none); ready once all are answered,
        // which also proves the server accepted the token.
        std::size_t pending = std::max<std::size_t>(spec.subscribe.size(), 1);
        if (spec.subscribe.empty()) {
            send(R"({"type":"ping","id":"setup"})");
        } else {
            for (const auto& topic : spec.subscribe) {
                send(nlohmann::json{{"type", "subscribe"}, {"topic", topic}, {"id", "setup"}}
                         .dump());
            }
        }
        while (pending > 0) {
            std::string_view frame = co_await socket_->read();
            if (frame.find(R"("id":"setup")") != std::string_view::npos) {
                if (frame.find(R"("type":"error")") != std::string_view::npos) {
                    spdlog::warn("connection {}: setup refused: {}", index_, frame);
                    co_return false;
                }
                --pending;
            }
        }
        open_ = true;
        co_return true;
    } catch (const std::exception& e) {
        if (run_.failed.load() < 5) spdlog::warn("connection {}: {}", index_, e.what());
        co_return false;
    }
}

awaitable<void> Conn::read_loop() {
    auto self = shared_from_this();
    try {
        for (;;)
            on_frame(co_await socket_->read());
    } catch (const std::exception&) {
        if (open_) run_.lost.fetch_add(1);
        open_ = false;
    }
}

void Conn::on_frame(std::string_view frame) {
    if (frame.find(R"("type":"message")") != std::string_view::npos) {
        // text is "S<sender>:<send time ns>:<padding>"
        auto at = frame.find(R"("text":"S)");
        if (at == std::string_view::npos) return;
        const char* p = frame.data() + at + 9;
        const char* end = frame.data() + frame.size();
        std::int64_t sender = -1, sent_ns = 0;
        auto r1 = std::from_chars(p, end, sender);
        if (r1.ec != std::errc() || r1.ptr == end || *r1.ptr != ':') return;
        auto r2 = std::from_chars(r1.ptr + 1, end, sent_ns);
        if (r2.ec != std::errc()) return;
        std::int64_t now = run_.now_ns();
        if (run_.in_window(sent_ns)) ++worker_.window_delivered;
        if (run_.in_window(now)) {
            ++worker_.deliveries;
            worker_.latency.record((now - sent_ns) / 1000);
            ++worker_.interval.deliveries;
            worker_.interval.latency.record((now - sent_ns) / 1000);
        }
        if (sender == sender_id_) {
            --in_flight_;
            send_next();
        }
    } else if (frame.find(R"("type":"error")") != std::string_view::npos) {
        if (worker_.errors++ == 0) worker_.first_error = std::string(frame.substr(0, 300));
    }
}

void Conn::start_sending() {
    for (int i = 0; i < run_.plan.window; ++i)
        send_next();
}

// The rate scenario: every sender sends at the same pace, sender i at offset i * period / n
// into each period, so that the n senders together make rate_per_s, evenly spread. One timer
// paces all of a worker's senders; a timer for each cost the client a timer-queue update, and
// often a timerfd_settime, per message. Behind schedule, it sends without waiting.
awaitable<void> pace(Worker& worker, RunState& run, std::vector<std::shared_ptr<Conn>> senders) {
    if (senders.empty()) co_return;
    std::sort(senders.begin(), senders.end(),
              [](const auto& a, const auto& b) { return a->sender_id() < b->sender_id(); });
    const auto n = static_cast<double>(run.plan.senders.size());
    const double period_ns = n / run.plan.rate_per_s * 1e9;
    net::steady_timer timer(worker.ioc);
    const auto start = Clock::now();
    boost::system::error_code ec;
    for (std::int64_t cycle = 0; run.sending.load(std::memory_order_relaxed); ++cycle) {
        for (const auto& sender : senders) {
            double offset = period_ns * (static_cast<double>(cycle) +
                                         static_cast<double>(sender->sender_id()) / n);
            auto at = start + std::chrono::nanoseconds(static_cast<std::int64_t>(offset));
            if (at > Clock::now()) {
                timer.expires_at(at);
                co_await timer.async_wait(net::redirect_error(use_awaitable, ec));
                if (ec) co_return;
            }
            if (!run.sending.load(std::memory_order_relaxed)) co_return;
            sender->send_one();
        }
    }
}

void Conn::send_next() {
    if (run_.plan.scenario == "rate") return;  // paced by pace(), not by the window
    if (!open_ || !is_sender() || !run_.sending.load(std::memory_order_relaxed)) return;
    if (in_flight_ >= run_.plan.window) return;
    ++in_flight_;
    send_one();
}

void Conn::send_one() {
    if (!open_ || !is_sender() || !run_.sending.load(std::memory_order_relaxed)) return;
    ++worker_.sent;
    ++worker_.interval.sent;
    std::int64_t now = run_.now_ns();
    if (run_.in_window(now)) ++worker_.window_sent;
    std::string text = "S" + std::to_string(sender_id_) + ":" + std::to_string(now) + ":";
    text.resize(static_cast<std::size_t>(run_.plan.text_bytes), 'x');
    std::string frame;
    frame.reserve(text.size() + room_id_.size() + 80);
    frame += R"({"type":"send","room_id":")";
    frame += room_id_;
    frame += R"(","client_msg_id":"m)";
    frame += run_.nonce;
    frame += '-';
    // Zero-padded so that a sender's ids sort in sending order, as a real client's should.
    frame += fmt::format("{}-{:010}", sender_id_, next_msg_++);
    frame += R"(","text":")";
    frame += text;
    frame += "\"}";
    send(std::move(frame));
}

void Conn::send(std::string text) {
    socket_->send(std::move(text));
}

// Opens this worker's connections, `slots` at a time.
awaitable<void> opener(Worker& worker, RunState& run, std::vector<std::shared_ptr<Conn>>& conns,
                       std::shared_ptr<std::size_t> next) {
    while (*next < conns.size()) {
        std::shared_ptr<Conn> conn = conns[(*next)++];
        bool ok = co_await conn->setup();
        if (ok) {
            run.ready.fetch_add(1);
            net::co_spawn(worker.ioc, conn->read_loop(), net::detached);
        } else {
            run.failed.fetch_add(1);
        }
    }
}

// The figures of the interval just ended, from every worker (each reads its own on its thread).
IntervalStats take_interval(std::vector<std::unique_ptr<Worker>>& workers) {
    IntervalStats total;
    for (auto& w : workers) {
        std::promise<IntervalStats> promise;
        auto future = promise.get_future();
        Worker* worker = w.get();
        net::post(worker->ioc, [worker, &promise] {
            promise.set_value(std::exchange(worker->interval, IntervalStats{}));
        });
        IntervalStats part = future.get();
        total.latency.merge(part.latency);
        total.deliveries += part.deliveries;
        total.sent += part.sent;
    }
    return total;
}

std::string ms(std::int64_t micros) {
    return fmt::format("{:.2f} ms", static_cast<double>(micros) / 1000.0);
}

// CPU seconds (user, system) this process has used so far, all its threads together.
std::pair<double, double> own_cpu_seconds() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    auto seconds = [](const timeval& t) {
        return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
    };
    return {seconds(usage.ru_utime), seconds(usage.ru_stime)};
}

bool stdin_closed() {
    pollfd p{STDIN_FILENO, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) return false;
    char c;
    return ::read(STDIN_FILENO, &c, 1) <= 0;
}

}  // namespace

int run_load(const LoadPlan& plan) {
    RunState run(plan);
    std::vector<std::unique_ptr<Worker>> workers;
    for (int i = 0; i < plan.threads; ++i)
        workers.push_back(std::make_unique<Worker>());
    std::vector<std::vector<std::shared_ptr<Conn>>> per_worker(workers.size());
    std::vector<std::shared_ptr<Conn>> all;
    for (std::size_t i = 0; i < plan.connections.size(); ++i) {
        Worker& w = *workers[i % workers.size()];
        auto conn = std::make_shared<Conn>(w, run, i);
        per_worker[i % workers.size()].push_back(conn);
        all.push_back(conn);
    }
    for (std::size_t s = 0; s < plan.senders.size(); ++s)
        all[plan.senders[s].connection]->make_sender(s, plan.senders[s].room_id);

    auto opened_at = Clock::now();
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < workers.size(); ++i) {
        Worker& w = *workers[i];
        auto next = std::make_shared<std::size_t>(0);
        int slots = std::max(1, plan.connect_concurrency / static_cast<int>(workers.size()));
        for (int s = 0; s < slots; ++s)
            net::co_spawn(w.ioc, opener(w, run, per_worker[i], next), net::detached);
        threads.emplace_back([&w] {
            auto guard = net::make_work_guard(w.ioc);
            w.ioc.run();
        });
    }
    while (run.ready.load() + run.failed.load() < plan.connections.size())
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    double open_s = std::chrono::duration<double>(Clock::now() - opened_at).count();
    std::size_t ready = run.ready.load();
    spdlog::info("load: {} of {} connections ready in {:.1f} s", ready, plan.connections.size(),
                 open_s);

    nlohmann::json report{{"scenario", plan.scenario},
                          {"connections", plan.connections.size()},
                          {"ready", ready},
                          {"failed", run.failed.load()},
                          {"open_s", open_s}};
    if (plan.pause_when_ready && plan.scenario != "idle") {
        // The driver measures only the load (a profiler switched on now): it answers a line.
        std::cout << nlohmann::json{{"event", "ready"}, {"ready", ready}}.dump() << std::endl;
        std::string go;
        std::getline(std::cin, go);
    }
    if (plan.scenario == "idle") {
        std::cout << nlohmann::json{{"event", "ready"},
                                    {"ready", ready},
                                    {"failed", run.failed.load()}}
                         .dump()
                  << std::endl;
        auto until = Clock::now() + std::chrono::duration<double>(plan.hold_s);
        while (Clock::now() < until && !stdin_closed())
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        report["lost"] = run.lost.load();
    } else {
        std::int64_t start = run.now_ns();
        auto warm = static_cast<std::int64_t>(plan.warmup_s * 1e9);
        auto len = static_cast<std::int64_t>(plan.seconds * 1e9);
        run.measure_from_ns = start + warm;
        run.measure_to_ns = start + warm + len;
        run.sending = true;
        for (std::size_t i = 0; i < workers.size(); ++i) {
            std::vector<std::shared_ptr<Conn>> senders;
            for (const auto& conn : per_worker[i])
                if (conn->is_sender()) senders.push_back(conn);
            if (plan.scenario == "rate") {
                net::co_spawn(workers[i]->ioc, pace(*workers[i], run, std::move(senders)),
                              net::detached);
                continue;
            }
            for (const auto& conn : senders)
                net::post(conn->executor(), [conn] { conn->start_sending(); });
        }
        if (plan.report_each_second) {
            // One line a second: what was sent and delivered in that second, and its latency.
            auto started = Clock::now();
            auto end = started + std::chrono::nanoseconds(warm + len);
            int second = 0;
            while (Clock::now() < end) {
                auto tick = std::min(end, started + std::chrono::seconds(++second));
                std::this_thread::sleep_until(tick);
                IntervalStats s = take_interval(workers);
                double span = std::chrono::duration<double>(
                                  tick - (started + std::chrono::seconds(second - 1)))
                                  .count();
                std::cout << fmt::format(
                                 "{:>4} s  sent {:>8.1f}/s  delivered {:>9.1f}/s  p50 {:>10}  "
                                 "p90 {:>10}  p99 {:>10}",
                                 second, static_cast<double>(s.sent) / span,
                                 static_cast<double>(s.deliveries) / span,
                                 ms(s.latency.percentile(0.50)), ms(s.latency.percentile(0.90)),
                                 ms(s.latency.percentile(0.99)))
                          << std::endl;
            }
        } else {
            // The client's own CPU time over the measured window: when it nears one core per
            // thread, the client rather than the server sets the pace.
            std::this_thread::sleep_for(std::chrono::nanoseconds(warm));
            auto [user0, sys0] = own_cpu_seconds();
            std::this_thread::sleep_for(std::chrono::nanoseconds(len));
            auto [user1, sys1] = own_cpu_seconds();
            report["client_user_s"] = user1 - user0;
            report["client_sys_s"] = sys1 - sys0;
        }
        run.sending = false;
        // Let in-flight ones land.
        std::this_thread::sleep_for(std::chrono::duration<double>(plan.drain_s));
    }
    for (auto& w : workers)
        w->ioc.stop();
    for (auto& t : threads)
        t.join();

    if (plan.scenario != "idle") {
        LatencyHistogram latency;
        std::uint64_t deliveries = 0, sent = 0, errors = 0, window_sent = 0, window_delivered = 0;
        std::string first_error;
        for (const auto& w : workers) {
            latency.merge(w->latency);
            deliveries += w->deliveries;
            sent += w->sent;
            window_sent += w->window_sent;
            window_delivered += w->window_delivered;
            errors += w->errors;
            if (first_error.empty()) first_error = w->first_error;
        }
        report["senders"] = plan.senders.size();
        report["window"] = plan.window;
        report["seconds"] = plan.seconds;
        report["warmup_s"] = plan.warmup_s;
        report["sent"] = sent;
        report["deliveries"] = deliveries;
        report["deliveries_per_s"] = static_cast<double>(deliveries) / plan.seconds;
        report["window_sent"] = window_sent;
        report["window_delivered"] = window_delivered;
        report["latency_us"] = {{"p50", latency.percentile(0.50)},
                                {"p90", latency.percentile(0.90)},
                                {"p99", latency.percentile(0.99)},
                                {"max", latency.max()}};
        if (plan.report_each_second) {
            std::cout << fmt::format(
                             "summary: {} connections ({} ready), {} senders, {:.1f} s: sent {} "
                             "({:.1f}/s), delivered {} ({:.1f}/s), latency p50 {}, p90 {}, p99 "
                             "{}, max {}; errors {}, connections lost {}",
                             plan.connections.size(), ready, plan.senders.size(), plan.seconds,
                             sent, static_cast<double>(sent) / plan.seconds, deliveries,
                             static_cast<double>(deliveries) / plan.seconds,
                             ms(latency.percentile(0.50)), ms(latency.percentile(0.90)),
                             ms(latency.percentile(0.99)), ms(latency.max()), errors,
                             run.lost.load())
                      << std::endl;
            if (!first_error.empty()) std::cout << "first error: " << first_error << std::endl;
        }
        report["errors"] = errors;
        if (!first_error.empty()) report["first_error"] = first_error;
        report["lost"] = run.lost.load();
    }
    if (!plan.report_each_second) std::cout << report.dump() << std::endl;
    return ready == plan.connections.size() ? 0 : 1;
}

int run_load_file(const std::string& plan_path) {
    std::ifstream in(plan_path);
    if (!in) {
        std::cerr << "parley botclient: cannot read the load plan " << plan_path << "\n";
        return 2;
    }
    std::stringstream text;
    text << in.rdbuf();
    LoadPlan plan;
    try {
        plan = parse_load_plan(text.str());
    } catch (const std::invalid_argument& e) {
        std::cerr << "parley botclient: bad load plan " << plan_path << ": " << e.what() << "\n";
        return 2;
    }
    return run_load(plan);
}

}  // namespace parley
