// Link: one open connection between two managers over which *both* sides send requests and
// answers, multiplexed by id (docs/manager-api.md, "Links"). One side dialled it (LinkDialer:
// a manager with no open port dials out to its peer); the other accepted it on its API
// listener and learnt the dialler's name from `link.hello`. Either way, the rest of the manager
// sees a Link by the peer's name in the LinkRegistry, and forwarding (RequestRouter) sends a
// request over it with call().
//
// LinkRegistry: the links that are up, by peer name. A new link from the same peer replaces
// (and closes) the old one. Thread-safe; owned by the manager's run function.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/net.hpp"

namespace parley {

struct LinkCallResult {
    std::optional<nlohmann::json> answer;  // the peer's answer (its id is the link's own)
    std::string error;                     // why there is none
    bool timed_out = false;                // no answer within the timeout (the link is up)
};

class Link {
  public:
    virtual ~Link() = default;
    virtual const std::string& peer_name() const = 0;
    virtual std::uint64_t id() const = 0;
    // Sends `request` (a complete request object; its "id" is replaced by one of the link's)
    // and waits up to `timeout` for the answer. Callable from any executor; never throws.
    virtual awaitable<LinkCallResult> call(const nlohmann::json& request,
                                           std::chrono::milliseconds timeout) = 0;
    // Ends the link (its connection closes, calls waiting on it fail). Thread-safe.
    virtual void close(std::string reason) = 0;
};

class LinkRegistry {
  public:
    // Registers `link` under its peer name; a link already there is closed and replaced.
    void add(const std::shared_ptr<Link>& link);
    // Unregisters `link` if it is still the registered one for its peer.
    void remove(const Link& link);
    std::shared_ptr<Link> find(const std::string& peer_name) const;
    std::vector<std::string> names() const;
    void close_all(const std::string& reason);

  private:
    mutable std::mutex mutex_;
    std::map<std::string, std::shared_ptr<Link>> links_;
};

}  // namespace parley
