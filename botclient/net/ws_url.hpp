// WsUrl: a parsed ws:// or http:// URL (host, port, target) for the bot and load clients.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace parley {

struct WsUrl {
    std::string host;
    std::string port;
    std::string target;  // path and query, "/" when empty
};

// Accepts ws://host[:port][/path[?query]] and http://…; nullopt for anything else (wss and
// https are not handled by the load client).
std::optional<WsUrl> parse_ws_url(std::string_view url);

}  // namespace parley
