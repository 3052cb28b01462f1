// The links' pure parts: the jittered back-off and the registry's replace/remove rules.
#include "manager/links/link_dialer.hpp"

#include <catch2/catch.hpp>

#include "common/backoff.hpp"

namespace parley {

using std::chrono::milliseconds;

TEST_CASE("link back-off doubles per failure, is capped, and jitters in the upper half",
          "[manager][links]") {
    const milliseconds base(500), max(30'000);
    CHECK(jittered_backoff(0, base, max, 0.0) == milliseconds(250));
    CHECK(jittered_backoff(0, base, max, 1.0) == milliseconds(500));
    CHECK(jittered_backoff(1, base, max, 1.0) == milliseconds(1'000));
    CHECK(jittered_backoff(3, base, max, 0.5) == milliseconds(3'000));
    CHECK(jittered_backoff(10, base, max, 1.0) == max);
    CHECK(jittered_backoff(10, base, max, 0.0) == max / 2);
    CHECK(jittered_backoff(1'000, base, max, 0.99) <= max);
    CHECK(jittered_backoff(2, base, max, 7.0) == milliseconds(2'000));  // clamped
}

namespace {

struct FakeLink : Link {
    FakeLink(std::string n, std::uint64_t i) : name(std::move(n)), number(i) {}
    const std::string& peer_name() const override { return name; }
    std::uint64_t id() const override { return number; }
    awaitable<LinkCallResult> call(const nlohmann::json&, std::chrono::milliseconds) override {
        co_return LinkCallResult{};
    }
    void close(std::string reason) override { closed_with = std::move(reason); }
    std::string name;
    std::uint64_t number;
    std::string closed_with;
};

}  // namespace

TEST_CASE("a new link from the same peer replaces and closes the old one", "[manager][links]") {
    LinkRegistry links;
    auto first = std::make_shared<FakeLink>("c", 1);
    auto second = std::make_shared<FakeLink>("c", 2);
    links.add(first);
    CHECK(links.find("c") == first);
    links.add(second);
    CHECK(links.find("c") == second);
    CHECK_THAT(first->closed_with, Catch::Contains("replaced"));
    links.remove(*first);  // the old one ending does not unregister the new one
    CHECK(links.find("c") == second);
    links.remove(*second);
    CHECK(links.find("c") == nullptr);
    links.add(first);
    links.close_all("stopping");
    CHECK(first->closed_with == "stopping");
    CHECK(links.names().empty());
}

}  // namespace parley
