// Router: maps (method, path) to a route handler. Patterns are literal segments and {name}
// segments ("/api/v1/rooms/{id}/messages"); literal segments win over parameters. Each route
// carries its own body limit, applied after the header is read and before the body is.
// Built at start-up, then read-only: safe to use from every network thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "server/api/http_types.hpp"

namespace parley {

using RouteHandler = std::function<awaitable<HttpResponse>(RequestContext&)>;

struct Route {
    http::verb method;
    std::string pattern;
    std::vector<std::string> segments;
    RouteHandler handler;
    std::int64_t body_limit = -1;  // -1: the server's default
    std::string name;              // used as the metrics label
    std::string spool_dir;         // non-empty: the body is streamed to a file in this directory
    bool fallback = false;         // the route of every path no other route knows (never upgraded)
};

struct RouteMatch {
    const Route* route = nullptr;
    std::map<std::string, std::string> params;
    bool path_known = false;  // the path matched some route, with another method (405)
};

class Router {
  public:
    Router& add(http::verb method, std::string pattern, RouteHandler handler,
                std::int64_t body_limit = -1);
    // A route whose body is streamed to a new file in `spool_dir` instead of memory; the
    // handler finds it in RequestContext::body_file (removed after the handler, unless moved).
    Router& add_upload(http::verb method, std::string pattern, RouteHandler handler,
                       std::int64_t body_limit, std::string spool_dir);
    // The route of every request whose path no route knows, with any method (an edge
    // forwards those to the primary). Without one such requests are 404.
    Router& set_fallback(RouteHandler handler, std::int64_t body_limit = -1);
    RouteMatch match(http::verb method, std::string_view path) const;

  private:
    std::vector<Route> routes_;
    std::optional<Route> fallback_;
};

}  // namespace parley
