// The two streams the manager API runs over: a unix socket and TLS over TCP, both with Beast's
// deadlines (expires_after). Aliases only.
#pragma once

#include "common/net.hpp"
#include "manager/protocol/manager_tls.hpp"

namespace parley {

using UnixApiStream = beast::basic_stream<net::local::stream_protocol, net::any_io_executor,
                                          beast::unlimited_rate_policy>;

}  // namespace parley
