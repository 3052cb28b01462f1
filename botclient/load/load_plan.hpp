// LoadPlan: what `parley botclient --load PLAN.json` runs. The benchmark driver (bench/*.py)
// prepares accounts, tokens and rooms over the public API and writes the plan; the load client
// only opens sockets and sends.
//
// {"scenario": "fanout" | "idle",
//  "threads": 1,                      event-loop threads (connections spread round-robin)
//  "connect_concurrency": 200,        handshakes in flight while opening
//  "connections": [{"url": "ws://127.0.0.1:8080/api/v1/ws?token=…",
//                   "subscribe": ["room:<id>:chat", …]}, …],
//  fanout:
//  "senders": [{"connection": 0, "room_id": "<id>"}, …],
//  "window": 4,                       messages a sender keeps in flight (until its own echo)
//  "warmup_s": 2, "seconds": 10, "text_bytes": 64,
//  "drain_s": 0.5,                    after sending stops, wait this long for deliveries
//  "pause_when_ready": false,         print {"event":"ready"} once connected, wait for a line
//  "deflate": false,                  offer permessage-deflate (RFC 7692) on every socket
//  rate (open loop; the same fields as fanout but "window"):
//  "rate_per_s": 100,                 messages per second from all senders together
//  idle:
//  "hold_s": 30}                      after all are open, hold (or until stdin closes)
// `parley botclient load` builds a rate plan itself (load_command.hpp) and asks for a line of
// figures every second (report_each_second, not read from JSON).
#pragma once

#include <string>
#include <vector>

namespace parley {

struct LoadConnection {
    std::string url;
    std::vector<std::string> subscribe;
};

struct LoadSender {
    std::size_t connection = 0;
    std::string room_id;
};

struct LoadPlan {
    std::string scenario;
    int threads = 1;
    int connect_concurrency = 200;
    std::vector<LoadConnection> connections;
    std::vector<LoadSender> senders;
    int window = 4;
    double warmup_s = 2;
    double seconds = 10;
    int text_bytes = 64;
    double hold_s = 30;
    double drain_s = 0.5;
    bool pause_when_ready = false;
    bool deflate = false;
    double rate_per_s = 0;
    bool report_each_second = false;
};

// Parses and checks a plan; throws std::invalid_argument naming the first problem.
LoadPlan parse_load_plan(const std::string& json_text);

}  // namespace parley
