// The one table from a service's ErrorCode (server/features/outcome.hpp) to an HTTP status,
// and the responses the route adapters of server/api send for an Outcome. Plain functions;
// any thread.
#pragma once

#include "server/api/http_types.hpp"
#include "server/features/outcome.hpp"

namespace parley {

http::status http_status(ErrorCode code);

// {"error": code, "message"} with the code's status, and Retry-After (whole seconds, at
// least 1) when the refusal says how long to wait.
HttpResponse refusal_response(const Refusal& refusal);

}  // namespace parley
