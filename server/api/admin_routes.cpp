#include "server/api/admin_routes.hpp"

#include <algorithm>
#include <charconv>

#include <spdlog/spdlog.h>

#include "common/offload.hpp"
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
awaitable<HttpResponse> call_manager(ApiContext& api, AuditLog& audit, ManagerClient* manager,
                                     const Caller& caller, const std::string& method,
                                     const nlohmann::json& request) {
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
    co_await audit_by_account(api, audit, account, action, detail);
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

}  // namespace

awaitable<void> audit_by_account(ApiContext& api, AuditLog& audit, const std::string& account,
                                 const std::string& action, const nlohmann::json& detail) {
    co_await audit_by_account(api.hash_pool, audit, account, action, detail);
}

void add_admin_routes(Router& router, ApiContext& api, ManagerClient* manager,
                      MaintenanceFeature& maintenance, AuditLog& audit) {
    router.add(
        http::verb::post, "/api/v1/admin/manager",
        [&api, manager, &audit](RequestContext& ctx) -> awaitable<HttpResponse> {
            auto auth = authenticate_admin(api, ctx);
            if (!auth.caller) co_return auth.refusal;
            auto body = parse_json_body(ctx);
            if (!body.json) co_return body.refusal;
            const nlohmann::json& j = *body.json;
            for (const auto& [key, value] : j.items()) {
                if (key != "method" && key != "params" && key != "target") {
                    co_return error_response(http::status::bad_request, "bad_request",
                                             "unknown field \"" + key + "\"");
                }
            }
            auto method = string_field(j, "method");
            if (!method || method->empty() || method->size() > 64) {
                co_return error_response(http::status::bad_request, "bad_request",
                                         "method must be a manager API method name");
            }
            if (*method == "auth" || *method == "link.hello" || *method == "schedule.watch") {
                co_return error_response(http::status::bad_request, "bad_request",
                                         "\"" + *method + "\" is not available here");
            }
            nlohmann::json request{{"method", *method}};
            if (j.contains("params")) {
                if (!j["params"].is_object()) {
                    co_return error_response(http::status::bad_request, "bad_request",
                                             "params must be an object");
                }
                request["params"] = j["params"];
            }
            if (j.contains("target") && !j["target"].is_null()) {
                auto target = string_field(j, "target");
                if (!target || target->empty() || target->size() > 64) {
                    co_return error_response(http::status::bad_request, "bad_request",
                                             "target must be a manager name");
                }
                request["target"] = *target;
            }
            const std::string& method_name = *method;
            co_return co_await call_manager(api, audit, manager, *auth.caller, method_name,
                                            request);
        });

    // Backups (docs/backups.md): start one through the local manager, or read its status.
    router.add(
        http::verb::post, "/api/v1/admin/backup",
        [&api, manager, &audit](RequestContext& ctx) -> awaitable<HttpResponse> {
            auto auth = authenticate_admin(api, ctx);
            if (!auth.caller) co_return auth.refusal;
            nlohmann::json params = nlohmann::json::object();
            if (!ctx.request.body().empty()) {
                auto body = parse_json_body(ctx);
                if (!body.json) co_return body.refusal;
                for (const auto& [key, value] : body.json->items()) {
                    if (key == "to" && value.is_string() && !value.get<std::string>().empty() &&
                        value.get<std::string>().size() <= 64) {
                        params["to"] = value;
                    } else if (key == "wait" && value.is_boolean()) {
                        params["wait"] = value;
                    } else {
                        co_return error_response(
                            http::status::bad_request, "bad_request",
                            "the body may hold \"to\" (a manager name) and \"wait\" (a boolean); "
                            "\"" +
                                key + "\" is wrong or unknown");
                    }
                }
            }
            const nlohmann::json request{{"method", "backup.run"}, {"params", params}};
            const std::string method = "backup.run";
            co_return co_await call_manager(api, audit, manager, *auth.caller, method, request);
        });
    router.add(http::verb::get, "/api/v1/admin/backup",
               [&api, manager, &audit](RequestContext& ctx) -> awaitable<HttpResponse> {
                   auto auth = authenticate_admin(api, ctx);
                   if (!auth.caller) co_return auth.refusal;
                   const nlohmann::json request{{"method", "backup.status"}};
                   const std::string method = "backup.status";
                   co_return co_await call_manager(api, audit, manager, *auth.caller, method,
                                                   request);
               });

    router.add(http::verb::get, "/api/v1/admin/maintenance",
               [&api, manager, &maintenance](RequestContext& ctx) -> awaitable<HttpResponse> {
                   auto auth = authenticate_admin(api, ctx);
                   if (!auth.caller) co_return auth.refusal;
                   nlohmann::json body = maintenance.current();
                   body.erase("type");
                   body["manager_configured"] = manager != nullptr;
                   body["manager_connected"] = manager != nullptr && manager->connected();
                   co_return json_response(http::status::ok, body);
               });

    add_admin_account_routes(router, api, audit);
}

