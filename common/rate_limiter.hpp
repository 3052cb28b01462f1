// In-memory abuse controls keyed by string (an account id, a client address, a bot or API key):
// TokenBucketLimiter meters request rates, FailureBackoff locks a key out after repeated failed
// authentications with exponential back-off. Both are thread-safe (one mutex each, held for O(1)
// work per call except prune/snapshot_all; the injected clock is called under it, so it must
// not call back in), keep at most `max_keys` keys by evicting the least recently used one, and
// read time from an injected LimiterClock so tests are deterministic. Each mode owns its instances
// (no globals). FailureBackoff exposes per-key snapshot/restore with wall-clock times so the caller
// can persist lock-outs (bot keys) across restarts; TokenBucketLimiter state is memory-only.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace parley {

// Time sources; default-constructed it reads the real clocks. Both must be set.
struct LimiterClock {
    std::function<std::chrono::steady_clock::time_point()> steady_now = [] {
        return std::chrono::steady_clock::now();
    };
    std::function<std::chrono::system_clock::time_point()> system_now = [] {
        return std::chrono::system_clock::now();
    };
};

namespace detail {

// A map whose entries are also kept in least-recently-used order, so eviction is O(1).
template <class Value>
class LruTable {
  public:
    struct Entry {
        std::string key;
        Value value;
    };

    // Returns the entry for `key` (marking it most recently used), or nullptr.
    Value* touch(std::string_view key) {
        auto it = index_.find(key);
        if (it == index_.end()) return nullptr;
        order_.splice(order_.begin(), order_, it->second);
        return &it->second->value;
    }
    Value* find(std::string_view key) {
        auto it = index_.find(key);
        return it == index_.end() ? nullptr : &it->second->value;
    }
    const Value* find(std::string_view key) const {
        auto it = index_.find(key);
        return it == index_.end() ? nullptr : &it->second->value;
    }
    // `key` must not be present.
    Value& insert(std::string_view key, Value value) {
        order_.push_front(Entry{std::string(key), std::move(value)});
        // The view points into the list node, which never moves.
        index_.emplace(std::string_view(order_.front().key), order_.begin());
        return order_.front().value;
    }
    void erase(std::string_view key) {
        auto it = index_.find(key);
        if (it == index_.end()) return;
        auto node = it->second;
        index_.erase(it);
        order_.erase(node);
    }
    Entry* oldest() { return order_.empty() ? nullptr : &order_.back(); }
    void pop_oldest() {
        if (order_.empty()) return;
        index_.erase(std::string_view(order_.back().key));
        order_.pop_back();
    }
    std::size_t size() const { return index_.size(); }
    const std::list<Entry>& entries() const { return order_; }
    std::list<Entry>& entries() { return order_; }

  private:
    std::list<Entry> order_;  // front: most recently used
    std::unordered_map<std::string_view, typename std::list<Entry>::iterator> index_;
};

}  // namespace detail

// ---------------------------------------------------------------------------------------------

struct TokenBucketConfig {
    double rate_per_second = 1.0;  // refill; 0 turns `burst` into a fixed quota per key
    double burst = 10.0;           // capacity, and what an unseen key starts with
    std::size_t max_keys = 100'000;
};

struct RateDecision {
    bool allowed = false;
    // When denied: the wait before the same request can succeed (for Retry-After);
    // milliseconds::max() when it never can (cost above burst, or no refill).
    std::chrono::milliseconds retry_after{0};
};

class TokenBucketLimiter {
  public:
    // Throws std::invalid_argument unless burst > 0, rate >= 0 and max_keys >= 1.
    explicit TokenBucketLimiter(TokenBucketConfig config, LimiterClock clock = {});

    // Takes `cost` tokens from the key's bucket if it holds that many; a denied request takes
    // nothing. Throws std::invalid_argument for a negative or NaN cost.
    RateDecision acquire(std::string_view key, double cost = 1.0);
    bool try_acquire(std::string_view key, double cost = 1.0) { return acquire(key, cost).allowed; }

