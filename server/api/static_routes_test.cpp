#include "server/api/static_routes.hpp"

#include <catch2/catch.hpp>

#include "common/crypto.hpp"

namespace parley {

namespace {
const StaticAsset kIndex{"/index.html", "<!doctype html>", "abc123"};
const StaticAsset kScript{"/lib/client.js", "export {};", "def456"};
const StaticAsset kBraced{"/{id}.js", "x", "0"};

HttpRequest get(std::string target) {
    HttpRequest req{http::verb::get, target, 11};
    return req;
}

std::string header(const HttpResponse& res, std::string_view name) {
    auto it = res.find(name);
    return it == res.end() ? std::string() : std::string(it->value());
}
}  // namespace

TEST_CASE("static assets: content types by extension") {
    CHECK(content_type_for("/index.html") == "text/html; charset=utf-8");
    CHECK(content_type_for("/lib/chat.js") == "text/javascript; charset=utf-8");
    CHECK(content_type_for("/style.css") == "text/css; charset=utf-8");
    CHECK(content_type_for("/icon.svg") == "image/svg+xml");
    CHECK(content_type_for("/lib/index.d.ts") == "text/plain; charset=utf-8");
    CHECK(content_type_for("/README") == "application/octet-stream");
    CHECK(content_type_for("/dir.js/file") == "application/octet-stream");
    CHECK(content_type_for("/archive.tar.gz") == "application/octet-stream");
}

TEST_CASE("static assets: 200 with headers, 304 for a matching If-None-Match") {
    HttpResponse res = static_asset_response(kScript, get("/lib/client.js"));
    CHECK(res.result() == http::status::ok);
    CHECK(res.body() == "export {};");
    CHECK(header(res, "Content-Type") == "text/javascript; charset=utf-8");
    CHECK(header(res, "ETag") == "\"def456\"");
    CHECK(header(res, "Cache-Control") == "no-cache");
    CHECK(header(res, "X-Content-Type-Options") == "nosniff");
    std::string csp = header(res, "Content-Security-Policy");
    CHECK(csp.find("default-src 'self'") != std::string::npos);
    CHECK(csp.find("script-src 'self'") != std::string::npos);
    CHECK(csp.find("frame-ancestors 'none'") != std::string::npos);
    CHECK(csp.find("unsafe") == std::string::npos);

    for (std::string inm : {"\"def456\"", "W/\"def456\"", "\"old\", \"def456\"", "*"}) {
        HttpRequest req = get("/lib/client.js");
        req.set(http::field::if_none_match, inm);
        HttpResponse cached = static_asset_response(kScript, req);
        CHECK(cached.result() == http::status::not_modified);
        CHECK(cached.body().empty());
        CHECK(header(cached, "ETag") == "\"def456\"");
    }
    HttpRequest stale = get("/lib/client.js");
    stale.set(http::field::if_none_match, "\"old\"");
    CHECK(static_asset_response(kScript, stale).result() == http::status::ok);
}

TEST_CASE("static assets: one route per file, / is index.html, nothing else matches") {
    Router router;
    const StaticAsset assets[] = {kIndex, kScript, kBraced};
    add_static_routes(router, assets);
    for (std::string path : {"/", "/index.html", "/lib/client.js"}) {
        INFO(path);
        CHECK(router.match(http::verb::get, path).route != nullptr);
    }
    for (std::string path : {"/lib/../index.html", "/lib/", "/lib", "/client.js",
                             "/lib/client.js/x", "/lib/%2e%2e/index.html", "/anything.js"}) {
        INFO(path);
        CHECK(router.match(http::verb::get, path).route == nullptr);
    }
    CHECK(router.match(http::verb::post, "/index.html").route == nullptr);
    CHECK(router.match(http::verb::post, "/index.html").path_known);
}

TEST_CASE("static assets: the embedded web client") {
    auto assets = embedded_web_assets();
    bool index = false, library = false;
    for (const StaticAsset& a : assets) {
        INFO(a.path);
        CHECK(a.path.starts_with("/"));
        CHECK(a.path.find("..") == std::string_view::npos);
        CHECK(a.sha256 == sha256_hex(a.bytes));
        if (a.path == "/index.html") index = a.bytes.find("<html") != std::string_view::npos;
        if (a.path == "/lib/client.js") library = true;
    }
    CHECK(index);
    CHECK(library);
}

}  // namespace parley
