// parse_server_url: http and https, default ports, IPv6 literals, refusals.
#include "botclient/net/server_url.hpp"

#include <catch2/catch.hpp>

namespace parley {

TEST_CASE("server URLs give host, port and whether TLS is spoken", "[bots]") {
    auto plain = parse_server_url("http://127.0.0.1:8080");
    REQUIRE(plain);
    CHECK((plain->host == "127.0.0.1" && plain->port == "8080" && !plain->tls));
    auto tls = parse_server_url("https://chat.example.org");
    REQUIRE(tls);
    CHECK((tls->host == "chat.example.org" && tls->port == "443" && tls->tls));
    auto tls_port = parse_server_url("https://localhost:8443/ignored/path");
    REQUIRE(tls_port);
    CHECK((tls_port->host == "localhost" && tls_port->port == "8443"));
    CHECK(parse_server_url("http://example.org")->port == "80");
    auto v6 = parse_server_url("http://[::1]:9000");
    REQUIRE(v6);
    CHECK((v6->host == "::1" && v6->port == "9000"));
    CHECK(parse_server_url("https://[::1]")->port == "443");
    CHECK_FALSE(parse_server_url("ftp://example.org"));
    CHECK_FALSE(parse_server_url("https://"));
    CHECK_FALSE(parse_server_url("http://host:0"));
    CHECK_FALSE(parse_server_url("example.org"));
}

}  // namespace parley