    // Tokens the key holds now (burst for an unknown key); does not change state.
    double available(std::string_view key) const;
    void reset(std::string_view key);
    // Drops every bucket that has refilled to burst (it is indistinguishable from a new one);
    // returns how many. Calls to acquire() already do this for the least recently used buckets.
    std::size_t prune();
    std::size_t size() const;
    const TokenBucketConfig& config() const { return config_; }

  private:
    struct Bucket {
        double tokens;
        std::chrono::steady_clock::time_point updated;
    };
    double refilled(const Bucket& b, std::chrono::steady_clock::time_point now) const;
    void drop_full_oldest(std::chrono::steady_clock::time_point now, int max_checks);

    const TokenBucketConfig config_;
    const LimiterClock clock_;
    mutable std::mutex mutex_;
    detail::LruTable<Bucket> buckets_;
};

// ---------------------------------------------------------------------------------------------

struct FailureBackoffConfig {
    // The `threshold`-th consecutive failure starts the first lock-out, of `base`; each further
    // failure multiplies it by `factor`, up to `max`.
    std::uint32_t threshold = 5;
    std::chrono::milliseconds base{1'000};
    double factor = 2.0;
    std::chrono::milliseconds max{15 * 60 * 1'000};
    // A key with no failure for this long, and not locked, starts again from zero.
    std::chrono::milliseconds forget_after{24 * 60 * 60 * 1'000};
    std::size_t max_keys = 100'000;
};

// What a caller persists for one key. locked_until_unix_ms is system-clock milliseconds since the
// Unix epoch (0 = not locked), so a lock-out survives a restart.
struct FailureState {
    std::uint32_t failures = 0;
    std::int64_t locked_until_unix_ms = 0;
    bool operator==(const FailureState&) const = default;
};

class FailureBackoff {
  public:
    // Throws std::invalid_argument unless threshold >= 1, 0 < base <= max, factor >= 1 and
    // max_keys >= 1.
    explicit FailureBackoff(FailureBackoffConfig config, LimiterClock clock = {});

    // Counts one failure and returns the key's new state (to persist it if needed). Callers
    // check is_locked() first and do not attempt, or record, while locked; a failure recorded
    // during a lock-out restarts it, longer.
    FailureState record_failure(std::string_view key);
    // A success clears the key's failures and any lock-out.
    void record_success(std::string_view key);

    bool is_locked(std::string_view key) const;
    // When the current lock-out ends; nullopt when the key is not locked.
    std::optional<std::chrono::steady_clock::time_point> locked_until(std::string_view key) const;
    // Time left in the lock-out, rounded up (for Retry-After); 0 when not locked.
    std::chrono::milliseconds retry_after(std::string_view key) const;

    // nullopt when the key has no failures on record.
    std::optional<FailureState> snapshot(std::string_view key) const;
    std::vector<std::pair<std::string, FailureState>> snapshot_all() const;
    // Replaces the key's state; a lock-out is shortened to at most `max` from now, and a state
    // with no failures and no lock-out removes the key.
    void restore(std::string_view key, const FailureState& state);

    std::size_t size() const;
    const FailureBackoffConfig& config() const { return config_; }

  private:
    struct Record {
        std::uint32_t failures;
        std::chrono::steady_clock::time_point last_failure;
        std::chrono::steady_clock::time_point locked_until;
    };
    bool stale(const Record& r, std::chrono::steady_clock::time_point now) const;
    FailureState to_state(const Record& r, std::chrono::steady_clock::time_point now,
                          std::chrono::system_clock::time_point wall_now) const;
    void make_room(std::chrono::steady_clock::time_point now);

    const FailureBackoffConfig config_;
    const LimiterClock clock_;
    mutable std::mutex mutex_;
    detail::LruTable<Record> records_;
};

}  // namespace parley
