// ManagerClient: the server's connection to its local manager over the manager's unix socket
// (docs/manager-api.md), optional ([manager] socket). Two uses:
//
//   - maintenance: one long-lived connection authenticates with the server's key and calls
//     `schedule.watch` in a loop (a long poll that the manager answers as soon as the next
//     pending schedule changes, or after watch_wait_ms). Each answer's `maintenance` (the next
//     schedule {"id","action","at"} or null) goes to the NoticeHandler. If the manager is not
//     there or goes away, the loop reconnects with jittered exponential back-off
//     (reconnect_base_ms doubling up to reconnect_max_ms); the server runs on meanwhile and the
//     last notice stands (a manager restart does not cancel maintenance).
//   - backups: with [manager] backup_daily_at, a timer asks for `backup.run` once a day at
//     that time (UTC) and logs the outcome (docs/backups.md).
//   - request(): one admin request on a connection of its own (auth, request, answer), under
//     request_timeout_ms — the admin routes use it; it may name a target manager.
//
// Every read has a deadline. The key is read once at start and never logged. Owned by the
// server app; start()/stop() on the event loop; request() from any coroutine.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/net.hpp"
#include "server/settings/manager_client_settings.hpp"

namespace parley {

struct ManagerAnswer {
    std::string transport_error;  // no answer: the manager is unreachable, refused us, or slow
    bool timed_out = false;
    nlohmann::json answer;  // the manager's answer ({"id","ok",...})
};

class ManagerClient {
  public:
    // Called on the client's strand with the maintenance notice (an object, or null to clear).
    using NoticeHandler = std::function<void(const nlohmann::json& maintenance)>;

    ManagerClient(net::io_context& context, const ManagerClientSettings& settings, std::string key,
                  NoticeHandler on_notice);
    ~ManagerClient();

    void start();
    void stop();
    bool connected() const { return connected_; }

    // One request {"method","params","target"?}; the id is the client's own.
    awaitable<ManagerAnswer> request(const nlohmann::json& request);

    // Reads a key file (trailing newline dropped); "" with `error` when unusable.
    static std::string read_key_file(const std::string& path, std::string& error);

  private:
    awaitable<void> watch_loop();
    awaitable<void> backup_loop();

    net::io_context& context_;
    const ManagerClientSettings& settings_;
    const std::string key_;
    NoticeHandler on_notice_;
    net::any_io_executor strand_;
    net::steady_timer timer_;
    net::steady_timer backup_timer_;
    struct Current;
    std::shared_ptr<Current> current_;  // the watch connection, strand only
    std::atomic<bool> connected_{false};
    std::atomic<bool> stopped_{false};
    std::atomic<std::uint64_t> next_id_{0};
};

}  // namespace parley
