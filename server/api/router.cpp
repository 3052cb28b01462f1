#include "server/api/router.hpp"

namespace parley {

namespace {
std::vector<std::string> split_path(std::string_view path) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < path.size()) {
        if (path[i] == '/') {
            ++i;
            continue;
        }
        std::size_t j = path.find('/', i);
        if (j == std::string_view::npos) j = path.size();
        out.emplace_back(path.substr(i, j - i));
        i = j;
    }
    return out;
}

bool is_param(const std::string& seg) {
    return seg.size() > 2 && seg.front() == '{' && seg.back() == '}';
}
}  // namespace

Router& Router::add(http::verb method, std::string pattern, RouteHandler handler,
                    std::int64_t body_limit) {
    Route r;
    r.method = method;
    r.segments = split_path(pattern);
    r.name = std::string(http::to_string(method)) + " " + pattern;
    r.pattern = std::move(pattern);
    r.handler = std::move(handler);
    r.body_limit = body_limit;
    routes_.push_back(std::move(r));
    return *this;
}

Router& Router::add_upload(http::verb method, std::string pattern, RouteHandler handler,
                           std::int64_t body_limit, std::string spool_dir) {
    add(method, std::move(pattern), std::move(handler), body_limit);
    routes_.back().spool_dir = std::move(spool_dir);
    return *this;
}

Router& Router::set_fallback(RouteHandler handler, std::int64_t body_limit) {
    Route r;
    r.name = "fallback";
    r.handler = std::move(handler);
    r.body_limit = body_limit;
    r.fallback = true;
    fallback_ = std::move(r);
    return *this;
}

RouteMatch Router::match(http::verb method, std::string_view path) const {
    std::vector<std::string> segs = split_path(path);
    RouteMatch best;
    int best_literals = -1;
    for (const auto& r : routes_) {
        if (r.segments.size() != segs.size()) continue;
        std::map<std::string, std::string> params;
        int literals = 0;
        bool ok = true;
        for (std::size_t i = 0; i < segs.size() && ok; ++i) {
            if (is_param(r.segments[i])) {
                params[r.segments[i].substr(1, r.segments[i].size() - 2)] = segs[i];
            } else if (r.segments[i] == segs[i]) {
                ++literals;
            } else {
                ok = false;
            }
        }
        if (!ok) continue;
        if (r.method != method) {
            best.path_known = true;
            continue;
        }
        if (literals > best_literals) {
            best_literals = literals;
            best.route = &r;
            best.params = std::move(params);
        }
    }
    if (!best.route && !best.path_known && fallback_) best.route = &*fallback_;
    return best;
}

}  // namespace parley
