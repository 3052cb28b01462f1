// `parley botclient load --users N --rooms M --rate R --duration S [--url U] [--threads T]`:
// drives a server with N simulated users (docs/bots.md, "Load mode"). It registers N fresh
// accounts (names load<run>-<i>), logs them in, has the first create M group rooms with the
// users spread over them round-robin, then hands a rate plan to the native load client
// (load_runner.hpp): every user holds one socket subscribed to its room's chat and sends at
// R/N messages per second; every delivery's send-to-receive latency is measured. Prints one
// line a second (sent/s, delivered/s, p50/p90/p99) and a summary. Registration must be allowed
// at that pace: raise the server's auth.register_per_minute for load tests.
#pragma once

#include "common/cli.hpp"

namespace parley {

// Returns the process exit code: 0 when every user connected, 1 otherwise.
int run_load_command(const LoadCommand& options);

}  // namespace parley
