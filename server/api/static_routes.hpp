// Static routes: the web client (web/) and its JavaScript library (clients/js/src/, under
// /lib/), embedded in the binary at build time by cmake/embed_web_assets.cmake and served by
// `parley server` at / (docs/web-client.md).
//
// Each embedded file is one literal GET route, so only the files of the table can be served:
// a path that names anything else (a "..", an encoded byte, a directory) matches no route and
// is the router's 404. "/" serves /index.html. Responses carry the file's Content-Type (by
// extension), a strong ETag (its SHA-256, computed at build time; If-None-Match gives 304),
// Cache-Control: no-cache (a new build changes the files behind the same names) and the
// security headers of every page: a Content-Security-Policy that allows only this origin,
// X-Content-Type-Options: nosniff, Referrer-Policy: no-referrer, X-Frame-Options: DENY.
// The table is immutable; everything here is thread-safe.
#pragma once

#include <span>
#include <string_view>

#include "server/api/router.hpp"

namespace parley {

struct StaticAsset {
    std::string_view path;    // the URL path: "/index.html", "/lib/client.js"
    std::string_view bytes;   // the file's content
    std::string_view sha256;  // hex digest of the content
};

// The files embedded at build time (generated source, build/server/web_assets.cpp).
std::span<const StaticAsset> embedded_web_assets();

// The Content-Type for a path, by its extension; application/octet-stream when unknown.
std::string_view content_type_for(std::string_view path);

// The response to a GET of `asset`: 200 with the bytes, or 304 when `request` carries a
// matching If-None-Match.
HttpResponse static_asset_response(const StaticAsset& asset, const HttpRequest& request);

// One GET route per asset, plus "/" for "/index.html". The assets must outlive the router.
void add_static_routes(Router& router, std::span<const StaticAsset> assets);

}  // namespace parley
