// The account rules of the model: usernames and passwords, as api.md states them.
#include "server/model/account.hpp"

#include <string>

#include <catch2/catch.hpp>

namespace parley {

TEST_CASE("usernames are 3 to 32 of [A-Za-z0-9_.-], starting with a letter or digit",
          "[model][account]") {
    CHECK(check_username("bob").empty());
    CHECK(check_username("Alice_1.x-y").empty());
    CHECK(check_username("7up").empty());
    CHECK(check_username(std::string(32, 'a')).empty());
    CHECK(check_username("ab") == "username must be 3 to 32 characters");
    CHECK(check_username(std::string(33, 'a')) == "username must be 3 to 32 characters");
    CHECK(check_username("_bob") == "username must start with a letter or digit");
    CHECK(check_username(".bob") == "username must start with a letter or digit");
    CHECK(check_username("bo b") == "username may only contain letters, digits, '_', '.' and '-'");
    CHECK(check_username("b\xC3\xB6"
                         "b") == "username may only contain letters, digits, '_', '.' and '-'");
}

TEST_CASE("passwords are 8 to 1024 bytes", "[model][account]") {
    CHECK(check_password("12345678").empty());
    CHECK(check_password(std::string(1024, 'x')).empty());
    CHECK(check_password("1234567") == "password must be at least 8 characters");
    CHECK(check_password(std::string(1025, 'x')) == "password must be at most 1024 bytes");
}

}  // namespace parley
