// ServerUrl: where the bot client finds a Parley server — http://host[:port] or
// https://host[:port] (then HTTPS and WSS, the certificate verified for the host name).
// Plain data and one parser.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace parley {

struct ServerUrl {
    std::string host;
    std::string port;
    bool tls = false;
};

// nullopt for anything but http:// or https:// with a host (a path is ignored).
std::optional<ServerUrl> parse_server_url(std::string_view url);

}  // namespace parley
