#include "botclient/net/server_url.hpp"

#include "botclient/net/ws_url.hpp"

namespace parley {

std::optional<ServerUrl> parse_server_url(std::string_view url) {
    bool tls = url.starts_with("https://");
    std::string plain = tls ? "http://" + std::string(url.substr(8)) : std::string(url);
    if (!plain.starts_with("http://")) return std::nullopt;
    auto parsed = parse_ws_url(plain);
    if (!parsed) return std::nullopt;
    ServerUrl out{parsed->host, parsed->port, tls};
    // parse_ws_url defaults to port 80; an https URL without a port means 443.
    std::string_view authority = url.substr(tls ? 8 : 7);
    authority = authority.substr(0, authority.find('/'));
    bool has_port = !authority.ends_with("]") && authority.find(':') != std::string_view::npos &&
                    (authority.front() != '[' || authority.find("]:") != std::string_view::npos);
    if (tls && !has_port) out.port = "443";
    return out;
}

}  // namespace parley
