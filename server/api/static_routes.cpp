#include "server/api/static_routes.hpp"

#include <array>
#include <string>
#include <utility>

namespace parley {

namespace {

// Only this origin: scripts, styles, fonts and sockets from the server itself; images also
// from blob: (a preview of a file the user picked). No plug-ins, no framing, no <base>.
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'";

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

// Whether an If-None-Match value ("*", or a list of entity tags, weak or strong) names `etag`.
bool etag_matches(std::string_view header, std::string_view etag) {
    while (!header.empty()) {
        std::size_t comma = header.find(',');
        std::string_view tag = trim(header.substr(0, comma));
        if (tag == "*") return true;
        if (tag.starts_with("W/")) tag.remove_prefix(2);
        if (tag == etag) return true;
        if (comma == std::string_view::npos) break;
        header.remove_prefix(comma + 1);
    }
    return false;
}

void set_page_headers(HttpResponse& res) {
    res.set("Content-Security-Policy", kContentSecurityPolicy);
    res.set("X-Content-Type-Options", "nosniff");
    res.set("Referrer-Policy", "no-referrer");
    res.set("X-Frame-Options", "DENY");
}

}  // namespace

std::string_view content_type_for(std::string_view path) {
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 12> types{{
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
        {".md", "text/markdown; charset=utf-8"},
        {".webmanifest", "application/manifest+json"},
        {".ts", "text/plain; charset=utf-8"},  // the library's .d.ts, shown as text
    }};
    std::size_t slash = path.rfind('/');
    std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
    std::size_t dot = name.rfind('.');
    if (dot != std::string_view::npos) {
        std::string_view ext = name.substr(dot);
        for (const auto& [suffix, type] : types) {
            if (ext == suffix) return type;
        }
    }
    return "application/octet-stream";
}

HttpResponse static_asset_response(const StaticAsset& asset, const HttpRequest& request) {
    std::string etag = "\"" + std::string(asset.sha256) + "\"";
    HttpResponse res;
    res.version(11);
    if (auto inm = request.find(http::field::if_none_match);
        inm != request.end() && etag_matches(inm->value(), etag)) {
        res.result(http::status::not_modified);
    } else {
        res.result(http::status::ok);
        res.set(http::field::content_type, content_type_for(asset.path));
        res.body() = std::string(asset.bytes);
    }
    res.set(http::field::etag, etag);
    res.set(http::field::cache_control, "no-cache");
    set_page_headers(res);
    res.prepare_payload();
    return res;
}

void add_static_routes(Router& router, std::span<const StaticAsset> assets) {
    for (const StaticAsset& asset : assets) {
        // A brace would read as a {parameter} segment: such a name is never served.
        if (asset.path.find_first_of("{}") != std::string_view::npos) continue;
        auto handler = [&asset](RequestContext& ctx) -> awaitable<HttpResponse> {
            co_return static_asset_response(asset, ctx.request);
        };
        router.add(http::verb::get, std::string(asset.path), handler);
        if (asset.path == "/index.html") router.add(http::verb::get, "/", handler);
    }
}

}  // namespace parley
