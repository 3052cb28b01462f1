// HttpClient: the bot and load clients' JSON-over-HTTP requests to a Parley server (HTTP, or
// HTTPS when given a TLS context: the server's certificate is verified for the host name; one
// connection per request: bots make few requests, and a fresh connection cannot be a stale
// keep-alive). Every request has a deadline. Errors are values: a transport failure
// is status 0 with `error` set; an HTTP error keeps its status and JSON body.
// Coroutines on the caller's executor; one object may serve many concurrent requests.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/net.hpp"

namespace parley {

struct HttpResult {
    unsigned status = 0;      // 0: no answer (connection failed, timed out)
    nlohmann::json body;      // the parsed JSON body, or null
    std::string error;        // transport problem when status is 0
    std::string retry_after;  // the Retry-After header, if any

    bool ok() const { return status >= 200 && status < 300; }
    // "401 unauthorized: wrong bot account or key" or the transport error.
    std::string describe() const;
};

class HttpClient {
  public:
    // `tls`: null for plain HTTP; it must outlive the client.
    HttpClient(std::string host, std::string port,
               std::chrono::milliseconds timeout = std::chrono::seconds(15),
               net::ssl::context* tls = nullptr);

    // `body` is sent as JSON when present; `token` as Authorization: Bearer.
    awaitable<HttpResult> request(http::verb method, std::string target,
                                  std::optional<nlohmann::json> body = std::nullopt,
                                  std::string token = {});

    const std::string& host() const { return host_; }
    const std::string& port() const { return port_; }

  private:
    template <class Stream>
    awaitable<HttpResult> exchange(Stream& stream, http::request<http::string_body> req);

    std::string host_;
    std::string port_;
    std::chrono::milliseconds timeout_;
    net::ssl::context* tls_;
};

}  // namespace parley
