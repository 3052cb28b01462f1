// [cluster] of the server's configuration: which role this node plays (a single node, the
// primary that owns the databases, or an edge), where Redis is, and the stream names, bounds
// and timeouts of the room event streams (docs/cluster.md). Plain data, read at start-up;
// without a [cluster] section the role is "single" and nothing here is used.
#pragma once

#include <string>

#include "common/config_schema.hpp"

namespace parley {

struct ClusterSettings {
    std::string role = "single";                    // "single", "primary" or "edge"
    std::string node_id;                            // in logs and metrics; defaults to the role
    std::string redis = "127.0.0.1:6379";           // host:port
    std::string stream_prefix = "parley:room:";     // a room's stream is stream_prefix + room id
    std::string control_stream = "parley:control";  // ended sessions, read by every edge
    int stream_maxlen = 10'000;                     // XADD MAXLEN ~ bound per room stream
    int publish_batch = 256;                        // XADDs sent in one pipeline
    int publish_buffer = 100'000;  // events held while Redis is unreachable; older ones dropped
    int publish_retry_ms = 250;    // wait before retrying a failed pipeline
    int redis_connect_timeout_ms = 1000;
    int redis_command_timeout_ms = 2000;
    int redis_backoff_max_ms = 5000;
    // Edges only.
    std::string primary;              // the primary's internal link, "http://host:port"
    std::string secret_file;          // shared secret of the internal link
    int read_block_ms = 1000;         // XREAD BLOCK of the edge's stream reader
    int forward_timeout_ms = 30'000;  // one REST request forwarded to the primary, end to end

    bool enabled() const { return role != "single"; }
    bool is_primary() const { return role == "primary"; }
    bool is_edge() const { return role == "edge"; }
    // The Redis address split into host and port; false when it is not host:port.
    bool redis_endpoint(std::string& host, int& port) const;

    void describe(ConfigSchema& schema);
    std::string validate() const;
};

}  // namespace parley
