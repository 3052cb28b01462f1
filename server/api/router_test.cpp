#include "server/api/router.hpp"

#include <catch2/catch.hpp>

namespace parley {

namespace {
RouteHandler answer(http::status status) {
    return [status](RequestContext&) -> awaitable<HttpResponse> {
        co_return error_response(status, "x", "x");
    };
}
}  // namespace

TEST_CASE("a fallback route takes only the paths no route knows", "[router]") {
    Router router;
    router.add(http::verb::get, "/api/v1/health", answer(http::status::ok));
    router.add(http::verb::get, "/api/v1/rooms/{id}/ws", answer(http::status::bad_request));

    SECTION("without a fallback an unknown path matches nothing") {
        auto m = router.match(http::verb::post, "/api/v1/rooms");
        CHECK(m.route == nullptr);
        CHECK_FALSE(m.path_known);
    }

    router.set_fallback(answer(http::status::not_found), 1234);
    SECTION("known routes win") {
        auto m = router.match(http::verb::get, "/api/v1/rooms/r1/ws");
        REQUIRE(m.route != nullptr);
        CHECK_FALSE(m.route->fallback);
        CHECK(m.params.at("id") == "r1");
    }
    SECTION("an unknown path, any method, is the fallback's with its body limit") {
        for (auto verb : {http::verb::get, http::verb::post, http::verb::delete_}) {
            auto m = router.match(verb, "/api/v1/rooms/r1/messages");
            REQUIRE(m.route != nullptr);
            CHECK(m.route->fallback);
            CHECK(m.route->body_limit == 1234);
            CHECK(m.route->name == "fallback");
        }
    }
    SECTION("a known path with another method stays a 405, not the fallback's") {
        auto m = router.match(http::verb::post, "/api/v1/health");
        CHECK(m.route == nullptr);
        CHECK(m.path_known);
    }
}

}  // namespace parley
