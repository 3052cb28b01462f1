#include "common/rate_limiter.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace parley;
using namespace std::chrono_literals;
using std::chrono::milliseconds;

namespace {

// Steady and wall time move together, from arbitrary non-zero origins (as on a real host).
struct FakeClock {
    std::chrono::steady_clock::time_point steady{std::chrono::hours(1000)};
    std::chrono::system_clock::time_point wall{milliseconds(1'700'000'000'000)};

    void advance(std::chrono::steady_clock::duration d) {
        steady += d;
        wall += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
    }
    std::int64_t wall_ms() const {
        return std::chrono::duration_cast<milliseconds>(wall.time_since_epoch()).count();
    }
    LimiterClock clock() {
        return LimiterClock{[this] { return steady; }, [this] { return wall; }};
    }
};

}  // namespace

// --- TokenBucketLimiter -----------------------------------------------------------------------

TEST_CASE("token bucket allows a burst, then denies with retry_after", "[ratelimit]") {
    FakeClock fake;
    TokenBucketLimiter limiter({.rate_per_second = 1.0, .burst = 3.0, .max_keys = 100},
                               fake.clock());
    CHECK(limiter.try_acquire("alice"));
    CHECK(limiter.try_acquire("alice"));
    CHECK(limiter.try_acquire("alice"));
    RateDecision denied = limiter.acquire("alice");
    CHECK_FALSE(denied.allowed);
    CHECK(denied.retry_after == 1000ms);
    // A denied request takes nothing.
    CHECK(limiter.available("alice") == Approx(0.0).margin(1e-9));

    // Keys are independent.
    CHECK(limiter.try_acquire("bob"));
    CHECK(limiter.available("bob") == Approx(2.0));
    CHECK(limiter.available("carol") == Approx(3.0));
}

TEST_CASE("token bucket refills at the configured rate, capped at burst", "[ratelimit]") {
    FakeClock fake;
    TokenBucketLimiter limiter({.rate_per_second = 2.0, .burst = 4.0, .max_keys = 100},
                               fake.clock());
    for (int i = 0; i < 4; ++i)
        REQUIRE(limiter.try_acquire("k"));
    REQUIRE_FALSE(limiter.try_acquire("k"));

    fake.advance(250ms);  // half a token
    RateDecision d = limiter.acquire("k");
    CHECK_FALSE(d.allowed);
    CHECK(d.retry_after == 250ms);

    fake.advance(d.retry_after);  // waiting exactly the advertised time is enough
    CHECK(limiter.try_acquire("k"));
    CHECK_FALSE(limiter.try_acquire("k"));

    fake.advance(1500ms);  // three tokens
    CHECK(limiter.available("k") == Approx(3.0));
    fake.advance(1h);
    CHECK(limiter.available("k") == Approx(4.0));
    for (int i = 0; i < 4; ++i)
        CHECK(limiter.try_acquire("k"));
    CHECK_FALSE(limiter.try_acquire("k"));
}

TEST_CASE("token bucket costs, quotas and impossible requests", "[ratelimit]") {
    FakeClock fake;
    TokenBucketLimiter limiter({.rate_per_second = 1.0, .burst = 5.0, .max_keys = 100},
                               fake.clock());
    CHECK(limiter.try_acquire("k", 3.0));
    RateDecision d = limiter.acquire("k", 3.0);
    CHECK_FALSE(d.allowed);
    CHECK(d.retry_after == 1000ms);
    CHECK(limiter.try_acquire("k", 2.0));

    RateDecision never = limiter.acquire("other", 6.0);
    CHECK_FALSE(never.allowed);
    CHECK(never.retry_after == milliseconds::max());
    CHECK(limiter.available("other") == Approx(5.0));

    CHECK(limiter.try_acquire("k", 0.0));
    CHECK_THROWS_AS(limiter.acquire("k", -1.0), std::invalid_argument);
    CHECK_THROWS_AS(limiter.acquire("k", std::numeric_limits<double>::quiet_NaN()),
                    std::invalid_argument);

    TokenBucketLimiter quota({.rate_per_second = 0.0, .burst = 2.0, .max_keys = 100}, fake.clock());
    CHECK(quota.try_acquire("k"));
    CHECK(quota.try_acquire("k"));
    fake.advance(24h);
    RateDecision spent = quota.acquire("k");
    CHECK_FALSE(spent.allowed);
    CHECK(spent.retry_after == milliseconds::max());
}

