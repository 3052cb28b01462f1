#include "server/settings/cluster_settings.hpp"

#include <charconv>

namespace parley {

namespace {

// Redis keys are binary-safe, but a prefix with spaces or control characters is almost
// certainly a typo, and it appears in log lines.
std::string check_prefix(const std::string& v) {
    if (v.empty()) return "must not be empty";
    if (v.size() > 64) return "must be at most 64 characters";
    for (unsigned char c : v) {
        if (c <= 0x20 || c >= 0x7f) return "must be printable ASCII without spaces";
    }
    return {};
}

std::string check_redis(const std::string& v) {
    ClusterSettings probe;
    probe.redis = v;
    std::string host;
    int port = 0;
    return probe.redis_endpoint(host, port) ? "" : "must be host:port, e.g. 127.0.0.1:6379";
}

}  // namespace

bool ClusterSettings::redis_endpoint(std::string& host, int& port) const {
    const auto colon = redis.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == redis.size()) return false;
    std::string h = redis.substr(0, colon);
    // "[::1]:6379": brackets around an IPv6 literal.
    if (h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    if (h.empty()) return false;
    int p = 0;
    const char* first = redis.data() + colon + 1;
    const char* last = redis.data() + redis.size();
    auto [end, ec] = std::from_chars(first, last, p);
    if (ec != std::errc() || end != last || p < 1 || p > 65535) return false;
    host = std::move(h);
    port = p;
    return true;
}

void ClusterSettings::describe(ConfigSchema& schema) {
    schema.section("cluster",
                   "Cluster mode on Redis Streams (docs/cluster.md). The default role, "
                   "\"single\", is one node that contacts no Redis.");
    schema.bind_choice("role", role,
                       "\"single\": one node, no Redis. \"primary\": owns the databases and "
                       "publishes every committed room event to Redis. \"edge\": serves WebSocket "
                       "clients from the room streams, with tokens, membership and sends checked "
                       "and made by the primary.",
                       {"single", "primary", "edge"});
    schema.bind("node_id", node_id,
                "This node's name in logs and metrics (empty: the role). Letters, digits, '-', "
                "'_' and '.'.",
                [](const std::string& v) -> std::string {
                    if (v.size() > 64) return "must be at most 64 characters";
                    for (char c : v) {
                        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                        (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
                        if (!ok) return "may hold letters, digits, '-', '_' and '.' only";
                    }
                    return {};
                });
    schema.bind("redis", redis, "Redis address, host:port (IPv6 as [addr]:port).", check_redis);
    schema.bind("stream_prefix", stream_prefix,
                "A room's stream is this prefix followed by the room id.", check_prefix);
    schema.bind("control_stream", control_stream,
                "The stream on which the primary publishes ended sessions (logout, password "
                "change, account disabled, session revoked) to every edge.",
                check_prefix);
    schema.bind("stream_maxlen", stream_maxlen,
                "Entries kept per room stream (XADD MAXLEN ~); SQLite keeps the full history.", 100,
                10'000'000);
    schema.bind("publish_batch", publish_batch,
                "Room events sent to Redis in one pipeline at most.", 1, 10'000);
    schema.bind("publish_buffer", publish_buffer,
                "Room events held while Redis is unreachable; beyond it further events are not "
                "published (they stay in SQLite, where edges fill gaps from) and are counted in "
                "parley_cluster_events_dropped_total.",
                100, 10'000'000);
    schema.bind("publish_retry_ms", publish_retry_ms,
                "Wait before a failed pipeline is sent again.", 10, 60'000);
    schema.bind("redis_connect_timeout_ms", redis_connect_timeout_ms,
                "Time allowed to connect to Redis.", 10, 60'000);
    schema.bind("redis_command_timeout_ms", redis_command_timeout_ms,
                "Time allowed for one Redis reply; the connection is dropped and re-made after "
                "it.",
                10, 60'000);
    schema.bind("redis_backoff_max_ms", redis_backoff_max_ms,
                "Longest wait between reconnection attempts (doubling from 100 ms).", 100, 600'000);
    schema.bind("primary", primary,
                "Edges: the primary's address for the internal link, http://host:port.");
    schema.bind("secret_file", secret_file,
                "File holding the internal link's shared secret (32 to 1024 bytes), the same on "
                "the primary and every edge. Required on edges; a primary without it serves no "
                "edges.");
    schema.bind("read_block_ms", read_block_ms, "Edges: XREAD BLOCK time of the stream reader.", 10,
                60'000);
    schema.bind("forward_timeout_ms", forward_timeout_ms,
                "Edges: time allowed for a REST request forwarded to the primary, from connecting "
                "to the last byte of the answer (then 503 unavailable).",
                100, 600'000);
}

std::string ClusterSettings::validate() const {
    if (role == "edge") {
        if (primary.empty()) return "cluster.role is \"edge\" but cluster.primary is empty";
        if (!primary.starts_with("http://"))
            return "cluster.primary must start with http:// (got '" + primary + "')";
        if (secret_file.empty()) return "cluster.role is \"edge\" but cluster.secret_file is empty";
    }
    if (control_stream.starts_with(stream_prefix))
        return "cluster.control_stream must not start with cluster.stream_prefix";
    if (role != "edge" && !primary.empty())
        return "cluster.primary is set but cluster.role is not \"edge\"";
    return {};
}

}  // namespace parley
