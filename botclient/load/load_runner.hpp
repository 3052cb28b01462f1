// run_load: the native load client behind `parley botclient --load PLAN.json` (used by the
// benchmarks in bench/). It opens the plan's WebSockets from a few event-loop threads, then
// either drives the fan-out scenario (each sender keeps `window` messages in flight, every
// member counts deliveries and send-to-receive latency) or holds idle sockets. Prints one JSON
// report on stdout (the idle scenario prints a "ready" line first). Protocol: the subset of
// docs/api.md that bench/reference/broadcast-server.js also speaks.
#pragma once

#include <string>

#include "botclient/load/load_plan.hpp"

namespace parley {

// Returns the process exit code: 0 when every connection opened, 1 otherwise.
int run_load(const LoadPlan& plan);
int run_load_file(const std::string& plan_path);

}  // namespace parley
