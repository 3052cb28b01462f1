#include "server/api/notification_routes.hpp"

#include "server/api/route_adapter.hpp"

namespace parley {

namespace {

awaitable<HttpResponse> list_notifications(NotificationService& notifications, const Caller& caller,
                                           RequestContext& ctx) {
    NotificationQuery query{query_param(ctx.query, "before"), query_param(ctx.query, "limit"),
                            query_param(ctx.query, "unread_only")};
    auto page = co_await notifications.list(caller.account.id, query);
    if (!page) co_return refusal_response(page.refusal());
    nlohmann::json items = nlohmann::json::array();
    for (const auto& n : page->items)
        items.push_back(NotificationService::to_json(n));
    nlohmann::json next;  // null on the last page
    if (page->more) next = std::to_string(page->items.back().id);
    co_return json_response(
        http::status::ok,
        {{"notifications", std::move(items)}, {"unread", page->unread}, {"next", std::move(next)}});
}

awaitable<HttpResponse> unread_count(NotificationService& notifications, const Caller& caller,
                                     RequestContext&) {
    auto unread = co_await notifications.unread_count(caller.account.id);
    if (!unread) co_return refusal_response(unread.refusal());
    co_return json_response(http::status::ok, {{"unread", *unread}});
}

awaitable<HttpResponse> mark_read(NotificationService& notifications, const Caller& caller,
                                  RequestContext&, nlohmann::json& body) {
    auto marked = co_await notifications.mark_read(caller.account.id, body);
    if (!marked) co_return refusal_response(marked.refusal());
    co_return json_response(http::status::ok,
                            {{"marked", marked->marked}, {"unread", marked->unread}});
}

}  // namespace

void add_notification_routes(Router& router, ApiContext& api, NotificationService& notifications) {
    using http::verb;
    router.add(verb::get, "/api/v1/notifications",
               with_caller(api, notifications, list_notifications));
    router.add(verb::get, "/api/v1/notifications/unread",
               with_caller(api, notifications, unread_count));
    router.add(verb::post, "/api/v1/notifications/read",
               with_caller_body(api, notifications, mark_read));
}

}  // namespace parley