TEST_CASE("token bucket memory is bounded by max_keys, evicting the least recently used",
          "[ratelimit]") {
    FakeClock fake;
    TokenBucketLimiter limiter({.rate_per_second = 0.001, .burst = 2.0, .max_keys = 3},
                               fake.clock());
    for (int i = 0; i < 1000; ++i) {
        limiter.try_acquire("key-" + std::to_string(i));
        REQUIRE(limiter.size() <= 3);
    }
    CHECK(limiter.size() == 3);

    limiter.reset("key-997");
    limiter.reset("key-998");
    limiter.reset("key-999");
    CHECK(limiter.size() == 0);

    limiter.try_acquire("a");
    limiter.try_acquire("b");
    limiter.try_acquire("c");
    limiter.try_acquire("a");  // a is now the most recently used
    limiter.try_acquire("d");  // evicts b
    CHECK(limiter.size() == 3);
    CHECK(limiter.available("a") == Approx(0.0).margin(1e-6));
    CHECK(limiter.available("b") == Approx(2.0));  // forgotten: a fresh bucket
    CHECK(limiter.available("c") == Approx(1.0).margin(1e-6));
    CHECK(limiter.available("d") == Approx(1.0).margin(1e-6));
}

TEST_CASE("token bucket drops buckets that have refilled", "[ratelimit]") {
    FakeClock fake;
    TokenBucketLimiter limiter({.rate_per_second = 1.0, .burst = 2.0, .max_keys = 100},
                               fake.clock());
    // A request that leaves the bucket full (cost 0) stores nothing.
    limiter.try_acquire("idle", 0.0);
    CHECK(limiter.size() == 0);

    for (int i = 0; i < 10; ++i)
        limiter.try_acquire("k" + std::to_string(i));
    CHECK(limiter.size() == 10);
    fake.advance(500ms);
    CHECK(limiter.prune() == 0);
    fake.advance(500ms);
    CHECK(limiter.prune() == 10);
    CHECK(limiter.size() == 0);

    // acquire() also drops refilled buckets at the old end, without a prune().
    limiter.try_acquire("old1");
    limiter.try_acquire("old2");
    fake.advance(2s);
    limiter.try_acquire("new");
    CHECK(limiter.size() == 1);
    CHECK(limiter.available("new") == Approx(1.0));
}

TEST_CASE("token bucket rejects invalid configurations", "[ratelimit]") {
    CHECK_THROWS_AS((TokenBucketLimiter({.rate_per_second = 1, .burst = 0, .max_keys = 1})),
                    std::invalid_argument);
    CHECK_THROWS_AS((TokenBucketLimiter({.rate_per_second = -1, .burst = 1, .max_keys = 1})),
                    std::invalid_argument);
    CHECK_THROWS_AS((TokenBucketLimiter({.rate_per_second = 1, .burst = 1, .max_keys = 0})),
                    std::invalid_argument);
    CHECK_THROWS_AS((TokenBucketLimiter({.rate_per_second = 1, .burst = 1, .max_keys = 1},
                                        LimiterClock{nullptr, nullptr})),
                    std::invalid_argument);
    CHECK_NOTHROW(TokenBucketLimiter({.rate_per_second = 1, .burst = 1, .max_keys = 1}));
}

TEST_CASE("token bucket with the real clock", "[ratelimit]") {
    TokenBucketLimiter limiter({.rate_per_second = 1.0, .burst = 2.0, .max_keys = 10});
    CHECK(limiter.try_acquire("k"));
    CHECK(limiter.try_acquire("k"));
    RateDecision d = limiter.acquire("k");
    CHECK_FALSE(d.allowed);
    CHECK(d.retry_after > 900ms);
    CHECK(d.retry_after <= 1000ms);
}

TEST_CASE("token bucket is thread-safe: concurrent callers never exceed the quota", "[ratelimit]") {
    TokenBucketLimiter limiter({.rate_per_second = 0.0, .burst = 10000.0, .max_keys = 64});
    std::atomic<int> allowed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 5000; ++i) {
                if (limiter.try_acquire("shared")) ++allowed;
                limiter.try_acquire("t" + std::to_string(t) + "-" + std::to_string(i % 100));
            }
        });
    }
    for (auto& th : threads)
        th.join();
    CHECK(allowed == 10000);
    CHECK(limiter.size() <= 64);
}

// --- FailureBackoff ---------------------------------------------------------------------------

namespace {
FailureBackoffConfig test_backoff_config() {
    FailureBackoffConfig config;
    config.threshold = 3;
    config.base = 1s;
    config.factor = 2.0;
    config.max = 10s;
    config.forget_after = 1h;
    config.max_keys = 100;
    return config;
}
}  // namespace

