#include "common/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace parley {

namespace {

using SteadyTime = std::chrono::steady_clock::time_point;

// Token counts are doubles built from elapsed-time products; without a little slack, waiting
// exactly the advertised retry_after could still leave a bucket a rounding error short.
constexpr double kTokenEpsilon = 1e-9;

// Times in a record that has never been locked.
constexpr SteadyTime kNever = SteadyTime::min();

void require(bool ok, const char* what) {
    if (!ok) throw std::invalid_argument(what);
}

}  // namespace

// --- TokenBucketLimiter -----------------------------------------------------------------------

TokenBucketLimiter::TokenBucketLimiter(TokenBucketConfig config, LimiterClock clock)
    : config_(config), clock_(std::move(clock)) {
    require(std::isfinite(config_.burst) && config_.burst > 0, "token bucket: burst must be > 0");
    require(std::isfinite(config_.rate_per_second) && config_.rate_per_second >= 0,
            "token bucket: rate must be >= 0");
    require(config_.max_keys >= 1, "token bucket: max_keys must be >= 1");
    require(clock_.steady_now && clock_.system_now, "token bucket: clock not set");
}

double TokenBucketLimiter::refilled(const Bucket& b, SteadyTime now) const {
    if (now <= b.updated) return b.tokens;
    double seconds = std::chrono::duration<double>(now - b.updated).count();
    return std::min(config_.burst, b.tokens + seconds * config_.rate_per_second);
}

RateDecision TokenBucketLimiter::acquire(std::string_view key, double cost) {
    require(cost >= 0, "token bucket: cost must be >= 0");  // also rejects NaN
    std::lock_guard lock(mutex_);
    SteadyTime now = clock_.steady_now();
    Bucket* bucket = buckets_.touch(key);
    double tokens = bucket ? refilled(*bucket, now) : config_.burst;

    RateDecision decision;
    if (tokens + kTokenEpsilon >= cost) {
        decision.allowed = true;
        tokens = std::max(0.0, tokens - cost);
    } else if (cost > config_.burst || config_.rate_per_second == 0) {
        decision.retry_after = std::chrono::milliseconds::max();
    } else {
        double ms = std::ceil((cost - tokens) / config_.rate_per_second * 1000.0 - 1e-6);
        decision.retry_after = std::chrono::milliseconds(static_cast<std::int64_t>(ms));
    }

    if (bucket != nullptr) {
        bucket->tokens = tokens;
        bucket->updated = now;
    } else if (tokens < config_.burst) {
        // A full bucket is what an unknown key gets anyway, so only spent ones are stored.
        while (buckets_.size() >= config_.max_keys)
            buckets_.pop_oldest();
        buckets_.insert(key, Bucket{tokens, now});
    }
    // Amortised clean-up: the least recently used buckets are the likeliest to have refilled.
    drop_full_oldest(now, 2);
    return decision;
}

void TokenBucketLimiter::drop_full_oldest(SteadyTime now, int max_checks) {
    for (int i = 0; i < max_checks; ++i) {
        auto* oldest = buckets_.oldest();
        if (oldest == nullptr || refilled(oldest->value, now) + kTokenEpsilon < config_.burst) {
            return;
        }
        buckets_.pop_oldest();
    }
}

double TokenBucketLimiter::available(std::string_view key) const {
    std::lock_guard lock(mutex_);
    const Bucket* bucket = buckets_.find(key);
    return bucket ? refilled(*bucket, clock_.steady_now()) : config_.burst;
}

void TokenBucketLimiter::reset(std::string_view key) {
    std::lock_guard lock(mutex_);
    buckets_.erase(key);
}

std::size_t TokenBucketLimiter::prune() {
    std::lock_guard lock(mutex_);
    SteadyTime now = clock_.steady_now();
    std::vector<std::string_view> full;
    for (const auto& entry : buckets_.entries()) {
        if (refilled(entry.value, now) + kTokenEpsilon >= config_.burst) full.push_back(entry.key);
    }
    // Each view points into its own entry; erase() is done with it before freeing the entry.
    for (auto key : full)
        buckets_.erase(key);
    return full.size();
}

std::size_t TokenBucketLimiter::size() const {
    std::lock_guard lock(mutex_);
    return buckets_.size();
}

// --- FailureBackoff ---------------------------------------------------------------------------

FailureBackoff::FailureBackoff(FailureBackoffConfig config, LimiterClock clock)
    : config_(config), clock_(std::move(clock)) {
    require(config_.threshold >= 1, "failure backoff: threshold must be >= 1");
    require(config_.base.count() > 0 && config_.base <= config_.max,
            "failure backoff: need 0 < base <= max");
    require(std::isfinite(config_.factor) && config_.factor >= 1,
            "failure backoff: factor must be >= 1");
    require(config_.forget_after.count() > 0, "failure backoff: forget_after must be > 0");
    require(config_.max_keys >= 1, "failure backoff: max_keys must be >= 1");
    require(clock_.steady_now && clock_.system_now, "failure backoff: clock not set");
}

bool FailureBackoff::stale(const Record& r, SteadyTime now) const {
    return now >= r.locked_until && now - r.last_failure >= config_.forget_after;
}

