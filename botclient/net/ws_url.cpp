#include "botclient/net/ws_url.hpp"

#include <algorithm>

namespace parley {

std::optional<WsUrl> parse_ws_url(std::string_view url) {
    std::string_view rest;
    if (url.starts_with("ws://")) {
        rest = url.substr(5);
    } else if (url.starts_with("http://")) {
        rest = url.substr(7);
    } else {
        return std::nullopt;
    }
    auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    WsUrl out;
    out.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    auto colon = authority.rfind(':');
    // In an IPv6 literal the port's colon comes after the closing bracket.
    if (!authority.empty() && authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        colon = close + 1 < authority.size() && authority[close + 1] == ':'
                    ? close + 1
                    : std::string_view::npos;
        if (colon == std::string_view::npos && close + 1 != authority.size()) return std::nullopt;
    }
    if (colon == std::string_view::npos) {
        out.host = std::string(authority);
        out.port = "80";
    } else {
        out.host = std::string(authority.substr(0, colon));
        out.port = std::string(authority.substr(colon + 1));
        if (out.port.empty() || out.port.size() > 5 ||
            !std::all_of(out.port.begin(), out.port.end(),
                         [](char c) { return c >= '0' && c <= '9'; }) ||
            std::stoi(out.port) == 0 || std::stoi(out.port) > 65535) {
            return std::nullopt;
        }
    }
    if (out.host.size() > 2 && out.host.front() == '[' && out.host.back() == ']') {
        out.host = out.host.substr(1, out.host.size() - 2);  // an IPv6 literal
    }
    if (out.host.empty()) return std::nullopt;
    return out;
}

}  // namespace parley
