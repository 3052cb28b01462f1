// Request and response types shared by the HTTP routes, and the JSON error shape of api.md:
// a non-2xx status with {"error": "<machine_code>", "message": "<human text>"}.
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "common/net.hpp"

namespace parley {

using HttpRequest = http::request<http::string_body>;
using HttpResponse = http::response<http::string_body>;

// What a route handler gets: the request, its path parameters and who sent it.
struct RequestContext {
    const HttpRequest& request;
    std::map<std::string, std::string> params;  // from {name} segments of the route
    std::string query;                          // raw query string, without '?'
    std::string remote_address;
    std::string body_file;  // upload routes (Router::add_upload): the file holding the body
};

HttpResponse json_response(http::status status, const nlohmann::json& body);
HttpResponse error_response(http::status status, const std::string& code,
                            const std::string& message);

// The value of `name` in a query string (percent-decoded), or empty.
std::string query_param(const std::string& query, const std::string& name);

}  // namespace parley
