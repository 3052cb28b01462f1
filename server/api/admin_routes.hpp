// Admin routes: what an account with role "admin" may ask of the host's managers through the
// server's local manager (ManagerClient), docs/api.md "Admin":
//
//   POST /api/v1/admin/manager {"method", "params"?, "target"?} -> the manager's result
//   GET  /api/v1/admin/maintenance -> the maintenance notice the server currently holds
//
// The caller needs a live socket (the REST rule) and role "admin" (else 403 forbidden). With no
// [manager] configured the answer is 503 unavailable; a manager that cannot be reached is 503,
// one that did not answer in time 504; a manager's error answer keeps its code, with an HTTP
// status to match. Every request is logged with the account and the outcome, and audited in
// history.db. Built once.
#pragma once

#include "server/api/api_context.hpp"
#include "server/api/router.hpp"
#include "server/features/account_service.hpp"

namespace parley {

class AuditLog;
class ManagerClient;
class MaintenanceFeature;

// What the manager and maintenance routes use; built by the server app, alive while it serves.
struct AdminContext {
    ManagerClient* manager;  // null: no [manager] configured
    MaintenanceFeature& maintenance;
    AuditLog& audit;
    net::thread_pool& audit_pool;  // audit rows are written here, off the network threads
};

// Every manager request (answered or not) is also a row of history.db's audit_log: actor
// "account:<id>", action "manager.<method>". Admin account management (GET
// /api/v1/admin/accounts, POST /api/v1/admin/accounts/{id}/disable and …/enable) calls
// AccountService.
void add_admin_routes(Router& router, ApiContext& api, AdminContext& admin,
                      AccountService& accounts);

// The HTTP status for a manager API error code.
http::status manager_error_status(const std::string& code);

}  // namespace parley