FailureState FailureBackoff::to_state(const Record& r, SteadyTime now,
                                      std::chrono::system_clock::time_point wall_now) const {
    FailureState state;
    state.failures = r.failures;
    if (now < r.locked_until) {
        // Rounded up so that a restored lock-out is never shorter than the live one.
        auto remaining = std::chrono::ceil<std::chrono::milliseconds>(r.locked_until - now);
        auto wall_ms = std::chrono::floor<std::chrono::milliseconds>(wall_now.time_since_epoch());
        state.locked_until_unix_ms = (wall_ms + remaining).count();
    }
    return state;
}

void FailureBackoff::make_room(SteadyTime now) {
    // Forgotten keys go first; after them, the key whose last failure is oldest.
    for (int i = 0; i < 2; ++i) {
        auto* oldest = records_.oldest();
        if (oldest == nullptr || !stale(oldest->value, now)) break;
        records_.pop_oldest();
    }
    while (records_.size() >= config_.max_keys)
        records_.pop_oldest();
}

FailureState FailureBackoff::record_failure(std::string_view key) {
    std::lock_guard lock(mutex_);
    SteadyTime now = clock_.steady_now();
    auto wall_now = clock_.system_now();
    Record* record = records_.touch(key);
    if (record != nullptr && stale(*record, now)) {
        record->failures = 0;
        record->locked_until = kNever;
    }
    if (record == nullptr) {
        make_room(now);
        record = &records_.insert(key, Record{0, now, kNever});
    }
    if (record->failures < std::numeric_limits<std::uint32_t>::max()) ++record->failures;
    record->last_failure = now;
    if (record->failures >= config_.threshold) {
        double ms = static_cast<double>(config_.base.count()) *
                    std::pow(config_.factor, record->failures - config_.threshold);
        // Compared as doubles first: factor^n overflows to infinity long before it is capped.
        auto lockout = ms < static_cast<double>(config_.max.count())
                           ? std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(ms)))
                           : config_.max;
        record->locked_until = now + lockout;
    }
    return to_state(*record, now, wall_now);
}

void FailureBackoff::record_success(std::string_view key) {
    std::lock_guard lock(mutex_);
    records_.erase(key);
}

bool FailureBackoff::is_locked(std::string_view key) const {
    return locked_until(key).has_value();
}

std::optional<SteadyTime> FailureBackoff::locked_until(std::string_view key) const {
    std::lock_guard lock(mutex_);
    const Record* record = records_.find(key);
    if (record == nullptr || clock_.steady_now() >= record->locked_until) return std::nullopt;
    return record->locked_until;
}

std::chrono::milliseconds FailureBackoff::retry_after(std::string_view key) const {
    std::lock_guard lock(mutex_);
    const Record* record = records_.find(key);
    SteadyTime now = clock_.steady_now();
    if (record == nullptr || now >= record->locked_until) return std::chrono::milliseconds(0);
    return std::chrono::ceil<std::chrono::milliseconds>(record->locked_until - now);
}

std::optional<FailureState> FailureBackoff::snapshot(std::string_view key) const {
    std::lock_guard lock(mutex_);
    const Record* record = records_.find(key);
    SteadyTime now = clock_.steady_now();
    if (record == nullptr || stale(*record, now)) return std::nullopt;
    return to_state(*record, now, clock_.system_now());
}

std::vector<std::pair<std::string, FailureState>> FailureBackoff::snapshot_all() const {
    std::lock_guard lock(mutex_);
    SteadyTime now = clock_.steady_now();
    auto wall_now = clock_.system_now();
    std::vector<std::pair<std::string, FailureState>> out;
    out.reserve(records_.size());
    for (const auto& entry : records_.entries()) {
        if (!stale(entry.value, now))
            out.emplace_back(entry.key, to_state(entry.value, now, wall_now));
    }
    return out;
}

void FailureBackoff::restore(std::string_view key, const FailureState& state) {
    std::lock_guard lock(mutex_);
    SteadyTime now = clock_.steady_now();
    // Clamped so that the subtraction below cannot overflow on a clock set before 1970.
    std::int64_t wall_ms = std::max<std::int64_t>(
        0, std::chrono::floor<std::chrono::milliseconds>(clock_.system_now().time_since_epoch())
               .count());
    SteadyTime until = kNever;
    // Compared in integer milliseconds: a corrupt far-future value must not overflow the
    // nanosecond clocks, and no lock-out may outlast `max` (the wall clock may have jumped).
    if (state.locked_until_unix_ms > wall_ms) {
        auto remaining =
            std::min(std::chrono::milliseconds(state.locked_until_unix_ms - wall_ms), config_.max);
        until = now + remaining;
    }
    if (state.failures == 0 && until == kNever) {
        records_.erase(key);
        return;
    }
    Record* record = records_.touch(key);
    if (record == nullptr) {
        make_room(now);
        record = &records_.insert(key, Record{0, now, kNever});
    }
    record->failures = state.failures;
    record->last_failure = now;
    record->locked_until = until;
}

std::size_t FailureBackoff::size() const {
    std::lock_guard lock(mutex_);
    return records_.size();
}

}  // namespace parley
