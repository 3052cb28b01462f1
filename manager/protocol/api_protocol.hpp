// The messages of the manager API (docs/manager-api.md): requests
// {"id", "method", "params"} and answers {"id", "ok": true, "result"} or
// {"id", "ok": false, "error": {"code", "message", "details"?}}, one JSON object per frame.
// ApiError carries a machine code through the request handlers; parse_request() checks a
// frame's shape before any handler sees it. Plain functions and values, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace parley {

using json = nlohmann::json;

enum class ApiErrorCode {
    bad_request,   // malformed frame or JSON, missing or wrong parameters
    unauthorized,  // no, wrong or unusable API key; the first frame was not `auth`
    forbidden,     // the key may not run this method (read-only key)
    not_found,     // unknown method, or no such schedule
    rate_limited,  // this peer address is locked out after failed authentications
    unavailable,   // the manager is stopping or full, or D-Bus could not be reached in time
    failed,        // systemd/logind refused the action, or the job did not end in "done"
    timeout,       // a forwarded request got no answer within manager.forward.timeout_ms
    internal,      // a bug or an unexpected local failure (database)
};

const char* api_error_code_name(ApiErrorCode code);

// An error answer on its way out of a handler. `details` (an object or null) adds structured
// context such as a job's result; it never carries secrets.
struct ApiError {
    ApiErrorCode code = ApiErrorCode::internal;
    std::string message;
    json details;
};

struct ApiRequest {
    json id;  // a string or an integer, echoed verbatim in the answer
    std::string method;
    json params;  // always an object (an absent "params" is {})
    // The manager that should run it (empty: the one that received it).
    std::string target;
    // Managers it has passed through, oldest first (set by forwarding managers).
    std::vector<std::string> via;
};

// Longest manager name in "target" and "via".
inline constexpr std::size_t kMaxManagerNameLength = 64;
// At most this many entries in "via", whatever max_hops a manager is configured with.
inline constexpr std::size_t kMaxVia = 16;

// The request object that forwards `request` to the next manager: a new id, and this manager
// appended to "via".
json forwarded_request(const ApiRequest& request, const json& new_id, const std::string& self);

// Parses one frame's payload. On failure returns nullopt and sets `error` (bad_request) and
// `id` to whatever id could be recovered (null otherwise), so the answer can still echo it.
std::optional<ApiRequest> parse_request(std::string_view payload, ApiError& error, json& id);

json make_ok(const json& id, json result);
json make_error(const json& id, const ApiError& error);
json make_error(const json& id, ApiErrorCode code, std::string message);

// A frame's payload as JSON (discarded when it is not JSON). A request may carry an attachment:
// the JSON text, one NUL byte, then raw bytes, which appear as params["data"] (a JSON binary
// value) — how backups move file contents without base64 (docs/backups.md).
json parse_message(std::string_view payload);

// The compact text of an answer or request; a binary params["data"] becomes the attachment
// (see parse_message). Invalid UTF-8 (journal lines may hold any bytes)
// becomes U+FFFD instead of an exception.
std::string serialize(const json& message);

// The id rendered for a log line (bounded: ids come from peers).
std::string id_for_log(const json& id);

}  // namespace parley
