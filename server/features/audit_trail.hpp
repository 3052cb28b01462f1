// audit_by_account(): one audit row of history.db by an account (actor "account:<id>"), written
// on `pool` (AuditLog writes block), never on a network thread. Losing a row is logged loudly,
// never fatal. Shared by the services and the admin routes; any thread.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/net.hpp"
#include "server/data/audit_log.hpp"

namespace parley {

awaitable<void> audit_by_account(net::thread_pool& pool, AuditLog& audit,
                                 const std::string& account, const std::string& action,
                                 const nlohmann::json& detail);

}  // namespace parley
