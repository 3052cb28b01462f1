#include "server/api/admin_routes.hpp"

#include <algorithm>
#include <charconv>

#include <spdlog/spdlog.h>

#include "server/api/route_adapter.hpp"
#include "server/data/audit_log.hpp"
#include "server/features/audit_trail.hpp"
#include "server/features/maintenance_feature.hpp"
#include "server/manager_link/manager_client.hpp"

namespace parley {

http::status manager_error_status(const std::string& code) {
    if (code == "bad_request") return http::status::bad_request;
    if (code == "forbidden") return http::status::forbidden;
    if (code == "not_found") return http::status::not_found;
    if (code == "rate_limited") return http::status::too_many_requests;
    if (code == "unavailable") return http::status::service_unavailable;
    if (code == "timeout") return http::status::gateway_timeout;
    // unauthorized (the server's own key was refused), failed, internal, anything new.
    return http::status::bad_gateway;
}

namespace {

HttpResponse manager_error(const nlohmann::json& error) {
    std::string code = error.value("code", std::string("internal"));
    nlohmann::json body{{"error", code}, {"message", error.value("message", std::string())}};
    if (error.contains("details")) body["details"] = error["details"];
    return json_response(manager_error_status(code), body);
}

// Sends one request to the local manager (which may forward it on), audits it and turns the
// answer into the route's response.
awaitable<HttpResponse> call_manager(AdminContext& admin, const Caller& caller,
                                     const std::string& method, const nlohmann::json& request) {
    ManagerClient* manager = admin.manager;
    if (!manager) {
        co_return error_response(http::status::service_unavailable, "unavailable",
                                 "no manager is configured for this server ([manager] "
                                 "socket in its configuration)");
    }
    ManagerAnswer answer = co_await manager->request(request);
    const std::string target = request.value("target", std::string("local"));
    const std::string outcome =
        !answer.transport_error.empty()
            ? (answer.timed_out ? std::string("timeout") : std::string("unreachable"))
        : answer.answer.value("ok", false) ? std::string("ok")
                                           : answer.answer.value("error", nlohmann::json::object())
                                                 .value("code", std::string("?"));
    const std::string& account = caller.account.id;
    const std::string action = "manager." + method;
    const nlohmann::json detail{{"target", target}, {"outcome", outcome}};
    co_await audit_by_account(admin.audit_pool, admin.audit, account, action, detail);
    if (!answer.transport_error.empty()) {
        spdlog::warn("admin: account {} {} -> {}: manager unreachable: {}", caller.account.id,
                     method, target, answer.transport_error);
        if (answer.timed_out) {
            co_return error_response(http::status::gateway_timeout, "timeout",
                                     "the manager did not answer in time");
        }
        co_return error_response(http::status::service_unavailable, "unavailable",
                                 "the manager is not reachable: " + answer.transport_error);
    }
    const bool ok = answer.answer.value("ok", false);
    spdlog::info("admin: account {} {} -> {}: {}", caller.account.id, method, target,
                 ok ? std::string("ok")
                    : answer.answer.value("error", nlohmann::json::object())
                          .value("code", std::string("?")));
    if (!ok) {
        co_return manager_error(answer.answer.contains("error") ? answer.answer["error"]
                                                                : nlohmann::json::object());
    }
    co_return json_response(http::status::ok,
                            {{"result", answer.answer.contains("result") ? answer.answer["result"]
                                                                         : nlohmann::json()}});
}

// POST /api/v1/admin/manager {"method", "params"?, "target"?}: the request as the manager
// takes it, or the refusal.
std::optional<nlohmann::json> manager_request(const nlohmann::json& j, Refusal& refusal) {
    for (const auto& [key, value] : j.items()) {
        if (key != "method" && key != "params" && key != "target") {
            refusal = {ErrorCode::bad_request, "unknown field \"" + key + "\""};
            return std::nullopt;
        }
    }
    auto method = string_field(j, "method");
    if (!method || method->empty() || method->size() > 64) {
        refusal = {ErrorCode::bad_request, "method must be a manager API method name"};
        return std::nullopt;
    }
    if (*method == "auth" || *method == "link.hello" || *method == "schedule.watch") {
        refusal = {ErrorCode::bad_request, "\"" + *method + "\" is not available here"};
        return std::nullopt;
    }
    nlohmann::json request{{"method", *method}};
    if (j.contains("params")) {
        if (!j["params"].is_object()) {
            refusal = {ErrorCode::bad_request, "params must be an object"};
            return std::nullopt;
        }
        request["params"] = j["params"];
    }
    if (j.contains("target") && !j["target"].is_null()) {
        auto target = string_field(j, "target");
        if (!target || target->empty() || target->size() > 64) {
            refusal = {ErrorCode::bad_request, "target must be a manager name"};
            return std::nullopt;
        }
        request["target"] = *target;
    }
    return request;
}

awaitable<HttpResponse> manager_call(AdminContext& admin, const Caller& caller, RequestContext&,
                                     nlohmann::json& body) {
    Refusal refusal;
    auto request = manager_request(body, refusal);
    if (!request) co_return refusal_response(refusal);
    const std::string method = (*request)["method"].get<std::string>();
    co_return co_await call_manager(admin, caller, method, *request);
}

// Backups (docs/backups.md): start one through the local manager, or read its status.
awaitable<HttpResponse> start_backup(AdminContext& admin, const Caller& caller,
                                     RequestContext& ctx) {
    auto body = optional_json_body(ctx);
    if (!body.json) co_return body.refusal;
    nlohmann::json params = nlohmann::json::object();
    for (const auto& [key, value] : body.json->items()) {
        if (key == "to" && value.is_string() && !value.get<std::string>().empty() &&
            value.get<std::string>().size() <= 64) {
            params["to"] = value;
        } else if (key == "wait" && value.is_boolean()) {
            params["wait"] = value;
        } else {
            co_return refusal_response(
                {ErrorCode::bad_request,
                 "the body may hold \"to\" (a manager name) and \"wait\" (a boolean); \"" + key +
                     "\" is wrong or unknown"});
        }
    }
    const nlohmann::json request{{"method", "backup.run"}, {"params", params}};
    const std::string method = "backup.run";
    co_return co_await call_manager(admin, caller, method, request);
}

awaitable<HttpResponse> backup_status(AdminContext& admin, const Caller& caller, RequestContext&) {
    const nlohmann::json request{{"method", "backup.status"}};
    const std::string method = "backup.status";
    co_return co_await call_manager(admin, caller, method, request);
}

awaitable<HttpResponse> maintenance_notice(AdminContext& admin, const Caller&, RequestContext&) {
    nlohmann::json body = admin.maintenance.current();
    body.erase("type");
    body["manager_configured"] = admin.manager != nullptr;
    body["manager_connected"] = admin.manager != nullptr && admin.manager->connected();
    co_return json_response(http::status::ok, body);
}

// Accounts by username (case-insensitive), a page at a time, optionally those whose name starts
// with `prefix`.
awaitable<HttpResponse> list_accounts(AccountService& accounts, const Caller&,
                                      RequestContext& ctx) {
    int limit = 100;
    std::string limit_text = query_param(ctx.query, "limit");
    if (!limit_text.empty()) {
        auto [end, ec] =
            std::from_chars(limit_text.data(), limit_text.data() + limit_text.size(), limit);
        if (ec != std::errc() || end != limit_text.data() + limit_text.size()) limit = 0;
    }
    auto page = accounts.account_page(query_param(ctx.query, "prefix"),
                                      query_param(ctx.query, "cursor"), limit);
    if (!page) co_return refusal_response(page.refusal());
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [a, sessions] : page->items) {
        list.push_back(
            {{"account_id", a.id},
             {"username", a.username},
             {"role", a.role},
             {"created_at", a.created_at},
             {"disabled_at", a.disabled_at ? nlohmann::json(a.disabled_at) : nlohmann::json()},
             {"sessions", sessions}});
    }
    nlohmann::json next = page->next.empty() ? nlohmann::json() : nlohmann::json(page->next);
    co_return json_response(http::status::ok,
                            {{"accounts", std::move(list)}, {"next", std::move(next)}});
}

awaitable<HttpResponse> set_disabled(AccountService& accounts, const Caller& caller,
                                     RequestContext& ctx, bool disable) {
    auto body = optional_json_body(ctx);
    if (!body.json) co_return body.refusal;
    auto r = body.json->find("reason");
    if (r != body.json->end() && (!r->is_string() || r->get<std::string>().size() > 500)) {
        co_return refusal_response(
            {ErrorCode::bad_request, "reason is a string of at most 500 bytes"});
    }
    std::string reason = r != body.json->end() ? r->get<std::string>() : std::string();
    const std::string id = ctx.params["id"];
    auto status = co_await accounts.set_disabled(caller.account.id, id, disable, reason);
    if (!status) co_return refusal_response(status.refusal());
    const std::int64_t at = status->disabled_at;
    co_return json_response(http::status::ok,
                            {{"account_id", id},
                             {"disabled_at", at ? nlohmann::json(at) : nlohmann::json()},
                             {"sessions_revoked", status->sessions_revoked}});
}

awaitable<HttpResponse> disable_account(AccountService& accounts, const Caller& caller,
                                        RequestContext& ctx) {
    co_return co_await set_disabled(accounts, caller, ctx, true);
}

awaitable<HttpResponse> enable_account(AccountService& accounts, const Caller& caller,
                                       RequestContext& ctx) {
    co_return co_await set_disabled(accounts, caller, ctx, false);
}

}  // namespace

void add_admin_routes(Router& router, ApiContext& api, AdminContext& admin,
                      AccountService& accounts) {
    using http::verb;
    const auto as_admin = Access::admin;
    router.add(verb::post, "/api/v1/admin/manager",
               with_caller_body(api, admin, manager_call, as_admin));
    router.add(verb::post, "/api/v1/admin/backup", with_caller(api, admin, start_backup, as_admin));
    router.add(verb::get, "/api/v1/admin/backup", with_caller(api, admin, backup_status, as_admin));
    router.add(verb::get, "/api/v1/admin/maintenance",
               with_caller(api, admin, maintenance_notice, as_admin));
    router.add(verb::get, "/api/v1/admin/accounts",
               with_caller(api, accounts, list_accounts, as_admin));
    router.add(verb::post, "/api/v1/admin/accounts/{id}/disable",
               with_caller(api, accounts, disable_account, as_admin));
    router.add(verb::post, "/api/v1/admin/accounts/{id}/enable",
               with_caller(api, accounts, enable_account, as_admin));
}

}  // namespace parley