TEST_CASE("failure backoff locks after K failures with exponential growth and a cap",
          "[ratelimit]") {
    FakeClock fake;
    FailureBackoff backoff(test_backoff_config(), fake.clock());

    CHECK(backoff.record_failure("acct") == FailureState{1, 0});
    CHECK(backoff.record_failure("acct") == FailureState{2, 0});
    CHECK_FALSE(backoff.is_locked("acct"));
    CHECK(backoff.retry_after("acct") == 0ms);

    const milliseconds expected[] = {1s, 2s, 4s, 8s, 10s, 10s, 10s};
    std::uint32_t failures = 2;
    for (milliseconds lockout : expected) {
        CAPTURE(failures, lockout.count());
        FailureState state = backoff.record_failure("acct");
        ++failures;
        CHECK(state.failures == failures);
        CHECK(state.locked_until_unix_ms == fake.wall_ms() + lockout.count());
        CHECK(backoff.is_locked("acct"));
        CHECK(backoff.locked_until("acct") == fake.steady + lockout);
        CHECK(backoff.retry_after("acct") == lockout);

        fake.advance(lockout - 1ms);
        CHECK(backoff.is_locked("acct"));
        CHECK(backoff.retry_after("acct") == 1ms);
        fake.advance(1ms);
        CHECK_FALSE(backoff.is_locked("acct"));
        CHECK_FALSE(backoff.locked_until("acct"));
    }
    CHECK_FALSE(backoff.is_locked("other"));
}

TEST_CASE("failure backoff: a huge failure count stays capped", "[ratelimit]") {
    FakeClock fake;
    FailureBackoffConfig config = test_backoff_config();
    config.threshold = 1;
    config.factor = 10.0;
    FailureBackoff backoff(config, fake.clock());
    for (int i = 0; i < 5000; ++i)
        backoff.record_failure("k");
    CHECK(backoff.retry_after("k") == 10s);
    backoff.restore("k", {std::numeric_limits<std::uint32_t>::max(), 0});
    CHECK(backoff.record_failure("k").failures == std::numeric_limits<std::uint32_t>::max());
    CHECK(backoff.retry_after("k") == 10s);
}

TEST_CASE("failure backoff resets on success", "[ratelimit]") {
    FakeClock fake;
    FailureBackoff backoff(test_backoff_config(), fake.clock());
    for (int i = 0; i < 4; ++i)
        backoff.record_failure("acct");
    REQUIRE(backoff.is_locked("acct"));
    backoff.record_success("acct");
    CHECK_FALSE(backoff.is_locked("acct"));
    CHECK_FALSE(backoff.snapshot("acct"));
    CHECK(backoff.size() == 0);
    // The count starts again from zero.
    CHECK(backoff.record_failure("acct") == FailureState{1, 0});
    CHECK(backoff.record_failure("acct") == FailureState{2, 0});
    CHECK(backoff.record_failure("acct").locked_until_unix_ms == fake.wall_ms() + 1000);
}

TEST_CASE("failure backoff forgets idle keys after forget_after", "[ratelimit]") {
    FakeClock fake;
    FailureBackoff backoff(test_backoff_config(), fake.clock());
    backoff.record_failure("acct");
    backoff.record_failure("acct");
    fake.advance(1h - 1ms);
    CHECK(backoff.snapshot("acct") == FailureState{2, 0});
    fake.advance(1ms);
    CHECK_FALSE(backoff.snapshot("acct"));
    CHECK(backoff.snapshot_all().empty());
    CHECK(backoff.record_failure("acct") == FailureState{1, 0});
}

TEST_CASE("failure backoff snapshot and restore carry a lock-out across instances", "[ratelimit]") {
    FakeClock fake;
    FailureBackoff before(test_backoff_config(), fake.clock());
    for (int i = 0; i < 4; ++i)
        before.record_failure("bot-key");  // locked for 2 s
    fake.advance(500ms);
    auto saved = before.snapshot("bot-key");
    REQUIRE(saved);
    CHECK(saved->failures == 4);
    CHECK(saved->locked_until_unix_ms == fake.wall_ms() + 1500);
    CHECK_FALSE(before.snapshot("unknown"));

    // "Restart": a new process whose steady clock has an unrelated origin.
    FakeClock later;
    later.steady = std::chrono::steady_clock::time_point(std::chrono::hours(5));
    later.wall = fake.wall + 300ms;
    FailureBackoff after(test_backoff_config(), later.clock());
    after.restore("bot-key", *saved);
    CHECK(after.is_locked("bot-key"));
    CHECK(after.retry_after("bot-key") == 1200ms);
    CHECK(after.snapshot("bot-key") == saved);
    later.advance(1200ms);
    CHECK_FALSE(after.is_locked("bot-key"));
    // The failure count survived too: the next failure locks for 4 s.
    CHECK(after.record_failure("bot-key").locked_until_unix_ms == later.wall_ms() + 4000);
}

