#include "manager/manager_config.hpp"

#include "common/mode_config.hpp"

namespace parley {

void ManagerConfig::describe(ConfigSchema& schema) {
    describe_common_keys(schema, *this,
                         "Manager state: schedules, backup history, received backups. One "
                         "manager may run on a directory at a time.");
    schema.section("manager", "The manager API listener and the unit it controls.");
    schema.bind("listen", listen_address, "Address of the manager API listener.");
    schema.bind("port", port, "TCP port of the manager API (0 picks a free port).", 0, 65535);
    schema.bind("server_unit", server_unit, "The systemd unit of the Parley server on this host.",
                [](const std::string& v) -> std::string {
                    return v.size() > 8 && v.ends_with(".service") ? "" : "must name a .service unit";
                });
    schema.bind("shutdown_timeout_ms", shutdown_timeout_ms,
                "On SIGTERM, how long in-flight requests may take before the manager exits.", 100,
                600'000);
}

std::string ManagerConfig::validate() const { return {}; }

}  // namespace parley
