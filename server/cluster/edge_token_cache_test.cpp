#include "server/cluster/edge_token_cache.hpp"

#include <thread>

#include <catch2/catch.hpp>

namespace parley {

TEST_CASE("the edge token cache forgets ended sessions, expires entries and stays bounded",
          "[cluster]") {
    using namespace std::chrono_literals;
    EdgeTokenCache cache(3, 200ms);
    CHECK_FALSE(cache.find("t1"));
    cache.put("t1", {"a1", "s1"});
    cache.put("t2", {"a1", "s1"});  // a refreshed token of the same session
    cache.put("t3", {"a2", "s2"});
    REQUIRE(cache.find("t1"));
    CHECK(cache.find("t1")->session_id == "s1");
    CHECK(cache.find("t3")->account_id == "a2");

    // Every token of an ended session goes.
    cache.evict_session("s1");
    CHECK_FALSE(cache.find("t1"));
    CHECK_FALSE(cache.find("t2"));
    CHECK(cache.find("t3"));

    // Full: the oldest goes first; putting a cached token again does not grow anything.
    cache.put("t4", {"a4", "s4"});
    cache.put("t5", {"a5", "s5"});
    for (int i = 0; i < 100; ++i)
        cache.put("t5", {"a5", "s5"});
    CHECK(cache.size() == 3);
    cache.put("t6", {"a6", "s6"});
    CHECK(cache.size() == 3);
    CHECK_FALSE(cache.find("t3"));
    CHECK(cache.find("t6"));

    // Expired entries are never answered.
    std::this_thread::sleep_for(250ms);
    CHECK_FALSE(cache.find("t6"));
}

}  // namespace parley