TEST_CASE("failure backoff restore edge cases", "[ratelimit]") {
    FakeClock fake;
    FailureBackoff backoff(test_backoff_config(), fake.clock());

    // A lock-out persisted with a far-future time is cut to `max` (no overflow).
    backoff.restore("far", {7, std::numeric_limits<std::int64_t>::max()});
    CHECK(backoff.retry_after("far") == 10s);

    // An expired lock-out restores only the count.
    backoff.restore("expired", {3, fake.wall_ms() - 5000});
    CHECK_FALSE(backoff.is_locked("expired"));
    CHECK(backoff.snapshot("expired") == FailureState{3, 0});

    backoff.restore("negative", {0, -1});
    CHECK_FALSE(backoff.snapshot("negative"));

    // An empty state removes the key.
    backoff.restore("far", {0, 0});
    CHECK_FALSE(backoff.snapshot("far"));
    CHECK_FALSE(backoff.is_locked("far"));

    // A lock-out without failures is kept.
    backoff.restore("locked-only", {0, fake.wall_ms() + 3000});
    CHECK(backoff.retry_after("locked-only") == 3s);

    auto all = backoff.snapshot_all();
    CHECK(all.size() == 2);
}

TEST_CASE("failure backoff memory is bounded by max_keys", "[ratelimit]") {
    FakeClock fake;
    FailureBackoffConfig config = test_backoff_config();
    config.max_keys = 3;
    FailureBackoff backoff(config, fake.clock());
    for (int i = 0; i < 1000; ++i) {
        backoff.record_failure("addr-" + std::to_string(i));
        REQUIRE(backoff.size() <= 3);
    }
    backoff.restore("r", {1, 0});
    CHECK(backoff.size() == 3);
    // The key with the oldest failure goes first.
    CHECK_FALSE(backoff.snapshot("addr-997"));
    CHECK(backoff.snapshot("addr-998"));
    CHECK(backoff.snapshot("r"));
}

TEST_CASE("failure backoff snapshot_all lists live keys", "[ratelimit]") {
    FakeClock fake;
    FailureBackoff backoff(test_backoff_config(), fake.clock());
    backoff.record_failure("a");
    for (int i = 0; i < 3; ++i)
        backoff.record_failure("b");
    auto all = backoff.snapshot_all();
    REQUIRE(all.size() == 2);
    std::map<std::string, FailureState> by_key(all.begin(), all.end());
    CHECK(by_key["a"] == FailureState{1, 0});
    CHECK(by_key["b"] == FailureState{3, fake.wall_ms() + 1000});
}

TEST_CASE("failure backoff rejects invalid configurations", "[ratelimit]") {
    auto with = [](auto change) {
        FailureBackoffConfig config = test_backoff_config();
        change(config);
        return config;
    };
    CHECK_THROWS_AS(FailureBackoff(with([](auto& c) { c.threshold = 0; })), std::invalid_argument);
    CHECK_THROWS_AS(FailureBackoff(with([](auto& c) { c.base = 0ms; })), std::invalid_argument);
    CHECK_THROWS_AS(FailureBackoff(with([](auto& c) { c.max = 500ms; })), std::invalid_argument);
    CHECK_THROWS_AS(FailureBackoff(with([](auto& c) { c.factor = 0.5; })), std::invalid_argument);
    CHECK_THROWS_AS(FailureBackoff(with([](auto& c) { c.max_keys = 0; })), std::invalid_argument);
    CHECK_THROWS_AS(FailureBackoff(with([](auto& c) { c.forget_after = 0ms; })),
                    std::invalid_argument);
    CHECK_NOTHROW(FailureBackoff(FailureBackoffConfig{}));
}

TEST_CASE("failure backoff is thread-safe", "[ratelimit]") {
    FailureBackoffConfig config = test_backoff_config();
    config.threshold = 1000000;
    config.max_keys = 64;
    FailureBackoff backoff(config);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 5000; ++i) {
                backoff.record_failure("shared");
                backoff.record_failure("t" + std::to_string(t) + "-" + std::to_string(i));
                (void)backoff.is_locked("shared");
            }
        });
    }
    for (auto& th : threads)
        th.join();
    auto shared = backoff.snapshot("shared");
    REQUIRE(shared);
    CHECK(shared->failures == 20000);
    CHECK(backoff.size() <= 64);
}
