#include "server/features/client_registry.hpp"

#include <catch2/catch.hpp>

namespace parley {

TEST_CASE("sessions reported live by an edge count for the REST rule until they expire",
          "[cluster]") {
    using std::chrono::seconds;
    ClientRegistry clients;
    const auto now = std::chrono::steady_clock::now();
    CHECK_FALSE(clients.session_has_socket("s1"));

    clients.mark_remote_socket("s1", now + seconds(3));
    clients.mark_remote_socket("s2", now - seconds(1));  // a report already out of date
    CHECK(clients.session_has_socket("s1"));
    CHECK_FALSE(clients.session_has_socket("s2"));

    // A later report never shortens an earlier one.
    clients.mark_remote_socket("s1", now - seconds(10));
    CHECK(clients.session_has_socket("s1"));

    // A logout forgets it at once.
    clients.forget_session("s1");
    CHECK_FALSE(clients.session_has_socket("s1"));

    // Expired reports are swept as new ones arrive; a live one survives the sweeps.
    clients.mark_remote_socket("live", now + seconds(60));
    for (int i = 0; i < 1000; ++i)
        clients.mark_remote_socket("old" + std::to_string(i), now - seconds(1));
    CHECK(clients.session_has_socket("live"));
    CHECK_FALSE(clients.session_has_socket("old999"));
}

}  // namespace parley
