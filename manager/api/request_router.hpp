// RequestRouter: where a request runs (docs/manager-api.md, "Forwarding"). A request whose
// "target" is empty or names this manager runs here (RequestHandler on the blocking pool;
// schedule.watch as a long poll on the caller's executor). Any other target is forwarded:
//
//   - over the link to that manager, when one is up (either side may have dialled it);
//   - else to the peer's `url` from [[manager.peers]], over mutual TLS with that peer's API key
//     (one connection per request);
//   - else `not_found` (no such manager) or `unavailable` (known, but not reachable now).
//
// The forwarded request carries "via" (the managers it passed through): a request that comes
// back to a manager already in it, or that would pass more than manager.forward.max_hops
// managers, is refused (`bad_request`) — loops end at once. Every forward is bounded by
// manager.forward.timeout_ms: past it the answer is `timeout`. A read-only key may forward only
// read methods: this manager's own key at the peer must not lend it admin rights.
//
// Owned by the manager's run function; dispatch() is called by connection and link coroutines
// on any executor, at the same time. Never throws.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "common/net.hpp"
#include "manager/api/request_handler.hpp"
#include "manager/links/link.hpp"
#include "manager/protocol/api_protocol.hpp"
#include "manager/protocol/request_dispatcher.hpp"
#include "manager/schedule/schedule_watch.hpp"
#include "manager/settings/manager_config.hpp"

namespace parley {

class BackupSource;

class RequestRouter final : public RequestDispatcher {
  public:
    RequestRouter(const ManagerConfig& config, std::string self_name, RequestHandler& handler,
                  ScheduleWatch& watch, LinkRegistry& links, net::thread_pool& blocking,
                  net::ssl::context* client_tls, std::map<std::string, std::string> peer_keys);

    // The complete answer to `request` (its id echoed).
    awaitable<json> dispatch(const ApiRequest& request, const ApiCaller& caller) override;

    const std::string& self_name() const { return self_; }

    // Runs backup.run (docs/backups.md). Set once, before requests arrive.
    void set_backup_source(BackupSource* source) { backup_source_ = source; }

    // Longest wait a schedule.watch may ask for.
    static constexpr std::int64_t kMaxWatchWaitMs = 300'000;

  private:
    awaitable<json> run_local(const ApiRequest& request, const ApiCaller& caller);
    awaitable<json> forward(const ApiRequest& request, const ApiCaller& caller);
    // Why `request` may not be forwarded at all (a loop, too many hops, a write by a read-only
    // key): the error answer; nothing otherwise.
    std::optional<json> forward_refusal(const ApiRequest& request, const ApiCaller& caller) const;
    // One forwarding attempt: the answer, or what went wrong, and the way it went.
    struct ForwardAttempt {
        std::optional<json> answer;
        std::string route;    // "link <id>" or the peer's URL, for the log
        std::string problem;  // without an answer
        bool timed_out = false;
        bool refused_key = false;
    };
    // Over the peer's API URL, with this manager's key for it and its client certificate.
    awaitable<ForwardAttempt> call_peer_url(const ManagerPeer& peer, const std::string& hop,
                                            const json& outgoing,
                                            std::chrono::milliseconds timeout);
    awaitable<json> watch(const ApiRequest& request);

    const ManagerConfig& config_;
    const std::string self_;
    RequestHandler& handler_;
    ScheduleWatch& watch_;
    LinkRegistry& links_;
    net::thread_pool& blocking_;
    net::ssl::context* client_tls_;
    const std::map<std::string, std::string> peer_keys_;  // peer name -> API key (never logged)
    std::atomic<std::uint64_t> next_forward_{0};
    BackupSource* backup_source_ = nullptr;
};

}  // namespace parley