void add_admin_account_routes(Router& router, ApiContext& api, AuditLog& audit) {
    // Accounts by username (case-insensitive), a page at a time, optionally those whose name
    // starts with `prefix`.
    router.add(
        http::verb::get, "/api/v1/admin/accounts",
        [&api](RequestContext& ctx) -> awaitable<HttpResponse> {
            auto auth = authenticate_admin(api, ctx);
            if (!auth.caller) co_return auth.refusal;
            std::string prefix = ascii_lower(query_param(ctx.query, "prefix"));
            std::string after = ascii_lower(query_param(ctx.query, "cursor"));
            int limit = 100;
            std::string limit_text = query_param(ctx.query, "limit");
            if (!limit_text.empty()) {
                auto [end, ec] = std::from_chars(limit_text.data(),
                                                 limit_text.data() + limit_text.size(), limit);
                if (ec != std::errc() || end != limit_text.data() + limit_text.size()) limit = 0;
            }
            if (limit < 1 || limit > 1000) {
                co_return error_response(http::status::bad_request, "bad_request",
                                         "limit is an integer from 1 to 1000");
            }
            std::vector<std::pair<std::string, Account>> page;
            for (auto& a : api.accounts.all_accounts()) {
                std::string key = ascii_lower(a.username);
                if (!key.starts_with(prefix) || (!after.empty() && key <= after)) continue;
                page.emplace_back(std::move(key), std::move(a));
            }
            std::sort(page.begin(), page.end(),
                      [](const auto& x, const auto& y) { return x.first < y.first; });
            const bool more = page.size() > static_cast<std::size_t>(limit);
            if (more) page.resize(static_cast<std::size_t>(limit));
            const std::int64_t now = now_ms();
            nlohmann::json list = nlohmann::json::array();
            for (const auto& [key, a] : page) {
                list.push_back({{"account_id", a.id},
                                {"username", a.username},
                                {"role", a.role},
                                {"created_at", a.created_at},
                                {"disabled_at",
                                 a.disabled_at ? nlohmann::json(a.disabled_at) : nlohmann::json()},
                                {"sessions", api.accounts.live_session_count(a.id, now)}});
            }
            nlohmann::json next = more ? nlohmann::json(page.back().first) : nlohmann::json();
            co_return json_response(http::status::ok,
                                    {{"accounts", std::move(list)}, {"next", std::move(next)}});
        });

    // Disabling ends every session of the account at once (sockets closed with 4001) and
    // refuses its logins until an admin enables it again; nothing of it is deleted.
    for (bool disable : {true, false}) {
        router.add(
            http::verb::post,
            disable ? "/api/v1/admin/accounts/{id}/disable" : "/api/v1/admin/accounts/{id}/enable",
            [&api, &audit, disable](RequestContext& ctx) -> awaitable<HttpResponse> {
                auto auth = authenticate_admin(api, ctx);
                if (!auth.caller) co_return auth.refusal;
                std::string reason;
                if (!ctx.request.body().empty()) {
                    auto body = parse_json_body(ctx);
                    if (!body.json) co_return body.refusal;
                    auto r = body.json->find("reason");
                    if (r != body.json->end() &&
                        (!r->is_string() || r->get<std::string>().size() > 500)) {
                        co_return error_response(http::status::bad_request, "bad_request",
                                                 "reason is a string of at most 500 bytes");
                    }
                    if (r != body.json->end()) reason = r->get<std::string>();
                }
                const std::string id = ctx.params["id"];
                auto account = api.accounts.account_by_id(id);
                if (!account) {
                    co_return error_response(http::status::not_found, "not_found",
                                             "no account with that id");
                }
                const std::string admin = auth.caller->account.id;
                if (disable && id == admin) {
                    co_return error_response(http::status::conflict, "conflict",
                                             "an admin cannot disable their own account");
                }
                const std::int64_t at =
                    disable ? (account->disabled_at ? account->disabled_at : now_ms()) : 0;
                auto revoked = co_await api.accounts.set_disabled(id, at);
                if (!revoked) co_return db_failure_response(revoked.error(), "account change");
                close_session_sockets(api, *revoked, "account disabled by an admin");
                const std::string action = disable ? "account.disable" : "account.enable";
                nlohmann::json detail{{"account", id}, {"sessions", revoked->size()}};
                if (!reason.empty()) detail["reason"] = reason;
                co_await audit_by_account(api, audit, admin, action, detail);
                spdlog::info("admin: account {} {} account {} ({} sessions revoked)", admin,
                             disable ? "disabled" : "enabled", id, revoked->size());
                co_return json_response(
                    http::status::ok, {{"account_id", id},
                                       {"disabled_at", at ? nlohmann::json(at) : nlohmann::json()},
                                       {"sessions_revoked", revoked->size()}});
            });
    }
}

}  // namespace parley
