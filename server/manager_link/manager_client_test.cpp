// The server's side of the manager: back-off, key files, the maintenance event's shape and the
// HTTP statuses of manager error codes.
#include "server/manager_link/manager_client.hpp"

#include <cstdio>
#include <fstream>

#include <catch2/catch.hpp>

#include "server/api/admin_routes.hpp"
#include "server/features/maintenance_feature.hpp"

namespace parley {

TEST_CASE("key files: trailing newline dropped, empty refused", "[server][manager]") {
    std::string path = "/tmp/parley-manager-client-test.key";
    { std::ofstream(path) << "secret-key\n"; }
    std::string error;
    CHECK(ManagerClient::read_key_file(path, error) == "secret-key");
    { std::ofstream(path) << "\n"; }
    CHECK(ManagerClient::read_key_file(path, error).empty());
    CHECK_THAT(error, Catch::Contains("empty"));
    CHECK_THAT(error, !Catch::Contains("secret"));
    std::remove(path.c_str());
    CHECK(ManagerClient::read_key_file(path, error).empty());
    CHECK_THAT(error, Catch::Contains("cannot be read"));
}

TEST_CASE("maintenance events carry at and action, or at null", "[server][manager]") {
    CHECK(MaintenanceFeature::event_for(nullptr) ==
          nlohmann::json{{"type", "maintenance"}, {"at", nullptr}});
    CHECK(MaintenanceFeature::event_for({{"id", 3}, {"action", "reboot"}, {"at", 1'000}}) ==
          nlohmann::json{{"type", "maintenance"}, {"at", 1'000}, {"action", "reboot"}});
    ClientRegistry clients;
    MaintenanceFeature feature(clients);
    feature.set({{"action", "restart"}, {"at", 5}});
    CHECK(feature.current()["at"] == 5);
    feature.set(nullptr);
    CHECK(feature.current()["at"].is_null());
}

TEST_CASE("manager error codes map to HTTP statuses", "[server][manager]") {
    CHECK(manager_error_status("bad_request") == http::status::bad_request);
    CHECK(manager_error_status("forbidden") == http::status::forbidden);
    CHECK(manager_error_status("not_found") == http::status::not_found);
    CHECK(manager_error_status("unavailable") == http::status::service_unavailable);
    CHECK(manager_error_status("timeout") == http::status::gateway_timeout);
    CHECK(manager_error_status("failed") == http::status::bad_gateway);
    CHECK(manager_error_status("unauthorized") == http::status::bad_gateway);
}

}  // namespace parley

namespace parley {

TEST_CASE("a notice still held after its time (plus slack) is cleared", "[server][manager]") {
    net::io_context io;
    ClientRegistry clients;
    MaintenanceFeature feature(clients, io.get_executor(), std::chrono::milliseconds(20));
    feature.set({{"action", "reboot"}, {"at", now_ms() + 30}});
    CHECK(feature.current()["action"] == "reboot");
    io.run_for(std::chrono::milliseconds(300));
    CHECK(feature.current()["at"].is_null());

    // A newer notice re-arms the timer: the old time does not clear it.
    io.restart();
    feature.set({{"action", "restart"}, {"at", now_ms() + 10}});
    feature.set({{"action", "restart"}, {"at", now_ms() + 60'000}});
    io.run_for(std::chrono::milliseconds(200));
    CHECK(feature.current()["action"] == "restart");
    feature.stop();
}

}  // namespace parley

namespace parley {

TEST_CASE("the daily backup time is parsed as HH:MM UTC", "[manager][backup]") {
    ManagerClientSettings s;
    CHECK(s.backup_minute_of_day() == -1);
    s.backup_daily_at = "03:30";
    CHECK(s.backup_minute_of_day() == 210);
    for (const char* bad : {"3:30", "24:00", "12:60", "12-30", "ab:cd", "12:300"}) {
        s.backup_daily_at = bad;
        CHECK(s.backup_minute_of_day() == -1);
    }
}

}  // namespace parley
