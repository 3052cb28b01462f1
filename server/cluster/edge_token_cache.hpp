// EdgeTokenCache: an edge's memory of the access tokens the primary accepted at socket
// upgrades (SHA-256 of the token -> account and session), so a client that reconnects opens
// its socket without waiting for the primary (docs/cluster.md, "Sessions and tokens").
//
// Safe only while ended sessions reach the edge: the edge consults it only while its Redis
// connection (and so the control stream) is up, evicts a session's tokens when the control
// stream or the session check says it ended, and keeps an entry at most `ttl` whatever
// happens. Bounded: at `capacity` entries, expired ones are dropped and then the oldest.
// Owned by the edge app; thread-safe (one mutex, short critical sections).
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace parley {

class EdgeTokenCache {
  public:
    struct Entry {
        std::string account_id;
        std::string session_id;
    };

    EdgeTokenCache(std::size_t capacity, std::chrono::milliseconds ttl);

    std::optional<Entry> find(std::string_view token);
    void put(std::string_view token, Entry entry);
    void evict_session(const std::string& session_id);
    std::size_t size() const;

  private:
    struct Slot {
        Entry entry;
        std::chrono::steady_clock::time_point expires;
    };

    const std::size_t capacity_;
    const std::chrono::milliseconds ttl_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, Slot> by_hash_;
    std::deque<std::string> order_;  // hashes, oldest first (may name evicted ones)
};

}  // namespace parley
